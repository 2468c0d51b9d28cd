#!/usr/bin/env python3
"""Echo benchmark (issue 3; claim R7): duet (io_uring, epoll) x (stackless,
stackful) against a hand-written C epoll server, Tokio, Go and Asio, side by
side in one run.

Method: each server runs pinned to CPU 0 (`taskset -c 0`, one worker / one
thread / GOMAXPROCS=1), the load generator (examples/echo_load, one thread,
closed loop, loopback) to CPU 1. For every (connections, size) the servers
are run in rotating order, rep after rep; ratios (vs C epoll, p99 vs Tokio,
stackful vs stackless, multishot vs one-shot) are taken within a rep. In the
full profile a separate short pass under `strace -c -f` counts the server's
syscalls per echoed message (strace slows the server; the count per message
is what it is for).

The lab runs it (`./experiments/run --only io_echo`, through the generated
wrapper exp_io_echo, with --jsonl: one record per rep on stdout) and writes
reports/io.md. By hand:

  experiments/io/echo_bench.py --build build-io-rel     # 7 reps, all configs

writes JSONL medians to --out (default: BUILD/io-echo.jsonl) and prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PEERS = os.path.join(ROOT, "experiments", "peers")

sys.path.insert(0, os.path.join(ROOT, "experiments"))
from lab.script import log  # noqa: E402


def build_peers(out: str, want: list[str]) -> dict[str, list[str]]:
    """Builds the peer servers named in `want`; returns name -> argv prefix
    (PORT appended)."""
    os.makedirs(out, exist_ok=True)
    peers: dict[str, list[str]] = {}
    if "c-epoll" in want:
        c_exe = os.path.join(out, "c_epoll_echo")
        subprocess.run(["gcc", "-O2", "-o", c_exe, os.path.join(PEERS, "c", "echo_epoll.c")], check=True,
                       stdout=sys.stderr)
        peers["c-epoll"] = [c_exe]
    if "go" not in want:
        pass
    elif shutil.which("go"):
        exe = os.path.join(out, "go_echo")
        env = dict(os.environ, GOCACHE=os.path.join(out, "gocache"), GO111MODULE="off", GOFLAGS="",
                   GOPATH=os.path.join(out, "gopath"))
        r = subprocess.run(["go", "build", "-o", exe, os.path.join(PEERS, "go", "echo", "main.go")], env=env,
                           stdout=sys.stderr)
        if r.returncode == 0:
            peers["go"] = [exe]
    else:
        log("go not installed (apt-get install golang-go): Go peer skipped")
    if "asio" not in want:
        pass
    elif os.path.exists("/usr/include/asio.hpp"):
        exe = os.path.join(out, "asio_echo")
        r = subprocess.run(["g++", "-O2", "-std=c++20", "-o", exe, os.path.join(PEERS, "asio", "echo.cpp"),
                            "-lpthread"], stdout=sys.stderr)
        if r.returncode == 0:
            peers["asio"] = [exe]
    else:
        log("libasio-dev not installed: Asio peer skipped")
    if "tokio" not in want:
        pass
    elif shutil.which("cargo") and os.path.isdir("/usr/share/cargo/registry"):
        target = os.path.join(out, "tokio-target")
        r = subprocess.run(["cargo", "build", "--release", "--offline", "--target-dir", target],
                           cwd=os.path.join(PEERS, "tokio", "echo"),
                           env=dict(os.environ, CARGO_HOME=os.path.join(out, "cargo-home")), stdout=sys.stderr)
        if r.returncode == 0:
            peers["tokio"] = [os.path.join(target, "release", "tokio-echo")]
    else:
        log("cargo or librust-tokio-dev missing: Tokio peer skipped")
    return peers


def start(argv: list[str], env=None, prefix=None) -> tuple[subprocess.Popen, int]:
    cmd = (prefix or []) + ["taskset", "-c", "0"] + argv
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 20
    while time.time() < deadline:
        line = p.stdout.readline()
        m = re.search(r"listening on (\d+)", line)
        if m:
            return p, int(m.group(1))
        if not line and p.poll() is not None:
            break
    p.kill()
    raise RuntimeError(f"server {argv} did not start")


def stop(p: subprocess.Popen, sig=signal.SIGTERM) -> str:
    # Under strace the server is strace's child: stop the server itself
    # (strace then writes its summary and exits).
    kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    if sig == signal.SIGINT and kids:
        for k in kids:
            os.kill(int(k), signal.SIGTERM)
    else:
        p.send_signal(sig)
    try:
        out, _ = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out or ""


def load(load_exe: str, port: int, conns: int, size: int, seconds: float, warmup: float) -> dict:
    r = subprocess.run(["taskset", "-c", "1", load_exe, "--port", str(port), "--connections", str(conns),
                        "--size", str(size), "--seconds", str(seconds), "--warmup", str(warmup)],
                       capture_output=True, text=True, timeout=seconds + warmup + 120)
    if r.returncode != 0:
        raise RuntimeError(f"echo_load failed: {r.stdout} {r.stderr}")
    kv = r.stdout.split()
    d = {kv[i]: kv[i + 1] for i in range(0, len(kv) - 1, 2)}
    out = {k: float(d[k]) for k in ("rps", "p50_us", "p99_us", "p999_us", "round_trips")}
    if "first_max_us" in d:  # each connection's first round trip (echo_load)
        out["first_p50_us"] = float(d["first_p50_us"])
        out["first_max_us"] = float(d["first_max_us"])
    return out


def servers(build: str, peers: dict[str, list[str]], only: list[str] | None, knobs: bool = True):
    exe = os.path.join(build, "examples", "echo_server")
    s = {}
    for drv in ("io_uring", "epoll"):
        for model in ("stackless", "stackful"):
            s[f"duet-{drv}-{model}"] = ([exe, "--driver", drv, "--model", model, "--workers", "1", "--stats",
                                         "--port"], {})
    # The same server with one recv SQE per read instead of multishot recv:
    # what the provided-buffer ring is worth, in the same run.
    s["duet-io_uring-stackless-oneshot"] = ([exe, "--driver", "io_uring", "--model", "stackless", "--workers",
                                             "1", "--recv-buffers", "0", "--stats", "--port"], {})
    # duet's latency configuration: poll the ring 50 us before sleeping
    # (RuntimeConfig::idle_poll); the default sleeps at once, as Tokio does.
    # A knob, not the default: the full profile measures it (the quick
    # profile's budget).
    for model in (("stackless", "stackful") if knobs else ()):
        s[f"duet-io_uring-{model}-poll50us"] = ([exe, "--driver", "io_uring", "--model", model, "--workers", "1",
                                                 "--idle-poll-us", "50", "--stats", "--port"], {})
    for name, argv in peers.items():
        env = {"GOMAXPROCS": "1"} if name == "go" else {}
        s[name] = (argv, env)
    if only:
        s = {k: v for k, v in s.items() if any(o in k for o in only)}
    return s


# Profiles of the lab (DUET_LAB_PROFILE); the lab runs the program `repeat`
# times (3 quick, 5 full) and takes the median over every rep of every run.
PROFILES = {
    "smoke": dict(configs="64x64", reps=1, seconds=0.3, warmup=0.1, peers="c-epoll", strace=False,
                  profile_runs=0),
    # quick: the 64-byte configurations the claims and the tail targets
    # read, 2 reps a run (6 samples a cell over the lab's 3 runs); the 4 KiB
    # messages are the full profile's (the quick profile's budget). The
    # 1,000-connection cell, whose p99 is a README target, takes `tail`:
    # 6 reps of 1.5 s a run, 18 samples over the lab's 3 runs, enough for
    # the bootstrap interval (lab/intervals.py) to decide the 1.2x line
    # (docs/performance-log.md, "The echo tail's variance").
    "quick": dict(configs="1x64,64x64,1000x64", reps=2, seconds=0.6, warmup=0.2,
                  peers="c-epoll,go,asio,tokio", strace=False, profile_runs=1, knobs=False,
                  tail=dict(min_conns=1000, reps=6, seconds=1.5, warmup=0.3)),
    "full": dict(configs="1x64,64x64,1000x64,1x4096,64x4096,1000x4096", reps=3, seconds=1.5, warmup=0.4,
                 peers="c-epoll,go,asio,tokio", strace=True, profile_runs=None,
                 tail=dict(min_conns=1000, reps=4, seconds=1.5, warmup=0.4)),
}


def rep_records(rep: dict[str, dict], conns: int, size: int, method: str) -> list[dict]:
    """One rep (every server once, back to back): its raw numbers and the
    ratios that compare servers within it."""
    out = []

    def rec(impl, metric, value, unit, meth=method):
        out.append({"experiment": "io_echo", "claim": "R7", "impl": impl, "metric": f"{metric}_{size}B",
                    "n": conns, "value": value, "unit": unit, "method": meth})

    for name, r in rep.items():
        rec(name, "rps", r["rps"], "round_trips/s")
        for k in ("p50_us", "p99_us", "p999_us"):
            rec(name, k, r[k], "us")
        if r.get("first_max_us") is not None:
            # How long the server took to answer the burst of connections
            # that echo_load opens at the start (it sends on each as soon as
            # all are connected): a slow take-in shows here, and, when it
            # outlasts the warm-up, in the measured tail.
            first = "each connection's first round trip, sent as soon as every connection was made"
            rec(name, "first_rt_p50_us", r["first_p50_us"], "us", first)
            rec(name, "first_rt_max_us", r["first_max_us"], "us", first)
        if r.get("syscalls") is not None:
            rec(name, "syscalls_per_msg", r["syscalls"], "syscalls/message",
                "duet's own counters: io_uring_enter + epoll_wait + socket calls + eventfd wakes, "
                "over messages echoed")
    c = rep.get("c-epoll")
    tokio = rep.get("tokio")
    for name, r in rep.items():
        if not name.startswith("duet-"):
            continue
        if c and c["rps"] > 0:
            rec(name, "rps_vs_c_epoll", r["rps"] / c["rps"], "x", "ratio of round trips/s in the same rep")
        if tokio and tokio["p99_us"] > 0:
            rec(name, "p99_vs_tokio", r["p99_us"] / tokio["p99_us"], "x", "ratio of p99 latency in the same rep")
    for drv in ("io_uring", "epoll"):
        sl, sf = rep.get(f"duet-{drv}-stackless"), rep.get(f"duet-{drv}-stackful")
        if sl and sf and sl["rps"] > 0:
            rec(f"duet-{drv}", "stackful_vs_stackless", sf["rps"] / sl["rps"], "x",
                "ratio of round trips/s in the same rep")
    ms, one = rep.get("duet-io_uring-stackless"), rep.get("duet-io_uring-stackless-oneshot")
    if ms and one and one["rps"] > 0:
        rec("duet-io_uring-stackless", "multishot_vs_oneshot", ms["rps"] / one["rps"], "x",
            "ratio of round trips/s in the same rep")
    return out


# The profile pass (issue 52): the tail targets' configuration, their
# servers (duet's default io_uring server in each model) and the references
# (Tokio's p99, C epoll's round trips); the quick profile profiles in the
# lab's first run only (DUET_LAB_RUN), as the HTTP benchmark does.
PROFILE_CONFIG = (1000, 64)
PROFILE_SERVERS = ("duet-io_uring-stackless", "duet-io_uring-stackful", "tokio", "c-epoll")
PROFILE_METHOD = ("perf record -e cpu-clock -F 999 attached to the server over one echo_load run (after its "
                  "warm-up), a fresh server each; perf report --no-children --sort dso,sym: each symbol's share "
                  "of the samples (self time), and the shares of code by where it lives: the kernel, the server "
                  "(its program and the libraries it brings), libc")


def profile_this_run(preset: dict, env=None) -> bool:
    """Whether this run profiles: every run unless the profile limits it
    to the lab's first `profile_runs` runs (DUET_LAB_RUN, 0-based; a run by
    hand, without it, profiles)."""
    runs = preset.get("profile_runs")
    if runs is None:
        return True
    run = (env if env is not None else os.environ).get("DUET_LAB_RUN", "")
    return runs > 0 and (not run.isdigit() or int(run) < runs)


def profile_records(name: str, conns: int, size: int, prof: dict) -> list[dict]:
    """One server's profile as records: the class shares
    (profile_share.<class>_<size>B), the samples, and its top symbols
    (profile_sym_<size>B<TAB>dso<TAB>symbol)."""
    out = []

    def rec(metric, value, unit):
        out.append({"experiment": "io_echo", "impl": name, "metric": metric, "n": conns, "value": value,
                    "unit": unit, "method": PROFILE_METHOD})

    for cls, pct in prof["shares"].items():
        rec(f"profile_share.{cls}_{size}B", pct, "%")
    rec(f"profile_samples_{size}B", prof["samples"], "samples")
    for t in prof["top"]:
        rec(f"profile_sym_{size}B\t{t['dso']}\t{t['sym']}", t["pct"], "%")
    return out


def profile_server(argv: list[str], env: dict, load_exe: str, conns: int, size: int, seconds: float,
                   warmup: float) -> dict | None:
    """A cpu-clock profile of one server under the echo load (None where
    perf recorded nothing)."""
    sys.path.insert(0, os.path.join(ROOT, "experiments", "http"))
    from http_profile import record_profile  # the HTTP benchmark's recording and reduction
    p, port = start(argv + ["0"], env=dict(os.environ, **env))
    try:
        got, _ = record_profile([p.pid], 1, lambda: load(load_exe, port, conns, size, seconds, warmup))
        return got if got["samples"] > 0 else None
    finally:
        stop(p)


def profile_pass(srv: dict, load_exe: str, configs: list[tuple], seconds: float, warmup: float) -> list[dict]:
    """The profile of each PROFILE_SERVERS server at PROFILE_CONFIG (when
    that configuration is measured): records."""
    if PROFILE_CONFIG not in configs:
        return []
    conns, size = PROFILE_CONFIG
    out = []
    for name in PROFILE_SERVERS:
        if name not in srv:
            continue
        argv, env = srv[name]
        try:
            prof = profile_server(argv, env, load_exe, conns, size, max(seconds, 1.0), warmup)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            log(f"profile {name}: {e}")
            continue
        if prof is None:
            log(f"profile {name}: perf recorded nothing")
            continue
        out += profile_records(name, conns, size, prof)
        log(f"profile {conns}x{size} {name}: {prof['samples']} samples, kernel {prof['shares']['kernel']:.0f}%")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("DUET_LAB_BUILD", os.path.join(ROOT, "build-io-rel")),
                    type=os.path.abspath)
    ap.add_argument("--out", help="JSONL of the medians (default: BUILD/io-echo.jsonl)")
    ap.add_argument("--profile", default=os.environ.get("DUET_LAB_PROFILE", ""),
                    help="smoke|quick|full presets for the options below (the lab sets it)")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--warmup", type=float)
    ap.add_argument("--configs")
    ap.add_argument("--peers", help="comma-separated peers to build (c-epoll,go,asio,tokio)")
    ap.add_argument("--servers", default="", help="comma-separated substrings to keep")
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--jsonl", action="store_true",
                    help="print one record per rep (the lab's format) on stdout; no table, no --out file")
    a = ap.parse_args()
    a.out = a.out or os.path.join(a.build, "io-echo.jsonl")
    preset = PROFILES.get(a.profile, PROFILES["full"] | {"reps": 7})
    for k in ("reps", "seconds", "warmup", "configs", "peers"):
        if getattr(a, k) is None:
            setattr(a, k, preset[k])
    strace_on = preset["strace"] and not a.no_strace

    peers = build_peers(os.path.join(a.build, "io-peers"), a.peers.split(","))
    load_exe = os.path.join(a.build, "examples", "echo_load")
    srv = servers(a.build, peers, [x for x in a.servers.split(",") if x] or None, preset.get("knobs", True))
    configs = [tuple(int(x) for x in c.split("x")) for c in a.configs.split(",")]
    log(f"servers: {', '.join(srv)}; configs: {configs}; reps {a.reps}")
    tail = preset.get("tail") if a.profile else None

    def cell(conns: int) -> tuple[int, float, float]:
        """Reps, seconds and warm-up of a configuration's cell."""
        if tail and conns >= tail["min_conns"]:
            return tail["reps"], tail["seconds"], tail["warmup"]
        return a.reps, a.seconds, a.warmup

    def method_of(conns: int) -> str:
        _, secs, warm = cell(conns)
        return (f"echo_load closed loop on loopback; server taskset CPU 0 (1 worker/thread), load CPU 1; "
                f"{secs}s after {warm}s warm-up; servers rotated rep by rep")
    method = method_of(1)
    results: dict[tuple, list[dict]] = {}
    duet_sys: dict[tuple, list[float]] = {}
    names = list(srv)
    for conns, size in configs:
        reps, secs, warm = cell(conns)
        for rep in range(reps):
            order = names[rep % len(names):] + names[:rep % len(names)]  # rotate: alternate run by run
            this_rep: dict[str, dict] = {}
            for name in order:
                argv, env = srv[name]
                p, port = start(argv + ["0"], env=dict(os.environ, **env))
                try:
                    r = load(load_exe, port, conns, size, secs, warm)
                finally:
                    out = stop(p)
                m = re.search(r"syscalls_per_message ([\d.]+)", out)
                if m:
                    r["syscalls"] = float(m.group(1))
                    duet_sys.setdefault((name, conns, size), []).append(float(m.group(1)))
                results.setdefault((name, conns, size), []).append(r)
                this_rep[name] = r
                log(f"{conns}x{size} rep {rep} {name}: {r['rps']:.0f} rt/s p99 {r['p99_us']:.0f} us")
            if a.jsonl:
                for x in rep_records(this_rep, conns, size, method_of(conns)):
                    print(json.dumps(x), flush=True)
    if a.jsonl:
        if profile_this_run(preset) and shutil.which("perf"):
            for x in profile_pass(srv, load_exe, configs, a.seconds, a.warmup):
                print(json.dumps(x), flush=True)
        return

    strace_counts: dict[tuple, float] = {}
    if strace_on and shutil.which("strace"):
        for conns, size in [(64, 64), (1000, 64)]:
            if (conns, size) not in configs:
                continue
            for name, (argv, env) in srv.items():
                trace = os.path.join(a.build, "io-peers", f"strace-{name}-{conns}.txt")
                p, port = start(argv + ["0"], env=dict(os.environ, **env),
                                prefix=["strace", "-c", "-f", "-o", trace])
                try:
                    r = load(load_exe, port, conns, size, 2.0, 0.0)
                finally:
                    stop(p, signal.SIGINT)
                time.sleep(0.5)
                total = 0
                with open(trace) as f:
                    for line in f:
                        mm = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
                        if mm and mm.group(2) not in ("total",):
                            total += int(mm.group(1))
                # Messages: round trips the load counted (the 2 s window, no warm-up).
                strace_counts[(name, conns, size)] = total / max(r["round_trips"], 1)

    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    method += f"; median of {a.reps} reps"
    with open(a.out, "w") as f:
        for (name, conns, size), rs in sorted(results.items()):
            for metric, unit in (("rps", "round_trips/s"), ("p50_us", "us"), ("p99_us", "us"),
                                 ("p999_us", "us")):
                vals = [r[metric] for r in rs]
                f.write(json.dumps({"experiment": "io_echo", "claim": "R7", "metric": metric,
                                    "value": statistics.median(vals), "unit": unit, "n": len(vals),
                                    "min": min(vals), "max": max(vals), "method": method, "server": name,
                                    "connections": conns, "size": size}) + "\n")
            if (name, conns, size) in duet_sys:
                v = duet_sys[(name, conns, size)]
                f.write(json.dumps({"experiment": "io_echo", "claim": "R7", "metric": "driver_syscalls_per_message",
                                    "value": statistics.median(v), "unit": "syscalls/message", "n": len(v),
                                    "method": "duet's own counters: io_uring_enter + epoll_wait + socket "
                                              "calls + eventfd wakes, over messages echoed",
                                    "server": name, "connections": conns, "size": size}) + "\n")
        for (name, conns, size), v in sorted(strace_counts.items()):
            f.write(json.dumps({"experiment": "io_echo", "claim": "R7", "metric": "strace_syscalls_per_message",
                                "value": v, "unit": "syscalls/message", "n": 1,
                                "method": "strace -c -f on the server, all syscalls, 2 s of load",
                                "server": name, "connections": conns, "size": size}) + "\n")

    # Markdown table.
    print(f"\n{method}\n")
    print("| server | conns x size | round trips/s (median) | min-max | p50 us | p99 us | p999 us | "
          "syscalls/msg (duet counters) | syscalls/msg (strace) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (conns, size) in configs:
        for name in names:
            rs = results.get((name, conns, size))
            if not rs:
                continue
            med = lambda k: statistics.median([r[k] for r in rs])  # noqa: E731
            ds = duet_sys.get((name, conns, size))
            st = strace_counts.get((name, conns, size))
            print(f"| {name} | {conns} x {size} | {med('rps'):.0f} | {min(r['rps'] for r in rs):.0f}-"
                  f"{max(r['rps'] for r in rs):.0f} | {med('p50_us'):.1f} | {med('p99_us'):.1f} | "
                  f"{med('p999_us'):.1f} | {statistics.median(ds):.2f} | " if ds else
                  f"| {name} | {conns} x {size} | {med('rps'):.0f} | {min(r['rps'] for r in rs):.0f}-"
                  f"{max(r['rps'] for r in rs):.0f} | {med('p50_us'):.1f} | {med('p99_us'):.1f} | "
                  f"{med('p999_us'):.1f} | - | ", end="")
            print(f"{st:.2f} |" if st is not None else "- |")


if __name__ == "__main__":
    main()
