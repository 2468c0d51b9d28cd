"""The HTTP benchmark's depth test (issue 51's memory per in-flight proxied
request) without a server: how many requests it parks under an fd limit and
why, bytes per request, its records (errors counted, duet's breakdown) and
the ratios within a rep, the pass over fake servers (drivers, failures), the
client's status reading, the profiles' presets, and the page on synthetic
records: the table beside the idle one, the breakdown, and the target's
verdicts (a miss citing where duet's bytes are)."""

import contextlib
import io
import json
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "http"))

from lab.experiments import EXPERIMENTS  # noqa: E402
from lab.report import Report  # noqa: E402
from lab.results import Results  # noqa: E402
from lab.tests.test_report import MACHINE, data_file, rec  # noqa: E402

import http_bench  # noqa: E402
import http_memory  # noqa: E402
import http_servers  # noqa: E402
import parked_conns  # noqa: E402


def parked(per_req, held=9000, failed=0, other=0, none=0, breakdown=None):
    """parked_rss's result for one server."""
    return {"sent": held, "failed": failed, "held": held, "ok": held - other - none, "other": other, "none": none,
            "m0": 1 << 20, "m1": (1 << 20) + int(per_req * held), "per_req": per_req,
            "breakdown": breakdown or {}}


class DepthArithmeticTest(unittest.TestCase):
    def test_n_is_what_two_descriptors_a_request_allow(self):
        self.assertEqual(http_memory.depth_n(10000, 1 << 20), 10000)
        # 20,000 descriptors, less the margin, two a request: 9,488, in
        # whole thousands 9,000.
        self.assertEqual(http_memory.depth_n(10000, 20000), 9000)
        self.assertEqual(http_memory.depth_n(200, 20000), 200)
        self.assertEqual(http_memory.depth_n(10000, 1024 + 1999), 0)
        self.assertEqual(http_memory.depth_n(10000, 1024 + 2000), 1000)

    def test_the_method_says_why_n(self):
        self.assertEqual(http_memory.depth_n_why(10000, 10000, 1 << 20), "N = 10,000")
        why = http_memory.depth_n_why(9000, 10000, 20000)
        self.assertIn("N = 9,000, not 10,000", why)
        self.assertIn("two of the server's descriptors", why)
        self.assertIn("RLIMIT_NOFILE 20,000", why)

    def test_bytes_per_request(self):
        self.assertEqual(http_memory.per_request(1000, 1000 + 9000 * 12000, 9000), 12000)
        self.assertIsNone(http_memory.per_request(1000, 5000, 0))

    def test_the_client_reads_a_status(self):
        self.assertEqual(parked_conns.status_of(b"HTTP/1.1 200 OK\r\n"), 200)
        self.assertEqual(parked_conns.status_of(b"HTTP/1.1 504 Gateway Timeout\r\n"), 504)
        self.assertEqual(parked_conns.status_of(b""), 0)
        self.assertEqual(parked_conns.status_of(b"garbage"), 0)


class DepthRecordsTest(unittest.TestCase):
    def test_records_count_every_error(self):
        m0 = {"blocks_carved": 0, "blocks_depot": 0, "block_slabs": {}, "malloc_in_use": 0, "malloc_mapped": 0}
        m1 = {"blocks_carved": 9000 * 6000, "blocks_depot": 0, "block_slabs": {"1024": 40},
              "malloc_in_use": 9000 * 4000, "malloc_mapped": 0}
        b = http_memory.memory_breakdown(m0, m1, 0, 9000 * 11000, 9000)
        recs = http_bench.depth_records("duet-coroutine-io_uring", 9000,
                                        parked(11000, failed=2, other=3, none=4, breakdown=b), "how")
        got = {r["metric"]: r["value"] for r in recs}
        self.assertEqual(got["rss_per_parked_req"], 11000)
        self.assertEqual(got["parked_held"], 9000)
        self.assertEqual(got["parked_ok"], 9000 - 7)
        self.assertEqual(got["parked_errors"], 9)   # 2 not sent, 3 not 200, 4 never answered
        self.assertEqual(got["parked_bytes.blocks"], 6000)
        self.assertEqual(got["parked_bytes.heap"], 4000)
        self.assertEqual(got["parked_bytes.rest"], 1000)
        self.assertIn("parked_bytes.block1024", got)
        self.assertFalse(any(r["metric"].startswith("idle_bytes.") for r in recs))
        self.assertEqual({r["n"] for r in recs}, {9000})
        self.assertTrue(all(r["experiment"] == "http" for r in recs))

    def test_ratios_are_within_the_rep(self):
        rep = {"duet-coroutine-io_uring": parked(11000), "duet-fiber-io_uring": parked(18000),
               "hyper": parked(33000), "go": parked(40000), "nginx": parked(10000)}
        got = {(r["impl"], r["metric"]): r["value"] for r in http_bench.depth_ratios(rep, 9000)}
        self.assertAlmostEqual(got[("duet-coroutine-io_uring", "parked_vs_hyper")], 11 / 33)
        self.assertAlmostEqual(got[("duet-fiber-io_uring", "parked_vs_go")], 18 / 40)
        self.assertNotIn(("nginx", "parked_vs_hyper"), got)   # duet's servers only
        self.assertEqual(len(got), 4)
        # Without hyper in the rep, no ratio over hyper.
        del rep["hyper"]
        self.assertEqual({m for _, m in {(r["impl"], r["metric"]) for r in http_bench.depth_ratios(rep, 9000)}},
                         {"parked_vs_go"})


class DepthPassTest(unittest.TestCase):
    def run_pass(self, names, fail=(), uring=True, nofile=20000):
        a = http_bench.parse_args(["--profile", "quick"])
        calls = []

        def fake_parked(srv, n, cpus, up_cpu, cert, key, sources):
            calls.append((srv.name, n, up_cpu))
            if srv.name in fail:
                raise RuntimeError("the upstream holds 10 of the 9000 requests sent after 90 s")
            return parked({"hyper": 30000, "go": 40000}.get(srv.name, 10000), held=n)

        saved = (http_bench.parked_rss, http_bench.io_uring_available)
        http_bench.parked_rss, http_bench.io_uring_available = fake_parked, lambda: uring
        out = io.StringIO()
        try:
            b = http_bench.Bench.__new__(http_bench.Bench)
            b.a, b.cpus, b.tmp, b.names = a, (0, 1), tempfile.gettempdir(), names
            b.servers = {n: http_servers.Server(n, []) for n in names}
            b.cert = b.key = "x"
            b.rng, b.no_tls, b.failed = random.Random(1), set(), []
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                http_bench.depth_pass(b, nofile)
        finally:
            http_bench.parked_rss, http_bench.io_uring_available = saved
        return calls, [json.loads(x) for x in out.getvalue().splitlines()], b.failed

    def test_one_driver_every_peer_and_n_under_the_limit(self):
        names = ["duet-coroutine-io_uring", "duet-fiber-io_uring", "duet-coroutine-epoll", "nginx", "go", "hyper"]
        calls, recs, failed = self.run_pass(names)
        self.assertEqual(sorted(c[0] for c in calls),
                         sorted(["duet-coroutine-io_uring", "duet-fiber-io_uring", "nginx", "go", "hyper"]))
        self.assertEqual({c[1] for c in calls}, {9000})
        self.assertEqual({c[2] for c in calls}, {1})   # the upstream on wrk's CPU of two
        self.assertEqual(failed, [])
        meth = next(r["method"] for r in recs if r["metric"] == "rss_per_parked_req")
        self.assertIn("N = 9,000, not 10,000", meth)
        self.assertIn("first run only", meth)
        ratios = {(r["impl"], r["metric"]) for r in recs if r["metric"].startswith("parked_vs_")}
        self.assertIn(("duet-coroutine-io_uring", "parked_vs_hyper"), ratios)
        self.assertIn(("duet-fiber-io_uring", "parked_vs_go"), ratios)

    def test_a_failure_is_named_and_the_others_still_measured(self):
        calls, recs, failed = self.run_pass(["duet-coroutine-epoll", "hyper"], fail=("hyper",), uring=False)
        self.assertEqual(len(calls), 2)
        self.assertEqual(len(failed), 1)
        self.assertIn("depth hyper: the upstream holds 10 of the 9000", failed[0])
        self.assertTrue(any(r["impl"] == "duet-coroutine-epoll" for r in recs))
        self.assertFalse(any(r["metric"].startswith("parked_vs_") for r in recs))

    def test_no_room_measures_nothing(self):
        calls, recs, failed = self.run_pass(["nginx"], nofile=2000)
        self.assertEqual((calls, recs, failed), ([], [], []))


class DepthPresetsTest(unittest.TestCase):
    def test_quick_parks_once_and_full_every_run(self):
        quick, full, smoke = (http_bench.PROFILES[p] for p in ("quick", "full", "smoke"))
        self.assertEqual((quick["depth_n"], full["depth_n"]), (10000, 10000))
        self.assertEqual((quick["depth_runs"], full["depth_runs"]), (1, None))
        self.assertLessEqual(smoke["depth_n"], 500)
        old = os.environ.get("DUET_LAB_RUN")
        try:
            os.environ["DUET_LAB_RUN"] = "1"
            self.assertFalse(http_bench.parse_args(["--profile", "quick"]).depth_test)
            self.assertTrue(http_bench.parse_args(["--profile", "full"]).depth_test)
            self.assertTrue(http_bench.parse_args(["--profile", "quick", "--depth-test", "yes"]).depth_test)
            os.environ["DUET_LAB_RUN"] = "0"
            self.assertTrue(http_bench.parse_args(["--profile", "quick"]).depth_test)
        finally:
            if old is None:
                os.environ.pop("DUET_LAB_RUN", None)
            else:
                os.environ["DUET_LAB_RUN"] = old
        self.assertEqual(http_bench.parse_args(["--depth-n", "0"]).depth_n, 0)

    def test_an_empty_load_list_is_no_load(self):
        self.assertEqual(http_bench.parse_loads("", 16), [])


def depth_page_records(fiber=18000):
    out = []
    for impl, b in (("duet-coroutine-io_uring", 11000), ("duet-fiber-io_uring", fiber), ("duet-poll-io_uring", 9500),
                    ("nginx", 9700), ("go", 40000), ("hyper", 33000)):
        out.append(rec("http", impl, "rss_per_parked_req", b, 9000, "B"))
        out.append(rec("http", impl, "parked_ok", 9000, 9000, "requests"))
        out.append(rec("http", impl, "parked_errors", 0, 9000, "count"))
        if impl.startswith("duet-"):
            out.append(rec("http", impl, "parked_vs_hyper", b / 33000, 9000, "x"))
            out.append(rec("http", impl, "parked_vs_go", b / 40000, 9000, "x"))
    for k, v in (("blocks", 350), ("heap", 40000), ("rest", fiber - 40350), ("block256", 233)):
        out.append(rec("http", "duet-fiber-io_uring", f"parked_bytes.{k}", v, 9000, "B"))
    out.append(rec("http", "hyper", "parked_errors", 2, 9000, "count"))
    return out * 2   # two runs


class DepthPageTest(unittest.TestCase):
    def page(self, records):
        with tempfile.TemporaryDirectory() as d:
            Report(d, MACHINE, Results({"http": data_file("http", records)}), EXPERIMENTS, "quick").write()
            with open(os.path.join(d, "http.md"), encoding="utf-8") as fh:
                return fh.read()

    def test_the_table_the_breakdown_and_the_target(self):
        page = self.page(depth_page_records())
        self.assertIn("## Memory per in-flight proxied request, parked at depth", page)
        self.assertIn("| duet-coroutine-io_uring | 9,000 | 10.7 KiB | 10.7 KiB-10.7 KiB | 0.333x | 0.275x | 9,000 | "
                      "0 | 2 |", page)
        self.assertIn("| hyper | 9,000 | 32.2 KiB | 32.2 KiB-32.2 KiB | — | — | 9,000 | 2 | 2 |", page)
        order = [page.index(f"| {i} | 9,000 |") for i in ("duet-coroutine-io_uring", "duet-fiber-io_uring",
                                                           "duet-poll-io_uring", "nginx", "go", "hyper")]
        self.assertEqual(order, sorted(order))
        self.assertIn("Where duet's bytes are, per parked request", page)
        self.assertIn("| duet-fiber-io_uring | 350 B | 256 B: 233 B | 39.1 KiB |", page)
        self.assertIn("## Targets (issue 51): memory per in-flight proxied request", page)
        self.assertIn("| memory per in-flight proxied request (9,000 parked): `duet-coroutine-io_uring` at or below "
                      "hyper's | 10.7 KiB against 32.2 KiB: 0.333x (0.333-0.333, min-max of 2 reps) | **yes** |", page)
        self.assertIn("| memory per in-flight proxied request (9,000 parked): `duet-fiber-io_uring` at or below Go's "
                      "| 17.6 KiB against 39.1 KiB: 0.45x (0.45-0.45, min-max of 2 reps) | **yes** |", page)

    def test_a_miss_says_by_how_much_and_where_the_bytes_are(self):
        page = self.page(depth_page_records(fiber=48000))
        self.assertIn("`duet-fiber-io_uring` at or below Go's | 46.9 KiB against 39.1 KiB: 1.2x (1.2-1.2, min-max of "
                      "2 reps) | **no**: "
                      "20% more | bytes per parked request: duet's block cache 350 B (233 B in 256 B blocks), C heap "
                      "39.1 KiB, rest of the Pss 7.47 KiB (section Memory per in-flight proxied request) |", page)

    def test_without_the_test_no_verdict_is_made_up(self):
        page = self.page([rec("http", "nginx", "rss_per_idle_conn", 500, 10000, "B")])
        self.assertNotIn("## Memory per in-flight proxied request", page)
        self.assertIn("No depth test on file yet: no verdict.", page)
        # A duet engine measured without its peer: missing, not a verdict.
        recs = [r for r in depth_page_records() if r["impl"] != "go" and r["metric"] != "parked_vs_go"]
        page = self.page(recs)
        self.assertIn("`duet-fiber-io_uring` at or below Go's | 17.6 KiB; Go not measured | missing: go |", page)


if __name__ == "__main__":
    unittest.main()
