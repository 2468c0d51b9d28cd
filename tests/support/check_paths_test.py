"""check_paths_test.py: what check_paths.py counts as a path, and that a
missing one fails (a tree without git, built in a temporary folder)."""
import unittest

from checker_case import CheckerCase


class CheckPaths(CheckerCase):
    checker = "check_paths.py"

    def test_existing_paths_pass(self):
        rc, err = self.run_on({
            "common/include/duet/poll.hpp": "",
            "common/src/a.cpp": '// see common/include/duet/poll.hpp:12 and duet/poll.hpp.\n'
                                '/* docs/x.md#anchor */\nauto s = "tests/none.cpp";\n',
            "docs/x.md": "[poll](../common/src/a.cpp), `tests/<area>/*_test.cpp`, "
                         "spawn_join/stackless/1, examples/hello\n",
            "examples/hello.cpp": "",
            "tests/run.py": '"""Doc: common/src/a.cpp."""\nx = "common/nothing"  # docs/x.md\n',
        })
        self.assertEqual(rc, 0, err)

    def test_missing_paths_fail_and_are_listed(self):
        rc, err = self.run_on({
            "common/src/a.cpp": "int x;  // tests/gone_test.cpp\n/*\n duet/gone.hpp */\n",
            "docs/x.md": "line\n[y](y.md) and reports/data/\n",
            "tools.sh": "# common/src/b.hpp\n",
            "lab.py": '"""Reads docs/gone.md."""\nx = 1  # tests/gone.py\n',
        })
        self.assertEqual(rc, 1)
        for want in ("common/src/a.cpp:1: names tests/gone_test.cpp",
                     "common/src/a.cpp:3: names duet/gone.hpp", "docs/x.md:2: names y.md",
                     "docs/x.md:2: names reports/data", "tools.sh:1: names common/src/b.hpp",
                     "lab.py:1: names docs/gone.md", "lab.py:2: names tests/gone.py"):
            self.assertIn(want, err)


if __name__ == "__main__":
    unittest.main()
