"""reports/scaling.md: the scaling sweep (experiments/lab/scaling.py) of every
machine that has one on file, with the R3 targets graded per machine.
Generated from reports/data/<machine>/scaling.json only.
"""

from __future__ import annotations

import os
import time

from . import plots
from .machine import describe
from .stats import Summary, fmt_num

TESTS = {
    "scale_spawn_tree": ("spawn from every worker", "64 spawner tasks each spawn N/64 trivial children in batches of "
                         "256, joining each batch (N = 1M, at most 16K alive): the scheduler's throughput with spawns on every worker"),
    "scale_spawn_all": ("spawn_all, one spawner", "one task spawns N = 100K trivial children (a shared atomic "
                        "increment each) and joins all: the S6/S7 shape; the spawning loop is serial, so its "
                        "rate bounds the throughput on any number of workers"),
    "scale_work": ("CPU-bound tasks", "one task spawns M = 50K children of ~2 us of CPU each (calibrated spin) "
                   "and joins all: steal efficiency"),
    "scale_pingpong": ("ping-pong pairs", "W pairs bounce a token over two bounded(1) channels (Go: chan of "
                       "capacity 1, Tokio: mpsc::channel(1)), 20K round trips each: round trips per second, all "
                       "pairs together"),
    "scale_yield": ("yield", "2W tasks each yield 100K times: yields per second, all tasks together. Where a "
                    "worker ends up with one task its yields go on in place (nothing else to run), so the "
                    "speedup can pass the worker count: this row shows that the yield path does not "
                    "collapse, not a cost per switch (bench_sched yield_pair gives that)"),
}
RUNTIMES = ("duet-stackless", "duet-fiber", "go", "tokio")
TARGET_SPEEDUP = 12.0


def _key(impl: str) -> tuple[str, int, str]:
    """'duet-fiber/w16/compact' -> ('duet-fiber', 16, 'compact')."""
    rt, w, pl = impl.split("/")
    return rt, int(w[1:]), pl


class Sweep:
    def __init__(self, machine: dict, data: dict):
        self.m = machine
        self.d = data
        self.by = {}
        for s in data["results"]:
            sm = Summary.from_json(s)
            try:
                rt, w, pl = _key(sm.impl)
            except ValueError:
                continue
            self.by[(sm.experiment, rt, w, pl, sm.metric)] = sm
        self.workers = sorted({k[2] for k in self.by if k[0] != "scale_echo"})
        self.top = self.workers[-1] if self.workers else 0

    def get(self, test, rt, w, pl, metric="throughput") -> Summary | None:
        return self.by.get((test, rt, w, pl, metric))

    def speedup(self, test, rt, w, pl) -> float | None:
        # One worker is run once (placement compact): the base of every placement.
        a, b = self.get(test, rt, 1, pl) or self.get(test, rt, 1, "compact"), self.get(test, rt, w, pl)
        return b.median / a.median if a and b else None

    def best_speedup(self, test, rt) -> tuple[float, str] | None:
        out = [(self.speedup(test, rt, self.top, pl), pl) for pl in ("compact", "scatter")]
        out = [(s, pl) for s, pl in out if s is not None]
        return max(out) if out else None


def _rate(v: float) -> str:
    return f"{fmt_num(v / 1e6)} M/s"


def _throughput_table(S: Sweep, test: str) -> list[str]:
    lines = ["| runtime, placement | " + " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in S.workers) + " |",
             "|---|" + "---|" * len(S.workers)]
    for rt in RUNTIMES:
        for pl in ("compact", "scatter"):
            cells = []
            for w in S.workers:
                s = S.get(test, rt, w, pl)
                if s is None:
                    cells.append("—")
                    continue
                sp = S.speedup(test, rt, w, pl)
                rng = f" [{fmt_num(s.min / 1e6)}–{fmt_num(s.max / 1e6)}]" if len(s.samples) > 1 else ""
                cells.append(f"{_rate(s.median)}{rng}" + (f", **{fmt_num(sp)}x**" if sp and w > 1 else ""))
            if any(c != "—" for c in cells):
                lines.append(f"| {rt}, {pl} | " + " | ".join(cells) + " |")
    return lines


ECHO_SERVERS = ("duet-io_uring-stackless", "duet-io_uring-stackful", "duet-epoll-stackless", "duet-epoll-stackful",
                "go", "tokio")


def _echo_table(S: Sweep) -> list[str]:
    ws = sorted({w for (t, _, w, _, _) in S.by if t == "scale_echo"})
    if not ws:
        return []
    lines = ["| server | " + " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in ws) + " |",
             "|---|" + "---|" * len(ws)]
    for name in ECHO_SERVERS:
        cells = []
        for w in ws:
            s, p99 = S.get("scale_echo", name, w, "compact", "rps"), S.get("scale_echo", name, w, "compact", "p99_us")
            base = S.get("scale_echo", name, 1, "compact", "rps")
            if s is None:
                cells.append("—")
                continue
            rng = f" [{fmt_num(s.min / 1e3)}–{fmt_num(s.max / 1e3)}]" if len(s.samples) > 1 else ""
            sp = f", **{fmt_num(s.median / base.median)}x**" if base and w > 1 else ""
            cells.append(f"{fmt_num(s.median / 1e3)}K/s{rng}{sp}" + (f", p99 {fmt_num(p99.median)} us" if p99 else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _counter_table(S: Sweep) -> list[str]:
    lines = ["| test | runtime | " + " | ".join(f"{w}w" for w in S.workers) + " |",
             "|---|---|" + "---|" * len(S.workers)]
    for test in TESTS:
        for rt in ("duet-stackless", "duet-fiber"):
            cells = []
            for w in S.workers:
                vals = [S.get(test, rt, w, "compact", m) for m in ("steals_per_task", "injector_pops_per_task",
                                                                   "parks_per_task", "polls_per_task")]
                cells.append(" / ".join(fmt_num(v.median) if v else "—" for v in vals))
            lines.append(f"| {TESTS[test][0]} | {rt} | " + " | ".join(cells) + " |")
    return lines


def _placement_table(S: Sweep) -> list[str]:
    pls = ("compact", "scatter", "one_per_core", "none")
    lines = [f"| test, runtime ({S.top} workers) | " + " | ".join(pls) + " |", "|---|" + "---|" * len(pls)]
    for test in TESTS:
        for rt in ("duet-stackless", "duet-fiber"):
            cells = []
            for pl in pls:
                s = S.get(test, rt, S.top, pl)
                cells.append(_rate(s.median) if s else "—")
            lines.append(f"| {TESTS[test][0]}, {rt} | " + " | ".join(cells) + " |")
    return lines


def _collapse(S: Sweep, test: str, rt: str) -> str:
    """Throughput from half the workers to all (the searcher cap binds past
    half: at most half the workers search at once)."""
    half = S.top // 2
    out = []
    for pl in ("compact", "scatter"):
        a, b = S.get(test, rt, half, pl), S.get(test, rt, S.top, pl)
        if a and b:
            out.append(f"{pl} {fmt_num(b.median / a.median)}x")
    return ", ".join(out) or "—"


def verdict_lines(S: Sweep) -> list[str]:
    """The R3 targets on this machine: 16 workers at least 12x one worker for
    spawning (Go's and Tokio's in the same run as the comparison), no
    collapse past the searcher cap."""
    lines = []
    for test in ("scale_spawn_tree", "scale_work", "scale_spawn_all"):
        parts = []
        for rt in RUNTIMES:
            b = S.best_speedup(test, rt)
            if b:
                parts.append(f"{rt} {fmt_num(b[0])}x ({b[1]})")
        met = [rt for rt in ("duet-stackless", "duet-fiber")
               if (b := S.best_speedup(test, rt)) and b[0] >= TARGET_SPEEDUP]
        verdict = "met by both duet backends" if len(met) == 2 else f"met by {met[0]} only" if met else "not met"
        lines.append(f"- **{TESTS[test][0]}**, {S.top} workers over 1: " + "; ".join(parts)
                     + f". Target {fmt_num(TARGET_SPEEDUP)}x: {verdict}")
    lines.append(f"- **No collapse past the searcher cap** (throughput at {S.top} workers over {S.top // 2}; "
                 "past half the workers the cap keeps the rest from searching): "
                 + "; ".join(f"{TESTS[t][0]}: " + ", ".join(f"{rt} {_collapse(S, t, rt)}"
                                                           for rt in ("duet-stackless", "duet-fiber"))
                             for t in ("scale_spawn_tree", "scale_work", "scale_yield")))
    return lines


def r3_summary(reports: str) -> str:
    """One sentence for the README's R3 row, naming the machine, or ''."""
    from .scaling import _load
    out = []
    for m, d in _load(reports):
        S = Sweep(m, d)
        b = {rt: S.best_speedup("scale_spawn_tree", rt) for rt in RUNTIMES}
        w = {rt: S.best_speedup("scale_work", rt) for rt in ("duet-stackless", "duet-fiber")}
        txt = ", ".join(f"{rt} {fmt_num(v[0])}x" for rt, v in b.items() if v)
        wt = ", ".join(f"{rt} {fmt_num(v[0] / S.top)}" for rt, v in w.items() if v)
        out.append(f"On {S.top} workers of `{m['id']}` ([scaling.md](scaling.md)): spawning from every worker "
                   f"{S.top} over 1 worker: {txt}; steal efficiency of ~2 us tasks {wt}.")
    return " ".join(out)


def _plot(reports: str, S: Sweep, test: str) -> str | None:
    series = {}
    for rt in RUNTIMES:
        for pl in ("compact",):
            pts = [(w, S.speedup(test, rt, w, pl)) for w in S.workers]
            pts = [(w, s) for w, s in pts if s]
            if pts:
                series[f"{rt}, {pl}"] = pts
    series["linear"] = [(w, float(w)) for w in S.workers]
    rel = os.path.join("figures", f"scaling_{test}.svg")
    ok = plots.lines(os.path.join(reports, rel), f"{TESTS[test][0]}: speedup over 1 worker ({S.m['id']})",
                     "workers", "speedup", series, logx=True, logy=True)
    return rel if ok else None


def _before_after(S: Sweep, earlier: list[tuple[Sweep, dict]]) -> list[str]:
    builds = [(X, e.get("program_commit", "?"), e.get("what_changed", "")) for X, e in earlier]
    builds.append((S, S.m.get("bundle", {}).get("commit", "?"), "this build"))
    lines = ["### Earlier builds on this machine", "",
             "The same sweep with earlier builds, each from its own lease of the machine, beside this one: "
             + "; ".join(f"`{c}`: {w}" for _, c, w in builds) + ". Throughput at 1 and "
             f"{S.top} workers, placement compact, and the speedup. Go's rows, whose code did not change, show "
             "how far the machine itself moved between leases: compare the speedups rather than the rates.", "",
             "| test, runtime | " + " | ".join(f"`{c}`: 1 / {S.top} workers" for _, c, _ in builds) + " |",
             "|---|" + "---|" * len(builds)]
    for test in ("scale_spawn_tree", "scale_work", "scale_spawn_all"):
        for rt in ("duet-stackless", "duet-fiber", "go"):
            cells = []
            for X, _, _ in builds:
                a, b = X.get(test, rt, 1, "compact"), X.get(test, rt, X.top, "compact")
                cells.append(f"{_rate(a.median)} / {_rate(b.median)}, **{fmt_num(b.median / a.median)}x**"
                             if a and b else "—")
            lines.append(f"| {TESTS[test][0]}, {rt} | " + " | ".join(cells) + " |")
    return lines


def write_page(reports: str, found: list) -> str:
    lines = ["# Scaling past two cores", "",
             "The work-stealing scheduler (claim R3: 256-slot ring + injector + random victim + futex parking "
             "through a 64-bit idle bitmap) on 1 to 16 workers and each placement policy, with Go (GOMAXPROCS) "
             "and Tokio (worker_threads) running the same tests in the same run. Generated by "
             "`experiments/lab/scaling.py` from `reports/data/<machine>/scaling.json`; do not edit by hand.", "",
             f"Last generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    os.makedirs(os.path.join(reports, "figures"), exist_ok=True)
    for m, d in found:
        S = Sweep(m, d)
        pc = m.get("perf_counters", {})
        lines += [f"## Machine `{m['id']}`", "",
                  f"{describe(m)}.", "",
                  f"- Topology: [topology.txt](data/{m['id']}/topology.txt) (lstopo), "
                  f"[topology.xml](data/{m['id']}/topology.xml)"
                  + (f", [lscpu.txt](data/{m['id']}/lscpu.txt)" if os.path.exists(
                      os.path.join(reports, "data", m["id"], "lscpu.txt")) else "") + ".",
                  f"- Programs built at commit `{m.get('bundle', {}).get('commit', '?')}` on the bundling machine "
                  f"({m.get('compiler', '?')}); peers: "
                  + "; ".join(f"{k} {v}" for k, v in m.get("bundle", {}).get("peers", {}).items()) + ".",
                  f"- Rounds: {d['repeat']} (every configuration once per round, rounds interleaved; the echo "
                  f"servers {d.get('echo_repeat', d['repeat'])}); each run prints the median of 5 warm passes; "
                  "cells give the median over rounds with [min–max].",
                  f"- Hardware counters: {'yes' if pc.get('available') else 'no'} ({pc.get('how', '?')})"
                  + ("" if pc.get("available") else "; so the cache claims K1-K3 stay on timing and cachegrind "
                     "(cache.md), not counters") + ".",
                  f"- Duet's workers are pinned by the placement; the peers' threads float inside a taskset of "
                  "the CPUs duet pins for that placement. Status: " + d["status"]
                  + (f" ({'; '.join(d['errors'][:3])})" if d.get("errors") else "") + ".", "",
                  "### R3 on this machine", ""]
        lines += verdict_lines(S)
        lines.append("")
        for test, (title, what) in TESTS.items():
            lines += [f"### {title}", "", what + ". Throughput, median [min–max] over rounds, and **speedup** "
                      "over 1 worker of the same runtime and placement.", ""]
            lines += _throughput_table(S, test)
            if test in ("scale_spawn_tree", "scale_work"):
                rel = _plot(reports, S, test)
                if rel:
                    lines += ["", f"![{title}]({rel})"]
            lines.append("")
        echo = _echo_table(S)
        if echo:
            meth = next((sm.method for (t, *_), sm in S.by.items() if t == "scale_echo"), "")
            lines += ["### Echo server on several workers", "",
                      f"Round trips per second, all connections together, median [min–max] over rounds, "
                      f"**speedup** over 1 worker, and the worst loader's p99. Method: {meth}. Go sets GOMAXPROCS, "
                      "Tokio runs a multi-thread runtime of W workers (current-thread at 1), duet pins W workers "
                      "(compact) inside the taskset.", ""]
            lines += echo + [""]
        if d.get("earlier"):
            lines += _before_after(S, [(Sweep(m, e), e) for e in d["earlier"]]) + [""]
        lines += ["### Scheduler counters per task (duet, placement compact)", "",
                  "From rt.stats() over the median pass, per task: tasks stolen / tasks taken from the "
                  "injector / worker parks (each ends in a wake-up) / polls.", ""]
        lines += _counter_table(S)
        lines += ["", f"### Placement at {S.top} workers (duet)", ""]
        lines += _placement_table(S)
        lines.append("")
    path = os.path.join(reports, "scaling.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path
