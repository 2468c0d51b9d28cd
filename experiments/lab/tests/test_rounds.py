"""Interleaved rounds (runner.run_rounds, run.batches): experiments compared
with one another run their repeats round by round, the same test of every
implementation back to back, and each keeps its own records, errors and
result; an experiment without `rounds` runs alone, as before."""

import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..", "..")))

from lab.experiments import Ctx, Experiment, Invocation  # noqa: E402
from lab.run import batches  # noqa: E402
from lab.runner import Runner  # noqa: E402

MACHINE = {"id": "test-machine", "hwloc_line": "test", "topology": {"caches": []}}


class Quiet:
    def note(self, *a, **k):
        pass


def fake_program(bindir: str, log: str) -> str:
    """exp_fake IMPL TEST: appends "IMPL TEST" to the log and prints one
    record; the implementation "broken" exits 2 on the test "b"."""
    path = os.path.join(bindir, "exp_fake")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f'echo "$1 $2" >> {log}\n'
                'if [ "$1" = broken ] && [ "$2" = b ]; then exit 2; fi\n'
                'printf \'{"experiment":"fake","impl":"%s","metric":"%s","value":1,"unit":"ns","n":1,'
                '"method":"test"}\\n\' "$1" "$2"\n')
    os.chmod(path, 0o755)
    return path


def experiment(name: str, tests: list[str], rounds: str = "") -> Experiment:
    def inv(ctx):
        return [Invocation(["exp_fake", name, t], f"{name} {t}", name, key=t) for t in tests]
    return Experiment(name, "switch", "exp_fake", "lab", name, inv, rounds=rounds)


class RoundsTest(unittest.TestCase):
    def run_rounds(self, exps, repeat):
        with tempfile.TemporaryDirectory() as d:
            bindir = os.path.join(d, "bin")
            os.makedirs(bindir)
            log = os.path.join(d, "log")
            fake_program(bindir, log)
            r = Runner(Ctx("smoke", 2, MACHINE), bindir, os.path.join(d, "data"), repeat, {}, MACHINE)
            out = r.run_rounds(exps, Quiet(), list(range(1, len(exps) + 1)), len(exps))
            with open(log) as f:
                return out, [line.strip() for line in f]

    def test_the_same_test_of_every_implementation_runs_back_to_back_in_each_round(self):
        # "y" has a test the others lack ("c"): it runs where it first appears.
        exps = [experiment("x", ["a", "b"], "g"), experiment("y", ["a", "c", "b"], "g"),
                experiment("z", ["a", "b"], "g")]
        out, order = self.run_rounds(exps, 2)
        one_round = ["x a", "y a", "z a", "x b", "y b", "z b", "y c"]
        # Keys in order of first appearance: a, b (from x), then c.
        self.assertEqual(order, one_round + one_round)
        self.assertEqual([d["experiment"] for d in out], ["x", "y", "z"])
        for d, tests in zip(out, (["a", "b"], ["a", "c", "b"], ["a", "b"])):
            self.assertEqual(d["status"], "ok")
            self.assertEqual(d["repeat"], 2)
            self.assertEqual(sorted(r["metric"] for r in d["results"]), sorted(tests))

    def test_each_experiment_keeps_its_own_errors(self):
        out, _ = self.run_rounds([experiment("broken", ["a", "b"], "g"), experiment("fine", ["a", "b"], "g")], 1)
        self.assertEqual(out[0]["status"], "partial")
        self.assertTrue(out[0]["errors"] and "exit 2" in out[0]["errors"][0])
        self.assertEqual(out[1]["status"], "ok")
        self.assertEqual(out[1]["errors"], [])

    def test_an_experiment_of_exact_counts_runs_once_whatever_the_repeat(self):
        once = experiment("exact", ["a", "b"])
        once.once = True
        out, order = self.run_rounds([once], 3)
        self.assertEqual(order, ["exact a", "exact b"])
        self.assertEqual(out[0]["repeat"], 1)
        self.assertEqual(out[0]["status"], "ok")

    def test_quick_runs_caps_the_quick_profile_only(self):
        # Experiment.quick_runs: memory figures that vary little (the
        # quick profile's budget); the other profiles run the repeat.
        with tempfile.TemporaryDirectory() as d:
            e = experiment("rss", ["a"])
            e.quick_runs = 1
            quick = Runner(Ctx("quick", 2, MACHINE), d, os.path.join(d, "data"), 3, {}, MACHINE)
            full = Runner(Ctx("full", 2, MACHINE), d, os.path.join(d, "data"), 5, {}, MACHINE)
            self.assertEqual((quick.repeats(e), full.repeats(e)), (1, 5))
            e.quick_runs = 0
            self.assertEqual(quick.repeats(e), 3)
        from lab.experiments import EXPERIMENTS
        rss = next(x for x in EXPERIMENTS if x.name == "stackful_rss")
        self.assertEqual(rss.quick_runs, 1)

    def test_one_experiment_runs_its_list_k_times(self):
        _, order = self.run_rounds([experiment("x", ["a", "b"])], 3)
        self.assertEqual(order, ["x a", "x b"] * 3)

    def test_each_run_is_told_which_it_is(self):
        # DUET_LAB_RUN, 0-based: http_bench.py's quick profile does its
        # diagnostic passes in run 0 only.
        with tempfile.TemporaryDirectory() as d:
            bindir = os.path.join(d, "bin")
            os.makedirs(bindir)
            log = os.path.join(d, "log")
            with open(os.path.join(bindir, "exp_fake"), "w") as f:
                f.write(f'#!/bin/sh\necho "run $DUET_LAB_RUN" >> {log}\n')
            os.chmod(os.path.join(bindir, "exp_fake"), 0o755)
            r = Runner(Ctx("quick", 2, MACHINE), bindir, os.path.join(d, "data"), 3, {}, MACHINE)
            r.run(experiment("x", ["a"]), Quiet(), 1, 1)
            with open(log) as f:
                self.assertEqual([line.strip() for line in f], ["run 0", "run 1", "run 2"])

    def test_a_missing_program_does_not_stop_the_others(self):
        e = experiment("gone", ["a"], "g")
        e.program = "exp_not_built"
        out, order = self.run_rounds([e, experiment("x", ["a"], "g")], 1)
        self.assertEqual(out[0]["status"], "missing")
        self.assertEqual(order, ["x a"])


class BatchesTest(unittest.TestCase):
    def test_one_rounds_group_runs_where_its_first_member_stands(self):
        a, b = experiment("a", []), experiment("b", [], "g")
        c, d = experiment("c", []), experiment("d", [], "g")
        got = [[(i, e.name) for i, e in batch] for batch in batches([a, b, c, d])]
        self.assertEqual(got, [[(1, "a")], [(2, "b"), (4, "d")], [(3, "c")]])

class PeerCapsTest(unittest.TestCase):
    def invocations(self, profile: str, peer: str) -> list[list[str]]:
        from lab import peers as P
        from lab.experiments import Ctx
        exp = next(e for e in P.experiments() if e.name == f"peer_{peer}")
        return [i.argv[1:] for i in exp.invocations(Ctx(profile, 2, {}))]

    def test_boost_fiber_spawns_stop_at_10k_in_quick_and_100k_in_full(self):
        for profile, cap in (("quick", 10000), ("full", 100000)):
            with self.subTest(profile=profile):
                spawns = [int(a[1]) for a in self.invocations(profile, "boost-fiber")
                          if a[0] in ("spawn_conc", "spawn_inc")]
                self.assertTrue(spawns)
                self.assertEqual(max(spawns), cap)

    def test_python_yields_500k_times_in_quick(self):
        ys = [int(a[1]) for a in self.invocations("quick", "python") if a[0] == "yield"]
        self.assertEqual(ys, [500000])
        ys = [int(a[1]) for a in self.invocations("quick", "go") if a[0] == "yield"]
        self.assertEqual(ys, [2000000])

    def test_other_peers_spawn_at_the_profiles_n(self):
        conc = [int(a[1]) for a in self.invocations("quick", "go") if a[0] == "spawn_conc"]
        self.assertEqual(max(conc), 100000)


if __name__ == "__main__":
    unittest.main()
