#!/usr/bin/env python3
"""check_comments.py: library comments state rules and invariants, not lab
results.

Usage: check_comments.py [ROOT]

Reads the comments (`//` and `/* */`, string literals skipped) of the
library's code: *.hpp, *.cpp, *.inc, *.h under common/, drivers/,
stackless/ and stackful/ (the files git tracks under ROOT, default this
script's repository). Fails, listing file:line and the words, where a
comment
- names a machine: a CPU model (EPYC, Xeon, Ryzen, Graviton, Neoverse),
  "VM", "vCPU", "this machine", "this host", "N-CPU machine";
- quotes a profiler run: callgrind, cachegrind, `perf stat`,
  `perf record`, cpu-clock, "N% of ... samples";
- quotes a measurement: "took N", "measured at N", "N% faster/slower",
  "Nx faster/slower", "N ns/op", "instructions per op";
- names a claim of the lab's ledger: "claim X9", or an ID of
  experiments/lab/claims.md in parentheses, "(M1)".
Measurements, machines, profiles and claim IDs belong in the performance
log and reports/; a knob's comment names the log's entry by its title.
A rule with a number in it ("a tick is 1024 ns") is not a measurement.
"""
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from check_paths import CXX, cxx_comments, tracked  # noqa: E402

LIBRARY = ("common/", "drivers/", "stackless/", "stackful/")
NUM = r"[0-9][0-9.,]*"
RULES = [
    ("a machine", re.compile(
        r"\b(EPYC|Xeon|Ryzen|Graviton|Neoverse|vCPUs?|this machine|this host)\b|\bVMs?\b"
        r"|\b\d+-(v?CPU|core) (machine|VM|host)\b")),
    ("a profiler run", re.compile(
        r"\b(callgrind|cachegrind|perf (stat|record|report)|cpu-clock)\b"
        r"|%s%% of [\w' -]*samples" % NUM)),
    ("a measurement", re.compile(
        r"\b(took|measured at|measures at|benchmarked at) ~?%s" % NUM
        + r"|%s ?%% (faster|slower|fewer|more|less)\b" % NUM
        + r"|\b%sx (faster|slower|fewer|more|less)\b" % NUM
        + r"|%s ?(ns|us|µs)/op\b|instructions per op\b" % NUM)),
    ("a claim ID", re.compile(r"\bclaims? [A-Z][0-9]{1,2}\b|\((?:[MSKRP][0-9]{1,2})\)")),
]


def findings(root):
    out = []
    for rel in tracked(root):
        if not rel.startswith(LIBRARY) or not rel.endswith(CXX):
            continue
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        for line, comment in cxx_comments(text):
            for what, rule in RULES:
                m = rule.search(comment)
                if m:
                    out.append(f"{rel}:{line}: names {what}: \"{m.group(0)}\"")
    return out


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                        pathlib.Path(__file__).resolve().parents[2])
    bad = findings(root)
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        print(f"check_comments: {len(bad)} library comment(s) quote the lab; state the rule, "
              "and move the measurement to the performance log (docs/performance-log.md)",
              file=sys.stderr)
        return 1
    print("check_comments: library comments state rules, not measurements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
