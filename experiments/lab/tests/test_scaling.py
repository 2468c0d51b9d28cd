"""The scaling sweep's page (experiments/lab/scaling.py, scaling_page.py):
records folded per (runtime, workers, placement), speedups over the one
worker run (run once, placement compact, the base of every placement), the
R3 targets graded per machine, the before/after table, and the sentence the
README's R3 row gains. Synthetic records; no program runs."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab import scaling as SC  # noqa: E402
from lab import scaling_page as SP  # noqa: E402

MACHINE = {"id": "test-16pu", "cpu_model": "Test CPU", "arch": "x86_64", "kernel": "Linux 6", "os": "Test",
           "compiler": "c++ 12", "virtualized": True, "memory_bytes": 1 << 34,
           "topology": {"packages": 1, "cores": 16, "pus": 16, "numa_nodes": 1, "caches": []},
           "perf_counters": {"available": False, "how": "refused"}, "vm_max_map_count": 65530,
           "thp": "madvise", "page_size": 4096, "hwloc_line": "Test CPU: 16 PUs",
           "bundle": {"commit": "abc1234", "peers": {"go": "go1.19"}, "built": "2026-11-23T00:00:00Z"}}


def sweep_records(rate_at: dict, rounds: int = 3) -> list[dict]:
    """rate_at[(runtime, workers, placement)] = throughput of every test."""
    out = []
    for k in range(rounds):
        for (rt, w, pl), rate in rate_at.items():
            for test in SP.TESTS:
                out.append({"experiment": test, "impl": f"{rt}/w{w}/{pl}", "metric": "throughput",
                            "value": rate * (1 + 0.01 * k), "unit": "ops/s", "n": 1000, "method": "m",
                            "round": k + 1})
            out.append({"experiment": "scale_work", "impl": f"{rt}/w{w}/{pl}", "metric": "steals_per_task",
                        "value": 0.5, "unit": "steals", "n": 1000, "method": "m", "round": k + 1})
    return out


def write_src(d: str, records: list[dict]):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "machine.json"), "w") as f:
        json.dump(MACHINE, f)
    with open(os.path.join(d, "scaling.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


class ScalingPage(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.reports = os.path.join(self.tmp.name, "reports")
        rates = {}
        for rt, top in (("duet-stackless", 13e6), ("duet-fiber", 8e6), ("go", 3e6), ("tokio", 0.5e6)):
            rates[(rt, 1, "compact")] = 1e6
            for w, frac in ((8, 0.5), (16, 1.0)):
                for pl in ("compact", "scatter"):
                    rates[(rt, w, pl)] = top * frac
        write_src(os.path.join(self.tmp.name, "after"), sweep_records(rates))
        before = {k: v / 2 if k[1] > 1 else v for k, v in rates.items()}
        write_src(os.path.join(self.tmp.name, "before"), sweep_records(before))

    def tearDown(self):
        self.tmp.cleanup()

    def ingest(self):
        self.assertEqual(SC.ingest(os.path.join(self.tmp.name, "before"), self.reports, "before",
                                   "the old injector"), 0)
        self.assertEqual(SC.ingest(os.path.join(self.tmp.name, "after"), self.reports), 0)
        with open(os.path.join(self.reports, "scaling.md"), encoding="utf-8") as f:
            return f.read()

    def test_speedups_use_the_one_worker_run_for_every_placement(self):
        self.ingest()
        (m, d), = SC._load(self.reports)
        S = SP.Sweep(m, d)
        self.assertEqual(S.workers, [1, 8, 16])
        self.assertAlmostEqual(S.speedup("scale_spawn_tree", "duet-stackless", 16, "scatter"), 13.0)
        self.assertAlmostEqual(S.get("scale_spawn_tree", "go", 16, "compact").median, 3.03e6)  # the median round

    def test_page_grades_the_targets_and_names_the_machine(self):
        page = self.ingest()
        self.assertIn("## Machine `test-16pu`", page)
        self.assertIn("Target 12x: met by duet-stackless only", page)  # fiber 8x
        self.assertIn("duet-stackless 13x", page)
        self.assertIn("Hardware counters: no (refused)", page)
        self.assertIn("### Earlier builds on this machine", page)
        self.assertIn("`abc1234`: the old injector", page)
        self.assertIn("**6.5x** | 1.01 M/s / 13.1 M/s, **13x**", page)

    def test_r3_sentence_names_the_machine_and_the_page(self):
        self.ingest()
        s = SP.r3_summary(self.reports)
        self.assertIn("`test-16pu`", s)
        self.assertIn("[scaling.md](scaling.md)", s)
        self.assertIn("duet-stackless 13x", s)
        self.assertEqual(SP.r3_summary(os.path.join(self.tmp.name, "nothing")), "")


if __name__ == "__main__":
    unittest.main()
