"""Runs a set of experiments N times, each a fresh ./experiments/run into a
directory of its own, and prints per target each run's interval and
verdict, and whether the runs agree: do the verdicts hold from run to run
(issue 73)?

    cd experiments
    python3 -m lab.repeat --experiments io_echo,http --runs 3
    python3 -m lab.repeat --experiments io_echo --runs 3 --out /tmp/echo3 --profile quick
    python3 -m lab.repeat --grade /tmp/echo3/run-1 /tmp/echo3/run-2   # runs made already
    python3 -m lab.repeat --grade DIR/run-1 DIR/run-2 DIR/run-3 --page ../reports/repeat-io_echo.md

--experiments takes what `./experiments/run --only` takes (experiment names
or claim IDs). Each run is `./experiments/run --only ... --out DIR/run-K`:
reports/ is not touched, unless --page names a page to write there (the
same text as printed, with the machine and each run's commit and start
above it: a generated page README can cite). A target is one row of a page's target tables
(report.Report.graded_targets); a claim is its ledger verdict, for the
claims whose rules read the chosen experiments. The runs agree on a target
when every run graded it and gave it the same verdict; they contradict each
other when one run met a target that another missed (a run that was
undecided contradicts none: its reps did not decide). A target's medians
reproduce when every run's median lies inside every other run's interval.
Below each target, the runs together: the target graded once over every
run's reps pooled (the same code on the same machine type: each run's reps
are more draws of the same figures), the best estimate the runs make.
The exit status is 1 when a target or claim does not agree, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass

from . import claims as C
from . import intervals as I
from .report import Report
from .results import Results
from .stats import Summary, fmt_num

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


@dataclass(frozen=True)
class Entry:
    """One target or claim as one run graded it."""
    state: str                      # met / missed / undecided, or a claim's verdict
    text: str                       # the figure with its interval, or the claim's measured text
    iv: I.Interval | None = None    # targets only
    needed: str = ""                # an undecided target's estimate


def target_entry(g: I.Graded) -> Entry:
    d = g.decision
    return Entry(g.state, f"{fmt_num(g.iv.value)} ({g.iv.text()})", g.iv,
                 d.needed_text() if d.state == I.UNDECIDED else "")


def grade_run(R: Results, machine: dict, out_dir: str, claims: list[str] | None = None,
              experiments: list[str] | None = None) -> dict[str, Entry]:
    """The targets and claims of one run's data: key -> Entry. `claims`:
    the claim IDs to include (None: every claim whose verdict is not
    "missing"); `experiments`: the targets of these experiments only (None:
    every target)."""
    rep = Report(out_dir, machine, R, [], "")
    got = {f"target: {g.key}": target_entry(g) for e, g in rep.graded_targets()
           if experiments is None or e in experiments}
    for cid, v in rep.verdicts.items():
        if (claims is None and not C.is_missing(v.verdict)) or (claims is not None and cid in claims):
            got[f"claim {cid}"] = Entry(v.verdict, C.short(v.measured, 120))
    return got


def pooled(runs: list[Results]) -> Results:
    """Every run's records as one run's: per record, the reps of every run
    that has it, in run order (a record one run lacks keeps the others')."""
    by_key: dict[tuple, Summary] = {}
    files: dict[str, dict] = {}
    for R in runs:
        for name, d in R.files.items():
            files.setdefault(name, {k: v for k, v in d.items() if k != "results"})
        for key, sm in R.by_key.items():
            got = by_key.get(key)
            if got is None:
                by_key[key] = Summary(sm.experiment, sm.metric, sm.unit, sm.n, sm.impl, sm.method, list(sm.samples))
            else:
                got.samples.extend(sm.samples)
    for sm in by_key.values():
        files.setdefault(sm.experiment, {"experiment": sm.experiment})
        files[sm.experiment].setdefault("results", []).append(sm.to_json())
    return Results(files)


@dataclass(frozen=True)
class Row:
    key: str
    entries: list[Entry | None]     # one per run, None where the run did not grade it
    together: Entry | None = None   # graded over every run's reps pooled; None where not

    @property
    def agree(self) -> bool:
        """Every run graded it, with one verdict."""
        return all(self.entries) and len({e.state for e in self.entries}) == 1

    @property
    def contradicts(self) -> bool:
        """A run met a target that another missed (for a claim: any
        difference of verdict; a run that did not grade it contradicts
        nothing)."""
        states = {e.state for e in self.entries if e}
        if any(e and e.iv is None for e in self.entries):
            return len(states) > 1
        return {I.MET, I.MISSED} <= states

    @property
    def reproduces(self) -> bool | None:
        """Every run's median inside every other run's interval; None for a
        claim, or where a run did not grade it."""
        if not all(self.entries) or any(e.iv is None for e in self.entries):
            return None
        return all(b.iv.lo <= a.iv.value <= b.iv.hi for a in self.entries for b in self.entries)


def agreement(runs: list[dict[str, Entry]], together: dict[str, Entry] | None = None) -> list[Row]:
    """One row per target or claim any run graded, in the order first seen;
    `together`: the grading of the runs' reps pooled."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run if k not in keys]
    return [Row(k, [run.get(k) for run in runs], (together or {}).get(k)) for k in keys]


def render(rows: list[Row]) -> str:
    """Per target: each run's figure, interval and verdict, then whether
    the runs agree; last, the count of those that do not."""
    out = []
    for row in rows:
        out.append(row.key)
        for k, e in enumerate(row.entries, 1):
            if e is None:
                out.append(f"    run {k}: not graded")
            else:
                out.append(f"    run {k}: {e.state:13} {e.text}" + (f"; {e.needed}" if e.needed else ""))
        states = ", ".join(e.state if e else "-" for e in row.entries)
        line = f"    runs agree: {'yes' if row.agree else 'no'} ({states})"
        if row.reproduces is not None:
            line += f"; medians inside each other's intervals: {'yes' if row.reproduces else 'no'}"
        out.append(line)
        if row.together is not None and row.together.iv is not None:
            t = row.together
            out.append(f"    the runs together: {t.state:13} {t.text}" + (f"; {t.needed}" if t.needed else ""))
    bad = [r for r in rows if not r.agree]
    worse = [r for r in bad if r.contradicts]
    out.append("")
    out.append(f"{len(rows)} targets and claims over {len(rows[0].entries) if rows else 0} runs: "
               f"{len(rows) - len(bad)} agree, {len(bad)} do not" + (":" if bad else "."))
    out += [f"  - {r.key}" + (" (contradict: met in one run, missed in another)" if r.contradicts else "")
            for r in bad]
    if bad:
        out.append(f"Of those, {len(worse)} contradict (one run met what another missed); in the other "
                   f"{len(bad) - len(worse)} a run was undecided where another decided.")
    return "\n".join(out)


def data_dirs(run_dir: str) -> list[str]:
    """The machine data directories of one run: run_dir itself when it
    holds machine.json, else run_dir/data/<machine>/."""
    if os.path.exists(os.path.join(run_dir, "machine.json")):
        return [run_dir]
    base = os.path.join(run_dir, "data")
    if not os.path.isdir(base):
        return []
    return [os.path.join(base, d) for d in sorted(os.listdir(base))
            if os.path.exists(os.path.join(base, d, "machine.json"))]


def read_run(run_dir: str) -> tuple[Results, dict, str]:
    """One run's results, its machine, and the directory its report would
    go to."""
    dirs = data_dirs(run_dir)
    if len(dirs) != 1:
        raise SystemExit(f"{run_dir}: {'no' if not dirs else 'more than one'} machine's data "
                         "(give a run's --out directory or one data/<machine> directory)")
    with open(os.path.join(dirs[0], "machine.json"), encoding="utf-8") as f:
        machine = json.load(f)
    out_dir = run_dir if dirs[0] != run_dir else os.path.dirname(os.path.dirname(run_dir))
    return Results.load(dirs[0]), machine, out_dir


def load_run(run_dir: str, claims: list[str] | None = None,
             experiments: list[str] | None = None) -> dict[str, Entry]:
    return grade_run(*read_run(run_dir), claims, experiments)


def grade_runs(run_dirs: list[str], claims: list[str] | None = None,
               experiments: list[str] | None = None) -> list[Row]:
    """Every run graded on its own, and the runs' reps pooled graded once
    (targets only: a claim's verdict is the ledger's, one run's)."""
    read = [read_run(d) for d in run_dirs]
    runs = [grade_run(R, m, out, claims, experiments) for R, m, out in read]
    _, machine, out = read[0]
    together = {k: e for k, e in grade_run(pooled([R for R, _, _ in read]), machine, out, [], experiments).items()
                if k.startswith("target: ")}
    return agreement(runs, together)


def run_facts(run_dir: str) -> tuple[str, str, str]:
    """One run's machine line, and the commit and start of its first
    experiment's record."""
    d = data_dirs(run_dir)[0]
    with open(os.path.join(d, "machine.json"), encoding="utf-8") as f:
        m = json.load(f)
    line = f"`{m.get('id', '?')}` ({m.get('hwloc_line') or m.get('cpu_model', '')}; {m.get('kernel', '')})"
    for name in sorted(os.listdir(d)):
        if name.endswith(".json") and name != "machine.json":
            with open(os.path.join(d, name), encoding="utf-8") as f:
                rec = json.load(f)
            if isinstance(rec, dict) and rec.get("commit"):
                return (line + f", `{rec.get('command', '')}` in {rec.get('duration_s', '?')} s", rec["commit"],
                        rec.get("started", ""))
    return line, "", ""


def page(rows: list[Row], dirs: list[str], command: str) -> str:
    """A generated Markdown page of the runs' agreement."""
    out = ["# Verdicts from run to run", "",
           "Generated by `python3 -m lab.repeat` (experiments/lab/repeat.py); do not edit. Each run is a fresh "
           "`./experiments/run` of the same experiments; per target, each run's median with its interval and "
           "verdict ([the grading](README.md#grading)), whether the runs agree (and where they do not, whether "
           "one run met what another missed, or a run was undecided), whether each run's median lies inside "
           "every other run's interval, and the target graded once over every run's reps pooled (the runs "
           "together).", "", f"Graded with `{command}` (from experiments/).", ""]
    for k, d in enumerate(dirs, 1):
        line, commit, started = run_facts(d)
        out.append(f"- run {k}: commit {commit or '?'}, started {started or '?'}, on {line}")
    out += ["", "```", render(rows), "```", ""]
    return "\n".join(out)


def run_commands(only: list[str], runs: int, out: str, profile: str, no_peers: bool) -> list[list[str]]:
    """The ./experiments/run command of each run."""
    base = [os.path.join(ROOT, "experiments", "run"), "--profile", profile, "--only", *only]
    return [base + ["--out", os.path.join(out, f"run-{k}")] + (["--no-peers"] if no_peers else [])
            for k in range(1, runs + 1)]


def claims_of(only: list[str]) -> list[str]:
    """The claims whose rules read the experiments `only` names (a claim ID
    names itself)."""
    out = []
    for tok in only:
        ids = [tok.upper()] if tok.upper() in C.RULES else C.claims_reading(tok)
        out += [c for c in ids if c not in out]
    return out


def experiments_of(only: list[str]) -> list[str]:
    """The experiments `only` names: a name itself, a claim those its rule
    reads."""
    out = []
    for tok in only:
        names = C.experiments_for(tok.upper()) if tok.upper() in C.RULES else (tok,)
        out += [n for n in names if n not in out]
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m lab.repeat", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiments", default="", metavar="A,B",
                   help="experiment names or claim IDs, comma-separated (what --only takes)")
    p.add_argument("--runs", type=int, default=3, metavar="N", help="fresh runs (default 3)")
    p.add_argument("--profile", choices=["smoke", "quick", "full"], default="quick")
    p.add_argument("--no-peers", action="store_true", help="pass --no-peers to each run")
    p.add_argument("--out", default="", metavar="DIR",
                   help="where the runs go, DIR/run-1 ... (default: build-experiments/repeat)")
    p.add_argument("--page", default="", metavar="PATH", help="also write the result as a generated Markdown page")
    p.add_argument("--grade", nargs="+", metavar="DIR", default=[],
                   help="grade runs made already (each a run's --out directory or a data/<machine> directory); "
                        "nothing runs")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    only = [x.strip() for x in args.experiments.split(",") if x.strip()]
    claims = claims_of(only) if only else None
    experiments = experiments_of(only) if only else None
    if args.grade:
        dirs = args.grade
    else:
        if not only:
            raise SystemExit("--experiments: name the experiments (or claims) to run, or --grade runs made already")
        if args.runs < 2:
            raise SystemExit("--runs: two or more (agreement is between runs)")
        out = os.path.abspath(args.out or os.path.join(ROOT, "build-experiments", "repeat"))
        dirs = []
        for k, cmd in enumerate(run_commands(only, args.runs, out, args.profile, args.no_peers), 1):
            print(f"repeat: run {k}/{args.runs}: {' '.join(cmd)}", flush=True)
            p = subprocess.run(cmd, cwd=ROOT)
            if p.returncode != 0:
                print(f"repeat: run {k} exited {p.returncode}; grading what it wrote", flush=True)
            dirs.append(cmd[cmd.index("--out") + 1])
    rows = grade_runs(dirs, claims, experiments)
    print(render(rows))
    if args.page:
        cmd = "python3 -m lab.repeat " + " ".join(argv if argv is not None else sys.argv[1:])
        with open(args.page, "w", encoding="utf-8") as f:
            f.write(page(rows, dirs, cmd))
    return 0 if all(r.agree for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
