"""The cache geometry handed to valgrind: accepted by its simulator (power-
of-two line >= 16 and set count, assoc <= size / line), as close to the
machine's as allowed, and described in the report's method."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab.runner import valgrind_cache_args, valgrind_cache_geometry  # noqa: E402


def accepted(size, assoc, line):
    sets = size // (assoc * line)
    return (size % (assoc * line) == 0 and sets & (sets - 1) == 0 and sets >= 1
            and line >= 16 and line & (line - 1) == 0 and size > line and assoc <= size // line)


class Geometry(unittest.TestCase):
    def test_a_valid_geometry_is_kept(self):
        self.assertEqual(valgrind_cache_geometry(32768, 8, 64, 8), (32768, 8, 64))
        self.assertEqual(valgrind_cache_geometry(33554432, 16, 64, 16), (33554432, 16, 64))

    def test_the_epyc_vm_l3_is_rounded_down_to_power_of_two_sets(self):
        # hwloc on an EPYC VM: 508 MiB, 16-way, 64 B lines (520,192 sets).
        size, assoc, line = valgrind_cache_geometry(532676608, 16, 64, 16)
        self.assertTrue(accepted(size, assoc, line))
        self.assertEqual((assoc, line), (16, 64))
        self.assertEqual(size, 256 << 20)  # 262,144 sets

    def test_odd_sizes_and_unknown_associativity(self):
        for size, assoc, line in [(49152, 12, 64), (1 << 20, 0, 64), (1 << 20, -1, 64),
                                  (1 << 20, None, 64), (3 << 20, 12, 64), (1000, 8, 64),
                                  (32768, 8, 48), (32768, 4096, 64), (64, 8, 64)]:
            with self.subTest(size=size, assoc=assoc, line=line):
                self.assertTrue(accepted(*valgrind_cache_geometry(size, assoc, line, 8)))

    def test_args_and_description(self):
        caches = [{"level": 1, "type": "data", "size": 49152, "line": 64, "associativity": 12},
                  {"level": 1, "type": "instruction", "size": 32768, "line": 64, "associativity": 8},
                  {"level": 3, "type": "unified", "size": 532676608, "line": 64, "associativity": 16}]
        args, said = valgrind_cache_args(caches)
        # 48 KiB 12-way is 64 sets: valid as it is.
        self.assertEqual(args, ["--D1=49152,12,64", "--LL=268435456,16,64"])
        self.assertIn("L1d 48 KiB 12-way 64 B,", said)
        self.assertIn("LL 256 MiB 16-way 64 B (machine: 508 MiB 16-way 64 B)", said)
        args, said = valgrind_cache_args([])
        self.assertEqual(args, [])
        self.assertIn("default", said)


if __name__ == "__main__":
    unittest.main()
