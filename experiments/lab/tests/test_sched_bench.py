"""How the lab runs bench_sched (python3 -m unittest discover -s experiments/lab/tests)."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab.experiments import EXPERIMENTS, SCHED_HOT, Ctx  # noqa: E402

MACHINE = {"topology": {"caches": []}}
SCHED_CPP = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "sched.cpp")


def _flag(argv: list[str], name: str) -> str | None:
    for a in argv:
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _families() -> list[str]:
    """Every benchmark name bench_sched registers (its ->Name("...") calls)."""
    with open(SCHED_CPP, encoding="utf-8") as f:
        return re.findall(r'->\s*Name\("([^"]+)"\)', f.read())


class SchedBenchTest(unittest.TestCase):
    def invocations(self, profile: str):
        e = next(x for x in EXPERIMENTS if x.name == "sched_bench")
        return e.invocations(Ctx(profile, 2, MACHINE))

    def test_hot_benchmarks_are_repeated_in_random_order(self):
        for profile, reps in (("quick", "5"), ("full", "5")):
            hot, rest = self.invocations(profile)
            self.assertEqual(_flag(hot.argv, "--benchmark_filter"), SCHED_HOT)
            self.assertEqual(_flag(hot.argv, "--benchmark_repetitions"), reps)
            self.assertEqual(_flag(hot.argv, "--benchmark_enable_random_interleaving"), "true")
            self.assertEqual(_flag(rest.argv, "--benchmark_filter"), "-" + SCHED_HOT)
            self.assertIsNone(_flag(rest.argv, "--benchmark_repetitions"))
            self.assertIsNone(_flag(rest.argv, "--benchmark_enable_random_interleaving"))
            for inv in (hot, rest):
                self.assertEqual(inv.parse, "gbench")
                self.assertEqual(_flag(inv.argv, "--benchmark_format"), "json")

    def test_the_two_runs_split_every_benchmark_between_them(self):
        # Google Benchmark's filter is a regex searched in the full name
        # (family/args); a leading '-' negates it.
        names = _families()
        self.assertIn("yield_pair/stackful", names)
        self.assertIn("spawn_all/stackless", names)
        hot = {n for n in names if re.search(SCHED_HOT, n + "/")}
        self.assertEqual(hot, {n for n in names if n.split("/")[0] in
                               ("bare", "yield", "yield_pair", "pingpong", "pingpong_distinct",
                                "spawn_join", "scope_spawn_join")})
        self.assertIn("pingpong_distinct/stackful", hot)
        self.assertIn("scope_spawn_join/stackless", hot)
        rest = set(names) - hot
        self.assertEqual({n.split("/")[0] for n in rest}, {"spawn_all", "scope_all", "lifo_stuck", "lifo_watch"})


if __name__ == "__main__":
    unittest.main()
