"""Unit tests of the statistics (python3 -m unittest discover -s experiments/lab/tests)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab.stats import fmt_bytes, fmt_num, fmt_time_ns, fold, linear_fit, median  # noqa: E402


class StatsTest(unittest.TestCase):
    def test_median(self):
        self.assertEqual(median([3.0]), 3.0)
        self.assertEqual(median([5.0, 1.0, 3.0]), 3.0)
        self.assertEqual(median([4.0, 1.0, 3.0, 2.0]), 2.5)
        with self.assertRaises(ValueError):
            median([])

    def test_fold_groups_repeats_by_key(self):
        recs = [
            {"experiment": "e", "impl": "a", "metric": "t", "value": 3, "unit": "ns", "n": 10, "method": "m"},
            {"experiment": "e", "impl": "a", "metric": "t", "value": 1, "unit": "ns", "n": 10, "method": "m"},
            {"experiment": "e", "impl": "a", "metric": "t", "value": 2, "unit": "ns", "n": 10, "method": "m"},
            {"experiment": "e", "impl": "b", "metric": "t", "value": 9, "unit": "ns", "n": 10, "method": "m"},
            {"experiment": "e", "impl": "a", "metric": "t", "value": 7, "unit": "ns", "n": 20, "method": "m"},
            {"experiment": "e", "metric": "x", "value": float("nan"), "unit": "ns", "n": None},
        ]
        out = {(s.impl, s.n): s for s in fold(recs)}
        self.assertEqual(len(out), 3)
        s = out[("a", 10)]
        self.assertEqual((s.median, s.min, s.max, len(s.samples)), (2.0, 1.0, 3.0, 3))
        self.assertEqual(out[("b", 10)].median, 9.0)

    def test_summary_round_trip(self):
        s = fold([{"experiment": "e", "metric": "t", "value": 1.5, "unit": "B", "n": 3, "method": "m"}])[0]
        from lab.stats import Summary
        t = Summary.from_json(s.to_json())
        self.assertEqual((t.median, t.n, t.unit, t.impl), (1.5, 3, "B", ""))

    def test_linear_fit(self):
        slope, icpt = linear_fit([1000, 10000, 100000], [1e6 + 256e3, 1e6 + 2.56e6, 1e6 + 25.6e6])
        self.assertAlmostEqual(slope, 256.0, places=6)
        self.assertAlmostEqual(icpt, 1e6, places=0)
        with self.assertRaises(ValueError):
            linear_fit([1], [1])

    def test_formatting(self):
        self.assertEqual(fmt_num(1234.5), "1,234")
        self.assertEqual(fmt_num(12.345), "12.3")
        self.assertEqual(fmt_num(0.5), "0.5")
        self.assertEqual(fmt_bytes(4096), "4 KiB")
        self.assertEqual(fmt_bytes(300), "300 B")
        self.assertEqual(fmt_time_ns(1500), "1.5 us")
        self.assertEqual(fmt_time_ns(2.5e6), "2.5 ms")


if __name__ == "__main__":
    unittest.main()
