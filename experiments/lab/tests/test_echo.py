"""The echo benchmark's profile pass (experiments/io/echo_bench.py, issue
52): when it runs, and its records as report.py reads them."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..", "..", "io")))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..", "..")))

import echo_bench  # noqa: E402


class EchoProfileTest(unittest.TestCase):
    def test_quick_profiles_in_the_first_run_only_smoke_never_full_always(self):
        quick, smoke, full = (echo_bench.PROFILES[k] for k in ("quick", "smoke", "full"))
        self.assertTrue(echo_bench.profile_this_run(quick, {"DUET_LAB_RUN": "0"}))
        self.assertFalse(echo_bench.profile_this_run(quick, {"DUET_LAB_RUN": "1"}))
        self.assertTrue(echo_bench.profile_this_run(quick, {}))   # by hand
        self.assertFalse(echo_bench.profile_this_run(smoke, {"DUET_LAB_RUN": "0"}))
        self.assertTrue(echo_bench.profile_this_run(full, {"DUET_LAB_RUN": "4"}))
        # The tail targets' configuration is one quick measures.
        self.assertIn("x".join(map(str, echo_bench.PROFILE_CONFIG)), quick["configs"].split(","))

    def test_records_carry_the_shares_and_the_top_symbols(self):
        prof = {"samples": 900, "shares": {"kernel": 80.0, "server": 15.0, "libc": 5.0, "tls": 0.0},
                "top": [{"pct": 30.0, "dso": "[kernel.kallsyms]", "sym": "io_uring_enter"}]}
        recs = echo_bench.profile_records("tokio", 1000, 64, prof)
        by = {r["metric"]: r for r in recs}
        self.assertEqual(by["profile_share.kernel_64B"]["value"], 80.0)
        self.assertEqual(by["profile_samples_64B"]["value"], 900)
        self.assertEqual(by["profile_sym_64B\t[kernel.kallsyms]\tio_uring_enter"]["value"], 30.0)
        self.assertTrue(all(r["n"] == 1000 and r["impl"] == "tokio" and r["experiment"] == "io_echo"
                            for r in recs))


class EchoTailTest(unittest.TestCase):
    def test_the_tail_cell_gives_the_bootstrap_enough_reps_in_quick(self):
        # The 1,000-connection p99 against Tokio's is a README target: over
        # the lab's 3 quick runs its cell must reach the bootstrap's reps
        # (lab/intervals.py), with windows longer than the other cells'.
        from lab import intervals
        quick = echo_bench.PROFILES["quick"]
        tail = quick["tail"]
        self.assertIn("1000x64", quick["configs"].split(","))
        self.assertGreaterEqual(3 * tail["reps"], intervals.BOOTSTRAP_MIN_REPS)
        self.assertGreater(tail["seconds"], quick["seconds"])

    def test_a_rep_records_each_servers_first_round_trip(self):
        r = {"rps": 1e5, "p50_us": 7e3, "p99_us": 9e3, "p999_us": 1e4, "round_trips": 1e5,
             "first_p50_us": 2e4, "first_max_us": 3e4}
        recs = echo_bench.rep_records({"duet-epoll-stackless": r, "tokio": dict(r, p99_us=1e4)}, 1000, 64, "m")
        by = {(x["impl"], x["metric"]): x["value"] for x in recs}
        self.assertEqual(by[("duet-epoll-stackless", "first_rt_max_us_64B")], 3e4)
        self.assertEqual(by[("duet-epoll-stackless", "first_rt_p50_us_64B")], 2e4)
        self.assertAlmostEqual(by[("duet-epoll-stackless", "p99_vs_tokio_64B")], 0.9)


class EchoServersTest(unittest.TestCase):
    def test_the_idle_poll_knob_is_measured_in_full_only(self):
        full = echo_bench.servers("/b", {}, None, echo_bench.PROFILES["full"].get("knobs", True))
        quick = echo_bench.servers("/b", {}, None, echo_bench.PROFILES["quick"].get("knobs", True))
        self.assertIn("duet-io_uring-stackless-poll50us", full)
        self.assertNotIn("duet-io_uring-stackless-poll50us", quick)
        # The default configuration and the one-shot receive stay in quick.
        for name in ("duet-io_uring-stackless", "duet-io_uring-stackful", "duet-io_uring-stackless-oneshot",
                     "duet-epoll-stackless", "duet-epoll-stackful"):
            self.assertIn(name, quick)


if __name__ == "__main__":
    unittest.main()
