"""The lab's driver (called by ./experiments/run after it has installed and
built what is needed): select experiments, build the peers, run, write the
data files and regenerate the report, print the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import claims as C
from . import peers as P
from .experiments import Ctx, all_experiments
from .machine import capture
from .report import Report
from .results import Results
from .runner import Progress, Runner

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

DEFAULT_REPEAT = {"smoke": 1, "quick": 3, "full": 5}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="experiments/run",
        description="Run duet's experiments and peers, and write the claims ledger under reports/.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
               "  ./experiments/run                      quick profile, everything, peers included\n"
               "  ./experiments/run --only S2 K1         the experiments behind two claims\n"
               "  ./experiments/run --only cache_sweep   one experiment by name\n"
               "  ./experiments/run --profile smoke --no-peers --out /tmp/r   what CI runs\n"
               "  ./experiments/run --list               claims and experiments, no run\n")
    p.add_argument("--profile", choices=["smoke", "quick", "full"], default="quick",
                   help="smoke: tiny N, for CI (minutes); quick (default): the claims' N where it fits in about "
                        "27 minutes on 2 cores (measured on a 2-vCPU EPYC VM with every peer present; "
                        "reports/<area>.md gives each experiment's time); full: the large N (1M tasks and "
                        "fibers, long sweeps)")
    p.add_argument("--only", nargs="+", metavar="ID", default=[],
                   help="claim IDs (M1 ... P1) or experiment names: run only those experiments, for a claim the "
                        "ones its rule in claims.py declares; the report keeps every other experiment's data on file")
    p.add_argument("--no-peers", action="store_true",
                   help="skip the peers (Go, Tokio, Python, Node.js, Boost.Fiber, Asio): neither install nor run them")
    p.add_argument("--repeat", type=int, default=0, metavar="K",
                   help="run each experiment K times; numbers are the median with min and max "
                        "(default: smoke 1, quick 3, full 5)")
    p.add_argument("--out", default=os.path.join(ROOT, "reports"), metavar="DIR",
                   help="where the report goes (default: reports/); data under DIR/data/<machine>/")
    p.add_argument("--build-dir", default=os.environ.get("DUET_LAB_BUILD", os.path.join(ROOT, "build-experiments")),
                   help="the Release build tree with the exp_* and bench_* programs (default: build-experiments/)")
    p.add_argument("--report-only", action="store_true",
                   help="regenerate the report from the data on file (regrade it): nothing is built or run")
    p.add_argument("--machine", metavar="ID", default="",
                   help="with --report-only: the data on file of machine ID (a directory under DIR/data/, e.g. the "
                        "last run's machine) instead of this machine's")
    p.add_argument("--list", action="store_true", help="list the claims and the experiments their rules read, and exit")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a claim has no verdict backed by a number (default with --profile smoke)")
    p.add_argument("--verbose", action="store_true", help="show the programs' stderr")
    return p


AREA_BY_PREFIX = (("sched", "scheduler"), ("sync", "scheduler"), ("chan", "scheduler"), ("timer", "scheduler"),
                  ("stackful", "memory"), ("io", "io"), ("echo", "io"), ("net", "io"), ("drivers", "io"))


def discover(exps, bindir: str):
    """Programs in the build that no entry registers (another engineer's new
    experiment): run with DUET_LAB_PROFILE set, their records kept and shown
    on the page of their area, feeding no claim until a rule declares them.
    NOT_EXPERIMENTS (experiments.py) are left out."""
    from .experiments import NOT_EXPERIMENTS, _sched_benches, external
    known = {e.program for e in exps} | set(NOT_EXPERIMENTS)
    out = []
    if not os.path.isdir(bindir):
        return out
    for f in sorted(os.listdir(bindir)):
        path = os.path.join(bindir, f)
        if not (f.startswith("exp_") or f.startswith("bench_")) or f in known or not os.access(path, os.X_OK):
            continue
        stem = f.split("_", 1)[1]
        area = next((a for p, a in AREA_BY_PREFIX if stem.startswith(p)), "scheduler")
        e = external(stem if f.startswith("exp_") else f, f, area, "unregistered",
                     f"{f}: found in the build, not registered in experiments/lab/experiments.py")
        if f.startswith("bench_"):
            e.invocations = _sched_benches
        out.append(e)
    return out


def select(exps, only: list[str]):
    """The experiments `--only` names: an experiment by its name, a claim by
    the experiments its rule declares (claims.py), in registry order."""
    if not only:
        return exps
    known = {e.name for e in exps}
    want = set()
    for tok in only:
        t = tok.strip()
        names = [t] if t in known else list(C.experiments_for(t.upper()))
        if not names:
            raise SystemExit(f"--only {t}: no claim or experiment by that name (see --list)")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"--only {t}: its rule reads {', '.join(unknown)}, which experiments.py does not register")
        want.update(names)
    return [e for e in exps if e.name in want]


def batches(chosen):
    """The chosen experiments as the runner takes them, each with its place
    (1-based) in the list: alone, or with every other one of the same
    `rounds` (experiments.py), at the place of the first."""
    out, seen = [], {}
    for i, e in enumerate(chosen, 1):
        if not e.rounds:
            out.append([(i, e)])
        elif e.rounds in seen:
            seen[e.rounds].append((i, e))
        else:
            seen[e.rounds] = [(i, e)]
            out.append(seen[e.rounds])
    return out


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    repeat = args.repeat or DEFAULT_REPEAT[args.profile]
    machine = capture()
    ctx = Ctx(args.profile, machine["topology"]["pus"], machine)
    peer_exps = P.experiments()
    exps = all_experiments(peer_exps)
    if args.profile != "smoke":
        exps += discover(exps, os.path.join(args.build_dir, "experiments"))

    if args.list:
        for c in C.load_claims():
            names = C.experiments_for(c.id)
            print(f"{c.id:3} {C.short(c.text, 70):72} {', '.join(names) or '-'}")
        return 0

    out = os.path.abspath(args.out)
    if args.machine and not args.report_only:
        raise SystemExit("--machine: only with --report-only (a run measures this machine)")
    data_dir = os.path.join(out, "data", args.machine or machine["id"])
    if args.machine and not os.path.exists(os.path.join(data_dir, "machine.json")):
        raise SystemExit(f"--machine {args.machine}: no {os.path.join(data_dir, 'machine.json')}")
    os.makedirs(data_dir, exist_ok=True)
    on_file = os.path.join(data_dir, "machine.json")
    if args.report_only and os.path.exists(on_file):
        # The machine as it was when the data on file was measured (its
        # vm.max_map_count, kernel, compiler), not as it is now.
        with open(on_file, encoding="utf-8") as f:
            machine = json.load(f)
    else:
        with open(on_file, "w", encoding="utf-8") as f:
            json.dump(machine, f, indent=1)
    print(f"machine: {machine['hwloc_line']}")
    print(f"profile {args.profile}, repeat {repeat}, build {args.build_dir}, report {out}")

    if not args.report_only:
        chosen = select(exps, args.only)
        if args.no_peers:
            chosen = [e for e in chosen if not e.peer]
        needed_peers = sorted({e.peer for e in chosen if e.peer})
        built = P.build_all(args.build_dir, needed_peers) if needed_peers else {}
        bindir = os.path.join(args.build_dir, "experiments")
        runner = Runner(ctx, bindir, data_dir, repeat, built, machine, args.verbose)
        est = sum(runner.estimate(e) for e in chosen)
        progress = Progress(est)
        print(f"{len(chosen)} experiment(s), estimated {est / 60:.1f} min")
        for batch in batches(chosen):
            # Experiments compared with one another (the same `rounds`) run
            # interleaved, where the first of them stands in the list.
            t_est = sum(runner.estimate(e) for _, e in batch)
            done = runner.run_rounds([e for _, e in batch], progress, [i for i, _ in batch], len(chosen))
            progress.advance(t_est)
            for (_, e), d in zip(batch, done):
                # A missing program (or one this machine cannot run) does not
                # erase a previous run's numbers.
                prev = runner.load(e.name)
                if d["status"] in ("missing", "skipped") and prev and prev.get("results"):
                    print(f"  {e.name}: {d['error']}; keeping the data on file from {prev['started']}")
                    continue
                runner.save(d)
                msg = d.get("error") or "; ".join(d.get("errors", [])[:2])
                print(f"  {e.name}: {d['status']}" + (f" ({msg[:200]})" if msg else ""))

    results = Results.load(data_dir)
    rep = Report(out, machine, results, exps, args.profile)
    rep.write()
    counts = rep.counts()
    print()
    print(f"report: {os.path.join(out, 'README.md')}")
    print(f"claims: {len(rep.claims)}; holds {counts['holds']}, holds in part {counts['holds in part']}, "
          f"refuted {counts['refuted']}, undecided {counts[C.UNDECIDED]}, "
          f"not measurable here {counts['not measurable here']}, "
          f"missing {counts[C.MISSING]}")
    missing = [cid for cid, v in rep.verdicts.items() if C.is_missing(v.verdict)]
    if missing:
        print("missing: " + "; ".join(f"{cid} ({rep.verdicts[cid].verdict}: {rep.verdicts[cid].why})"
                                      for cid in missing))
    strict = args.strict or args.profile == "smoke"
    return 1 if strict and missing else 0


if __name__ == "__main__":
    sys.exit(main())
