"""check_comments_test.py: what check_comments.py refuses in a library
comment, what it lets through (rules with numbers, code, other folders), on
a tree without git built in a temporary folder."""
import unittest

from checker_case import CheckerCase


class CheckComments(CheckerCase):
    checker = "check_comments.py"

    def test_rules_with_numbers_pass(self):
        rc, err = self.run_on({
            "common/src/wheel.hpp": "// A tick is 1024 ns; level 1 spans 4.2 ms.\n"
                                    "/* 64 slots a level, 6 levels. */\n",
            "stackful/include/duet/x.hpp": "/// The pool keeps 32 stacks (performance log, "
                                           "\"Stack pools\").\nint x;  // VMA count\n",
            "drivers/io/src/a.cpp": 'auto s = "took 58% of the samples on a VM";  // no claim\n',
            # Outside the library: the lab and the tests may say anything.
            "experiments/bench/a.cpp": "// callgrind: 167.9 instructions per op on an EPYC VM\n",
            "tests/a_test.cpp": "// claim R9 (R9)\n",
        })
        self.assertEqual(rc, 0, err)

    def test_lab_results_in_library_comments_fail_and_are_listed(self):
        rc, err = self.run_on({
            "common/include/duet/poll.hpp":
                "// The check took 58% of poll_once's samples on a 2-vCPU EPYC VM.\n",
            "common/src/a.cpp": "int a;  // 3.1x faster than the lock (callgrind)\n",
            "stackful/src/b.cpp": "/* R6 is the pool's rule (claim R6):\n   it measured at 12 ns/op */\n",
            "drivers/io/include/duet/io/detail/io_op.hpp": "// cheaper on this machine (K3)\n",
            "stackless/include/duet/stackless/t.hpp": "// 12% slower with perf stat\n",
        })
        self.assertEqual(rc, 1)
        for where in ("common/include/duet/poll.hpp:1: names a machine",
                      "common/include/duet/poll.hpp:1: names a profiler run",
                      "common/src/a.cpp:1: names a measurement",
                      "common/src/a.cpp:1: names a profiler run",
                      "stackful/src/b.cpp:1: names a claim ID",
                      "drivers/io/include/duet/io/detail/io_op.hpp:1: names a machine",
                      "drivers/io/include/duet/io/detail/io_op.hpp:1: names a claim ID",
                      "stackless/include/duet/stackless/t.hpp:1: names a measurement"):
            self.assertIn(where, err)


if __name__ == "__main__":
    unittest.main()
