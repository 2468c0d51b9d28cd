#!/usr/bin/env python3
"""where.py: which flavour ran which test cases, per area (the pyramid's rows).

Usage: where.py FLAVOUR=LEDGER [FLAVOUR=LEDGER ...]

Each LEDGER is one flavour's test-ledger.tsv (tests/support/main.cpp writes
a line per case that ran: binary, case, result, reason); check_ledger.py has
already proved, flavour by flavour, that every case of every binary the
flavour built ran there. This prints one row per area (duet_<area>_tests):
its cases, and how many of them ran (passed or skipped) in each flavour, so
a reader of CI's log sees the pyramid as it ran: every case in plain, the
sanitizers' and the shared flavour's share beside it. Writes to standard
output; never fails a run.
"""
import collections
import pathlib
import sys


def read(path):
    cases = set()
    p = pathlib.Path(path)
    if not p.exists():
        return cases
    for line in p.read_text(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            cases.add((parts[0], parts[1]))
    return cases


def area(binary):
    name = binary
    if name.startswith("duet_"):
        name = name[len("duet_"):]
    if name.endswith("_tests"):
        name = name[: -len("_tests")]
    return name


def main():
    runs = []
    for arg in sys.argv[1:]:
        flavour, _, path = arg.partition("=")
        runs.append((flavour, read(path)))
    if not runs:
        return 0
    every = set().union(*(cases for _, cases in runs))
    per_area = collections.defaultdict(set)
    for binary, case in every:
        per_area[area(binary)].add((binary, case))
    flavours = [f for f, _ in runs]
    print("  " + f"{'area':<14} {'cases':>6} " + " ".join(f"{f:>7}" for f in flavours))
    for a in sorted(per_area):
        cases = per_area[a]
        cols = [len(cases & ran) for _, ran in runs]
        print("  " + f"{a:<14} {len(cases):>6} " + " ".join(
            f"{c:>7}" if c else f"{'-':>7}" for c in cols))
    cols = [len(ran) for _, ran in runs]
    print("  " + f"{'all':<14} {len(every):>6} " + " ".join(f"{c:>7}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
