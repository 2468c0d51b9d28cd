"""Grading by intervals (issue 73, experiments/lab/intervals.py): the
interval over a figure's reps (the min-max of few reps, a seeded bootstrap
of many; a ratio's paired or independent), met / missed / undecided at the
line's boundaries, the reps that would decide an undecided target, a
claim's figure graded by its interval and a claim's parts combined, the
pages' cells, the README's rule, `--report-only --machine`, and lab.repeat's
aggregation of runs."""

import json
import os
import random
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lab import claims as C  # noqa: E402
from lab import intervals as I  # noqa: E402
from lab import repeat  # noqa: E402
from lab import run as lab_run  # noqa: E402
from lab.experiments import EXPERIMENTS  # noqa: E402
from lab.report import Report  # noqa: E402
from lab.results import Results  # noqa: E402
from lab.stats import median  # noqa: E402
from lab.tests.test_report import MACHINE, data_file, rec  # noqa: E402


def iv(value, lo, hi, reps=4):
    return I.Interval(value, lo, hi, reps, "min-max")


class IntervalTest(unittest.TestCase):
    def test_few_reps_give_their_min_max(self):
        got = I.interval([1.2, 0.9, 1.0])
        self.assertEqual((got.value, got.lo, got.hi, got.reps, got.method), (1.0, 0.9, 1.2, 3, "min-max"))
        self.assertEqual(got.text(), "0.9-1.2, min-max of 3 reps")
        self.assertEqual(I.interval([5.0]).text(), "5-5, min-max of 1 rep")
        eight = I.interval([float(x) for x in range(8)])
        self.assertEqual((eight.lo, eight.hi, eight.method), (0.0, 7.0, "min-max"))
        with self.assertRaises(ValueError):
            I.interval([])

    def test_nine_reps_drop_one_at_each_end(self):
        # The min-max of 9 reps holds the median with 99.6%; the second-lowest
        # to the second-highest with 96.1%, still the lab's 95%.
        got = I.interval([9.0, 1.0, 5.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0])
        self.assertEqual((got.value, got.lo, got.hi, got.method), (5.0, 2.0, 8.0, "order:2"))
        self.assertEqual(got.text(), "2-8, 2nd lowest to 2nd highest of 9 reps")
        self.assertAlmostEqual(I.median_coverage(9, 2), 1 - 2 * 10 / 512)
        self.assertAlmostEqual(I.median_coverage(3, 1), 0.75)
        # The narrowest run that still holds the median with CONFIDENCE.
        for n in range(1, I.BOOTSTRAP_MIN_REPS):
            k = I.order_k(n)
            if k > 1:
                self.assertGreaterEqual(I.median_coverage(n, k), I.CONFIDENCE)
            if k + 1 <= (n + 1) // 2:
                self.assertLess(I.median_coverage(n, k + 1), I.CONFIDENCE)
        self.assertEqual([I.order_k(n) for n in range(1, 10)], [1] * 8 + [2])
        with self.assertRaises(ValueError):
            I.median_coverage(4, 3)

    def test_many_reps_give_a_seeded_bootstrap_of_the_median(self):
        xs = [float(x) for x in range(1, 101)]
        got = I.interval(xs)
        self.assertEqual(got.method, "bootstrap")
        self.assertEqual(got.value, 50.5)
        # The median of 100 uniform ranks: a 95% interval near ranks 40-61.
        self.assertTrue(36 <= got.lo <= 45 and 56 <= got.hi <= 65, got)
        self.assertTrue(got.lo <= got.value <= got.hi)
        self.assertEqual(got.text(), f"{got.lo:g}-{got.hi:g}, 95% bootstrap of 100 reps")

    def test_the_same_reps_give_the_same_interval_in_any_order(self):
        rng = random.Random(1)
        xs = [rng.lognormvariate(0, 0.3) for _ in range(25)]
        first = I.interval(xs)
        shuffled = list(xs)
        rng.shuffle(shuffled)
        self.assertEqual(I.interval(shuffled), first)
        self.assertEqual(I.interval(list(xs)), first)
        self.assertEqual(I.ratio_interval(xs, xs[::-1]), I.ratio_interval(shuffled, xs))
        # Narrower than the min-max, inside it.
        self.assertTrue(min(xs) <= first.lo and first.hi <= max(xs))
        self.assertLess(first.hi - first.lo, max(xs) - min(xs))

    def test_paired_ratios_are_graded_per_rep(self):
        num, den = [2.0, 3.0, 6.0], [1.0, 2.0, 3.0]
        got = I.ratio_interval(num, den, paired=True)
        self.assertEqual(got, I.interval([2.0, 1.5, 2.0]))
        self.assertEqual(got.sides, "one")
        with self.assertRaises(ValueError):
            I.ratio_interval([1.0, 2.0], [1.0], paired=True)

    def test_independent_sides_take_min_over_max_to_max_over_min(self):
        got = I.ratio_interval([600.0, 620.0, 640.0], [500.0, 520.0])
        self.assertEqual(got.value, 620.0 / 510.0)
        self.assertEqual((got.lo, got.hi, got.reps, got.sides), (600.0 / 520.0, 640.0 / 500.0, 2, "independent"))
        self.assertEqual(got.text(lambda v: f"{v:.2f}"), "1.15-1.28, min-max of each side's 2 reps")
        many = I.ratio_interval([float(x) for x in range(100, 130)], [float(x) for x in range(50, 80)])
        self.assertEqual(many.method, "bootstrap")
        self.assertTrue(many.lo <= many.value <= many.hi)
        self.assertEqual(many, I.ratio_interval([float(x) for x in range(129, 99, -1)],
                                                [float(x) for x in range(50, 80)]))
        self.assertEqual(I.ratio_interval([1.0], [0.0]).hi, float("inf"))


class DecideTest(unittest.TestCase):
    def test_at_most_a_line(self):
        line = I.at_most(1.2)
        self.assertEqual(I.decide(iv(1.0, 0.9, 1.2), line).state, I.MET)          # touching the line: met
        self.assertEqual(I.decide(iv(1.0, 0.9, 1.2001), line).state, I.UNDECIDED)
        self.assertEqual(I.decide(iv(1.3, 1.2, 1.5), line).state, I.UNDECIDED)    # lo on the line: not all wrong
        self.assertEqual(I.decide(iv(1.3, 1.2001, 1.5), line).state, I.MISSED)

    def test_at_least_a_line(self):
        line = I.at_least(1.0)
        self.assertEqual(I.decide(iv(1.1, 1.0, 1.3), line).state, I.MET)
        self.assertEqual(I.decide(iv(1.1, 0.99, 1.3), line).state, I.UNDECIDED)
        self.assertEqual(I.decide(iv(0.9, 0.8, 1.0), line).state, I.UNDECIDED)
        self.assertEqual(I.decide(iv(0.9, 0.8, 0.999), line).state, I.MISSED)

    def test_within_a_band(self):
        band = I.within(0.9, 1.1)
        self.assertEqual(I.decide(iv(1.0, 0.9, 1.1), band).state, I.MET)
        self.assertEqual(I.decide(iv(1.0, 0.85, 1.15), band).state, I.UNDECIDED)  # spills both sides
        self.assertEqual(I.decide(iv(1.2, 1.15, 1.3), band).state, I.MISSED)
        self.assertEqual(I.decide(iv(0.8, 0.7, 0.85), band).state, I.MISSED)

    def test_one_rep_decides_nothing(self):
        d = I.decide(I.interval([0.5]), I.at_most(1.2))
        self.assertEqual((d.state, d.reps), (I.UNDECIDED, 1))
        self.assertEqual(d.needed_text(), "one rep shows no spread: 2 or more would decide it")
        self.assertEqual(I.decide(I.interval([0.5, 0.5]), I.at_most(1.2)).state, I.MET)


class RepsNeededTest(unittest.TestCase):
    def test_the_interval_narrows_as_one_over_sqrt_reps(self):
        # Median inside, the bound 0.3 past it, the line 0.2 away: 4 * (0.3/0.2)^2 = 9 reps bring the
        # bound onto the line, one more past it.
        self.assertEqual(I.reps_needed(iv(1.0, 0.8, 1.3, 4), I.at_most(1.2)), 10)
        # Median outside: the near bound 0.2 away, the line 0.1: 4 * 4 = 16, and one more.
        self.assertEqual(I.reps_needed(iv(1.3, 1.1, 1.5, 4), I.at_most(1.2)), 17)
        self.assertEqual(I.reps_needed(iv(0.9, 0.8, 1.05, 4), I.at_least(1.0)), 10)   # 4 * 1.5^2 = 9, then 10
        # A band spilled on both sides: the worse side decides.
        self.assertEqual(I.reps_needed(iv(1.0, 0.8, 1.15, 4), I.within(0.9, 1.1)), 17)
        # Always more than the reps on file.
        self.assertEqual(I.reps_needed(iv(1.0, 0.9, 1.2001, 6), I.at_most(1.2)), 7)

    def test_past_the_cap_or_on_the_line_is_none(self):
        self.assertIsNone(I.reps_needed(iv(1.2, 1.0, 1.4, 3), I.at_most(1.2)))
        self.assertIsNone(I.reps_needed(iv(1.19, 0.9, 1.5, 3), I.at_most(1.2)))
        d = I.decide(iv(1.19, 0.9, 1.5, 3), I.at_most(1.2))
        self.assertEqual(d.needed_text(), f"more than {I.REPS_CAP} reps would be needed (estimate)")
        d = I.decide(iv(1.0, 0.8, 1.3, 4), I.at_most(1.2))
        self.assertEqual(d.needed_text(), "~10 reps would decide it (estimate)")


class ClaimGradeTest(unittest.TestCase):
    def test_a_figure_grades_by_its_whole_interval(self):
        self.assertEqual(C.grade_iv(I.interval([1500.0, 1800.0]), 1000)[0], "holds")
        self.assertEqual(C.grade_iv(I.interval([2500.0, 3000.0]), 1000)[0], "holds in part")
        self.assertEqual(C.grade_iv(I.interval([1500.0, 2500.0]), 1000)[0], "undecided")   # across 2x
        self.assertEqual(C.grade_iv(I.interval([30.0, 40.0]), 1000)[0], "refuted")
        self.assertEqual(C.grade_iv(I.interval([90.0, 110.0]), 1000)[0], "undecided")      # across 1/10
        # Both ends hold in part, on either side of the claimed range: it crosses "holds".
        self.assertEqual(C.grade_iv(I.interval([300.0, 3000.0]), 1000)[0], "undecided")
        self.assertEqual(C.grade_iv(I.interval([1500.0]), 1000)[0], "undecided")            # one rep
        v, d = C.grade_iv(I.interval([1900.0, 2600.0, 2700.0]), 1000)
        # The median's band (2000, 10000]: the low bound 700 past the median, the edge 600.
        self.assertEqual((v, d.reps_needed), ("undecided", 5))

    def test_an_undecided_figure_says_so_in_the_claims_why(self):
        def switch_bare(samples):
            return {"switch_bare": data_file("switch_bare", [
                rec("switch_bare", "futex_same_cpu", "time_per_switch", x, 1000) for x in samples])}
        s4 = next(c for c in C.load_claims() if c.id == "S4")
        v = C.evaluate(s4, Results(switch_bare([1900.0, 2600.0, 2700.0])))
        self.assertEqual(v.verdict, "undecided")
        self.assertIn("Undecided: the futex handoff: undecided at 3 reps (2.6 us; 1.9 us-2.7 us, min-max of 3 reps), "
                      "~5 reps would decide it (estimate).", v.why)
        v = C.evaluate(s4, Results(switch_bare([1500.0, 1800.0])))
        self.assertEqual(v.verdict, "holds")
        self.assertNotIn("Undecided", v.why)

    def test_combine_undecided_parts(self):
        U = C.UNDECIDED
        self.assertEqual(C.combine(["holds", U]), U)                       # holds or not: not known
        self.assertEqual(C.combine(["holds in part", U]), "holds in part")
        self.assertEqual(C.combine(["holds", "refuted", U]), "holds in part")
        self.assertEqual(C.combine(["refuted", U]), U)
        self.assertEqual(C.combine([U, U]), U)
        self.assertEqual(C.combine(["not measurable here", U]), U)
        self.assertEqual(C.combine(["holds", "holds"]), "holds")
        self.assertIn(U, C.VERDICTS)

    def test_the_ledger_counts_undecided_claims(self):
        recs = [rec("switch_bare", "futex_same_cpu", "time_per_switch", x, 1000) for x in (1900.0, 2600.0, 2700.0)]
        with tempfile.TemporaryDirectory() as d:
            rep = Report(d, MACHINE, Results({"switch_bare": data_file("switch_bare", recs)}), EXPERIMENTS, "quick")
            rep.write()
            with open(os.path.join(d, "README.md"), encoding="utf-8") as fh:
                readme = fh.read()
        self.assertEqual(rep.counts()[C.UNDECIDED], 1)
        self.assertIn(" refuted, 1 undecided, ", readme)
        self.assertIn("## Grading", readme)
        self.assertIn(f"the min-max of the reps below {I.BOOTSTRAP_MIN_REPS} reps", readme)
        self.assertIn(f"a 95% percentile bootstrap of the median ({I.BOOTSTRAP_RESAMPLES:,} resamples", readme)


def echo_records(p99s, rcs, model="stackless", n=1000):
    i = f"duet-io_uring-{model}"
    return ([rec("io_echo", i, "rps_64B", 90000, n, "round_trips/s")]
            + [rec("io_echo", i, "p99_vs_tokio_64B", x, n, "x") for x in p99s]
            + [rec("io_echo", i, "rps_vs_c_epoll_64B", x, n, "x") for x in rcs])


class PageTest(unittest.TestCase):
    def page(self, files, name):
        with tempfile.TemporaryDirectory() as d:
            Report(d, MACHINE, Results(files), EXPERIMENTS, "quick").write()
            with open(os.path.join(d, name), encoding="utf-8") as fh:
                return fh.read()

    def test_echo_tail_cells_met_missed_undecided(self):
        recs = (echo_records((0.9, 1.0, 1.3), (1.01, 1.02, 1.05))
                + echo_records((1.3, 1.4, 1.5), (0.9, 1.0, 1.1), "stackful"))
        page = self.page({"io_echo": data_file("io_echo", recs)}, "io.md")
        self.assertIn("| 1,000 x 64 | duet-io_uring-stackless | 1x (0.9-1.3, min-max of 3 reps) | **undecided at 3 "
                      "reps** (median meets the line): ~7 reps would decide it (estimate) | 1.02x (1.01-1.05, "
                      "min-max of 3 reps) | **yes** | no profile on file |", page)
        self.assertIn("| duet-io_uring-stackful | 1.4x (1.3-1.5, min-max of 3 reps) | **no**: 16.7% over 1.2x | "
                      "1x (0.9-1.1, min-max of 3 reps) | **undecided at 3 reps** (median meets the line): more than "
                      "100 reps would be needed (estimate) |", page)
        self.assertIn("A verdict reads the interval over the reps beside the median", page)

    def test_issue_3_table_and_within_ten_percent(self):
        recs = echo_records((0.9, 1.0), (1.01, 1.02), n=64)
        recs += [rec("io_echo", "duet-io_uring", "stackful_vs_stackless_64B", x, 64, "x") for x in (0.95, 1.05)]
        recs += [rec("io_echo", "duet-epoll", "stackful_vs_stackless_64B", x, 64, "x") for x in (0.95, 1.12)]
        page = self.page({"io_echo": data_file("io_echo", recs)}, "io.md")
        # epoll's 0.95-1.12 spills past 1.1: the median 1.035 is 0.065 from it, the bound 0.085: 2 * 1.71.
        self.assertIn("| 64 x 64 | duet-io_uring-stackless | 1.02x (1.01-1.02, min-max of 2 reps) | yes | "
                      "0.95x (0.9-1, min-max of 2 reps) | yes | 1x | 1.04x | epoll: undecided at 2 reps: ~4 reps "
                      "would decide it (estimate) |", page)

    def test_http_memory_interval_resamples_each_side(self):
        recs = [rec("http", i, "rss_per_idle_conn", b, 10000, "B")
                for i, bs in (("duet-poll-io_uring", (400, 450)), ("nginx", (420, 500))) for b in bs]
        recs.append(rec("http", "duet-poll-io_uring", "rps.plaintext", 1000, 256, "requests/s"))
        page = self.page({"http": data_file("http", recs)}, "http.md")
        self.assertIn("| memory per idle connection: duet-poll-io_uring at or below nginx's | 425 B against 460 B "
                      "(0.924x, medians; 0.8-1.07, min-max of each side's 2 reps) | **undecided at 2 reps** (median "
                      "meets the line): ~8 reps would decide it (estimate) |", page)

    def test_the_scope_ratio_and_the_readme_headline(self):
        sched = [rec("sched_bench", "duet", f"{name}/stackless/1/manual_time:ns/op", ns, 1)
                 for name, xs in (("scope_spawn_join", (55.0, 65.0)), ("spawn_join", (50.0, 50.0))) for ns in xs]
        page = self.page({"sched_bench": data_file("sched_bench", sched)}, "switch.md")
        self.assertIn("| 1.2x (1.1-1.3, min-max of each side's 2 reps) | undecided at 2 reps: more than 100 reps "
                      "would be needed (estimate) |", page)


class RegradeTest(unittest.TestCase):
    def test_report_only_regrades_another_machines_data(self):
        with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as build:
            data = os.path.join(out, "data", "recorded-box")
            os.makedirs(data)
            with open(os.path.join(data, "machine.json"), "w", encoding="utf-8") as f:
                json.dump(dict(MACHINE, id="recorded-box"), f)
            recs = echo_records((0.9, 1.0, 1.3), (1.01, 1.02, 1.05))
            with open(os.path.join(data, "io_echo.json"), "w", encoding="utf-8") as f:
                json.dump(data_file("io_echo", recs), f)
            here = dict(MACHINE, id="this-box")
            with mock.patch.object(lab_run, "capture", return_value=here), \
                    mock.patch("sys.stdout", new=open(os.devnull, "w")):
                rc = lab_run.main(["--report-only", "--machine", "recorded-box", "--out", out, "--build-dir", build])
                with self.assertRaises(SystemExit):
                    lab_run.main(["--machine", "recorded-box", "--out", out, "--build-dir", build])
                with self.assertRaises(SystemExit):
                    lab_run.main(["--report-only", "--machine", "nowhere", "--out", out, "--build-dir", build])
            self.assertEqual(rc, 0)
            with open(os.path.join(out, "io.md"), encoding="utf-8") as fh:
                page = fh.read()
            self.assertIn("Machine `recorded-box`", page)
            self.assertIn("**undecided at 3 reps**", page)
            self.assertFalse(os.path.exists(os.path.join(out, "data", "this-box")))


class RepeatTest(unittest.TestCase):
    RUNS = [((0.8, 0.85, 0.9), (1.01, 1.02, 1.05)),    # p99 met, round trips met
            ((0.9, 1.0, 1.3), (1.01, 1.03, 1.04)),     # p99 undecided
            ((0.85, 0.9, 0.95), (1.0, 1.02, 1.1))]     # met, met

    def runs(self):
        return [repeat.grade_run(Results({"io_echo": data_file("io_echo", echo_records(*r))}), MACHINE,
                                 tempfile.gettempdir(), [], ["io_echo"]) for r in self.RUNS]

    def test_each_run_grades_every_target(self):
        first = self.runs()[0]
        p99 = first["target: echo 1,000 x 64: duet-io_uring-stackless's p99 at most 1.2x Tokio's"]
        self.assertEqual((p99.state, p99.text), (I.MET, "0.85 (0.8-0.9, min-max of 3 reps)"))
        self.assertIn("target: echo 1,000 x 64: duet-io_uring-stackless's round trips at least C epoll's", first)
        self.assertIn("target: echo 1,000 x 64: duet's best round trips at least C epoll", first)

    def test_agreement_across_runs(self):
        rows = {r.key: r for r in repeat.agreement(self.runs())}
        p99 = rows["target: echo 1,000 x 64: duet-io_uring-stackless's p99 at most 1.2x Tokio's"]
        self.assertFalse(p99.agree)
        self.assertFalse(p99.reproduces)   # run 2's median 1.0 is outside run 1's 0.8-0.9
        rc = rows["target: echo 1,000 x 64: duet-io_uring-stackless's round trips at least C epoll's"]
        self.assertTrue(rc.agree)
        self.assertTrue(rc.reproduces)
        text = repeat.render(list(rows.values()))
        self.assertIn("    run 2: undecided     1 (0.9-1.3, min-max of 3 reps); ~7 reps would decide it (estimate)",
                      text)
        self.assertIn("    runs agree: no (met, undecided, met); medians inside each other's intervals: no", text)
        self.assertIn("    runs agree: yes (met, met, met); medians inside each other's intervals: yes", text)
        bad = [r for r in rows.values() if not r.agree]
        self.assertIn(f"{len(rows)} targets and claims over 3 runs: {len(rows) - len(bad)} agree, {len(bad)} do "
                      "not:", text)

    def test_a_target_one_run_lacks_does_not_agree(self):
        runs = self.runs()
        key = "target: echo 1,000 x 64: duet-io_uring-stackless's p99 at most 1.2x Tokio's"
        del runs[2][key]
        row = next(r for r in repeat.agreement(runs) if r.key == key)
        self.assertFalse(row.agree)
        self.assertIsNone(row.reproduces)
        self.assertIn("    run 3: not graded", repeat.render([row]))

    def test_a_run_undecided_contradicts_none_but_met_against_missed_does(self):
        key = "target: echo 1,000 x 64: duet-io_uring-stackless's p99 at most 1.2x Tokio's"
        runs = self.runs()
        row = next(r for r in repeat.agreement(runs) if r.key == key)
        self.assertFalse(row.agree)
        self.assertFalse(row.contradicts)   # met, undecided, met
        missed = repeat.grade_run(Results({"io_echo": data_file("io_echo", echo_records((1.3, 1.4, 1.5),
                                                                                        (1.0, 1.02, 1.1)))}),
                                  MACHINE, tempfile.gettempdir(), [], ["io_echo"])
        row = next(r for r in repeat.agreement([runs[0], missed]) if r.key == key)
        self.assertTrue(row.contradicts)
        text = repeat.render(repeat.agreement(runs + [missed]))
        self.assertIn(f"  - {key} (contradict: met in one run, missed in another)", text)
        self.assertIn("Of those, 2 contradict (one run met what another missed); in the other 0 a run was "
                      "undecided where another decided.", text)
        # A claim differs or it does not.
        a, b = {"claim S4": repeat.Entry("holds", "x")}, {"claim S4": repeat.Entry("holds in part", "y")}
        self.assertTrue(repeat.agreement([a, b])[0].contradicts)

    def test_the_runs_together_pool_every_runs_reps(self):
        rs = [Results({"io_echo": data_file("io_echo", echo_records(*r))}) for r in self.RUNS]
        both = repeat.pooled(rs)
        got = both.get("io_echo", "p99_vs_tokio_64B", 1000, "duet-io_uring-stackless")
        self.assertEqual(got.samples, [x for p99s, _ in self.RUNS for x in p99s])
        self.assertEqual(both.get("io_echo", "rps_64B", 1000, "duet-io_uring-stackless").samples, [90000] * 3)
        # The runs' own records are left as they were.
        self.assertEqual(len(rs[0].get("io_echo", "p99_vs_tokio_64B", 1000, "duet-io_uring-stackless").samples), 3)
        together = repeat.grade_run(both, MACHINE, tempfile.gettempdir(), [], ["io_echo"])
        key = "target: echo 1,000 x 64: duet-io_uring-stackless's p99 at most 1.2x Tokio's"
        # 9 reps: the second-lowest to the second-highest, 0.8-1.0 (the 1.3 left out).
        self.assertEqual((together[key].state, together[key].text),
                         (I.MET, "0.9 (0.85-1, 2nd lowest to 2nd highest of 9 reps)"))
        rows = repeat.agreement([repeat.grade_run(R, MACHINE, tempfile.gettempdir(), [], ["io_echo"]) for R in rs],
                                together)
        text = repeat.render(rows)
        self.assertIn("    the runs together: met           0.9 (0.85-1, 2nd lowest to 2nd highest of 9 reps)",
                      text)

    def test_claims_agree_by_verdict(self):
        a = {"claim S4": repeat.Entry("holds", "x")}
        b = {"claim S4": repeat.Entry("undecided", "y")}
        (row,) = repeat.agreement([a, dict(a)])
        self.assertTrue(row.agree)
        self.assertIsNone(row.reproduces)
        self.assertFalse(repeat.agreement([a, b])[0].agree)

    def test_grade_runs_on_disk_and_the_exit_status(self):
        with tempfile.TemporaryDirectory() as d:
            dirs = []
            for k, r in enumerate(self.RUNS, 1):
                data = os.path.join(d, f"run-{k}", "data", MACHINE["id"])
                os.makedirs(data)
                with open(os.path.join(data, "machine.json"), "w", encoding="utf-8") as f:
                    json.dump(MACHINE, f)
                with open(os.path.join(data, "io_echo.json"), "w", encoding="utf-8") as f:
                    json.dump(data_file("io_echo", echo_records(*r)), f)
                dirs.append(os.path.join(d, f"run-{k}"))
            with mock.patch("sys.stdout", new=open(os.devnull, "w")):
                self.assertEqual(repeat.main(["--experiments", "io_echo", "--grade"] + dirs), 1)
                self.assertEqual(repeat.main(["--experiments", "io_echo", "--grade", dirs[0], dirs[2]]), 0)
                # A data/<machine> directory is a run too.
                self.assertEqual(repeat.main(["--experiments", "io_echo", "--grade", dirs[0],
                                              os.path.join(dirs[2], "data", MACHINE["id"])]), 0)
            self.assertEqual(repeat.data_dirs(os.path.join(d, "nowhere")), [])
            # --page writes the same text as a generated page, with each run's facts.
            page = os.path.join(d, "repeat.md")
            with mock.patch("sys.stdout", new=open(os.devnull, "w")):
                repeat.main(["--experiments", "io_echo", "--grade", dirs[0], dirs[2], "--page", page])
            with open(page, encoding="utf-8") as fh:
                text = fh.read()
            self.assertTrue(text.startswith("# Verdicts from run to run"))
            self.assertIn("Generated by `python3 -m lab.repeat`", text)
            self.assertIn("- run 2: commit ", text)
            self.assertIn("runs agree: yes (met, met)", text)

    def test_the_runs_it_would_make(self):
        cmds = repeat.run_commands(["io_echo", "http"], 3, "/tmp/r", "quick", False)
        self.assertEqual(len(cmds), 3)
        self.assertEqual(cmds[1][1:], ["--profile", "quick", "--only", "io_echo", "http", "--out", "/tmp/r/run-2"])
        self.assertTrue(cmds[0][0].endswith(os.path.join("experiments", "run")))
        self.assertEqual(repeat.run_commands(["S4"], 2, "/o", "smoke", True)[0][-1], "--no-peers")
        self.assertEqual(repeat.experiments_of(["S4", "io_echo"]), ["switch_bare", "io_echo"])
        self.assertEqual(repeat.claims_of(["io_echo"]), C.claims_reading("io_echo"))
        with self.assertRaises(SystemExit):
            repeat.main(["--experiments", "io_echo", "--runs", "1"])
        with self.assertRaises(SystemExit):
            repeat.main([])


class MedianTest(unittest.TestCase):
    def test_an_interval_holds_the_median_it_shows(self):
        rng = random.Random(7)
        for n in (2, 5, 9, 10, 31):
            xs = [rng.uniform(0.5, 1.5) for _ in range(n)]
            got = I.interval(xs)
            self.assertEqual(got.value, median(xs))
            self.assertTrue(got.lo <= got.value <= got.hi)


if __name__ == "__main__":
    unittest.main()
