"""Report generation and claim rules on synthetic data: every claim of
claims.md gets a row, grading follows the documented thresholds, and a
claim whose experiment is absent says "missing: <experiment>" (never a
guess)."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab import claims as C  # noqa: E402
from lab.experiments import EXPERIMENTS  # noqa: E402
from lab.report import Report  # noqa: E402
from lab.results import Results  # noqa: E402
from lab.stats import fold  # noqa: E402

MACHINE = {
    "id": "test-2pu", "cpu_model": "Test CPU", "arch": "x86_64", "kernel": "Linux 6", "os": "Debian 12",
    "compiler": "g++ 12", "virtualized": False, "memory_bytes": 1 << 34, "vm_max_map_count": 65530, "thp": "",
    "page_size": 4096, "perf_counters": {"available": False, "how": "none"},
    "topology": {"source": "test", "cores": 2, "pus": 2, "numa_nodes": 1, "packages": 1, "caches": [
        {"level": 1, "type": "data", "size": 32768, "line": 64, "associativity": 8, "instances": 2},
        {"level": 2, "type": "unified", "size": 524288, "line": 64, "associativity": 8, "instances": 2}]},
    "hwloc_line": "Test CPU: 2 cores",
}


def rec(exp, impl, metric, value, n=None, unit="ns"):
    return {"experiment": exp, "impl": impl, "metric": metric, "value": value, "unit": unit, "n": n, "method": "test"}


def data_file(name, records):
    return {"experiment": name, "status": "ok", "profile": "quick", "repeat": 1, "started": "now",
            "command": f"./experiments/run --only {name}", "results": [s.to_json() for s in fold(records)]}


class GradeTest(unittest.TestCase):
    def test_grade(self):
        self.assertEqual(C.grade(300, 300), "holds")
        self.assertEqual(C.grade(550, 300), "holds")          # within 2x
        self.assertEqual(C.grade(1000, 300), "holds in part")  # within 10x
        self.assertEqual(C.grade(6, 200, 500), "refuted")      # 33x under the range
        self.assertEqual(C.grade(350, 200, 500), "holds")
        self.assertEqual(C.combine(["holds", "holds"]), "holds")
        self.assertEqual(C.combine(["holds", "refuted"]), "holds in part")
        self.assertEqual(C.combine(["not measurable here"]), "not measurable here")

    def test_claims_md_has_every_id(self):
        ids = [c.id for c in C.load_claims()]
        self.assertEqual(len(ids), len(set(ids)))
        for want in ("M1", "M9", "S1", "S8", "K1", "K3", "R1", "R9", "P1"):
            self.assertIn(want, ids)
        for cid in ids:
            self.assertIn(cid, C.RULES, f"no rule for {cid}")
        self.assertEqual(sorted(C.RULES), sorted(ids), "a rule for a claim that claims.md does not have")


class ReportTest(unittest.TestCase):
    def test_rows_for_every_claim_and_missing_is_explicit(self):
        stackless = [rec("rss", "duet-stackless", "rss_delta", 256 * n, n, "B") for n in (1000, 10000, 100000)]
        fiber = [rec("rss", "duet-fiber", "rss_delta", 4096 * n, n, "B") for n in (1000, 10000, 100000)]
        fiber += [rec("rss", "duet-fiber", "vm_per_task", 69632, 100000, "B")]
        frames = [rec("frames", "duet", "sizeof_waker", 16, None, "B")]
        with tempfile.TemporaryDirectory() as d:
            R = Results({"duet_stackless": data_file("duet_stackless", stackless),
                         "duet_fiber": data_file("duet_fiber", fiber), "frames": data_file("frames", frames)})
            rep = Report(d, MACHINE, R, EXPERIMENTS, "quick")
            paths = rep.write()
            self.assertTrue(all(os.path.exists(p) for p in paths))
            with open(os.path.join(d, "README.md"), encoding="utf-8") as fh:
                readme = fh.read()
            for c in C.load_claims():
                self.assertIn(f"| {c.id} |", readme)
            self.assertEqual(rep.verdicts["R5"].verdict, "holds")
            self.assertIn("16 B", rep.verdicts["R5"].measured)
            self.assertEqual(rep.verdicts["M1"].verdict, "holds in part")
            self.assertIn("4 KiB", rep.verdicts["M1"].measured)
            self.assertEqual(rep.verdicts["S1"].verdict, "missing: switch_bare")
            self.assertEqual(rep.verdicts["S1"].measured, "")
            self.assertIn("| S1 |", readme)
            self.assertIn("| missing: switch_bare |", readme)

    def test_results_round_trip_through_files(self):
        with tempfile.TemporaryDirectory() as d:
            f = data_file("x", [rec("yield", "go", "time_per_yield", v, 100) for v in (90, 100, 300)])
            with open(os.path.join(d, "x.json"), "w", encoding="utf-8") as fh:
                json.dump(f, fh)
            R = Results.load(d)
            s = R.get("yield", "time_per_yield", 100, "go")
            self.assertEqual((s.median, s.min, s.max), (100, 90, 300))
            self.assertEqual(R.status("x"), "ok")
            self.assertEqual(R.status("nope"), "not run")



class SoakTableTest(unittest.TestCase):
    def test_one_row_per_server_with_its_verdict(self):
        recs = []
        for impl, ok in (("duet-stackless-epoll", 1), ("duet-stackful-io_uring", 0)):
            recs += [rec("soak", impl, "waves_survived", 6, unit="waves"),
                     rec("soak", impl, "bytes_verified", 123456, unit="bytes"),
                     rec("soak", impl, "fd_over_baseline", 0 if ok else 3, unit="fds"),
                     rec("soak", impl, "rss_growth", 1 << 20, unit="bytes"),
                     rec("soak", impl, "accept_errors_survived", 120, unit="errors"),
                     rec("soak", impl, "faults.reset", 48, unit="faults"),
                     rec("soak", impl, "pass", ok, unit="bool")]
        with tempfile.TemporaryDirectory() as d:
            R = Results({"soak_faults": data_file("soak_faults", recs)})
            rep = Report(d, MACHINE, R, EXPERIMENTS, "quick")
            rep.write()
            with open(os.path.join(d, "reliability.md"), encoding="utf-8") as fh:
                page = fh.read()
            self.assertIn("| duet-stackless-epoll | 6 | reset 48 | 123,456 | 0 | 1 MiB | 120 | **pass** |", page)
            self.assertIn("| duet-stackful-io_uring | 6 | reset 48 | 123,456 | 3 |", page)
            self.assertIn("**FAIL**", page)

    def test_the_http_soak_has_its_own_table(self):
        recs = [rec("http_soak", "duet-coroutine-epoll", "waves_survived", 4, unit="waves"),
                rec("http_soak", "duet-coroutine-epoll", "responses_verified", 517, unit="responses"),
                rec("http_soak", "duet-coroutine-epoll", "fd_over_baseline", 0, unit="fds"),
                rec("http_soak", "duet-coroutine-epoll", "rss_growth", 0, unit="bytes"),
                rec("http_soak", "duet-coroutine-epoll", "accept_errors_survived", 3, unit="errors"),
                rec("http_soak", "duet-coroutine-epoll", "faults.malformed", 12, unit="faults"),
                rec("http_soak", "duet-coroutine-epoll", "pass", 1, unit="bool")]
        with tempfile.TemporaryDirectory() as d:
            R = Results({"http_soak": data_file("http_soak", recs)})
            rep = Report(d, MACHINE, R, EXPERIMENTS, "quick")
            rep.write()
            with open(os.path.join(d, "reliability.md"), encoding="utf-8") as fh:
                page = fh.read()
            self.assertIn("## Soak under faults: the HTTP server", page)
            self.assertIn("| duet-coroutine-epoll | 4 | malformed 12 | 517 | 0 | 0 MiB | 3 | **pass** |", page)
            self.assertNotIn("the echo server", page.split("## Soak under faults: the HTTP server")[0].split("##")[-1])



class EchoTailTargetsTest(unittest.TestCase):
    def test_the_default_io_uring_server_of_each_model_against_tokio_and_c_epoll(self):
        recs = []
        for n, p99s, rps in ((1000, (1.5, 1.1), (0.95, 1.02)), (64, (1.3, 1.0), (1.01, 0.99))):
            for model, p99, rc in zip(("stackless", "stackful"), p99s, rps):
                i = f"duet-io_uring-{model}"
                recs += [rec("io_echo", i, "rps_64B", 90000, n, "round_trips/s"),
                         rec("io_echo", i, "p99_vs_tokio_64B", p99, n, "x"),
                         rec("io_echo", i, "rps_vs_c_epoll_64B", rc, n, "x")] * 2
            recs.append(rec("io_echo", "tokio", "rps_64B", 90000, n, "round_trips/s"))
        for impl, k in (("duet-io_uring-stackless", 80), ("tokio", 70)):
            for cls, v in (("kernel", k), ("server", 95 - k), ("libc", 5), ("tls", 0)):
                recs.append(rec("io_echo", impl, f"profile_share.{cls}_64B", v, 1000, "%"))
            recs.append(rec("io_echo", impl, "profile_sym_64B\t[kernel.kallsyms]\tio_uring_enter", 30, 1000, "%"))
            recs.append(rec("io_echo", impl, "profile_sym_64B\t[kernel.kallsyms]\ttcp_sendmsg", 10, 1000, "%"))
        with tempfile.TemporaryDirectory() as d:
            R = Results({"io_echo": data_file("io_echo", recs)})
            Report(d, MACHINE, R, EXPERIMENTS, "quick").write()
            with open(os.path.join(d, "io.md"), encoding="utf-8") as fh:
                page = fh.read()
        self.assertIn("Targets (issue 52)", page)
        self.assertIn("| 1,000 x 64 | duet-io_uring-stackless | 1.5x (1.5-1.5, min-max of 2 reps) | **no**: 25% over "
                      "1.2x | "
                      "0.95x (0.95-0.95, min-max of 2 reps) | **no**: 5% below | profile (1,000 x 64): "
                      "duet-io_uring-stackless: "
                      "kernel 80%, server 15%, libc 5%; top: io_uring_enter 30%, tcp_sendmsg 10%. tokio: "
                      "kernel 70%", page)
        self.assertIn("| 1,000 x 64 | duet-io_uring-stackful | 1.1x (1.1-1.1, min-max of 2 reps) | **yes** | "
                      "1.02x (1.02-1.02, min-max of 2 reps) | **yes** |  |", page)
        self.assertIn("| 64 x 64 | duet-io_uring-stackless | 1.3x (1.3-1.3, min-max of 2 reps) | shown", page)


class ScopeTablesTest(unittest.TestCase):
    def test_scope_rss_slope_over_handles_and_the_time_ratio(self):
        rss = []
        for n in (10000, 100000):
            rss += [rec("scope_rss", "duet-scope", "rss_delta", 4096 + 24 * n, n, unit="B"),
                    rec("scope_rss", "duet-handles", "rss_delta", 8192 + 12 * n, n, unit="B")]
        sched = []
        for name, ns in (("scope_spawn_join", 60.0), ("spawn_join", 50.0)):
            sched += [rec("sched_bench", "duet", f"{name}/stackless/1/manual_time:ns/op", ns, 1)] * 2
        with tempfile.TemporaryDirectory() as d:
            R = Results({"scope_rss": data_file("scope_rss", rss), "sched_bench": data_file("sched_bench", sched)})
            Report(d, MACHINE, R, EXPERIMENTS, "quick").write()
            with open(os.path.join(d, "memory.md"), encoding="utf-8") as fh:
                memory = fh.read()
            with open(os.path.join(d, "switch.md"), encoding="utf-8") as fh:
                switch = fh.read()
        self.assertIn("| TaskScope | 24 B |", memory)
        self.assertIn("| JoinHandles | 12 B |", memory)
        self.assertIn("| scope over handles | 12 B (within 16 B) |", memory)
        self.assertIn("| stackless | 1 | 60 ns", switch)
        self.assertIn("| 1.2x (1.2-1.2, min-max of each side's 2 reps) | yes |", switch)


class TaskMemoryTargetsTest(unittest.TestCase):
    """Issue 75's targets on the memory page: spawn_inc's cold pass against
    its warm pass (the per-process ratio) and against Go's, and a parked
    stackless task's RSS."""

    def page(self, stackless, go=()):
        files = {"duet_stackless": data_file("duet_stackless", stackless)}
        if go:
            files["peer_go"] = data_file("peer_go", list(go))
        with tempfile.TemporaryDirectory() as d:
            rep = Report(d, MACHINE, Results(files), EXPERIMENTS, "quick")
            rep.write()
            with open(os.path.join(d, "memory.md"), encoding="utf-8") as fh:
                return fh.read(), rep

    def test_cold_pass_graded_by_the_ratio_in_each_process_and_against_go(self):
        n = 1_000_000
        recs = []
        for cold, warm in ((80.0, 64.0), (90.0, 66.0), (84.0, 65.0)):
            recs += [rec("spawn_inc", "duet-stackless", "total_time", cold, n, "ms"),
                     rec("spawn_inc", "duet-stackless", "total_time_warm", warm, n, "ms"),
                     rec("spawn_inc", "duet-stackless", "cold_over_warm", cold / warm, n, "x")]
        recs += [rec("rss", "duet-stackless", "rss_per_task", v, 100000, "B") for v in (182, 183, 185)]
        recs += [rec("rss", "duet-stackless", "rss_per_task", 300, 1000, "B")]
        go = [rec("spawn_inc", "go", "total_time", v, n, "ms") for v in (400.0, 410.0, 440.0)]
        memory, rep = self.page(recs, go)
        self.assertIn("## Targets (issue 75): a task's memory", memory)
        self.assertIn("| stackless spawn_inc, 1,000,000 tasks: cold pass at most 1.5x the warm pass | 1.29x "
                      "(1.25-1.36, min-max of 3 reps), the ratio in each process (cold 84 ms) | **yes** |", memory)
        self.assertIn("| stackless spawn_inc, 1,000,000 tasks: cold pass at most 0.3x Go's | 84 ms against 410 ms "
                      "(0.205x (0.182-0.225, min-max of each side's 3 reps)) | **yes** |", memory)
        self.assertIn("| RSS per parked stackless task at most 128 B | 183 B at N = 100,000 (182 B-185 B, min-max "
                      "of 3 reps) | **no**: 55 B more |", memory)
        keys = [g.key for e, g in rep.graded_targets() if e == "duet_stackless"]
        self.assertEqual(len(keys), 3)

    def test_without_the_ratio_record_or_go_the_page_says_so(self):
        n = 1_000_000
        recs = [rec("spawn_inc", "duet-stackless", "total_time", 100.0, n, "ms"),
                rec("spawn_inc", "duet-stackless", "total_time_warm", 50.0, n, "ms")]
        memory, _ = self.page(recs)
        self.assertIn("| 2x (2-2, min-max of each side's 1 rep), the ratio of the medians (cold 100 ms) | "
                      "**undecided at 1 rep**", memory)
        self.assertIn("| stackless spawn_inc, 1,000,000 tasks: cold pass at most 0.3x Go's | 100 ms; Go not "
                      "measured | missing: peer_go |", memory)


if __name__ == "__main__":
    unittest.main()
