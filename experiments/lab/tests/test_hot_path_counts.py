"""hot_path_counts: callgrind's compressed output read right (names given
once, in cob= too; the inclusive cost after calls= skipped but its position
kept), locked instructions recognised in objdump's text, operations per
iteration checked, the registry entry and the runner's skip, and the switch
page's section."""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab import hot_path_counts as H  # noqa: E402
from lab.experiments import EXPERIMENTS, Ctx, Experiment, Invocation  # noqa: E402
from lab.report import Report  # noqa: E402
from lab import report as report_mod  # noqa: E402
from lab.results import Results  # noqa: E402
from lab.stats import fmt_num  # noqa: E402
from lab.runner import Runner  # noqa: E402
from lab.tests.test_report import MACHINE, data_file  # noqa: E402

CALLGRIND = """# callgrind format
version: 1
positions: instr line
events: Ir
summary: 1000

ob=(1) /bin/prog
fl=(1) ???
fn=(1) main
0x1000 0 5
+4 * 7
cob=(2) /lib/libc.so
cfn=(2) malloc
calls=1 0x2000 0
+2 0 900
+3 0 1
-9 0 2
ob=(2)
fn=(2)
0x2000 0 10
*  0 3
totals: 1000
"""


class ParseTest(unittest.TestCase):
    def test_compressed_format(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "cg.out")
            with open(p, "w") as f:
                f.write(CALLGRIND)
            total, counts = H.parse_callgrind(p)
        self.assertEqual(total, 1000)
        # 0x1004 ran 7; the call line at 0x1006 carries the callee's 900
        # (inclusive, skipped); 0x1009 1; 0x1000 (-9 from 0x1009) 2 more.
        self.assertEqual(dict(counts["/bin/prog"]), {0x1000: 7, 0x1004: 7, 0x1009: 1})
        # libc's name was given in a cob= line only.
        self.assertEqual(dict(counts["/lib/libc.so"]), {0x2000: 13})

    def test_positions_without_instr_are_refused(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "cg.out")
            with open(p, "w") as f:
                f.write("positions: line\nevents: Ir\n")
            with self.assertRaises(ValueError):
                H.parse_callgrind(p)


class LockedTest(unittest.TestCase):
    def test_classes(self):
        yes = ["lock cmpxchg %rdx,(%rdi)", "lock xadd %eax,(%rdx)", "lock subq $0x1,(%rbx)",
               "xchg   %al,(%r12)", "xchg %rax,0x8(%rsp)", "xacquire lock cmpxchg %ecx,(%rdx)",
               "lock orl $0x0,(%rsp)"]
        no = ["xchg   %ax,%ax", "xchg %rax,%rdx", "mov %eax,(%rdi)",
              "call 7420 <pthread_mutex_lock@plt>", "jmp *0x3af52(%rip)        # 42078 <unique_lock>",
              "cmpxchg %rdx,(%rdi)"]
        for t in yes:
            self.assertTrue(H.is_locked(t), t)
        for t in no:
            self.assertFalse(H.is_locked(t), t)

    @unittest.skipIf(shutil.which("objdump") is None, "objdump not installed")
    def test_sites_in_a_real_object(self):
        # Debian's x86-64 libc has locked instructions (its mutexes, malloc).
        libc = "/lib/x86_64-linux-gnu/libc.so.6"
        if not os.path.exists(libc) or H.skip_reason():
            self.skipTest("not an x86-64 Debian libc")
        self.assertGreater(len(H.locked_sites(libc)), 10)


class OpsTest(unittest.TestCase):
    def test_ops_from_the_counters_and_the_source(self):
        b = {"name": "pingpong/stackless/manual_time", "real_time": 7.5e6, "ns/op": 75.0}
        self.assertEqual(H.ops_per_iteration(b, ("kRounds", 1), {"kRounds": 100000}), 100000)
        self.assertEqual(H.ops_per_iteration(b, ("kRounds", 1), {}), 100000)
        with self.assertRaises(H.Refused):
            H.ops_per_iteration(b, ("kRounds", 1), {"kRounds": 50000})
        with self.assertRaises(H.Refused):
            H.ops_per_iteration({"name": "x", "real_time": 1.0}, ("kRounds", 1), {})

    def test_the_source_has_the_constants(self):
        consts = H.source_ops()
        if not consts:
            self.skipTest("experiments/bench/sched.cpp not at hand")
        for _, _, _, (const, _) in H.BENCHMARKS:
            self.assertIn(const, consts)


class RegistryTest(unittest.TestCase):
    def test_registered_and_resolved(self):
        e = next(x for x in EXPERIMENTS if x.name == "hot_path_counts")
        self.assertEqual((e.area, e.owner, e.program), ("switch", "lab", "bench_sched"))
        ctx = Ctx("smoke", 2, MACHINE)
        inv = e.invocations(ctx)
        self.assertEqual(len(inv), 1)
        with tempfile.TemporaryDirectory() as d:
            r = Runner(ctx, os.path.join(d, "bin"), os.path.join(d, "data"), 1, {}, MACHINE)
            argv = r.resolve(e, inv[0])
        self.assertEqual(argv[0], sys.executable)
        self.assertTrue(argv[1].endswith("hot_path_counts.py"))
        self.assertEqual(argv[2], os.path.join(d, "bin", "bench_sched"))

    def test_a_stated_reason_skips(self):
        with tempfile.TemporaryDirectory() as d:
            bindir = os.path.join(d, "bin")
            os.makedirs(bindir)
            prog = os.path.join(bindir, "exp_never_run")
            with open(prog, "w") as f:
                f.write("#!/bin/sh\nexit 3\n")
            os.chmod(prog, 0o755)
            e = Experiment("never", "switch", "exp_never_run", "lab", "never run",
                           lambda ctx: [Invocation(["exp_never_run"])], skip=lambda ctx: "no valgrind here")
            ctx = Ctx("smoke", 2, MACHINE)
            r = Runner(ctx, bindir, os.path.join(d, "data"), 1, {}, MACHINE)

            class Quiet:
                def note(self, *a, **k):
                    pass
            out = r.run(e, Quiet(), 1, 1)
        self.assertEqual(out["status"], "skipped")
        self.assertEqual(out["error"], "no valgrind here")


def recs(point, n, ir, locked):
    base = {"experiment": "hot_path_counts", "impl": "duet", "n": n, "method": H.METHOD}
    return [dict(base, metric=f"instructions_per_op.{point}", value=ir, unit="instr"),
            dict(base, metric=f"locked_per_op.{point}", value=locked, unit="instr")]


class PageTest(unittest.TestCase):
    def test_section_on_the_switch_page(self):
        records = (recs("yield_pair/stackful", 400000, 314.13, 3.0) + recs("yield_pair/stackless", 400000, 212.4, 3.0)
                   + recs("spawn_join/stackless/1", 100000, 558.6, 3.057))
        sched = [{"experiment": "sched_bench", "impl": "duet", "metric": "spawn_join/stackless/1/manual_time:ns/op",
                  "value": 43.0, "unit": "", "n": 1, "method": "Google Benchmark user counter"}]
        with tempfile.TemporaryDirectory() as d:
            R = Results({"hot_path_counts": data_file("hot_path_counts", records),
                         "sched_bench": data_file("sched_bench", sched)})
            Report(d, MACHINE, R, EXPERIMENTS, "quick").write()
            with open(os.path.join(d, "switch.md"), encoding="utf-8") as fh:
                page = fh.read()
        self.assertIn("## Instructions per operation (hot_path_counts)", page)
        rows = [l for l in page.splitlines() if l.startswith("| yield_pair/") or l.startswith("| spawn_join/")]
        self.assertEqual([r.split(" | ")[0] for r in rows],
                         ["| yield_pair/stackless", "| yield_pair/stackful", "| spawn_join/stackless/1"])
        # Against the committed baseline (experiments/lab/hot_path_baseline.json).
        base = report_mod.hot_path_baseline()["instructions_per_op"]
        self.assertIn(f"| 400,000 | 212.4 | same | **{fmt_num(212.4 / base['yield_pair/stackless'], 4)}x**: over 1% "
                      "| 3 | same | — |", rows[0])
        self.assertIn("| 100,000 | 558.6 | same |", rows[2])
        self.assertIn("| 3.06 | same | 43 ns |", rows[2])
        self.assertIn("Over it: `yield_pair/stackless`, `yield_pair/stackful`, `spawn_join/stackless/1`.", page)

    def test_the_baseline_verdict(self):
        base = report_mod.hot_path_baseline()
        self.assertTrue(base["commit"])
        at = base["instructions_per_op"]["pingpong/stackless"]
        records = recs("pingpong/stackless", 100000, round(at * 1.005, 3), 6.0) + \
            recs("spawn_join/stackless/1", 100000, round(base["instructions_per_op"]["spawn_join/stackless/1"] * 1.02,
                                                         3), 0.07)
        with tempfile.TemporaryDirectory() as d:
            Report(d, MACHINE, Results({"hot_path_counts": data_file("hot_path_counts", records)}), EXPERIMENTS,
                   "quick").write()
            with open(os.path.join(d, "switch.md"), encoding="utf-8") as fh:
                page = fh.read()
        row = next(l for l in page.splitlines() if l.startswith("| pingpong/stackless"))
        self.assertIn("| 1.005x |", row)
        row = next(l for l in page.splitlines() if l.startswith("| spawn_join/stackless/1"))
        self.assertIn("| **1.02x**: over 1% |", row)
        self.assertIn("Over it: `spawn_join/stackless/1`.", page)
        # Missing baseline: no verdict, no crash.
        self.assertEqual(report_mod.hot_path_baseline("/nonexistent")["instructions_per_op"], {})

    def test_skipped_is_said(self):
        with tempfile.TemporaryDirectory() as d:
            f = dict(data_file("hot_path_counts", []), status="skipped", error="valgrind not installed")
            Report(d, MACHINE, Results({"hot_path_counts": f}), EXPERIMENTS, "smoke").write()
            with open(os.path.join(d, "switch.md"), encoding="utf-8") as fh:
                page = fh.read()
        self.assertIn("Skipped: valgrind not installed", page)


if __name__ == "__main__":
    unittest.main()
