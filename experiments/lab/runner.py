"""Runs experiments: resolves each invocation's program, runs it K times with
a timeout, parses its records, shows progress, and writes one data file per
experiment under <out>/data/<machine>/<experiment>.json.

Re-running one experiment rewrites only its own data file; the report is then
regenerated from every data file on record.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

from . import arch, loc
from .experiments import Ctx, Experiment, Invocation
from .stats import fold


class Progress:
    """One line per step: which experiment, how far, and an estimate of what
    is left (from the last run's durations on file, else the registry's)."""

    def __init__(self, total_s: float):
        self.total = max(total_s, 1.0)
        self.done = 0.0
        self.t0 = time.monotonic()

    def note(self, idx: int, count: int, exp: str, step: str, frac: float = 0.0, est: float = 0.0):
        """`frac` of the current experiment (estimated `est` seconds) is done."""
        elapsed = time.monotonic() - self.t0
        left = max(0.0, self.total - self.done - frac * est)
        # Scale the estimate by how fast we have gone against it so far.
        if self.done > 5 and elapsed > 5:
            left *= elapsed / self.done
        print(f"[{idx}/{count}] {exp}: {step}  (elapsed {_mmss(elapsed)}, ~{_mmss(left)} left)", flush=True)

    def advance(self, est: float):
        self.done += est


def _mmss(s: float) -> str:
    s = int(s)
    return f"{s // 60}m{s % 60:02d}s"


def parse_jsonl(text: str, impl: str) -> list[dict]:
    recs = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(r, dict) or "metric" not in r or "value" not in r:
            continue
        r.setdefault("experiment", "unknown")
        if not r.get("impl"):
            r["impl"] = impl
        recs.append(r)
    return recs


def parse_gbench(text: str, experiment: str, impl: str) -> list[dict]:
    """Google Benchmark JSON: one record per benchmark (real time per
    iteration) and one per user counter."""
    try:
        d = json.loads(text[text.index("{"):])
    except (ValueError, json.JSONDecodeError):
        return []
    recs = []
    skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
            "real_time", "cpu_time", "time_unit", "family_index", "per_family_instance_index", "aggregate_name",
            "aggregate_unit", "label", "error_occurred", "error_message"}
    for b in d.get("benchmarks", []):
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        name = b["name"]
        m = re.search(r"/(\d+)(?:/|$)", name)
        n = int(m.group(1)) if m else None
        recs.append({"experiment": experiment, "impl": impl, "metric": name, "value": b["real_time"],
                     "unit": b.get("time_unit", "ns"), "n": n, "method": "Google Benchmark real time per iteration"})
        for k, v in b.items():
            if k not in skip and isinstance(v, (int, float)):
                recs.append({"experiment": experiment, "impl": impl, "metric": f"{name}:{k}", "value": v,
                             "unit": "", "n": n, "method": "Google Benchmark user counter"})
    return recs


def _floor_pow2(x: int) -> int:
    return 1 << (x.bit_length() - 1) if x >= 1 else 0


def valgrind_cache_geometry(size: int, assoc: int | None, line: int, default_assoc: int):
    """A cache geometry valgrind's simulator accepts, as close to the
    machine's as it allows: (size, assoc, line). valgrind requires a
    power-of-two line of at least 16 bytes, a power-of-two number of sets
    (size / (assoc * line)), size > line and assoc <= size / line. Virtual
    machines report caches that break the set rule (an EPYC VM's hwloc said
    508 MiB of L3, 16-way, 64-byte lines: 520,192 sets), so the set count is
    rounded down to a power of two, keeping line and associativity; the
    simulated size is then what is left. Unknown (0 / None) or fully
    associative (-1) associativity takes `default_assoc`."""
    line = line if line >= 16 and line & (line - 1) == 0 else 64
    assoc = assoc if assoc and assoc > 0 else default_assoc
    assoc = max(1, min(assoc, size // line)) if size > line else 1
    sets = _floor_pow2(max(1, size // (assoc * line)))
    sim = sets * assoc * line
    if sim <= line:  # tiny or bogus: two lines, direct mapped
        sets, assoc, sim = 2, 1, 2 * line
    return sim, assoc, line


def valgrind_cache_args(caches: list[dict]) -> tuple[list[str], str]:
    """--D1/--LL arguments from the machine's data caches (hwloc), and a
    sentence saying what was simulated against what the machine has."""
    by_level = {c["level"]: c for c in caches if c.get("type") != "instruction"}
    args, said = [], []
    for flag, name, c, default in (("--D1", "L1d", by_level.get(1), 8),
                                   ("--LL", "LL", by_level.get(3) or by_level.get(2), 16)):
        if not c or not c.get("size"):
            said.append(f"{name} valgrind's default (hwloc gave no size)")
            continue
        size, assoc, line = valgrind_cache_geometry(int(c["size"]), c.get("associativity"),
                                                    int(c.get("line") or 64), default)
        args.append(f"{flag}={size},{assoc},{line}")
        machine = f"{_fmt_size(int(c['size']))} {c.get('associativity') or '?'}-way {c.get('line') or '?'} B"
        sim = f"{_fmt_size(size)} {assoc}-way {line} B"
        said.append(f"{name} {sim}" + ("" if sim == machine else f" (machine: {machine})"))
    return args, "simulated " + ", ".join(said)


def _fmt_size(b: int) -> str:
    for unit, k in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= k and b % k == 0:
            return f"{b // k} {unit}"
    return f"{b} B"


class Cachegrind:
    """Pairs two cachegrind runs of the same point (few and many rounds) and
    turns the difference into misses per switch."""

    def __init__(self, geometry: str = "simulated caches: valgrind's defaults"):
        self.first: dict[tuple, tuple[int, dict]] = {}
        self.geometry = geometry

    def summary(self, path: str) -> dict:
        events, summary = [], []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith("summary:"):
                    summary = [int(x) for x in line.split()[1:]]
        return dict(zip(events, summary))

    def records(self, tag: str, path: str) -> list[dict]:
        variant, touch, rounds, n = tag.split("|")
        counts = self.summary(path)
        key = (variant, touch, n)
        if key not in self.first:
            self.first[key] = (int(rounds), counts)
            return []
        r0, c0 = self.first.pop(key)
        switches = (int(rounds) - r0) * int(n)
        d = {k: counts.get(k, 0) - c0.get(k, 0) for k in counts}
        refs = d.get("Dr", 0) + d.get("Dw", 0)
        d1 = d.get("D1mr", 0) + d.get("D1mw", 0)
        ll = d.get("DLmr", 0) + d.get("DLmw", 0)
        meth = (f"valgrind cachegrind ({self.geometry}), {n} tasks, "
                f"difference of {r0} and {rounds} rounds")
        base = {"experiment": "cachegrind", "impl": variant, "n": int(n), "method": meth}
        return [
            dict(base, metric=f"d1_misses_per_switch.touch{touch}", value=d1 / switches, unit="misses"),
            dict(base, metric=f"ll_misses_per_switch.touch{touch}", value=ll / switches, unit="misses"),
            dict(base, metric=f"data_refs_per_switch.touch{touch}", value=refs / switches, unit="refs"),
            dict(base, metric=f"d1_miss_rate.touch{touch}", value=d1 / refs if refs else 0.0, unit="ratio"),
            dict(base, metric=f"instructions_per_switch.touch{touch}", value=d.get("Ir", 0) / switches, unit="instr"),
        ]


def source_commit() -> str:
    """The commit of the sources the run measures (short hash, "+dirty" when
    the tree has changes), or "" outside a git checkout."""
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+dirty" if head and dirty else "")


def run_group(argv: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """Runs a program in its own process group; on timeout the whole group
    (children it forked included) is killed, not just the direct child."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = p.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, output=out)
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


# The "python:<name>" experiments: their records, read in this process
# (nothing built or run; their Invocation list is empty).
PYTHON_RECORDS = {
    "python:arch": lambda runner: arch.records(runner.machine, runner.bindir),
    "python:http_loc": lambda runner: loc.records(),
}


class Runner:
    def __init__(self, ctx: Ctx, bindir: str, data_dir: str, repeat: int, peers: dict, machine: dict,
                 verbose: bool = False):
        self.ctx = ctx
        self.bindir = bindir
        self.data_dir = data_dir
        self.repeat = repeat
        self.peers = peers               # peer name -> argv prefix (built) or None
        self.machine = machine
        self.verbose = verbose
        os.makedirs(data_dir, exist_ok=True)

    # -- resolving programs ---------------------------------------------------

    def program_path(self, exp: Experiment) -> str | None:
        if exp.program.startswith("python:") or exp.program.startswith("peer:"):
            return exp.program
        p = os.path.join(self.bindir, exp.program)
        return p if os.path.exists(p) else None

    def resolve(self, exp: Experiment, inv: Invocation) -> list[str]:
        argv = list(inv.argv)
        if exp.peer:
            pin = inv.env.get("LAB_TASKSET", "").split()
            return pin + self.peers[exp.peer] + argv[1:]
        head = argv[0].replace("{bench}", exp.program).replace("{program}", exp.program)
        if not head.startswith("/"):
            head = os.path.join(self.bindir, head)
        # A driver script (argv[0] an interpreter) is handed the program's
        # path as "{program_path}".
        path = os.path.join(self.bindir, exp.program)
        return [head] + [a.replace("{program_path}", path) for a in argv[1:]]

    # -- running ----------------------------------------------------------------

    def repeats(self, exp: Experiment) -> int:
        """How many times `exp` runs: the profile's repeat, once for an
        experiment whose counts are exact (Experiment.once), at most its
        quick_runs in the quick profile."""
        if exp.once:
            return 1
        if self.ctx.profile == "quick" and exp.quick_runs:
            return min(exp.quick_runs, self.repeat)
        return self.repeat

    def estimate(self, exp: Experiment) -> float:
        prev = self.load(exp.name)
        if prev and prev.get("profile") == self.ctx.profile and prev.get("duration_s"):
            return prev["duration_s"] / max(1, prev.get("repeat", 1)) * self.repeats(exp)
        return exp.estimate_s.get(self.ctx.profile, 30) * self.repeats(exp) / 3

    def load(self, name: str) -> dict | None:
        p = os.path.join(self.data_dir, f"{name}.json")
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return json.load(f)
        return None

    def run(self, exp: Experiment, progress: Progress, idx: int, count: int) -> dict:
        """Runs `exp`: its invocations in order, the whole list K times."""
        return self.run_rounds([exp], progress, [idx], count)[0]

    def run_rounds(self, exps: list[Experiment], progress: Progress, idxs: list[int], count: int) -> list[dict]:
        """Runs experiments that are compared with one another (the same
        `rounds`) interleaved: round k is the k-th repeat of each, and within
        it the same test of every implementation runs back to back (in the
        order the tests first appear). A ratio between two of them then
        compares two measurements a few seconds apart, not two phases of the
        machine minutes apart: run one after the other, Node.js's spawn_seq
        read 59.1 ns in one report and 128 in the next on the 2-vCPU EPYC VM,
        while duet's moved the other way. One experiment alone runs as
        before: its invocations in order, the list K times."""
        states = [self._prepare(e) for e in exps]
        live = [st for st in states if st["done"] is None]
        # Progress over the whole batch: its steps done against its estimate.
        total = max(1, sum(self.repeats(st["exp"]) * len(st["invocations"]) for st in live))
        est = sum(self.estimate(st["exp"]) for st in live)
        done = 0
        for k in range(self.repeat):
            steps = []
            for st in live:
                if k >= self.repeats(st["exp"]):
                    continue
                st["cg"] = Cachegrind(valgrind_cache_args(self.machine["topology"]["caches"])[1])
                steps += [(st, j, inv) for j, inv in enumerate(st["invocations"])]
            order = {}
            for st, j, inv in steps:
                order.setdefault(inv.key or f"{id(st)}/{j}", len(order))
            steps.sort(key=lambda s: order[s[2].key or f"{id(s[0])}/{s[1]}"])  # stable: by experiment within a test
            for st, j, inv in steps:
                n = len(st["invocations"])
                exp = st["exp"]
                progress.note(idxs[states.index(st)], count, exp.name,
                              f"{inv.label or ' '.join(inv.argv)} (run {k + 1}/{self.repeats(exp)}, step {j + 1}/{n})",
                              done / total, est)
                t0 = time.monotonic()
                self._invoke(st, inv, k)
                st["seconds"] += time.monotonic() - t0
                done += 1
        return [st["done"] if st["done"] is not None else self._finish(st) for st in states]

    def _prepare(self, exp: Experiment) -> dict:
        """The state of one experiment's run; `done` is its result when it
        cannot run here (missing, skipped)."""
        base = {"experiment": exp.name, "area": exp.area, "owner": exp.owner,
                "program": exp.program, "what": exp.what, "profile": self.ctx.profile, "repeat": self.repeats(exp),
                "machine": self.machine["id"], "machine_line": self.machine["hwloc_line"],
                "command": f"./experiments/run --profile {self.ctx.profile} --only {exp.name}",
                "commit": source_commit(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        t0 = time.monotonic()
        st = {"exp": exp, "base": base, "done": None, "records": [], "errors": [], "argvs": [],
              "invocations": [], "seconds": 0.0}
        if exp.peer and self.peers.get(exp.peer) is None:
            st["done"] = dict(base, status="missing", error=f"peer {exp.peer} not built (toolchain missing)", results=[])
            return st
        if self.program_path(exp) is None:
            st["done"] = dict(base, status="missing", error=f"program {exp.program} not built", results=[])
            return st
        reason = exp.skip(self.ctx) if exp.skip else None
        if reason:
            st["done"] = dict(base, status="skipped", error=reason, results=[])
            return st
        st["invocations"] = exp.invocations(self.ctx)
        if exp.program.startswith("python:"):
            st["records"] = PYTHON_RECORDS[exp.program](self)
        st["seconds"] = time.monotonic() - t0
        return st

    def _invoke(self, st: dict, inv: Invocation, k: int):
        """Runs one invocation of an experiment once (repeat k) and keeps
        its records and errors."""
        exp, records, errors = st["exp"], st["records"], st["errors"]
        argv = self.resolve(exp, inv)
        # DUET_LAB_RUN: which of the K runs this is (0-based), for a program
        # that does some of its passes in one run only (http_bench.py's
        # diagnostics in the quick profile).
        env = dict(os.environ, **dict(inv.env, DUET_LAB_PROFILE=self.ctx.profile, DUET_LAB_RUN=str(k)))
        cg_out = None
        if inv.parse == "cachegrind":
            cg_out = os.path.join(self.data_dir, f".cachegrind.{os.getpid()}.out")
            argv = self.cachegrind_argv(cg_out) + argv
        if k == 0:
            st["argvs"].append(" ".join(shlex.quote(a) for a in argv))
        try:
            p = run_group(argv, env, inv.timeout)
        except subprocess.TimeoutExpired as e:
            errors.append(f"timeout after {inv.timeout:.0f}s: {' '.join(argv)}")
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            records += parse_jsonl(out, inv.impl)
            return
        except OSError as e:
            errors.append(f"{e}: {' '.join(argv)}")
            return
        if p.returncode not in inv.ok_codes:
            errors.append(f"exit {p.returncode}: {' '.join(argv)}: {p.stderr.strip()[-300:]}")
        if self.verbose and p.stderr.strip():
            print(p.stderr.strip()[-500:], file=sys.stderr)
        if inv.parse == "gbench":
            records += parse_gbench(p.stdout, exp.name, inv.impl)
        elif inv.parse == "cachegrind":
            if p.returncode == 0 and cg_out and os.path.exists(cg_out):
                records += st["cg"].records(inv.env["LAB_CACHEGRIND"], cg_out)
            if cg_out and os.path.exists(cg_out):
                os.remove(cg_out)
        else:
            records += parse_jsonl(p.stdout, inv.impl)

    @staticmethod
    def _finish(st: dict) -> dict:
        summaries = fold(st["records"])
        errors = st["errors"]
        status = "ok" if summaries and not errors else "partial" if summaries else "failed"
        return dict(st["base"], status=status, errors=errors[:20], invocations=st["argvs"],
                    duration_s=round(st["seconds"], 1),
                    results=[s.to_json() for s in summaries])

    def cachegrind_argv(self, out: str) -> list[str]:
        """valgrind with this machine's L1d and last-level cache, in a
        geometry valgrind accepts (valgrind_cache_geometry)."""
        argv = ["valgrind", "--tool=cachegrind", "--cache-sim=yes", f"--cachegrind-out-file={out}"]
        return argv + valgrind_cache_args(self.machine["topology"]["caches"])[0]

    def save(self, data: dict):
        p = os.path.join(self.data_dir, f"{data['experiment']}.json")
        tmp = p + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.replace(tmp, p)
