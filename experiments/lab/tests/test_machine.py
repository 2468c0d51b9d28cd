"""Unit tests of the machine facts (python3 -m unittest discover -s experiments/lab/tests)."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab import machine  # noqa: E402


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def _kdamond(root: str, n: int, state: str, ops: str, actions: list[str]) -> None:
    d = os.path.join(root, "kdamonds", str(n))
    _write(os.path.join(d, "state"), state)
    _write(os.path.join(d, "contexts", "nr_contexts"), "1")
    _write(os.path.join(d, "contexts", "0", "operations"), ops)
    for i, a in enumerate(actions):
        _write(os.path.join(d, "contexts", "0", "schemes", str(i), "action"), a)
    _write(os.path.join(d, "contexts", "0", "schemes", "nr_schemes"), str(len(actions)))


class DamonTest(unittest.TestCase):
    def test_no_sysfs_interface_says_nothing(self):
        with tempfile.TemporaryDirectory() as root:
            self.assertEqual(machine.damon(os.path.join(root, "absent")), "")

    def test_kdamonds_that_are_off(self):
        with tempfile.TemporaryDirectory() as root:
            _write(os.path.join(root, "kdamonds", "nr_kdamonds"), "1")
            _kdamond(root, 0, "off", "paddr", ["pageout"])
            self.assertEqual(machine.damon(root), "off")

    def test_running_kdamonds_name_their_operations_and_schemes(self):
        with tempfile.TemporaryDirectory() as root:
            _write(os.path.join(root, "kdamonds", "nr_kdamonds"), "3")
            _kdamond(root, 0, "on", "paddr", ["pageout"])
            _kdamond(root, 1, "off", "vaddr", ["stat"])
            _kdamond(root, 2, "on", "vaddr", [])
            self.assertEqual(machine.damon(root),
                             "2 kdamonds on (paddr: pageout; vaddr: monitoring only)")

    def test_describe_mentions_a_running_kdamond_only(self):
        m = {"hwloc_line": "cpu", "arch": "x86_64", "kernel": "Linux 6", "os": "Debian 12",
             "compiler": "g++ 12", "memory_bytes": 1 << 30, "virtualized": False,
             "perf_counters": {"available": False, "how": "none"}, "vm_max_map_count": 65530,
             "thp": "always"}
        self.assertNotIn("DAMON", machine.describe(m))  # machine.json from before the field
        m["damon"] = "off"
        self.assertNotIn("DAMON", machine.describe(m))
        m["damon"] = "1 kdamond on (paddr: pageout)"
        self.assertTrue(machine.describe(m).endswith("; DAMON 1 kdamond on (paddr: pageout)"))


if __name__ == "__main__":
    unittest.main()
