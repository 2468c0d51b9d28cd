#!/usr/bin/env python3
"""HTTP benchmark (issues 37 and 51): duet's HTTP server (examples/http_server
on duet::http, its three connection engines on both drivers) against nginx,
Go net/http and Tokio+hyper under wrk, side by side in one run. The
coroutine engine (a Task per connection) and the fiber engine (a fiber per
connection) are what users' code gets; the poll engine (the hand-written
poll state machine) is the tuned ceiling.

Method: each server runs pinned to one CPU (one worker process / one thread /
GOMAXPROCS=1 / a current-thread runtime), wrk (one thread) pinned to another
CPU on a different core where the machine has one. For every load (a route
and a connection count) the servers take turns rep by rep, in an order
rotated from a random start, each in a fresh process; ratios against nginx
and hyper, and between the engines on one driver (coroutine over poll,
fiber over coroutine), are taken within a rep. Per server and load:

- requests/s: wrk's requests over its window;
- p50, p99, p99.9 latency: wrk's latency histogram, read by a done() hook
  (stats.lua); with pipelining wrk times a batch of DEPTH requests;
- server CPU per request: utime+stime of the server's processes
  (/proc/PID/stat, every process of the server's tree) from just before wrk
  starts to just after it exits, over the requests wrk counted;
- syscalls per request, in a separate pass (the counting slows the server;
  like the profile and timeline passes below, a diagnostic: the quick
  profile runs these three in the lab's first run only, DUET_LAB_RUN=0):
  `perf stat -e raw_syscalls:sys_enter` attached to the server's processes
  for one wrk run, over its requests. It counts every system call the
  server's threads enter (io_uring_enter once per call, whatever it
  submits); work io_uring completes inside the kernel is not a syscall.
  Without perf: /proc/PID/io syscr+syscw, which counts the read- and
  write-family calls only (not recv/send*, epoll or io_uring_enter), and the
  page says so;
- RSS per idle keep-alive connection: idle_conns.py (pinned with wrk) opens N
  connections from 127.0.0.x, one request each, and holds them; the server's
  memory (Pss summed over its processes: one process's RSS less its share of
  pages another process maps too, which for nginx's master and worker splits
  what the fork shares) before and with the N open, (M_N - M_0) / N; before
  means after a second of wrk at 4 connections, so that what a server builds
  once when it serves (pools, arenas, io_uring's buffer ring) is in M_0. Every
  server that closes idle keep-alive connections does so after 300 s here
  (nginx's keepalive_timeout, duet's --io-timeout-ms); Go's and hyper's
  servers have no idle timeout by default. duet's server also says where
  those bytes are (memory_breakdown): its memory line on SIGUSR1 (the block
  cache's blocks by size class, the C heap) with the N open and before; the
  quick profile in the lab's first run only, as the TLS one below. The N
  are read twice: IDLE_FIRST_S after they are open (rss_per_idle_conn),
  and IDLE_LONG_S after (rss_per_long_idle_conn, long_idle_bytes.*: what
  a connection idle for a while holds, past duet's
  fiber_stack_trim_after; issue 75's targets grade it);
- memory per idle keep-alive TLS connection (idle_tls_pass, issue 52): the
  same over HTTPS (idle_conns.py --tls: at most IDLE_TLS_MAX connections,
  opened one after another, a TLS handshake and one GET each), every server
  that serves HTTPS; the quick profile in the lab's first run only;
- memory per in-flight proxied request parked at depth (depth_pass,
  issue 51): parked_conns.py (pinned with wrk) writes N requests GET
  /proxy/slow at once, one per connection, each forwarded by the server's
  proxy to a fresh slow_upstream.py that holds it unanswered; once the
  upstream holds all N (its /held count), the server's Pss with them held
  minus before (after a second of wrk at 4 connections on /proxy/json), over
  N, and for duet its memory line's breakdown; then the upstream answers
  every one and the answers are counted (200, other, none: errors are rows,
  not dropped). N is 10,000 where the server's RLIMIT_NOFILE allows two
  descriptors per parked request with a margin (depth_n), else fewer, and
  the method says why. duet's engines on the proxy loads' drivers; the
  quick profile in the lab's first run only;
- a profile per load of the profile pass (every route at 256 connections,
  the proxy through an upstream started for the pass, its servers those of
  the proxy load), for duet's servers, nginx and hyper, in a separate
  pass: `perf record -e
  cpu-clock` attached to the server over one wrk run, reduced to the share
  of samples by where the code lives (kernel, the server, libc, OpenSSL)
  and the top symbols; the page's targets cite it where one is missed.
  Without perf the pass is skipped (and the page says no profile is on
  file);
- the start of an HTTPS run, packet by packet (tls_timeline.py), for every
  server at the HTTPS load of the targets: tcpdump on loopback over one
  short wrk run, reduced per connection to when the server sent its
  handshake flight, when wrk finished its handshake and wrote its first
  request, and when the server answered; the page's HTTPS latency targets
  cite it. Without tcpdump the pass is skipped.

Routes: GET /plaintext and GET /json (TechEmpower), plaintext with wrk's
pipelining (pipeline.lua, DEPTH requests per write), and /plaintext over
HTTPS (a self-signed certificate made with `openssl req` at run time).

The proxy and fan-out loads (upstream_pass, issue 51): GET /proxy/json (the
upstream's /json through the server's proxy and its pooled upstream
connections) and GET /fanout?n=4 (four upstream /json requests at once,
merged), the same figures and ratios as above, per rep with one upstream
shared by every server of the rep, started fresh for it: the first of
nginx, hyper, Go this machine runs (UPSTREAM_ORDER; nginx answers /json
from its config with one worker, the cheapest /json here), else
slow_upstream.py; always its own process, never the server under test.
It runs pinned to a third CPU where the machine has one, else to wrk's
(the server under test keeps its CPU to itself), and its CPU over each
server's window is recorded (upstream_cpu: near 1 CPU, the upstream, not
the server, may bound the figure). duet's engines on one driver in the
smoke and quick profiles (io_uring where the kernel allows it, else
epoll), on both in full; nginx serves no fan-out (nginx.conf.in: no
concurrent subrequests without a scripting module), said by an
`unavailable.fanout` record. The quick profile keeps these windows short
(1 s after a 1 s warm-up: about 30 s a run for 11 measurements). Where
the run races (the race pass, below), their requests/s ratios are raced
too (upstream_race): a fresh upstream per rep, and each pair of servers
both sent to it, raced on one core as the race pass's; at the proxy every
server against nginx, at the fan-out (which nginx does not serve) duet's
other engines against its coroutine engine; the solo windows keep the
latency ratios.

The routing-cost pair (routing_pass, issue 74): per duet engine, the bare
route (GET /plaintext, the server started without flags) against the
routed one (GET /users/1/posts/2: a route with two path parameters behind
one middleware layer, the server started with --route-params
--middleware; the same answer), as a race on one core: per rep and
server both are started at once (fresh processes, one worker each, both
pinned to the server CPU), then loaded at once by two wrk processes on
the other CPU: a warm-up, then routing_races races of routing_seconds.
Both servers are busy the whole window, so the kernel gives each half
the core, and the requests each completes are in the inverse ratio of
what a request costs it: a change of the machine's speed within the
window falls on both at the same instant. (Loaded one after the other,
in alternating 1-s windows, this VM's speed moved the two sides' rates
by a fifth from window to window; the race of two identical servers
reads 0.98-1.015.) What still varies is each fresh pair of processes'
own (a couple of percent), so the pass takes routing_reps pairs a run.
The ratio routed over bare (routed_vs_bare) is the races' requests
summed, and the page's target asks it to be at least 0.95x. duet's
engines on one driver in the smoke and quick profiles, on both in full;
the quick profile takes 4 pairs a run (12 over its 3 runs: a bootstrap
interval), each a 1-s warm-up and one race of 2 s (about 50 s a run).

The pieces: http_servers.py starts, reads (/proc) and stops the servers and
builds the peers; http_wrk.py holds the loads and runs wrk; http_profile.py
the profile pass; http_memory.py the idle test; tls_timeline.py the
handshake timeline; idle_conns.py the idle client. This file runs the
passes in order (parse_args, select_servers, then load_pass, upstream_pass,
routing_pass, syscall_pass, profile_pass, timeline_pass, idle_pass, depth_pass, each
printing its records) and turns the figures into records; parked_conns.py
is the depth test's client.

The lab runs it (`./experiments/run --only http`, through the generated
wrapper exp_http, with --jsonl: one record per rep on stdout) and writes
reports/http.md. By hand:

  experiments/http/http_bench.py --build build-experiments --profile quick --servers nginx,go
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import http_wrk
import tls_timeline
from http_memory import BREAKDOWN_METHOD, DEPTH_BREAKDOWN_METHOD, DEPTH_FD_MARGIN, DEPTH_UPSTREAM_TIMEOUT_MS, \
    DEPTH_WARMUP, IDLE_FIRST_S, IDLE_LONG_S, IDLE_WARMUP, depth_n, depth_n_why, idle_rss, parked_rss
from http_profile import PROFILE_METHOD, profile_server
from http_servers import DRIVERS, DUET_CONFIGS, HERE, ROOT, NoTLS, Server, Upstream, build_peers, cpu_ticks, \
    cpu_ns, duet_name, duet_servers, io_syscalls, io_uring_available, make_cert, pick_cpus, start, stop
from http_wrk import Load, parse_loads, run_wrk, warm_up, window, wrk_script

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab.script import log, raise_nofile  # noqa: E402

EXPERIMENT = "http"


def emit(rec: dict):
    print(json.dumps(dict({"experiment": EXPERIMENT}, **rec)), flush=True)


ALL_CONNS = "64,256,1000"
# The profile pass: every route at the targets' connection count (report.py,
# HTTP_TARGET_CONNS), so that a missed target has a profile of its load.
# The proxy's load is profiled through a fresh upstream of its own (the
# servers of the proxy loads: duet's on their drivers, and the peers).
# The idle TLS test opens its connections one after another (a handshake
# each, in Python): at most this many (the quick profile's idle_tls_max
# fewer).
IDLE_TLS_MAX = 2000
PROFILE_LOADS = "plaintext:256;pipeline:256;json:256;https:256;proxy:256"
# The quick profile's: the loads of the issues' central targets (the engines
# at plaintext, HTTPS's tails, the proxy); pipelined and json are profiled in
# full (report.py says so where a target there misses without one).
QUICK_PROFILE_LOADS = "plaintext:256;https:256;proxy:256"
# The timeline pass (tls_timeline.py): the HTTPS load of the targets, every
# server, where tcpdump can capture.
TIMELINE_LOADS = "https:256"
PROFILE_PEERS = ("nginx", "hyper")   # profiled beside duet's servers: the targets' references
# The proxy and fan-out loads (upstream_pass): the targets' 256 connections.
UPSTREAM_LOADS = "proxy:256;fanout:256"
# The routing-cost pair (routing_pass): the routed load at the targets' 256
# connections (its bare twin is measured beside it).
ROUTING_LOADS = "routed:256"
PROFILES = {
    # smoke: every route once, a short window, to prove the wiring (CI):
    # the loads on both drivers, every other pass on one (the wiring of a
    # pass does not depend on the driver; CI's share of the lab is 120 s).
    "smoke": dict(loads="plaintext:64;pipeline:64;json:64;https:64", reps=1, seconds=1, warmup=0,
                  count_loads="plaintext:64", idle_n=200, peers="nginx", https_min=2, profile_loads="plaintext:64",
                  timeline_loads="https:64", diagnostics_runs=None, profile_seconds=1,
                  upstream_loads="proxy:64;fanout:64", upstream_seconds=1, upstream_warmup=0,
                  upstream_drivers="one", depth_n=200, depth_runs=None, idle_runs=None, idle_drivers="one",
                  idle_tls_max=IDLE_TLS_MAX, once_loads="", tls_diagnostics_drivers="one",
                  routing_loads="routed:64", routing_reps=1, routing_seconds=1, routing_races=1, routing_warmup=0,
                  routing_drivers="one", race_reps=1, race_seconds=1, race_warmup=0),
    # quick: every route at 256 connections (the targets' load); the lab
    # repeats the program 3 times. What measures memory or diagnoses (the
    # idle tests, plain and TLS; the depth test; syscalls, profiles, the
    # handshake timeline) runs in the first of those only: memory varies
    # little from run to run, and with three engines on two drivers (nine
    # servers) the whole of ./experiments/run must stay within 30 minutes
    # on 2 cores. The idle tests hold 5,000 connections (10,000 in full),
    # 1,000 over TLS (2,000), on duet's engines on one driver (io_uring
    # where the kernel allows it: the default) and the peers; an engine's
    # idle state is the same on either driver but for the driver's
    # per-socket record. The json and pipelined loads (the plaintext path
    # with another body, and in batches) run in the first run only
    # (once_loads), and the HTTPS profile
    # and handshake timeline on duet's default driver only
    # (tls_diagnostics_drivers). HTTPS windows are 3 s (256 handshakes stay a small part of
    # one; 5 s in full, for 1,000). Syscalls are counted at plaintext only; profiles are taken
    # at QUICK_PROFILE_LOADS, each a 1-s window (about a thousand samples). The 64- and
    # 1,000-connection loads are the full profile's. The proxy and fan-out
    # loads: duet's engines on one driver, 1-s windows (11 measurements). The
    # depth test (requests parked on a slow upstream): duet's engines on one
    # driver and the three peers. Each pass's wall time is a record
    # (pass_seconds.<pass>), so the page shows where the budget goes.
    "quick": dict(loads="plaintext:256;pipeline:256;json:256;https:256", reps=1, seconds=2, warmup=1,
                  count_loads="plaintext:256", idle_n=5000, peers="nginx,go,hyper", https_min=3,
                  profile_loads=QUICK_PROFILE_LOADS, timeline_loads=TIMELINE_LOADS, diagnostics_runs=1,
                  profile_seconds=1, upstream_loads=UPSTREAM_LOADS, upstream_seconds=1, upstream_warmup=1,
                  upstream_drivers="one", depth_n=10000, depth_runs=1, idle_runs=1, idle_drivers="one",
                  idle_tls_max=1000, once_loads="json,pipeline", tls_diagnostics_drivers="one",
                  routing_loads=ROUTING_LOADS, routing_reps=4, routing_seconds=2, routing_races=1,
                  routing_warmup=1, routing_drivers="one", race_reps=1, race_seconds=2, race_warmup=1),
    # full: every route at every connection count; 2 reps a run, 5 runs;
    # every pass in every run (the depth test once a run, on both drivers).
    "full": dict(loads=";".join(f"{k}:{ALL_CONNS}" for k in ("plaintext", "pipeline", "json", "https")), reps=2,
                 seconds=4, warmup=1, count_loads="plaintext:256;pipeline:256;json:256;https:256", idle_n=10000,
                 peers="nginx,go,hyper", https_min=5, profile_loads=PROFILE_LOADS,
                 timeline_loads=TIMELINE_LOADS, diagnostics_runs=None, profile_seconds=4,
                 upstream_loads=UPSTREAM_LOADS, upstream_seconds=4, upstream_warmup=1, upstream_drivers="all",
                 depth_n=10000, depth_runs=None, idle_runs=None, idle_drivers="all",
                 idle_tls_max=IDLE_TLS_MAX, once_loads="", tls_diagnostics_drivers="all",
                 routing_loads=ROUTING_LOADS, routing_reps=4, routing_seconds=4, routing_races=2,
                 routing_warmup=1, routing_drivers="all", race_reps=2, race_seconds=4, race_warmup=1),
}


def this_runs_loads(loads: list[Load], once: str, env=None) -> list[Load]:
    """The main pass's loads this run: the kinds named in `once`
    (comma-separated) only in the lab's first run (or a run by hand)."""
    kinds = {k for k in once.split(",") if k}
    if not kinds or diagnostics_this_run(1, env):
        return loads
    return [x for x in loads if x.kind not in kinds]


def diagnostics_this_run(preset_runs: int | None, env=None) -> bool:
    """Whether this run does the diagnostic passes (syscalls, profiles, the
    handshake timeline): every run where the profile says None, else the
    lab's first `preset_runs` runs (DUET_LAB_RUN, 0-based, set by the lab's
    runner; a run by hand, without it, does them)."""
    if preset_runs is None:
        return True
    run = (env if env is not None else os.environ).get("DUET_LAB_RUN", "")
    return not run.isdigit() or int(run) < preset_runs


# ---- one measurement -----------------------------------------------------------------

def measure(srv: Server, load: Load, cpus, cert, key, seconds, warmup, script, sargs,
            upstream: Upstream | None = None, watch: list[int] | None = None) -> dict:
    """One server, fresh, under one load (its proxy and fan-out sent to
    `upstream`): wrk's figures and the server's CPU over wrk's run; with
    `watch` (the upstream's processes), their CPU over it too
    (upstream_cpu_s)."""
    r = start(srv, cpus[0], cert, key, load.tls, upstream=upstream)
    try:
        r.require_tls(load.tls)
        warm_up(cpus[1], r, load, warmup, script, sargs)
        pids = r.pids
        t0 = cpu_ticks(pids)
        u0 = cpu_ticks(watch) if watch else 0
        d = run_wrk(cpus[1], r, load, window(load, seconds), script, sargs)
        d["cpu_s"] = (cpu_ticks(pids) - t0) / os.sysconf("SC_CLK_TCK")
        if watch:
            d["upstream_cpu_s"] = (cpu_ticks(watch) - u0) / os.sysconf("SC_CLK_TCK")
        if r.proc.poll() is not None:
            raise RuntimeError(f"{srv.name} exited ({r.proc.returncode}) during the run: {''.join(r.tail)[-300:]}")
    finally:
        rc = stop(r)
    d["exit"] = rc
    return d


def count_syscalls(srv: Server, load: Load, cpus, cert, key, seconds, script, sargs) -> tuple[float, str] | None:
    """Syscalls per request over one wrk run, counted by perf (or
    /proc/PID/io where perf cannot attach)."""
    r = start(srv, cpus[0], cert, key, load.tls)
    try:
        r.require_tls(load.tls)
        pids = r.pids
        perf = shutil.which("perf")
        out = os.path.join(tempfile.gettempdir(), f"duet-http-perf-{os.getpid()}.txt")
        pp = None
        if perf:
            pp = subprocess.Popen(["taskset", "-c", str(cpus[1]), perf, "stat", "-x,", "-o", out, "-e",
                                   "task-clock,raw_syscalls:sys_enter", "-p", ",".join(map(str, pids))],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
        io0 = io_syscalls(pids)
        d = run_wrk(cpus[1], r, load, window(load, seconds), script, sargs)
        io1 = io_syscalls(pids)
        count = None
        if pp:
            pp.send_signal(signal.SIGINT)
            try:
                pp.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pp.kill()
            try:
                with open(out) as f:
                    for line in f:
                        parts = line.strip().split(",")
                        if len(parts) > 2 and parts[2] == "raw_syscalls:sys_enter" and parts[0].isdigit():
                            count = int(parts[0])
                os.remove(out)
            except OSError:
                pass
        if count is not None and count > 0:
            return count / max(1, d["requests"]), ("perf stat -e raw_syscalls:sys_enter attached to the server's "
                                                   "processes over one wrk run: every system call its threads "
                                                   "enter, over wrk's requests")
        return (io1 - io0) / max(1, d["requests"]), ("/proc/PID/io syscr+syscw over one wrk run (perf could not "
                                                      "count): read- and write-family calls only, not recv/send*, "
                                                      "epoll_wait or io_uring_enter, over wrk's requests")
    finally:
        stop(r)


TIMELINE_SECONDS = 2   # the timeline pass's wrk run: its start is what it looks at


def handshake_timeline(srv: Server, load: Load, cpus, cert, key, script, sargs) -> tuple[dict, str] | None:
    """The start of one wrk run over HTTPS, packet by packet (tls_timeline.py):
    the figures and the capture's summary; None when no connection reached
    its first response."""
    r = start(srv, cpus[0], cert, key, True)
    pcap = os.path.join(tempfile.gettempdir(), f"duet-http-tls-{os.getpid()}.pcap")
    try:
        r.require_tls()
        cap = tls_timeline.start_capture(r.tls_port, pcap)
        try:
            time.sleep(0.5)   # tcpdump is listening before wrk's first connect
            run_wrk(cpus[1], r, load, TIMELINE_SECONDS, script, sargs)
        finally:
            summary = tls_timeline.stop_capture(cap)
        got = tls_timeline.timeline(tls_timeline.segments(pcap, r.tls_port))
        return (got, summary) if got else None
    finally:
        stop(r)
        try:
            os.unlink(pcap)
        except OSError:
            pass


def timeline_records(impl: str, load: Load, t: dict) -> list[dict]:
    """The records of one handshake timeline (tls_timeline.timeline's figures)."""
    meth = (f"tls_timeline.py: tcpdump (headers, pinned with wrk) of the server's TLS port over one "
            f"{TIMELINE_SECONDS}-s wrk run at {load.conns} connections; per connection the client's ClientHello, "
            "Finished and first request, the server's flight and first response; milliseconds from the first "
            "ClientHello")
    return [{"experiment": EXPERIMENT, "impl": impl, "metric": f"tls_timeline.{k}.{load.name}", "n": load.conns,
             "value": v, "unit": "count" if k in ("connections", "early_requests") else "ms", "method": meth}
            for k, v in t.items()]


SKIPPED = object()   # attempt(): the server has no HTTPS, or the measurement failed


def attempt(kind: str, load: Load, name: str, failed: list[str], measure):
    """One server's measurement in a pass after the main one: its result,
    or SKIPPED when the server has no HTTPS or the measurement failed
    (logged, and named in `failed`, so that the run is marked partial)."""
    try:
        return measure()
    except NoTLS:
        return SKIPPED
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        log(f"{kind} {load} {name}: {e}")
        failed.append(f"{kind} {load} {name}: {str(e).splitlines()[0][:120]}")
        return SKIPPED


# ---- records ---------------------------------------------------------------------------

def rep_records(rep: dict[str, dict], load: Load, method: str, raced: bool = False) -> list[dict]:
    """One rep of one load (every server once): raw figures and the ratios
    within the rep; `raced`: the requests/s and CPU ratios are the race
    pass's (race_pass), and only the latency ratios are this rep's."""
    out = []

    def rec(impl, metric, value, unit, meth=method):
        out.append({"experiment": EXPERIMENT, "impl": impl, "metric": f"{metric}.{load.name}", "n": load.conns,
                    "value": value, "unit": unit, "method": meth})

    lat_method = method
    if load.kind == "pipeline":
        lat_method += ("; pipelined: wrk times a batch of requests, and its coordinated-omission correction, "
                       "spaced by requests rather than batches, adds samples to the histogram; where that "
                       "leaves a percentile unreadable (wrk gives 0) it is not reported")
    for name, d in rep.items():
        rec(name, "rps", d["rps"], "requests/s")
        for k in ("p50_us", "p99_us", "p999_us"):
            if d[k] > 0:
                rec(name, k, d[k], "us", lat_method)
        if d["requests"]:
            rec(name, "cpu_us_per_req", d["cpu_s"] * 1e6 / d["requests"], "us/request",
                "utime+stime of the server's processes (/proc/PID/stat) over wrk's run, over wrk's requests")
        errs = d["err_connect"] + d["err_read"] + d["err_write"] + d["err_timeout"] + d["non2xx"]
        rec(name, "errors", errs, "count", "wrk: socket errors (connect, read, write, timeout) + non-2xx responses")
        if "upstream_cpu_s" in d and d.get("duration_us"):
            rec(name, "upstream_cpu", d["upstream_cpu_s"] / (d["duration_us"] / 1e6), "CPUs",
                "utime+stime of the upstream's processes over wrk's run, over its length: near 1, the upstream "
                "(one worker or thread) may bound the figure rather than the server")
    for ref in ("nginx", "hyper"):
        b = rep.get(ref)
        if not b:
            continue
        for name, d in rep.items():
            if name == ref:
                continue
            if b["rps"] > 0 and not raced:
                rec(name, f"rps_vs_{ref}", d["rps"] / b["rps"], "x", "ratio of requests/s in the same rep")
            if b["p99_us"] > 0 and d["p99_us"] > 0:
                rec(name, f"p99_vs_{ref}", d["p99_us"] / b["p99_us"], "x", "ratio of p99 latency in the same rep")
            if b["p999_us"] > 0 and d["p999_us"] > 0:
                rec(name, f"p999_vs_{ref}", d["p999_us"] / b["p999_us"], "x",
                    "ratio of p99.9 latency in the same rep")
            if ref == "nginx" and b["cpu_s"] > 0 and b["requests"] and d["requests"] and not raced:
                rec(name, "cpu_vs_nginx", (d["cpu_s"] / d["requests"]) / (b["cpu_s"] / b["requests"]), "x",
                    "ratio of server CPU per request in the same rep")
    # Between the engines on one driver (records of impl duet-<driver>): what
    # users' coroutine code gets against the tuned ceiling, and what their
    # fiber code gets against their coroutine code.
    for drv in DRIVERS if not raced else ():
        co, fb, po = (rep.get(duet_name(e, drv)) for e in ("coroutine", "fiber", "poll"))
        if co and po and po["rps"] > 0:
            rec(f"duet-{drv}", "coroutine_vs_poll", co["rps"] / po["rps"], "x",
                "ratio of requests/s, the coroutine engine over the poll engine, in the same rep")
        if fb and co and co["rps"] > 0:
            rec(f"duet-{drv}", "fiber_vs_coroutine", fb["rps"] / co["rps"], "x",
                "ratio of requests/s, the fiber engine over the coroutine engine, in the same rep")
    return out


def profile_records(impl: str, load: Load, prof: dict) -> list[dict]:
    """A profile as records: profile_share.<class>.<load> per class of code
    and profile_sym.<load> TAB dso TAB symbol per top symbol, in % of the
    samples; profile_samples.<load> their number; profile_cpu_us_per_req.<load>
    the server's CPU per request over the profiled run."""
    out = []

    def rec(metric, value, unit):
        out.append({"experiment": EXPERIMENT, "impl": impl, "metric": metric, "n": load.conns, "value": value,
                    "unit": unit, "method": PROFILE_METHOD})

    rec(f"profile_samples.{load.name}", prof["samples"], "samples")
    if prof.get("cpu_us_per_req"):
        rec(f"profile_cpu_us_per_req.{load.name}", prof["cpu_us_per_req"], "us/request")
    for c, v in prof["shares"].items():
        rec(f"profile_share.{c}.{load.name}", round(v, 2), "%")
    for t in prof["top"]:
        rec(f"profile_sym.{load.name}\t{t['dso']}\t{t['sym']}", t["pct"], "%")
    return out


def breakdown_records(impl: str, n: int, b: dict, prefix: str = "idle_bytes.") -> list[dict]:
    """A memory breakdown (memory_breakdown) as records, B per connection:
    <prefix><part> for blocks, heap and rest, <prefix>block<size> per block
    class that grew (prefix idle_bytes., or long_idle_bytes. for the idle
    test's second reading)."""
    if not b:
        return []
    out = []
    parts = [(k, b[k]) for k in ("blocks", "heap", "rest")] + [(f"block{c}", v) for c, v in b["block_classes"].items()]
    for k, v in parts:
        out.append({"experiment": EXPERIMENT, "impl": impl, "metric": f"{prefix}{k}", "n": n,
                    "value": round(v, 1), "unit": "B", "method": BREAKDOWN_METHOD})
    return out


# ---- the run -----------------------------------------------------------------------------

def write(records: list[dict]):
    """Records on stdout, one JSON object a line (the lab's format)."""
    for x in records:
        print(json.dumps(x), flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    """The options; each one not given is the profile's preset."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("DUET_LAB_BUILD", os.path.join(ROOT, "build-experiments")),
                    type=os.path.abspath)
    ap.add_argument("--profile", default=os.environ.get("DUET_LAB_PROFILE", "") or "quick",
                    choices=sorted(PROFILES), help="presets for the options below (the lab sets it)")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--loads", help='e.g. "plaintext:64,256;pipeline:256;json:256;https:256"')
    ap.add_argument("--count-loads", help="the loads of the syscall-counting pass (same form)")
    ap.add_argument("--idle-n", type=int, help="idle keep-alive connections for the memory test (0: skip)")
    ap.add_argument("--profile-loads", help="the loads of the profile pass (same form; empty: none)")
    ap.add_argument("--profile-seconds", type=int, help="wrk's window in the profile pass (an HTTPS load's at "
                    "least the HTTPS minimum)")
    ap.add_argument("--timeline-loads", help="the HTTPS loads of the handshake timeline pass (same form; "
                    "empty: none)")
    ap.add_argument("--upstream-loads", help='the proxy and fan-out loads, e.g. "proxy:256;fanout:256" (empty: '
                    "none)")
    ap.add_argument("--upstream-seconds", type=int, help="wrk's window in the proxy and fan-out loads")
    ap.add_argument("--upstream-warmup", type=int, help="the warm-up before it")
    ap.add_argument("--upstream-drivers", choices=("one", "all"),
                    help="duet's drivers in those loads: one (io_uring where the kernel allows it, else epoll) "
                    "or all")
    ap.add_argument("--routing-loads", help='the routing-cost pair\'s routed loads, e.g. "routed:256" (each '
                    "beside its bare twin; empty: none)")
    ap.add_argument("--routing-seconds", type=int, help="the routing-cost pair's race window (both servers "
                    "loaded at once on one core)")
    ap.add_argument("--routing-races", type=int, help="the routing-cost pair's races a rep")
    ap.add_argument("--routing-reps", type=int, help="the routing-cost pair's reps a run (each a fresh pair of "
                    "processes: what varies most from rep to rep is the processes' own)")
    ap.add_argument("--routing-warmup", type=int, help="the warm-up before it")
    ap.add_argument("--routing-drivers", choices=("one", "all"),
                    help="duet's drivers in the routing-cost pair: one (io_uring where the kernel allows it, else "
                    "epoll) or all")
    ap.add_argument("--race-reps", type=int, help="the race pass's reps a run (0: none; the load pass's ratios "
                    "then solo): each server raced against a fresh nginx on one core, per load")
    ap.add_argument("--race-seconds", type=int, help="the race pass's race window")
    ap.add_argument("--race-warmup", type=int, help="the warm-up race before it")
    ap.add_argument("--depth", type=int, default=16, help="requests per write with pipelining")
    ap.add_argument("--depth-n", type=int, help="requests parked at once on the slow upstream in the depth test "
                    "(0: skip it; fewer where RLIMIT_NOFILE does not allow two descriptors each)")
    ap.add_argument("--depth-test", choices=("auto", "yes", "no"), default="auto",
                    help="the depth test: auto (the profile's rule: in quick, the lab's first run only), yes or no")
    ap.add_argument("--idle-test", choices=("auto", "yes", "no"), default="auto",
                    help="the idle tests (plain and TLS): auto (the profile's rule: in quick, the lab's first run "
                    "only), yes or no")
    ap.add_argument("--idle-tls-max", type=int, help="at most this many idle TLS connections")
    ap.add_argument("--once-loads", help='load kinds measured in the lab\'s first run only, e.g. "json" '
                    '(empty: none)')
    ap.add_argument("--tls-diagnostics-drivers", choices=("one", "all"),
                    help="duet's drivers in the HTTPS profiles and handshake timelines: one (io_uring where the "
                    "kernel allows it, else epoll) or all")
    ap.add_argument("--idle-drivers", choices=("one", "all"),
                    help="duet's drivers in the idle tests: one (io_uring where the kernel allows it, else epoll) "
                    "or all")
    ap.add_argument("--sources", type=int, default=16, help="source addresses 127.0.0.2... for the idle test")
    ap.add_argument("--peers", help="comma-separated peers (nginx,go,hyper)")
    ap.add_argument("--servers", default="", help="comma-separated substrings: keep only servers matching one")
    ap.add_argument("--baseline", default="",
                    help="a second build tree of duet (an earlier commit, say): its six configurations run "
                         "beside this build's in the same reps, named with '@base' appended, so that a change "
                         "is measured before and after in one run")
    ap.add_argument("--jsonl", action="store_true", help="records on stdout (the lab's format); else a summary too")
    ap.add_argument("--diagnostics", choices=("auto", "yes", "no"), default="auto",
                    help="the syscall, profile and timeline passes: auto (the profile's rule: in quick, the lab's "
                    "first run only), yes or no")
    a = ap.parse_args(argv)
    preset = PROFILES[a.profile]
    a.https_min = preset["https_min"]
    a.diagnostics = (diagnostics_this_run(preset["diagnostics_runs"]) if a.diagnostics == "auto"
                     else a.diagnostics == "yes")
    a.depth_test = (diagnostics_this_run(preset["depth_runs"]) if a.depth_test == "auto"
                    else a.depth_test == "yes")
    a.idle_test = (diagnostics_this_run(preset["idle_runs"]) if a.idle_test == "auto"
                   else a.idle_test == "yes")
    for k in ("reps", "seconds", "warmup", "loads", "count_loads", "idle_n", "peers", "profile_loads", "profile_seconds",
              "timeline_loads", "upstream_loads", "upstream_seconds", "upstream_warmup", "upstream_drivers",
              "depth_n", "idle_drivers", "idle_tls_max", "once_loads", "tls_diagnostics_drivers", "routing_loads",
              "routing_reps", "routing_seconds", "routing_races", "routing_warmup", "routing_drivers", "race_reps",
              "race_seconds", "race_warmup"):
        if getattr(a, k) is None:
            setattr(a, k, preset[k])
    return a


def select_servers(a: argparse.Namespace) -> tuple[dict[str, Server], dict[str, Server]]:
    """duet's six configurations and the peers asked for (built here),
    narrowed by --servers; each one that cannot run is an `unavailable`
    record with its reason. Also every peer built, --servers or not (the
    candidates for the proxy's upstream)."""
    peers, missing = build_peers(os.path.join(a.build, "http-peers"), a.peers.split(","))
    duet, why = duet_servers(a.build)
    if why:
        for engine, drv in DUET_CONFIGS:
            missing[duet_name(engine, drv)] = why
    servers = dict(duet, **peers)
    if a.baseline:
        base, why_base = duet_servers(a.baseline)
        if why_base:
            log(f"--baseline: not measured ({why_base})")
        for name, srv in base.items():
            servers[name + "@base"] = Server(name + "@base", srv.argv, srv.env, srv.ready, srv.tls, srv.note)
    keep = [x for x in a.servers.split(",") if x]
    if keep:
        servers = {k: v for k, v in servers.items() if any(x in k for x in keep)}
        missing = {k: v for k, v in missing.items() if any(x in k for x in keep)}
    for name, reason in missing.items():
        log(f"{name}: not measured ({reason})")
        emit({"impl": name, "metric": "unavailable", "value": 1, "unit": "", "method": reason})
    return servers, peers


class Bench:
    """What the passes share: the options, the CPUs (the servers', wrk's),
    the certificate, the servers by name; what the passes learn on the
    way: the servers with no HTTPS, the measurements that failed."""

    def __init__(self, a: argparse.Namespace, cpus: tuple[int, int], servers: dict[str, Server], tmp: str,
                 peers: dict[str, Server] | None = None):
        self.a, self.cpus, self.servers, self.tmp = a, cpus, servers, tmp
        self.peers = peers or {}   # every peer built: the upstream's candidates
        self.names = list(servers)
        self.cert, self.key = make_cert(tmp)
        self.rng = random.Random()
        self.no_tls: set[str] = set()
        self.failed: list[str] = []

    def raced(self, load: Load | None = None) -> bool:
        """Whether the race pass gives this run's requests/s ratios (at
        `load`: not a load measured in the lab's first run only, whose one
        rep decides nothing either way; the race pass leaves those to the
        solo windows)."""
        once = {k for k in self.a.once_loads.split(",") if k}
        return (self.a.race_reps > 0 and RACE_REF in self.servers
                and (load is None or load.kind not in once))

    def method(self, load: Load) -> str:
        return (f"wrk -t1 --latency, {window(load, self.a.seconds)} s after a {self.a.warmup} s warm-up, on "
                f"loopback; server pinned to CPU {self.cpus[0]} (one worker process or thread), wrk to CPU "
                f"{self.cpus[1]}; servers fresh per run, rotated rep by rep")


def one_rep(b: Bench, load: Load, rep: int, script: str, sargs: list[str], names: list[str] | None = None,
            upstream: Upstream | None = None, watch: list[int] | None = None, seconds: int | None = None,
            warmup: int | None = None) -> dict[str, dict]:
    """Every server (or those of `names`) once under `load`, in an order
    rotated from a random start: name -> wrk's figures. A server without
    HTTPS is said once (an `unavailable.https` record) and left out of the
    HTTPS loads after. `upstream`, `watch`, `seconds`, `warmup`: as
    measure's (the proxy and fan-out loads)."""
    names = b.names if names is None else names
    k = b.rng.randrange(len(names)) if names else 0
    order = names[k:] + names[:k]
    this_rep: dict[str, dict] = {}
    for name in order:
        if load.tls and name in b.no_tls:
            continue
        try:
            d = measure(b.servers[name], load, b.cpus, b.cert, b.key, b.a.seconds if seconds is None else seconds,
                        b.a.warmup if warmup is None else warmup, script, sargs, upstream, watch)
        except NoTLS as e:
            log(f"{load} rep {rep} {name}: no HTTPS: {e}")
            b.no_tls.add(name)
            emit({"impl": name, "metric": "unavailable.https", "value": 1, "unit": "", "method": str(e)[:300]})
            continue
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            log(f"{load} rep {rep} {name}: {e}")
            b.failed.append(f"{load} rep {rep} {name}: {str(e).splitlines()[0][:120]}")
            continue
        if name.startswith("duet-") and d["exit"] not in (0, None):
            log(f"{name}: exit status {d['exit']} after SIGTERM")
        this_rep[name] = d
        log(f"{load} rep {rep} {name}: {d['rps']:.0f} req/s p99 {d['p99_us']:.0f} us "
            f"cpu {d['cpu_s'] * 1e6 / max(1, d['requests']):.1f} us/req")
    return this_rep


def load_pass(b: Bench, loads: list[Load]):
    """The main pass: every load, rep by rep, a record set per rep (its
    requests/s ratios the race pass's where that pass runs)."""
    for load in loads:
        script, sargs = wrk_script(b.tmp, load)
        for rep in range(b.a.reps):
            write(rep_records(one_rep(b, load, rep, script, sargs), load, b.method(load), raced=b.raced(load)))


# ---- the proxy and fan-out loads ---------------------------------------------------------

# The upstream: the first of these the machine runs (a /json server in its own
# process, never the server under test), else slow_upstream.py.
UPSTREAM_ORDER = ("nginx", "hyper", "go")
UPSTREAM_WHY = {
    "nginx": "nginx (one worker) answering /json from its config, the cheapest /json server here",
    "hyper": "the hyper peer (a current-thread runtime) answering /json (nginx not installed)",
    "go": "the Go peer (GOMAXPROCS=1) answering /json (nginx and hyper not available)",
    "slow_upstream.py": "slow_upstream.py (Python asyncio) answering /json: no peer server available, and this "
                        "upstream is slower than every server measured, so it bounds the figures",
}
# Servers without a fan-out: the reason, in an unavailable.fanout record.
NO_FANOUT = {"nginx": "nginx has no fan-out without a scripting module (njs, Lua): no concurrent subrequests "
                      "merged into one response (nginx.conf.in)"}


def pick_upstream(peers: dict[str, Server]) -> Server:
    """The upstream's server: the first of UPSTREAM_ORDER built here, else
    slow_upstream.py."""
    for name in UPSTREAM_ORDER:
        if name in peers:
            return peers[name]
    return Server("slow_upstream.py", [sys.executable, os.path.join(HERE, "slow_upstream.py"), "--port", "0"],
                  tls=False)


def upstream_cpu(cpus: tuple[int, int], allowed=None) -> int:
    """The upstream's CPU: the first this process may use that is neither
    the server's nor wrk's, else wrk's (the server under test keeps its CPU
    to itself)."""
    others = [c for c in sorted(allowed if allowed is not None else os.sched_getaffinity(0)) if c not in cpus]
    return others[0] if others else cpus[1]


def upstream_drivers(mode: str, uring=None) -> list[str]:
    """duet's drivers in the proxy and fan-out loads: both ("all"), or one:
    io_uring where the kernel allows it, else epoll."""
    if mode == "all":
        return list(DRIVERS)
    return ["io_uring"] if (io_uring_available() if uring is None else uring) else ["epoll"]


def driver_of(name: str) -> str:
    """The driver of one of duet's servers (a --baseline's too: "@base" on
    the end)."""
    return name.split("@", 1)[0].rsplit("-", 1)[1]


def upstream_names(names: list[str], drivers: list[str], load: Load) -> list[str]:
    """The servers of one proxy or fan-out load: duet's on `drivers`, every
    peer, less those without a fan-out at the fan-out load."""
    return [n for n in names if (not n.startswith("duet-") or driver_of(n) in drivers)
            and not (load.kind == "fanout" and n in NO_FANOUT)]


def upstream_method(b: Bench, load: Load, up: Server, cpu: int) -> str:
    return (f"wrk -t1 --latency, {b.a.upstream_seconds} s after a {b.a.upstream_warmup} s warm-up, on loopback; "
            f"server pinned to CPU {b.cpus[0]} (one worker process or thread), wrk to CPU {b.cpus[1]}; servers "
            f"fresh per run, rotated rep by rep; GET {load.path} through one upstream shared by every server of a "
            f"rep and started fresh for it: {UPSTREAM_WHY.get(up.name, up.name)}, its own process (never the "
            f"server under test), pinned to CPU {cpu}"
            + (" (wrk's: this machine has no third CPU)" if cpu == b.cpus[1] else ""))


def upstream_pass(b: Bench, loads: list[Load]):
    """The proxy and fan-out loads: per rep one upstream, started fresh and
    shared by every server of the rep, under every load; a record set per
    rep and load."""
    if not loads:
        return
    up, cpu = pick_upstream(b.peers), upstream_cpu(b.cpus)
    drivers = upstream_drivers(b.a.upstream_drivers)
    log(f"upstream: {up.name} on CPU {cpu}; duet's drivers: {', '.join(drivers)}")
    if any(x.kind == "fanout" for x in loads):
        for name, why in NO_FANOUT.items():
            if name in b.names:
                emit({"impl": name, "metric": "unavailable.fanout", "value": 1, "unit": "", "method": why})
    for rep in range(b.a.reps):
        r = start_upstream(b, up, cpu, f"upstream rep {rep}")
        if r is None:
            continue
        try:
            target = Upstream(f"127.0.0.1:{r.port}")
            for load in loads:
                script, sargs = wrk_script(b.tmp, load)
                got = one_rep(b, load, rep, script, sargs, upstream_names(b.names, drivers, load), target, r.pids,
                              b.a.upstream_seconds, b.a.upstream_warmup)
                write(rep_records(got, load, upstream_method(b, load, up, cpu),
                                  raced=upstream_race_ref(b, load, drivers) is not None))
                if r.proc.poll() is not None:
                    raise RuntimeError(f"the upstream exited ({r.proc.returncode}): {''.join(r.tail)[-300:]}")
        except RuntimeError as e:
            upstream_failed(b, up, f"upstream rep {rep}", e)
        finally:
            stop(r)
    upstream_race(b, loads, up, cpu, drivers)


def upstream_race_ref(b: Bench, load: Load, drivers: list[str]) -> str | None:
    """The reference of a proxy or fan-out load's race: RACE_REF where it
    serves the load, else the coroutine engine on the first of `drivers`
    that runs here; None when the run races nothing (the solo windows'
    ratios stand)."""
    if not b.raced(load):
        return None
    names = upstream_names(b.names, drivers, load)
    if RACE_REF in names:
        return RACE_REF
    return next((n for n in (duet_name("coroutine", d) for d in drivers) if n in names), None)


def upstream_race_method(b: Bench, load: Load, up: Server, cpu: int, ref: str) -> str:
    return (race_method(b, ref)
            + f"; GET {load.path} through one upstream shared by every pair of a rep and started fresh for it: "
            f"{UPSTREAM_WHY.get(up.name, up.name)}, pinned to CPU {cpu}"
            + (" (wrk's: this machine has no third CPU)" if cpu == b.cpus[1] else ""))


def upstream_race(b: Bench, loads: list[Load], up: Server, cpu: int, drivers: list[str]):
    """The proxy's and fan-out's requests/s ratios, raced on one core as
    the race pass's (race_rep), both sides of a pair to one upstream: each
    server against RACE_REF at the proxy; at the fan-out, which RACE_REF
    does not serve, duet's other engines against its coroutine engine
    (the ratios graded there are between the engines). The solo windows
    (upstream_pass) keep the latency ratios."""
    for load in loads:
        ref = upstream_race_ref(b, load, drivers)
        if ref is None:
            continue
        names = [n for n in upstream_names(b.names, drivers, load)
                 if n != ref and (ref == RACE_REF or n.startswith("duet-"))]
        script, sargs = wrk_script(b.tmp, load)
        method = upstream_race_method(b, load, up, cpu, ref)
        for rep in range(b.a.race_reps):
            r = start_upstream(b, up, cpu, f"upstream race rep {rep}")
            if r is None:
                continue
            try:
                vs_ref, busy = race_rep(b, load, rep, ref, names, script, sargs,
                                        Upstream(f"127.0.0.1:{r.port}"))
                if ref != RACE_REF:
                    vs_ref[ref] = 1.0
            finally:
                stop(r)
            write(race_records(vs_ref, busy, load, method, ref))


# ---- the routing-cost pair -----------------------------------------------------------

# What makes duet's server serve the routed load (examples/http_server,
# docs/http_server.md): the route with two path parameters, every route in
# one layer.
ROUTED_FLAGS = ["--route-params", "--middleware"]
# The target (report.py): routed at least this fraction of bare.
ROUTING_FLOOR = 0.95


def routed_server(srv: Server) -> Server:
    """`srv` (one of duet's) started with ROUTED_FLAGS."""
    def argv(tp, c, k, up=None, base=srv.argv):
        return (base(tp, c, k, up) if up else base(tp, c, k)) + ROUTED_FLAGS
    return Server(srv.name, argv, srv.env, srv.ready, srv.tls, srv.note)


def routing_names(b: Bench) -> list[str]:
    """The servers of the pair: duet's engines on the routing drivers (a
    --baseline's too); no peer has the example's routes."""
    drivers = upstream_drivers(b.a.routing_drivers)
    return [n for n in b.names if n.startswith("duet-") and driver_of(n) in drivers]


def routing_method(b: Bench, bare: Load, routed: Load) -> str:
    return (f"a race on one core: both servers of the pair started at once (fresh processes, one worker each, both "
            f"pinned to CPU {b.cpus[0]}), loaded at once by two wrk -t1 --latency on CPU {b.cpus[1]}, a "
            f"{b.a.routing_warmup} s warm-up then {b.a.routing_races} race(s) of {b.a.routing_seconds} s; per side "
            f"the races' requests over their summed length, CPU summed, latency the median of the races' (a "
            f"side's rate is about half a lone server's: the two share the core); {b.a.routing_reps} pair(s) a "
            f"run: GET {bare.path} (started without flags) and GET {routed.path} (two path parameters behind one "
            f"middleware layer: started with {' '.join(ROUTED_FLAGS)}), the same answer")


def combine_windows(ws: list[dict]) -> dict:
    """One side's windows as one run: counts and CPU summed (requests/s the
    requests over the summed length), each latency percentile the median of
    the windows'."""
    d = dict(ws[-1])
    for k in ("requests", "duration_us", "bytes", "cpu_s", "cpu_ns", "err_connect", "err_read", "err_write", "err_status",
              "err_timeout", "non2xx"):
        d[k] = sum(w.get(k, 0) for w in ws)
    for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us"):
        if k in d:
            d[k] = statistics.median(w[k] for w in ws)
    d["rps"] = d["requests"] / (d["duration_us"] / 1e6) if d["duration_us"] else 0.0
    return d


def race(cpu: int, sides: list, seconds: int, script: str, sargs: list[str]) -> list[dict]:
    """One window of the race: a wrk run per side (load, running server),
    all at once on `cpu`; each side's figures, its server's CPU over the
    window in cpu_s (clock ticks) and cpu_ns (the scheduler's count)."""
    out: list[dict | Exception | None] = [None] * len(sides)
    t0 = [cpu_ticks(r.pids) for _, r in sides]
    n0 = [cpu_ns(r.pids) for _, r in sides]

    def one(k: int):
        load, r = sides[k]
        try:
            out[k] = run_wrk(cpu, r, load, seconds, script, sargs)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            out[k] = e

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(sides))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, (_, r) in enumerate(sides):
        if isinstance(out[k], Exception):
            raise out[k]
        out[k]["cpu_s"] = (cpu_ticks(r.pids) - t0[k]) / os.sysconf("SC_CLK_TCK")
        out[k]["cpu_ns"] = cpu_ns(r.pids) - n0[k]
    return out


def measure_pair(pair: list[tuple[Load, Server]], cpus, cert, key, seconds: int, races: int, warmup, script,
                 sargs, upstream: Upstream | None = None) -> list[dict]:
    """Both sides of a pair (load, server) started at once, fresh, on
    cpus[0], warmed up together (a race not measured), then raced (race)
    `races` times: per side, in the pair's order, the combined figures
    (combine_windows) and its server's exit status. `upstream`: where both
    sides' /proxy/ and /fanout go (one upstream shared by the pair)."""
    running = []
    try:
        for load, srv in pair:
            running.append(start(srv, cpus[0], cert, key, load.tls, upstream=upstream))
        for (load, _), r in zip(pair, running):
            r.require_tls(load.tls)
        sides = [(load, r) for (load, _), r in zip(pair, running)]
        if warmup:
            try:
                race(cpus[1], sides, warmup, script, sargs)   # not measured: as warm_up
            except RuntimeError:
                pass
        got: list[list[dict]] = [[] for _ in pair]
        for _ in range(races):
            for k, d in enumerate(race(cpus[1], sides, seconds, script, sargs)):
                got[k].append(d)
            for (_, srv), r in zip(pair, running):
                if r.proc.poll() is not None:
                    raise RuntimeError(f"{srv.name} exited ({r.proc.returncode}) during the run: "
                                       f"{''.join(r.tail)[-300:]}")
    finally:
        rcs = [stop(r) for r in running]
    out = []
    for k in range(len(pair)):
        out.append(combine_windows(got[k]))
        out[k]["exit"] = rcs[k]
    return out


def routing_ratios(bare: dict[str, dict], routed: dict[str, dict], load: Load) -> list[dict]:
    """The pair's ratio per server: routed requests/s over bare, within the
    pair (`load`: the routed load; the record's load is plaintext, the
    route both answer)."""
    out = []
    for name, d in routed.items():
        base = bare.get(name)
        if base and base["rps"] > 0:
            out.append({"experiment": EXPERIMENT, "impl": name, "metric": "routed_vs_bare.plaintext",
                        "n": load.conns, "value": d["rps"] / base["rps"], "unit": "x",
                        "method": "ratio of requests/s, the routed route (two path parameters, one middleware "
                                  "layer) over the bare one, measured back to back in the same rep"})
    return out


def routing_pass(b: Bench, loads: list[Load]):
    """The routing-cost pair: per routed load, rep by rep, each of duet's
    servers (rotated from a random start) measured bare and routed in a
    race on one core (measure_pair); records per side (loads `bare` and `routed`, without the engines'
    ratios, which are the main pass's) and the ratio within each pair."""
    names = routing_names(b)
    for routed in loads:
        bare = Load("bare", routed.conns, routed.depth)
        method = routing_method(b, bare, routed)
        script, sargs = wrk_script(b.tmp, routed)
        for rep in range(b.a.routing_reps):
            k = b.rng.randrange(len(names)) if names else 0
            got: dict[str, dict[str, dict]] = {"bare": {}, "routed": {}}
            for name in names[k:] + names[:k]:
                pair = [(bare, b.servers[name]), (routed, routed_server(b.servers[name]))]
                if b.rng.random() < 0.5:
                    pair.reverse()
                try:
                    for (load, _), d in zip(pair, measure_pair(pair, b.cpus, b.cert, b.key, b.a.routing_seconds,
                                                               b.a.routing_races, b.a.routing_warmup, script, sargs)):
                        got[load.kind][name] = d
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    log(f"{routed} rep {rep} {name}: {e}")
                    b.failed.append(f"{routed} rep {rep} {name}: {str(e).splitlines()[0][:120]}")
                    for side in got.values():
                        side.pop(name, None)
                    continue
                log(f"{routed} rep {rep} {name}: bare {got['bare'][name]['rps']:.0f} req/s, routed "
                    f"{got['routed'][name]['rps']:.0f} req/s")
            for load in (bare, routed):
                write([r for r in rep_records(got[load.kind], load, method)
                       if not r["metric"].startswith(("coroutine_vs_poll.", "fiber_vs_coroutine."))])
            write(routing_ratios(got["bare"], got["routed"], routed))


# ---- the race pass: requests/s ratios, each server raced against one reference ------------

# The reference every server is raced against (RACE_REF), and why one
# reference: a ratio between two other servers is the quotient of theirs,
# so that every ratio the report grades comes from the same races.
RACE_REF = "nginx"


def race_method(b: Bench, ref: str = RACE_REF) -> str:
    return (f"a race on one core: each server started fresh beside a fresh {ref} (one worker process or "
            f"thread each), both pinned to CPU {b.cpus[0]}, loaded at once by two wrk -t1 on CPU {b.cpus[1]}, a "
            f"{b.a.race_warmup} s warm-up then a race of {b.a.race_seconds} s; requests per second of the "
            f"server's CPU time (its threads' schedstat) over {ref}'s in the same race; ratios between two "
            f"other servers the quotient of theirs over {ref}, raced in the same rep; {b.a.race_reps} "
            f"rep(s) a run")


def per_cpu(d: dict) -> float:
    """Requests per second of the server's own CPU time in a race: the
    requests/s it would serve on a core of its own."""
    return d["requests"] / (d["cpu_ns"] / 1e9) if d.get("cpu_ns", 0) > 0 else 0.0


def race_records(vs_ref: dict[str, float], busy: dict[str, float], load: Load, method: str,
                 ref: str = RACE_REF) -> list[dict]:
    """One rep of the race pass (server -> its per-CPU rate over the
    reference's; server -> the core's busy share in its race): the
    records the load pass gives solo elsewhere, each a quotient of the
    same races. `ref`: the reference raced against, RACE_REF or one of
    duet's engines (a load RACE_REF does not serve: upstream_race_ref),
    which then has its own 1 in `vs_ref` and no ratio to itself."""
    out = []

    def rec(impl, metric, value, unit="x", meth=method):
        out.append({"experiment": EXPERIMENT, "impl": impl, "metric": f"{metric}.{load.name}", "n": load.conns,
                    "value": value, "unit": unit, "method": meth})

    for name, r in vs_ref.items():
        if name == ref:
            continue
        if ref == RACE_REF:
            rec(name, f"rps_vs_{RACE_REF}", r)
            rec(name, f"cpu_vs_{RACE_REF}", 1 / r, meth=method + "; CPU per request, the inverse")
        rec(name, "race_core_busy", busy[name], "CPUs",
            "both servers' CPU time over the race's length: under 1, wrk rather than the core bounded the race")
        if "hyper" in vs_ref and name != "hyper":
            rec(name, "rps_vs_hyper", r / vs_ref["hyper"])
    for drv in DRIVERS:
        co, fb, po = (vs_ref.get(duet_name(e, drv)) for e in ("coroutine", "fiber", "poll"))
        if co and po:
            rec(f"duet-{drv}", "coroutine_vs_poll", co / po,
                meth=method + "; the coroutine engine over the poll engine")
        if fb and co:
            rec(f"duet-{drv}", "fiber_vs_coroutine", fb / co,
                meth=method + "; the fiber engine over the coroutine engine")
    return out


def race_pass(b: Bench, loads: list[Load]):
    """Every server (but the reference) raced against RACE_REF (a fresh
    pair each, measure_pair), per load, rep by rep in an order rotated
    from a random start: the run's requests/s and CPU ratios. Two servers
    loaded at once on one core share its speed as it changes, which two
    windows one after the other do not (docs/performance-log.md, "The
    load pass's ratios raced on one core")."""
    if not b.raced():
        if b.a.race_reps > 0:
            log(f"race pass: {RACE_REF} not measured here; the load pass's ratios are solo")
        return
    names = [n for n in b.names if n != RACE_REF]
    method = race_method(b)
    for load in [x for x in loads if b.raced(x)]:
        script, sargs = wrk_script(b.tmp, load)
        for rep in range(b.a.race_reps):
            vs_ref, busy = race_rep(b, load, rep, RACE_REF, names, script, sargs)
            write(race_records(vs_ref, busy, load, method))


def race_rep(b: Bench, load: Load, rep: int, ref_name: str, names: list[str], script: str, sargs: list[str],
             upstream: Upstream | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """One rep of races: each of `names`, in an order rotated from a random
    start, raced against `ref_name` (a fresh pair each, measure_pair):
    server -> its per-CPU rate over the reference's, and server -> the
    core's busy share in its race."""
    ref = b.servers[ref_name]
    k = b.rng.randrange(len(names)) if names else 0
    vs_ref: dict[str, float] = {}
    busy: dict[str, float] = {}
    for name in names[k:] + names[:k]:
        if load.tls and (name in b.no_tls or ref_name in b.no_tls):
            continue
        pair = [(load, b.servers[name]), (load, ref)]
        got = attempt(f"race rep {rep}", load, name, b.failed, lambda: measure_pair(
            pair, b.cpus, b.cert, b.key, b.a.race_seconds, 1, b.a.race_warmup, script, sargs, upstream))
        if got is SKIPPED:
            continue
        x, r = got
        if per_cpu(x) <= 0 or per_cpu(r) <= 0:
            b.failed.append(f"race {load} rep {rep} {name}: no CPU time read")
            continue
        vs_ref[name] = per_cpu(x) / per_cpu(r)
        busy[name] = (x["cpu_ns"] + r["cpu_ns"]) / 1e3 / max(x["duration_us"], r["duration_us"])
        log(f"race {load} rep {rep} {name}: {vs_ref[name]:.3f}x {ref_name} per CPU-second "
            f"({x['rps']:.0f} and {r['rps']:.0f} req/s, core busy {busy[name]:.2f})")
    return vs_ref, busy


def start_upstream(b: Bench, up: Server, cpu: int, what: str):
    """The upstream started (no TLS) on `cpu`, or None with the failure
    logged and kept as `what`'s."""
    try:
        return start(up, cpu, b.cert, b.key, False)
    except RuntimeError as e:
        upstream_failed(b, up, what, e)
        return None


def upstream_failed(b: Bench, up: Server, what: str, e: Exception):
    log(f"{what}: {e}")
    b.failed.append(f"{what} ({up.name}): {str(e).splitlines()[0][:120]}")


def syscall_pass(b: Bench, loads: list[Load]):
    for load in loads:
        script, sargs = wrk_script(b.tmp, load)
        for name in b.names:
            if load.tls and name in b.no_tls:
                continue
            got = attempt("syscalls", load, name, b.failed, lambda: count_syscalls(
                b.servers[name], load, b.cpus, b.cert, b.key, b.a.seconds, script, sargs))
            if got is not SKIPPED and got:
                emit({"impl": name, "metric": f"syscalls_per_req.{load.name}", "n": load.conns,
                      "value": got[0], "unit": "syscalls/request", "method": got[1]})
                log(f"syscalls {load} {name}: {got[0]:.2f}/req")


def profile_pass(b: Bench, loads: list[Load]):
    """A profile of each of duet's servers and PROFILE_PEERS at each load;
    a proxy or fan-out load goes to an upstream started for the pass (the
    servers of that load only, as in upstream_pass)."""
    direct = [x for x in loads if not x.upstream]
    via = [x for x in loads if x.upstream]
    profile_each(b, [x for x in direct if not x.tls], b.names, None)
    profile_each(b, [x for x in direct if x.tls], tls_diagnostics_names(b), None)
    if not via:
        return
    up, cpu = pick_upstream(b.peers), upstream_cpu(b.cpus)
    r = start_upstream(b, up, cpu, "profile upstream")
    if r is None:
        return
    try:
        drivers = upstream_drivers(b.a.upstream_drivers)
        for load in via:
            profile_each(b, [load], upstream_names(b.names, drivers, load), Upstream(f"127.0.0.1:{r.port}"))
    finally:
        stop(r)


def profile_each(b: Bench, loads: list[Load], names: list[str], upstream: Upstream | None):
    for load in loads:
        script, sargs = wrk_script(b.tmp, load)
        for name in names:
            if not (name.startswith("duet-") or name in PROFILE_PEERS) or (load.tls and name in b.no_tls):
                continue
            prof = attempt("profile", load, name, b.failed, lambda: profile_server(
                b.servers[name], load, b.cpus, b.cert, b.key, b.a.profile_seconds, b.a.warmup, script, sargs,
                upstream=upstream))
            if prof is SKIPPED:
                continue
            if prof is None:
                log(f"profile {load} {name}: perf missing or recorded nothing")
                continue
            write(profile_records(name, load, prof))
            top = prof["top"][0] if prof["top"] else {"sym": "-", "pct": 0}
            log(f"profile {load} {name}: {prof['samples']} samples, kernel {prof['shares']['kernel']:.0f}%, "
                f"top {top['sym']} {top['pct']:.1f}%")


def timeline_pass(b: Bench, loads: list[Load]):
    why_no_capture = tls_timeline.available()
    if loads and why_no_capture:
        log(f"timeline: not captured ({why_no_capture})")
    for load in loads if not why_no_capture else []:
        script, sargs = wrk_script(b.tmp, load)
        for name in tls_diagnostics_names(b):
            if name in b.no_tls:
                continue
            got = attempt("timeline", load, name, b.failed, lambda: handshake_timeline(
                b.servers[name], load, b.cpus, b.cert, b.key, script, sargs))
            if got is SKIPPED:
                continue
            if got is None:
                log(f"timeline {load} {name}: no connection reached its first response")
                continue
            t, summary = got
            write(timeline_records(name, load, t))
            log(f"timeline {load} {name}: flights done {t['flights_done_ms']:.0f} ms, wrk's handshakes done "
                f"{t['handshakes_done_ms']:.0f} ms, {t['early_requests']} early requests "
                f"(median {t['early_wait_ms']:.0f} ms before that), server wait <= {t['server_wait_ms']:.1f} ms "
                f"[{summary}]")


def idle_pass(b: Bench, nofile: int):
    # The server and the client each hold N descriptors, each under
    # its own RLIMIT_NOFILE (this one, inherited).
    n = min(b.a.idle_n, max(100, nofile - 256))
    for name in idle_names(b):
        try:
            d = idle_rss(b.servers[name], n, b.cpus, b.cert, b.key, b.a.sources)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            log(f"idle {name}: {e}")
            b.failed.append(f"idle {name}: {str(e).splitlines()[0][:120]}")
            continue
        meth = (f"idle_conns.py: {n} keep-alive connections from 127.0.0.2-{1 + b.a.sources}, one GET "
                "answered on each, then idle; Pss summed over the server's processes "
                "(/proc/PID/smaps_rollup) with them open minus before (after wrk -c"
                f"{IDLE_WARMUP[0]} -d{IDLE_WARMUP[1]}s on /plaintext), over the connections open")
        if d["per_conn"] is not None:
            emit({"impl": name, "metric": "rss_per_idle_conn", "n": n, "value": d["per_conn"],
                  "unit": "B", "method": meth + f", {IDLE_FIRST_S} s after the last opened"})
        if d.get("per_conn_long") is not None:
            emit({"impl": name, "metric": "rss_per_long_idle_conn", "n": n, "value": d["per_conn_long"],
                  "unit": "B", "method": meth + LONG_IDLE_NOTE})
        emit({"impl": name, "metric": "idle_conns_open", "n": n, "value": d["opened"], "unit": "connections",
              "method": meth})
        write(breakdown_records(name, n, d.get("breakdown") or {}))
        write(breakdown_records(name, n, d.get("breakdown_long") or {}, "long_idle_bytes."))
        log(f"idle {name}: {d['opened']} open ({d['failed']} failed), {(d['per_conn'] or 0):.0f} B/conn")
    idle_tls_pass(b, min(n, b.a.idle_tls_max))


def tls_diagnostics_names(b: Bench) -> list[str]:
    """The servers of the HTTPS profiles and timelines: duet's on the
    --tls-diagnostics-drivers, every peer."""
    drivers = upstream_drivers(b.a.tls_diagnostics_drivers)
    return [n for n in b.names if not n.startswith("duet-") or driver_of(n) in drivers]


# The idle test's second reading (http_memory.IDLE_LONG_S), said in its
# records' method.
LONG_IDLE_NOTE = (f", {IDLE_LONG_S} s after the last opened (past duet's fiber_stack_trim_after, 1 s by default, "
                  "after which an idle fiber gives back its stack pages below its stack pointer)")


def idle_names(b: Bench) -> list[str]:
    """The idle tests' servers: duet's on the --idle-drivers, every peer."""
    drivers = upstream_drivers(b.a.idle_drivers)
    return [n for n in b.names if not n.startswith("duet-") or driver_of(n) in drivers]




def idle_tls_pass(b: Bench, n: int):
    """The idle test over TLS (issue 52): memory per idle keep-alive TLS
    connection, beside the plain one; servers that serve no HTTPS are
    skipped with the reason."""
    for name in idle_names(b):
        try:
            d = idle_rss(b.servers[name], n, b.cpus, b.cert, b.key, b.a.sources, tls=True)
        except NoTLS as e:
            log(f"idle tls {name}: no HTTPS ({e})")
            continue
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            log(f"idle tls {name}: {e}")
            b.failed.append(f"idle tls {name}: {str(e).splitlines()[0][:120]}")
            continue
        meth = (f"idle_conns.py --tls: {n} keep-alive TLS connections from 127.0.0.2-{1 + b.a.sources}, opened "
                "one after another (Python's ssl, TLS 1.3 where the server offers it), one GET answered on each, "
                "then idle; Pss summed over the server's processes (/proc/PID/smaps_rollup) with them open minus "
                f"before (after wrk -c{IDLE_WARMUP[0]} -d{IDLE_WARMUP[1]}s on /plaintext over HTTPS), over the "
                "connections open")
        if d["per_conn"] is not None:
            emit({"impl": name, "metric": "rss_per_idle_tls_conn", "n": n, "value": d["per_conn"],
                  "unit": "B", "method": meth + f", {IDLE_FIRST_S} s after the last opened"})
        if d.get("per_conn_long") is not None:
            emit({"impl": name, "metric": "rss_per_long_idle_tls_conn", "n": n, "value": d["per_conn_long"],
                  "unit": "B", "method": meth + LONG_IDLE_NOTE})
        emit({"impl": name, "metric": "idle_tls_conns_open", "n": n, "value": d["opened"],
              "unit": "connections", "method": meth})
        log(f"idle tls {name}: {d['opened']} open ({d['failed']} failed), {(d['per_conn'] or 0):.0f} B/conn")


def depth_method(b: Bench, n: int, why_n: str, cpu: int) -> str:
    return (f"parked_conns.py: N requests GET /proxy/slow at once, one per keep-alive connection from "
            f"127.0.0.2-{1 + b.a.sources}, each forwarded by the server's proxy to a fresh slow_upstream.py "
            f"(pinned to CPU {cpu}), which holds it unanswered; once the upstream holds all N (its /held "
            "count), Pss summed over the server's processes (/proc/PID/smaps_rollup) minus before (after wrk "
            f"-c{DEPTH_WARMUP[0]} -d{DEPTH_WARMUP[1]}s on /proxy/json, answered at once), over N; then the "
            f"upstream answers them all and every answer is counted (every proxy's upstream timeout "
            f"{DEPTH_UPSTREAM_TIMEOUT_MS // 1000} s here); once per run (the quick profile: the lab's first run "
            f"only, one sample per server). {why_n}")


def depth_records(name: str, n: int, d: dict, method: str) -> list[dict]:
    """One server's depth test (parked_rss) as records: rss_per_parked_req
    (B per request held), parked_held (requests the upstream held),
    parked_ok (answered 200 after the release), parked_errors (connections
    that failed before their request was written, answers not 200, and
    requests never answered), and duet's breakdown (parked_bytes.<part>)."""
    out = []

    def rec(metric, value, unit, meth=method):
        out.append({"experiment": EXPERIMENT, "impl": name, "metric": metric, "n": n, "value": value, "unit": unit,
                    "method": meth})

    if d["per_req"] is not None:
        rec("rss_per_parked_req", d["per_req"], "B")
    rec("parked_held", d["held"], "requests")
    rec("parked_ok", d["ok"], "requests")
    rec("parked_errors", d["failed"] + d["other"] + d["none"], "count",
        "parked_conns.py: connections that failed before their request was written, answers other than 200, "
        "and requests with no answer (closed, reset, or none within the deadline) after the upstream's release")
    for x in breakdown_records(name, n, d.get("breakdown") or {}):
        x["metric"] = x["metric"].replace("idle_bytes.", "parked_bytes.")
        x["method"] = DEPTH_BREAKDOWN_METHOD
        out.append(x)
    return out


def depth_ratios(rep: dict[str, dict], n: int) -> list[dict]:
    """Within one rep of the depth test: each duet server's bytes per parked
    request over hyper's and over Go's (parked_vs_hyper, parked_vs_go)."""
    out = []
    for ref in ("hyper", "go"):
        b = rep.get(ref)
        if not b or not b.get("per_req") or b["per_req"] <= 0:
            continue
        for name, d in rep.items():
            if name.startswith("duet-") and d.get("per_req") is not None:
                out.append({"experiment": EXPERIMENT, "impl": name, "metric": f"parked_vs_{ref}", "n": n,
                            "value": d["per_req"] / b["per_req"], "unit": "x",
                            "method": f"ratio of bytes per parked request, over {ref}'s, in the same rep"})
    return out


def depth_pass(b: Bench, nofile: int):
    """The depth test: duet's engines (on the proxy loads' drivers) and every
    peer, each with N proxied requests parked on a slow upstream, in an
    order rotated from a random start; records per server and the ratios
    within the rep."""
    n = depth_n(b.a.depth_n, nofile)
    why_n = depth_n_why(n, b.a.depth_n, nofile)
    if n <= 0:
        log(f"depth: not measured ({why_n})")
        return
    cpu = upstream_cpu(b.cpus)
    drivers = upstream_drivers(b.a.upstream_drivers)
    names = [x for x in b.names if not x.startswith("duet-") or driver_of(x) in drivers]
    k = b.rng.randrange(len(names)) if names else 0
    meth = depth_method(b, n, why_n, cpu)
    log(f"depth: {why_n}; duet's drivers: {', '.join(drivers)}")
    rep: dict[str, dict] = {}
    for name in names[k:] + names[:k]:
        try:
            d = parked_rss(b.servers[name], n, b.cpus, cpu, b.cert, b.key, b.a.sources)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            log(f"depth {name}: {e}")
            b.failed.append(f"depth {name}: {str(e).splitlines()[0][:120]}")
            continue
        rep[name] = d
        write(depth_records(name, n, d, meth))
        log(f"depth {name}: {d['held']} held ({d['failed']} failed to send), {(d['per_req'] or 0):.0f} B/request; "
            f"answers: {d['ok']} 200, {d['other']} other, {d['none']} none")
    write(depth_ratios(rep, n))


# The pseudo-server of the pass timings (report.py leaves it out of the
# servers' tables and shows the budget from it).
TIMING_IMPL = "http_bench"


def timed_pass(name: str, run) -> None:
    """Runs one pass and records its wall time (pass_seconds.<name>): the
    quick profile's budget is the whole of ./experiments/run, and this says
    which pass spends it."""
    t0 = time.monotonic()
    try:
        run()
    finally:
        secs = time.monotonic() - t0
        log(f"pass {name}: {secs:.0f} s")
        emit({"impl": TIMING_IMPL, "metric": f"pass_seconds.{name}", "value": round(secs, 1), "unit": "s",
              "method": "wall time of the pass in one run of http_bench.py (time.monotonic)"})


def main(argv=None) -> int:
    a = parse_args(argv)
    http_wrk.HTTPS_MIN_SECONDS = a.https_min
    if not shutil.which("wrk"):
        log("wrk not installed (apt-get install wrk): nothing to measure")
        emit({"impl": "wrk", "metric": "unavailable", "value": 1, "unit": "",
              "method": "wrk not installed (apt-get install wrk)"})
        return 0
    # The idle test's server and client each hold N descriptors; the depth
    # test's server two per parked request (depth_n).
    nofile = raise_nofile(max(a.idle_n, 1000, 2 * a.depth_n + DEPTH_FD_MARGIN) + 4096)
    cpus = pick_cpus()
    loads = this_runs_loads(parse_loads(a.loads, a.depth), a.once_loads)
    count_loads = parse_loads(a.count_loads, a.depth) if a.count_loads and a.diagnostics else []
    profile_loads = parse_loads(a.profile_loads, a.depth) if a.profile_loads and a.diagnostics else []
    timeline_loads = ([x for x in parse_loads(a.timeline_loads, a.depth) if x.tls]
                      if a.timeline_loads and a.diagnostics else [])
    upstream_loads = parse_loads(a.upstream_loads, a.depth) if a.upstream_loads else []
    routing_loads = parse_loads(a.routing_loads, a.depth) if a.routing_loads else []
    servers, peers = select_servers(a)
    log(f"servers: {', '.join(servers) or 'none'}; loads: {loads}; reps {a.reps}; server CPU {cpus[0]}, "
        f"wrk CPU {cpus[1]}; RLIMIT_NOFILE {nofile}"
        + ("" if a.diagnostics else "; no syscall, profile or timeline pass this run"))
    tmp = tempfile.mkdtemp(prefix="duet-http-")
    try:
        b = Bench(a, cpus, servers, tmp, peers)
        timed_pass("load", lambda: load_pass(b, loads))
        timed_pass("race", lambda: race_pass(b, loads))
        timed_pass("upstream", lambda: upstream_pass(b, upstream_loads))
        timed_pass("routing", lambda: routing_pass(b, routing_loads))
        timed_pass("syscalls", lambda: syscall_pass(b, count_loads))
        timed_pass("profile", lambda: profile_pass(b, profile_loads))
        timed_pass("timeline", lambda: timeline_pass(b, timeline_loads))
        if a.idle_n and a.idle_test:
            timed_pass("idle", lambda: idle_pass(b, nofile))
        if a.depth_n and a.depth_test:
            timed_pass("depth", lambda: depth_pass(b, nofile))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # A measurement that failed is not a row; exit 1 so that the lab marks
    # the run partial and its page names them (the last line of stderr).
    if b.failed:
        log(f"{len(b.failed)} measurement(s) failed: " + "; ".join(b.failed)[-250:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
