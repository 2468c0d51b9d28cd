#!/usr/bin/env python3
"""cost_report.py: the cost of ./tests/run runs, and what each flavour buys,
as a markdown page (reports/tests-cost.md).

Usage: cost_report.py [--title T] [--note N] [--findings TSV] [--trim DIR]
                      LABEL=LOG[+LOG...] [LABEL=...]

Each LOG is the output of one `./tests/run` (or `.ci/run`): the table it
prints at its end ("== cost of this run (wall seconds) =="), its slowest
CTest entries, and every CTest entry line of each flavour's test stage
(CTest's own output, under "== test <flavour> =="). The page puts the runs
side by side, stage by stage (a stage a run did not have is blank), with
the ratio of the last run to the first; then, for the last run, each
flavour's CTest seconds per test area beside what that flavour found in the
project's history (--findings: tests/support/findings.tsv, one defect a
line: the commit that fixed it, the flavour that caught it, the area, and
whether the defect was the library's or a test's); then each run's slowest
entries. --trim DIR writes each LOG's lines that the page reads (the cost
table and the CTest entries) to DIR/LABEL.log, so that the page can be made
again from the repository. Writes the page to standard output.
"""
import argparse
import collections
import csv
import os
import pathlib
import platform
import re
import sys

# A stage's row: its name and seconds, then (since the budget column) its
# share of the budget or "-", and "over" when it went past it.
STAGE = re.compile(r"^  (\S.*?)\s+([0-9]+\.[0-9])(?:\s+(?:-|[0-9]+)(?:\s+over)?)?$")
SLOW = re.compile(r"^\s+([0-9.]+)\s+(\S+)\s+(.+)$")
# CTest's line for an entry that ended (tests/run's cost table reads the same).
ENTRY = re.compile(r"^ *[0-9]+/[0-9]+ Test +#[0-9]+: (.*[^ ]) \.+ *(\*\*\*)?([A-Za-z ]+[a-z]) +"
                   r"([0-9.]+) sec$")
TEST_STAGE = re.compile(r"^== test (\S+) ==$")


def parse(path):
    """The run's stages, its slowest entries, and every entry per flavour."""
    stages, slowest, section, flavour = {}, [], None, None
    entries = collections.defaultdict(dict)
    kept = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = TEST_STAGE.match(line)
            if m:
                flavour = m.group(1)
                kept.append(line)
                continue
            m = ENTRY.match(line)
            if m and flavour:
                entries[flavour][m.group(1)] = float(m.group(4))
                kept.append(line)
                continue
            if line.startswith("== cost of this run"):
                section, stages = "cost", {}
                kept.append(line)
                continue
            if line.startswith("== the 15 slowest CTest entries"):
                section, slowest = "slow", []
                kept.append(line)
                continue
            if line.startswith("== ") or not line.strip():
                if line.startswith("== "):
                    section = None
                    flavour = None if not line.startswith("== test ") else flavour
                continue
            if section == "cost":
                m = STAGE.match(line)
                if m:
                    stages[m.group(1)] = float(m.group(2))
                    kept.append(line)
            elif section == "slow":
                m = SLOW.match(line)
                if m:
                    slowest.append((float(m.group(1)), m.group(2), m.group(3)))
                    kept.append(line)
    if not stages:
        sys.exit(f"cost_report: {path} has no cost table")
    return stages, slowest, entries, kept


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def area_of(entry):
    return entry.split(":", 1)[0]


def read_findings(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows.append(r)
    return rows


def flavour_table(entries, findings):
    """Per area: each flavour's CTest seconds now, and its findings."""
    flavours = list(entries)
    found = collections.defaultdict(lambda: collections.Counter())
    for r in findings:
        for fl in r["flavour"].split("+"):
            found[(fl, r["area"])][r["kind"]] += 1
    areas = sorted({area_of(e) for fl in flavours for e in entries[fl]} |
                   {r["area"] for r in findings if any(fl in flavours for fl in r["flavour"].split("+"))})
    out = ["| area | " + " | ".join(f"{fl}: s now" for fl in flavours) + " | " +
           " | ".join(f"{fl}: found" for fl in flavours) + " |",
           "|---" * (1 + 2 * len(flavours)) + "|"]
    for a in areas:
        secs = []
        for fl in flavours:
            s = sum(t for e, t in entries[fl].items() if area_of(e) == a)
            secs.append(f"{s:.0f}" if any(area_of(e) == a for e in entries[fl]) else "")
        got = []
        for fl in flavours:
            c = found.get((fl, a))
            got.append(", ".join(f"{n} {k}" for k, n in sorted(c.items())) if c else "")
        out.append(f"| {a} | " + " | ".join(secs) + " | " + " | ".join(got) + " |")
    totals = [f"{sum(entries[fl].values()):.0f}" for fl in flavours]
    out.append("| all | " + " | ".join(totals) + " | " + " | ".join(
        str(sum(sum(c.values()) for (f2, _), c in found.items() if f2 == fl)) for fl in flavours) + " |")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", default="The cost of ./tests/run")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--findings")
    ap.add_argument("--trim")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    runs = []
    for r in a.runs:
        label, _, paths = r.partition("=")
        # LOG+LOG+...: one run's stages measured by several invocations
        # (--only ...); their stages are merged and the total is their sum.
        parts = [parse(p) for p in paths.split("+")]
        if a.trim:
            pathlib.Path(a.trim).mkdir(parents=True, exist_ok=True)
            # CTest pads each entry's name with dots to one width: four are enough.
            kept = [re.sub(r" \.{5,}", " ....", line) for part in parts for line in part[3]]
            (pathlib.Path(a.trim) / f"{label}.log").write_text("\n".join(kept) + "\n")
        if len(parts) == 1:
            runs.append((label, *parts[0][:3]))
            continue
        stages, slowest, entries = {}, [], collections.defaultdict(dict)
        for st, sl, en, _ in parts:
            stages.update({k: v for k, v in st.items() if k != "total"})
            slowest += sl
            for fl, es in en.items():
                entries[fl].update(es)
        stages["total"] = sum(stages.values())
        runs.append((label, stages, sorted(slowest, reverse=True)[:15], entries))
    order = []
    for _, stages, _, _ in runs:
        for s in stages:
            if s != "total" and s not in order:
                order.append(s)
    order.append("total")
    out = [f"# {a.title}", "",
           f"Generated by `tests/support/cost_report.py` from the logs of the runs below "
           f"(wall seconds, as each run's own table printed them). Machine: "
           f"{cpu_name()}, {os.cpu_count()} CPUs.",
           ""]
    out += [f"- {n}" for n in a.note]
    if a.note:
        out.append("")
    head = "| stage | " + " | ".join(l for l, _, _, _ in runs)
    if len(runs) > 1:
        head += f" | {runs[-1][0]} / {runs[0][0]}"
    out += [head + " |", "|---" * (len(runs) + 1 + (len(runs) > 1)) + "|"]
    for s in order:
        vals = [st.get(s) for _, st, _, _ in runs]
        row = f"| {s} | " + " | ".join("" if v is None else f"{v:.0f}" for v in vals)
        if len(runs) > 1:
            first, last = vals[0], vals[-1]
            row += " | " + (f"{last / first:.2f}x" if first and last is not None else "")
        out.append(row + " |")
    if a.findings:
        label, _, _, entries = runs[-1]
        findings = read_findings(a.findings)
        out += ["", f"## What each flavour costs and what it found: {label}", "",
                "Per test area: the seconds of its CTest entries in each flavour of this run "
                "(summed over entries, which run two at a time), and the defects that flavour "
                "was the one to catch in the project's history (`tests/support/findings.tsv`: "
                "library, a defect in duet; test, a race or bug in a test; flaky, an "
                "environmental failure; build, a compile or link problem). An area a flavour "
                "did not build is blank in its column.", ""]
        out += flavour_table(entries, findings)
        others = collections.Counter()
        for r in findings:
            if not any(fl in entries for fl in r["flavour"].split("+")):
                others[(r["flavour"], r["kind"])] += 1
        if others:
            out += ["", "Caught by stages with no CTest entries of their own: " +
                    "; ".join(f"{fl}: {n} {k}" for (fl, k), n in sorted(others.items())) + "."]
    for label, _, slowest, _ in runs:
        out += ["", f"## The 15 slowest CTest entries: {label}", "",
                "| seconds | flavour | entry |", "|---|---|---|"]
        out += [f"| {t:.1f} | {fl} | {name} |" for t, fl, name in slowest]
    print("\n".join(out))


if __name__ == "__main__":
    main()
