#!/usr/bin/env python3
"""check_ledger.py: the cases run equal the cases declared.

Usage: check_ledger.py BUILD_DIR LEDGER [RUNS]

RUNS (default 1): how many times each case must have run (tests/run
--repeat N runs every entry N times).

Every Catch2 test binary of the build (BUILD_DIR/tests/duet_*_tests) lists
its declared test cases (--list-test-names-only); the ledger holds one line
per case that ran (tests/support/main.cpp). Fails when a declared case did
not run, a case ran twice or failed, a case name carries a ';' (CTest would
split it into entries that run nothing), or a binary declares no case.
Prints the skipped cases with their reasons.
"""
import collections
import pathlib
import subprocess
import sys


def declared(binary):
    out = subprocess.run([str(binary), "--list-test-names-only"], capture_output=True,
                         text=True, check=False).stdout
    return [line for line in out.splitlines() if line.strip()]


def main():
    build, ledger = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    want = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    binaries = sorted(p for p in (build / "tests").glob("duet_*_tests") if p.is_file())
    if not binaries:
        print(f"check_ledger: no test binaries under {build}/tests", file=sys.stderr)
        return 1
    runs = collections.defaultdict(list)
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                runs[(parts[0], parts[1])].append((parts[2], parts[3] if len(parts) > 3 else ""))
    problems, skipped, total = [], [], 0
    for b in binaries:
        cases = declared(b)
        if not cases:
            problems.append(f"{b.name}: declares no test case")
        for case in cases:
            total += 1
            if ";" in case:
                problems.append(f"{b.name}: '{case}' has a ';' (CTest splits the name)")
            seen = runs.pop((b.name, case), [])
            if not seen:
                problems.append(f"{b.name}: '{case}' never ran")
            elif any(r[0] == "failed" for r in seen):
                fails = sum(r[0] == "failed" for r in seen)
                problems.append(f"{b.name}: '{case}' failed ({fails} of {len(seen)} runs)")
            elif len(seen) != want:
                problems.append(f"{b.name}: '{case}' ran {len(seen)} times, not {want}")
            elif seen[0][0] == "skipped":
                skipped.append(f"{b.name}: '{case}': {seen[0][1]}")
    for (b, case), _ in runs.items():
        problems.append(f"{b}: '{case}' ran but is not declared")
    print(f"check_ledger: {total - len(skipped)} of {total} declared test cases ran and passed, "
          f"{len(skipped)} skipped with a reason")
    for s in skipped:
        print(f"  skipped {s}")
    for p in problems:
        print(f"  PROBLEM {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
