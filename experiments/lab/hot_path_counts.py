#!/usr/bin/env python3
"""hot_path_counts: exact instruction and locked-instruction counts per
operation for bench_sched's hot benchmarks, both backends (callgrind, not
timing).

    python3 experiments/lab/hot_path_counts.py build-experiments/experiments/bench_sched [--top 10]

Each benchmark runs under `valgrind --tool=callgrind --dump-instr=yes` for
two repetitions of one iteration each (a minimum time so small that Google
Benchmark stops after one iteration; its JSON must say `"iterations": 1` for
both, or the run is refused: a benchmark that Google Benchmark re-ran with
more iterations would hide its trial runs in the count). Callgrind dumps its
counts at each entry to and exit from the benchmark's function
(--dump-before/--dump-after), and the count is the second repetition's window,
on every thread: the runtime built, the operations, the runtime torn down.
Outside it: the dynamic loader, static initialisation, Google Benchmark's own
work, and what the first repetition pays once per process (the hwloc topology
read, lazy symbol binding, pools growing), which subtracting a bare run
would leave in: pingpong/stackless read 619.6 instructions per op that way
against 585.0 in the window on the machine this was written on.

Operations per iteration come from the benchmark itself: its `ns/op` counter
is its (manual) time divided by its operations, so ops = real_time / ns/op
(yield_pair: 2 x kYields yields, pingpong: kRounds round trips, spawn_join:
kSpawns spawn+join; experiments/bench/sched.cpp). They are checked against
the constants in that source when it is at hand.

Locked instructions (x86-64): the sites `objdump -d` shows with a `lock`
prefix, or an `xchg` with a memory operand (implicitly locked), in every
object the run executed (the program, libc, libstdc++, ...); their executed
counts are summed from callgrind's per-instruction costs. Callgrind writes
instruction addresses relative to each object's load bias, so they match
objdump's addresses of the file. Other architectures: not classified here
(the runner skips the experiment with that reason).

Prints one JSONL record per benchmark and metric (the lab's record shape).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SCHED_CPP = os.path.join(ROOT, "experiments", "bench", "sched.cpp")

EXPERIMENT = "hot_path_counts"
METHOD = "callgrind, exact; locked = lock-prefixed or xchg-with-memory instructions executed (x86-64)"

# (point name in the records, Google Benchmark's name, its benchmark
# function as callgrind names it, constant expression of the operations per
# iteration in experiments/bench/sched.cpp).
BENCHMARKS = [
    ("yield_pair/stackless", "yield_pair/stackless/manual_time", "BM_yield_pair<false>(benchmark::State&)",
     ("kYields", 2)),
    ("yield_pair/stackful", "yield_pair/stackful/manual_time", "BM_yield_pair<true>(benchmark::State&)",
     ("kYields", 2)),
    ("pingpong/stackless", "pingpong/stackless/manual_time", "BM_pingpong<false, false>(benchmark::State&)",
     ("kRounds", 1)),
    ("pingpong/stackful", "pingpong/stackful/manual_time", "BM_pingpong<true, false>(benchmark::State&)",
     ("kRounds", 1)),
    ("pingpong_distinct/stackless", "pingpong_distinct/stackless/manual_time",
     "BM_pingpong<false, true>(benchmark::State&)", ("kRounds", 1)),
    ("pingpong_distinct/stackful", "pingpong_distinct/stackful/manual_time",
     "BM_pingpong<true, true>(benchmark::State&)", ("kRounds", 1)),
    ("pingpong/mixed", "pingpong/mixed/manual_time", "BM_pingpong_mixed(benchmark::State&)",
     ("kRounds", 1)),
    ("spawn_join/stackless/1", "spawn_join/stackless/1/manual_time", "BM_spawn_join<false>(benchmark::State&)",
     ("kSpawns", 1)),
    ("spawn_join/stackful/1", "spawn_join/stackful/1/manual_time", "BM_spawn_join<true>(benchmark::State&)",
     ("kSpawns", 1)),
    ("scope_spawn_join/stackless/1", "scope_spawn_join/stackless/1/manual_time",
     "BM_scope_spawn_join<false>(benchmark::State&)", ("kSpawns", 1)),
    ("scope_spawn_join/stackful/1", "scope_spawn_join/stackful/1/manual_time",
     "BM_scope_spawn_join<true>(benchmark::State&)", ("kSpawns", 1)),
]
# One iteration: Google Benchmark (1.7 and later) stops once an iteration
# took at least this long, which every iteration does.
MIN_TIME = "1e-9"


def skip_reason() -> str | None:
    """Why this machine cannot run the experiment, or None."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return (f"locked-instruction classes are defined for x86-64 only (lock prefix, xchg with memory); "
                f"this machine is {platform.machine()}")
    for tool, pkg in (("valgrind", "valgrind"), ("objdump", "binutils")):
        if shutil.which(tool) is None:
            return f"{tool} not installed (Debian package {pkg})"
    return None


# ---- callgrind's output ------------------------------------------------------

_NAME = re.compile(r"^\((\d+)\)(?:\s+(.*))?$")


def _position(tok: str, prev: int) -> int:
    if tok == "*":
        return prev
    if tok[0] in "+-":
        return prev + int(tok, 0)      # "+3", "-0x10"
    return int(tok, 0)                 # "0x401a2c", "12"


def parse_callgrind(path: str) -> tuple[int, dict[str, Counter]]:
    """Total Ir and, per object file, the executed count of each instruction
    address (self cost only: the inclusive cost on the line after a
    `calls=` line is skipped, though its position still moves the current
    address, as the compressed format says)."""
    total = None
    npos = 1
    ir_col = 0
    objects: dict[str, str] = {}       # "(id)" -> file
    counts: dict[str, Counter] = {}
    cur: Counter | None = None
    pos = [0]
    skip_next = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            c = line[:1]
            if c in "0123456789+-*":
                toks = line.split()
                if len(toks) < npos:
                    continue
                for i in range(npos):
                    pos[i] = _position(toks[i], pos[i])
                if skip_next:
                    skip_next = False
                    continue
                if cur is not None and len(toks) > npos + ir_col:
                    cur[pos[0]] += int(toks[npos + ir_col])
                continue
            if line.startswith(("ob=", "cob=")):
                # ob= and cob= share one name table: an object's name is
                # given once, where it first appears, which may be a cob=.
                key, _, rest = line.strip().partition("=")
                m = _NAME.match(rest)
                if m:
                    if m.group(2):
                        objects[m.group(1)] = m.group(2)
                    name = objects.get(m.group(1), "???")
                else:
                    name = rest
                if key == "ob":
                    cur = counts.setdefault(name, Counter())
            elif line.startswith(("calls=", "jump=", "jcnd=")):
                skip_next = True
            elif line.startswith("positions:"):
                kinds = line.split()[1:]
                npos = len(kinds)
                if kinds[:1] != ["instr"]:
                    raise ValueError(f"{path}: positions {kinds}: run callgrind with --dump-instr=yes")
                pos = [0] * npos
            elif line.startswith("events:"):
                events = line.split()[1:]
                ir_col = events.index("Ir")
            elif line.startswith(("totals:", "summary:")):
                total = int(line.split()[1 + ir_col])
    if total is None:
        raise ValueError(f"{path}: no totals line (callgrind did not finish)")
    return total, counts


# ---- locked instructions -----------------------------------------------------

_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")
_PREFIXES = {"lock", "xacquire", "xrelease", "notrack", "bnd", "rep", "repz", "repnz", "repe", "repne",
             "data16", "addr32", "cs", "ds", "es", "fs", "gs", "ss", "rex", "rex.w"}


def is_locked(text: str) -> bool:
    """An x86-64 instruction as objdump prints it (AT&T, without raw bytes)
    is locked: a lock prefix, or xchg with a memory operand."""
    toks = text.split()
    i = 0
    locked = False
    while i < len(toks) and (toks[i] in _PREFIXES or toks[i].startswith("rex.")):
        locked |= toks[i] == "lock"
        i += 1
    if locked:
        return True
    if i < len(toks) and toks[i].startswith("xchg"):
        return "(" in " ".join(toks[i + 1:]).split("#")[0]
    return False


_sites_cache: dict[str, dict[int, str]] = {}


def locked_sites(obj: str) -> dict[int, str]:
    """Address -> function of every locked instruction in an object file."""
    if obj in _sites_cache:
        return _sites_cache[obj]
    sites: dict[int, str] = {}
    if os.path.isfile(obj):
        with subprocess.Popen(["objdump", "-d", "-C", "--no-show-raw-insn", obj], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, errors="replace") as p:
            fn = "?"
            for line in p.stdout:
                if line.endswith(">:\n"):
                    fn = line[line.find("<") + 1:-3]
                    continue
                if "lock" not in line and "xchg" not in line:
                    continue
                m = _INSN.match(line)
                if m and is_locked(m.group(2)):
                    sites[int(m.group(1), 16)] = fn
    _sites_cache[obj] = sites
    return sites


def counted(obj: str) -> bool:
    """Objects whose instructions count: files, not valgrind's own preload
    objects (absent from a native run) or ??? (no object)."""
    return os.path.isfile(obj) and "vgpreload_" not in os.path.basename(obj)


def locked_counts(counts: dict[str, Counter]) -> Counter:
    """(object, function) -> executed locked instructions."""
    out: Counter = Counter()
    for obj, addrs in counts.items():
        if not counted(obj):
            continue
        sites = locked_sites(obj)
        for a, n in addrs.items():
            fn = sites.get(a)
            if fn is not None:
                out[(os.path.basename(obj), fn)] += n
    return out


# ---- running -----------------------------------------------------------------

class Refused(Exception):
    pass


def _part_number(path: str) -> int:
    tail = path.rsplit(".", 1)[1]
    return int(tail) if tail.isdigit() else 1 << 30     # the final dump comes last


def run_one(bench: str, name: str, function: str, tmp: str) -> tuple[dict, int, Counter]:
    """One benchmark under callgrind, two repetitions of one iteration each,
    with a dump of the counts at each entry to and exit from its benchmark
    function: the second repetition's window (entry to exit: the runtime
    built, the operations, the runtime torn down, on every thread) is the
    count. Returns its Google Benchmark JSON entry, total Ir, and locked
    counts by (object, function)."""
    out = os.path.join(tmp, re.sub(r"[^A-Za-z0-9]", "_", name) + ".cg")
    pattern = f"*{function}"
    argv = ["valgrind", "--tool=callgrind", "--dump-instr=yes", "--dump-line=no",
            f"--callgrind-out-file={out}", f"--dump-before={pattern}", f"--dump-after={pattern}",
            bench, f"--benchmark_filter=^{re.escape(name)}$", f"--benchmark_min_time={MIN_TIME}",
            "--benchmark_repetitions=2", "--benchmark_format=json"]
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise Refused(f"{name}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    try:
        d = json.loads(p.stdout[p.stdout.index("{"):])
        reps = [x for x in d["benchmarks"] if x.get("run_type", "iteration") == "iteration"]
    except (ValueError, KeyError):
        raise Refused(f"{name}: no Google Benchmark JSON")
    if len(reps) != 2:
        raise Refused(f"{name}: {len(reps)} repetitions in the JSON, not 2 (filter matched nothing?)")
    if any(r.get("iterations") != 1 for r in reps):
        raise Refused(f"{name}: {[r.get('iterations') for r in reps]} iterations, not 1 per repetition: "
                      "the count per op would not be exact")
    parts = sorted(glob.glob(out + "*"), key=_part_number)
    windows = []
    for f in parts:
        with open(f, encoding="utf-8", errors="replace") as fh:
            head = fh.read(2048)
        if "desc: Trigger: --dump-after=" in head:
            windows.append(f)
    if len(windows) != 2:
        raise Refused(f"{name}: {len(windows)} exits from {function} dumped, not 2 (callgrind did not "
                      f"match --dump-after={pattern}?)")
    total, counts = parse_callgrind(windows[1])
    for f in parts:
        os.remove(f)
    return reps[1], total, locked_counts(counts)


def source_ops() -> dict[str, int]:
    """kYields, kRounds, kSpawns from experiments/bench/sched.cpp (empty
    when the source is not at hand)."""
    try:
        with open(SCHED_CPP, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return {}
    return {k: int(v) for k, v in re.findall(r"constexpr int (k\w+) = (\d+);", text)}


def ops_per_iteration(b: dict, expr: tuple[str, int], consts: dict[str, int]) -> int:
    """Operations in one iteration: the benchmark's time over its ns/op
    counter, checked against the source's constant."""
    nsop = b.get("ns/op")
    if not nsop:
        raise Refused(f"{b['name']}: no ns/op counter")
    ops = round(b["real_time"] / nsop)
    if abs(b["real_time"] / nsop - ops) > 1e-3 * ops:
        raise Refused(f"{b['name']}: real_time / ns/op = {b['real_time'] / nsop} is not a whole number")
    const, factor = expr
    if const in consts and consts[const] * factor != ops:
        raise Refused(f"{b['name']}: {ops} ops per iteration from its counters, {factor} x {const} = "
                      f"{consts[const] * factor} in {os.path.relpath(SCHED_CPP, ROOT)}")
    return ops


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", help="path of bench_sched")
    ap.add_argument("--only", nargs="*", default=[], help="points to run (default: all six)")
    ap.add_argument("--top", type=int, default=0, help="print the N functions with the most locked "
                    "instructions per op of each benchmark to stderr")
    args = ap.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(f"hot_path_counts: skipped: {reason}", file=sys.stderr)
        return 0
    consts = source_ops()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="hot_path_counts.") as tmp:
        for point, name, function, expr in BENCHMARKS:
            if args.only and point not in args.only:
                continue
            try:
                b, total, locked = run_one(args.bench, name, function, tmp)
                ops = ops_per_iteration(b, expr, consts)
            except Refused as e:
                print(f"hot_path_counts: {e}", file=sys.stderr)
                failed += 1
                continue
            nlocked = sum(locked.values())
            base = {"experiment": EXPERIMENT, "impl": "duet", "n": ops, "method": METHOD}
            print(json.dumps(dict(base, metric=f"instructions_per_op.{point}", value=round(total / ops, 3),
                                  unit="instr")))
            print(json.dumps(dict(base, metric=f"locked_per_op.{point}", value=round(nlocked / ops, 3),
                                  unit="instr")))
            print(f"hot_path_counts: {point}: {ops:,} ops, {total:,} instructions ({total / ops:.2f}/op), "
                  f"{nlocked:,} locked ({nlocked / ops:.3f}/op)", file=sys.stderr)
            for (obj, fn), n in locked.most_common(args.top):
                if n / ops >= 0.001:
                    print(f"    {n / ops:7.3f}  {obj}: {fn[:110]}", file=sys.stderr)
            sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
