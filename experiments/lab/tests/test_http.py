"""The HTTP page (reports/http.md) on synthetic records: a row per server
and load, the ratios against nginx and hyper, the idle-memory table, issue
37's targets as verdicts that say by how much a missed one misses, the
servers that could not run named with their reason; and the benchmark's own
pieces that need no server (load parsing, records of one rep, the idle
client's response framing)."""

import os
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
import idle_conns  # noqa: E402


def http_records():
    """Two reps at plaintext/256 where duet's stackless io_uring server beats
    nginx and misses hyper, fibers 20% slower on epoll, and the idle test."""
    out = []
    for rep in range(2):
        figures = {"duet-stackless-io_uring": (110000, 900, 5.0), "duet-fiber-io_uring": (105000, 950, 5.2),
                   "duet-stackless-epoll": (100000, 1000, 5.5), "duet-fiber-epoll": (80000, 1200, 6.0),
                   "nginx": (100000, 1000, 6.0), "hyper": (125000, 800, 4.0), "go": (70000, 2000, 9.0)}
        wrk = {}
        for impl, (rps, p99, cpu) in figures.items():
            rps += rep * 1000
            wrk[impl] = {"rps": rps, "p50_us": p99 / 3, "p99_us": p99, "p999_us": p99 * 2, "requests": rps * 4,
                         "cpu_s": cpu * rps * 4 / 1e6, "err_connect": 0, "err_read": 0, "err_write": 0,
                         "err_timeout": 0, "non2xx": 0}
        out += http_bench.rep_records(wrk, http_bench.Load("plaintext", 256), "wrk test")
    out.append(rec("http", "nginx", "syscalls_per_req.plaintext", 2.1, 256, "syscalls/request"))
    for impl, b in (("duet-stackless-io_uring", 400), ("duet-fiber-io_uring", 9000), ("nginx", 500),
                    ("go", 8000), ("hyper", 10000)):
        out.append(rec("http", impl, "rss_per_idle_conn", b, 10000, "B"))
    out.append(rec("http", "duet-stackless-epoll", "unavailable.https", 1, None, ""))
    out[-1]["method"] = "did not start with TLS: unknown flag --tls-port"
    return out


class HttpPageTest(unittest.TestCase):
    def write(self, records):
        with tempfile.TemporaryDirectory() as d:
            R = Results({"http": data_file("http", records)})
            rep = Report(d, MACHINE, R, EXPERIMENTS, "quick")
            rep.write()
            with open(os.path.join(d, "http.md"), encoding="utf-8") as fh:
                page = fh.read()
            with open(os.path.join(d, "README.md"), encoding="utf-8") as fh:
                readme = fh.read()
        return page, readme

    def test_rows_ratios_and_targets(self):
        page, readme = self.write(http_records())
        # A row per server at the load, with min-max over the reps and the
        # ratio to nginx in the same rep.
        self.assertIn("| duet-stackless-io_uring | 256 | 110,500 (110,000-111,000) | 1.1x (1.1-1.1) |", page)
        self.assertIn("| nginx | 256 | 100,500 (100,000-101,000) | — |", page)
        self.assertIn("| 2.1 |", page)   # nginx's syscalls per request
        # Targets: the best configuration, by how much it misses hyper.
        self.assertIn("duet's best (`duet-stackless-io_uring`) requests/s at or above nginx's | 1.1x (1.1-1.1) | "
                      "**yes** |", page)
        self.assertIn("requests/s at or above hyper's | 0.88x (0.88-0.881) | **no**: 12% below | "
                      "no profile on file", page)
        self.assertIn("its p99 no worse than hyper's | 1.12x (1.12-1.12) | **no**: 12.5% worse |", page)
        self.assertIn("its p99 no worse than nginx's | 0.9x (0.9-0.9) | **yes** |", page)
        self.assertIn("epoll: fiber within 10% of stackless (requests/s) | 0.801x (0.8-0.802) | **no**: 9.9 points "
                      "under 0.9x |", page)
        self.assertIn("io_uring: fiber within 10% of stackless (requests/s) | 0.955x (0.955-0.955) | **yes** |",
                      page)
        self.assertIn("`duet-stackless-io_uring`'s CPU per request at or below nginx's | 0.833x (0.833-0.833) | "
                      "**yes** |", page)
        # Memory per idle connection: stackless against nginx, fibers against Go.
        self.assertIn("| duet-stackless-io_uring | 10,000 | 400 B |", page)
        self.assertIn("duet-stackless-io_uring at or below nginx's | 400 B against 500 B (0.8x, medians) | **yes**",
                      page)
        self.assertIn("duet-fiber-io_uring at or below go's | 8.79 KiB against 7.81 KiB (1.12x, medians) | **no**: "
                      "1,000 B (12.5%) more", page)
        # A server without HTTPS says why; the ledger page cites the HTTP page.
        self.assertIn("| duet-stackless-epoll | yes (HTTPS: not available: did not start with TLS: unknown flag "
                      "--tls-port) |", page)
        self.assertIn("[http.md](http.md)", readme)
        self.assertIn("`duet-stackless-io_uring`: 110,500 requests/s; 1.1x nginx's", readme)

    def test_servers_not_built_are_named_and_no_verdict_is_made_up(self):
        recs = [rec("http", f"duet-{m}-{d}", "unavailable", 1, None, "") for m in ("stackless", "fiber")
                for d in ("io_uring", "epoll")]
        for r in recs:
            r["method"] = "build/examples/http_server not built"
        wrk = {"nginx": {"rps": 1000.0, "p50_us": 10.0, "p99_us": 100.0, "p999_us": 200.0, "requests": 4000,
                         "cpu_s": 0.1, "err_connect": 0, "err_read": 0, "err_write": 0, "err_timeout": 0,
                         "non2xx": 0}}
        recs += http_bench.rep_records(wrk, http_bench.Load("plaintext", 256), "wrk test")
        page, readme = self.write(recs)
        self.assertIn("| duet-fiber-epoll | not measured: build/examples/http_server not built |", page)
        self.assertIn("No duet configuration measured yet: no verdict.", page)
        self.assertNotIn("## HTTP", readme)


class HttpBenchPiecesTest(unittest.TestCase):
    def test_loads(self):
        loads = http_bench.parse_loads("plaintext:64,256;pipeline:256;https:1000", 16)
        self.assertEqual([repr(x) for x in loads], ["plaintext@64", "plaintext@256", "pipeline16@256", "https@1000"])
        self.assertEqual((loads[2].path, loads[3].tls, loads[3].path), ("/plaintext", True, "/plaintext"))
        self.assertEqual(http_bench.Load("json", 64).path, "/json")
        for prof in http_bench.PROFILES.values():
            http_bench.parse_loads(prof["loads"], 16)

    def test_pipelined_zero_percentiles_are_not_reported(self):
        d = {"rps": 5000.0, "p50_us": 900.0, "p99_us": 0.0, "p999_us": 0.0, "requests": 20000, "cpu_s": 0.2,
             "err_connect": 0, "err_read": 0, "err_write": 0, "err_timeout": 0, "non2xx": 0}
        recs = http_bench.rep_records({"nginx": d, "duet-stackless-epoll": dict(d)},
                                      http_bench.Load("pipeline", 256, 16), "wrk test")
        metrics = {(r["impl"], r["metric"]) for r in recs}
        self.assertIn(("nginx", "p50_us.pipeline16"), metrics)
        self.assertNotIn(("nginx", "p99_us.pipeline16"), metrics)
        self.assertNotIn(("duet-stackless-epoll", "p99_vs_nginx.pipeline16"), metrics)
        self.assertIn(("duet-stackless-epoll", "rps_vs_nginx.pipeline16"), metrics)

    def test_idle_client_frames_a_response(self):
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
        self.assertTrue(idle_conns.response_done(ok))
        self.assertFalse(idle_conns.response_done(ok[:-1]))
        self.assertFalse(idle_conns.response_done(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"))


if __name__ == "__main__":
    unittest.main()
