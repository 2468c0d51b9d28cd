"""check_folders_test.py: what check_folders.py counts as an edge between
folders, that a ladder passes, and that a loop fails, named with the include
behind each of its edges (a tree without git, built in a temporary folder)."""
import unittest

from checker_case import CheckerCase

# A ladder: sched sits on task and time, time on task; same-folder and
# public includes are no edges.
LADDER = {
    "common/src/task/harness.hpp": '#include "duet/poll.hpp"\n',
    "common/src/task/harness.cpp": '#include "task/harness.hpp"\n#include "schedule.hpp"\n',
    "common/src/task/schedule.hpp": "",
    "common/src/time/wheel.cpp": '#include "wheel.hpp"\n#include "task/schedule.hpp"\n',
    "common/src/time/wheel.hpp": "#include <atomic>\n",
    "common/src/sched/worker.cpp": '#include "task/harness.hpp"\n  #  include "time/wheel.hpp"\n',
    "common/src/abi_tag.cpp": '#include "sched/gone.hpp"\n',
}


class CheckFolders(CheckerCase):
    checker = "check_folders.py"

    def test_a_ladder_passes(self):
        rc, err = self.run_on(LADDER)
        self.assertEqual(rc, 0, err)

    def test_a_loop_fails_and_is_named(self):
        rc, err = self.run_on(dict(LADDER, **{
            "common/src/sched/scheduler.hpp": "",
            "common/src/task/harness.cpp": '#include "task/harness.hpp"\n'
                                           '#include "sched/scheduler.hpp"\n',
        }))
        self.assertEqual(rc, 1)
        self.assertIn("common/src: folder loop sched -> task -> sched "
                      "(sched/worker.cpp:1 includes task/harness.hpp; "
                      "task/harness.cpp:2 includes sched/scheduler.hpp)", err)
        # time, below sched, is in the loop too: the shortest loop through it.
        self.assertIn("common/src: folder loop time -> task -> sched -> time", err)
        self.assertEqual(err.count("folder loop"), 2, err)

    def test_a_longer_loop_is_named_once(self):
        rc, err = self.run_on({
            "stackful/src/a/x.hpp": '#include "b/y.hpp"\n',
            "stackful/src/b/y.hpp": '#include "../c/z.hpp"\n',
            "stackful/src/c/z.hpp": '#include "a/x.hpp"\n',
        })
        self.assertEqual(rc, 1)
        self.assertIn("stackful/src: folder loop a -> b -> c -> a (a/x.hpp:1 includes b/y.hpp; "
                      "b/y.hpp:1 includes ../c/z.hpp; c/z.hpp:1 includes a/x.hpp)", err)
        self.assertEqual(err.count("folder loop"), 1, err)

    def test_a_file_directly_in_src_is_the_folder_dot(self):
        rc, err = self.run_on({
            "drivers/io/src/choice.hpp": '#include "io/op.hpp"\n',
            "drivers/io/src/io/op.hpp": '#include "choice.hpp"\n',
        })
        self.assertEqual(rc, 1)
        self.assertIn("drivers/io/src: folder loop . -> io -> .", err)

    def test_only_the_folders_named_are_read(self):
        files = dict(LADDER, **{
            "drivers/io/src/io/op.hpp": '#include "net/tcp.hpp"\n',
            "drivers/io/src/net/tcp.hpp": '#include "io/op.hpp"\n',
        })
        rc, err = self.run_on(files, ["common/src"])
        self.assertEqual(rc, 0, err)
        rc, err = self.run_on(files)
        self.assertEqual(rc, 1)
        self.assertIn("drivers/io/src: folder loop io -> net -> io", err)
        rc, err = self.run_on(files, ["common/src", "stackless/src"])
        self.assertEqual(rc, 1)
        self.assertIn("stackless/src: no such folder", err)

    def test_an_include_into_another_library_src_fails(self):
        rc, err = self.run_on(dict(LADDER, **{
            "drivers/io/src/io/virtual_net.hpp": "// the seam\n",
            "drivers/dns/src/resolver.cpp": '#include "../../io/src/io/virtual_net.hpp"\n',
        }), ["drivers/dns/src"])
        self.assertEqual(rc, 1)
        self.assertIn("drivers/dns/src: resolver.cpp:1 includes ../../io/src/io/virtual_net.hpp, "
                      "outside its library", err)


if __name__ == "__main__":
    unittest.main()
