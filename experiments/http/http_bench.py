#!/usr/bin/env python3
"""HTTP benchmark (issue 37): duet's HTTP server (examples/http_server, both
models, both drivers) against nginx, Go net/http and Tokio+hyper under wrk,
side by side in one run.

Method: each server runs pinned to one CPU (one worker process / one thread /
GOMAXPROCS=1 / a current-thread runtime), wrk (one thread) pinned to another
CPU on a different core where the machine has one. For every load (a route
and a connection count) the servers take turns rep by rep, in an order
rotated from a random start, each in a fresh process; ratios against nginx
and hyper, and the fiber model against the stackless one, are taken within
a rep. Per server and load:

- requests/s: wrk's requests over its window;
- p50, p99, p99.9 latency: wrk's latency histogram, read by a done() hook
  (stats.lua); with pipelining wrk times a batch of DEPTH requests;
- server CPU per request: utime+stime of the server's processes
  (/proc/PID/stat, every process of the server's tree) from just before wrk
  starts to just after it exits, over the requests wrk counted;
- syscalls per request, in a separate pass (the counting slows the server):
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
  (nginx's keepalive_timeout, duet's --read-timeout-ms); Go's and hyper's
  servers have no idle timeout by default. duet's server also says where
  those bytes are (memory_breakdown): its memory line on SIGUSR1 (the block
  cache's blocks by size class, the C heap) with the N open and before;
- a profile per load of the profile pass (every route at 256 connections),
  for duet's servers, nginx and hyper, in a separate pass: `perf record -e
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
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import tls_timeline

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PEERS = os.path.join(ROOT, "experiments", "peers")

EXPERIMENT = "http"
DUET_CONFIGS = [(model, drv) for drv in ("io_uring", "epoll") for model in ("stackless", "fiber")]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def emit(rec: dict):
    print(json.dumps(dict({"experiment": EXPERIMENT}, **rec)), flush=True)


# ---- loads ---------------------------------------------------------------------

class Load:
    """One wrk workload: a route, a connection count, pipelining depth, TLS."""

    def __init__(self, kind: str, conns: int, depth: int = 16):
        self.kind, self.conns, self.depth = kind, conns, depth

    @property
    def name(self) -> str:
        return f"pipeline{self.depth}" if self.kind == "pipeline" else self.kind

    @property
    def path(self) -> str:
        return "/json" if self.kind == "json" else "/plaintext"

    @property
    def tls(self) -> bool:
        return self.kind == "https"

    def __repr__(self):
        return f"{self.name}@{self.conns}"


def parse_loads(spec: str, depth: int) -> list[Load]:
    """"plaintext:64,256;json:256" -> loads, in that order."""
    out = []
    for part in spec.split(";"):
        kind, _, conns = part.partition(":")
        for c in conns.split(","):
            out.append(Load(kind.strip(), int(c), depth))
    return out


ALL_CONNS = "64,256,1000"
# The profile pass: every route at the targets' connection count (report.py,
# HTTP_TARGET_CONNS), so that a missed target has a profile of its load.
PROFILE_LOADS = "plaintext:256;pipeline:256;json:256;https:256"
# The timeline pass (tls_timeline.py): the HTTPS load of the targets, every
# server, where tcpdump can capture.
TIMELINE_LOADS = "https:256"
PROFILE_PEERS = ("nginx", "hyper")   # profiled beside duet's servers: the targets' references
PROFILES = {
    # smoke: every route once, a short window, to prove the wiring (CI).
    "smoke": dict(loads="plaintext:64;pipeline:64;json:64;https:64", reps=1, seconds=1, warmup=0,
                  count_loads="plaintext:64", idle_n=200, peers="nginx", https_min=2, profile_loads="plaintext:64",
                  timeline_loads="https:64"),
    # quick: plaintext at the three connection counts, the other routes at
    # 256 (the targets' load); the lab repeats the program 3 times.
    "quick": dict(loads="plaintext:64,256,1000;pipeline:256;json:256;https:256", reps=1, seconds=2, warmup=1,
                  count_loads="plaintext:256;pipeline:256", idle_n=10000, peers="nginx,go,hyper", https_min=5,
                  profile_loads=PROFILE_LOADS, timeline_loads=TIMELINE_LOADS),
    # full: every route at every connection count; 2 reps a run, 5 runs.
    "full": dict(loads=";".join(f"{k}:{ALL_CONNS}" for k in ("plaintext", "pipeline", "json", "https")), reps=2,
                 seconds=4, warmup=1, count_loads="plaintext:256;pipeline:256;json:256;https:256", idle_n=10000,
                 peers="nginx,go,hyper", https_min=5, profile_loads=PROFILE_LOADS,
                 timeline_loads=TIMELINE_LOADS),
}


# ---- the machine -------------------------------------------------------------------

def pick_cpus() -> tuple[int, int]:
    """The server's CPU and wrk's: the first CPU this process may run on, and
    the first one after it that is not its SMT sibling (any other if all are)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return cpus[0], cpus[0]
    server = cpus[0]
    try:
        with open(f"/sys/devices/system/cpu/cpu{server}/topology/thread_siblings_list") as f:
            sib = set()
            for part in f.read().strip().split(","):
                lo, _, hi = part.partition("-")
                sib.update(range(int(lo), int(hi or lo) + 1))
    except OSError:
        sib = {server}
    others = [c for c in cpus if c not in sib] or cpus[1:]
    return server, others[0]


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(d: str) -> tuple[str, str]:
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    # ECDSA P-256: every wrk run opens its connections (and so does its TLS
    # handshakes) inside the measured window, for every server alike; a
    # P-256 handshake keeps that share small.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


# ---- /proc readings ------------------------------------------------------------------

def tree(pid: int) -> list[int]:
    """pid and its descendants (nginx: master and worker)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def cpu_ticks(pids: list[int]) -> int:
    """utime+stime of the processes, in clock ticks (every thread)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def pss_bytes(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def io_syscalls(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/io") as f:
                d = dict(line.split(":") for line in f if ":" in line)
            total += int(d["syscr"]) + int(d["syscw"])
        except (OSError, KeyError, ValueError):
            pass
    return total


# ---- servers ------------------------------------------------------------------------

class Server:
    """How to start one server: argv built from (port, tls_port, cert, key),
    its environment, and how it says it is ready."""

    def __init__(self, name: str, argv, env=None, ready="line", tls=True, note=""):
        self.name, self.argv, self.env, self.ready, self.tls, self.note = name, argv, env or {}, ready, tls, note


class Running:
    def __init__(self, proc: subprocess.Popen, port: int, tls_port: int | None, workdir: str | None = None,
                 tail: list[str] | None = None):
        self.proc, self.port, self.tls_port, self.workdir = proc, port, tls_port, workdir
        self.tail = tail if tail is not None else []     # the end of its output, for errors
        self.tls_error = ""                              # why it serves no HTTPS, when it was asked to

    @property
    def pids(self) -> list[int]:
        return tree(self.proc.pid)


def _read_ports(p: subprocess.Popen, want_tls: bool, deadline: float) -> tuple[int | None, int | None]:
    """`listening on N` lines: the first plain one is the port; a line that
    says tls/https, or else the second line, is the TLS port."""
    import select
    port = tls = None
    buf = ""
    while time.time() < deadline:
        if port is not None and (tls is not None or not want_tls):
            break
        # Once the plain port is known, wait a little for a TLS line only.
        wait = min(0.5, deadline - time.time()) if port is None else min(2.0, deadline - time.time())
        r, _, _ = select.select([p.stdout], [], [], max(0.0, wait))
        if not r:
            if port is not None:
                break
            if p.poll() is not None:
                break
            continue
        chunk = os.read(p.stdout.fileno(), 4096).decode(errors="replace")
        if not chunk:
            break
        buf += chunk
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            m = re.search(r"listening on\D*?(\d+)", line)
            if not m:
                continue
            n = int(m.group(1))
            if re.search(r"tls|https|ssl", line, re.I) or port is not None:
                tls = n if tls is None else tls
            else:
                port = n
    return port, tls


def _wait_children(pid: int, n: int, deadline: float) -> bool:
    while time.time() < deadline:
        if len(tree(pid)) > n:
            return True
        time.sleep(0.05)
    return False


def wait_port(port: int, deadline: float) -> bool:
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class NoTLS(RuntimeError):
    """The server serves no HTTPS (its HTTPS rows are marked unavailable)."""


def start(srv: Server, cpu: int, cert: str, key: str, with_tls: bool, prefix=None) -> Running:
    """Starts a server pinned to `cpu`; with_tls asks for its HTTPS port too.
    A server that does not start with TLS is started without it, and the
    reason kept (Running.tls_error)."""
    if with_tls and srv.tls and srv.ready != "nginx":
        try:
            return _start(srv, cpu, cert, key, True, prefix)
        except RuntimeError as e:
            r = _start(srv, cpu, cert, key, False, prefix)
            r.tls_error = f"did not start with TLS: {e}"
            return r
    return _start(srv, cpu, cert, key, with_tls, prefix)


def _start(srv: Server, cpu: int, cert: str, key: str, with_tls: bool, prefix=None) -> Running:
    tls_port = free_port() if (with_tls and srv.tls) else None
    if srv.ready == "nginx":
        workdir = tempfile.mkdtemp(prefix="duet-nginx-")
        port = free_port()
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            conf = f.read()
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        for k, v in {"DIR": workdir, "PORT": port, "TLS_PORT": tls_port or free_port(), "CERT": cert, "KEY": key,
                     "NOFILE": nofile, "CONNECTIONS": max(1024, nofile - 64)}.items():
            conf = conf.replace(f"@{k}@", str(v))
        path = os.path.join(workdir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        argv = srv.argv + ["-p", workdir, "-e", os.path.join(workdir, "error.log"), "-c", path]
        p = subprocess.Popen((prefix or []) + ["taskset", "-c", str(cpu)] + argv, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
        # The master listens before it forks its worker: ready is both.
        deadline = time.time() + 15
        if not wait_port(port, deadline) or not _wait_children(p.pid, 1, deadline):
            err = _kill(p)
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"nginx did not start: {err[-300:]}")
        return Running(p, port, tls_port, workdir)
    argv = srv.argv(tls_port, cert, key) if callable(srv.argv) else list(srv.argv)
    p = subprocess.Popen((prefix or []) + ["taskset", "-c", str(cpu)] + argv, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=dict(os.environ, **srv.env), start_new_session=True)
    port, tls = _read_ports(p, tls_port is not None, time.time() + 20)
    if port is None:
        out = _kill(p)
        raise RuntimeError(f"{srv.name} did not start: {out[-300:]}")
    # Keep reading its output to the end: a server whose pipe is closed dies
    # of SIGPIPE at its next log line (Go logs each failed TLS handshake, and
    # wrk abandons handshakes when its window ends); one whose pipe is full
    # blocks.
    tail: list[str] = []
    threading.Thread(target=_drain, args=(p.stdout, tail), daemon=True).start()
    return Running(p, port, tls, tail=tail)


def _drain(pipe, tail: list[str]):
    """Reads a server's output until it exits, keeping the last 4 KiB."""
    while True:
        chunk = os.read(pipe.fileno(), 65536)
        if not chunk:
            break
        tail.append(chunk.decode(errors="replace"))
        while sum(map(len, tail)) > 4096 and len(tail) > 1:
            tail.pop(0)


def _kill(p: subprocess.Popen) -> str:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        out, err = p.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):
        return ""
    text = (out or b"") + (err or b"") if isinstance(out or b"", bytes) else (out or "") + (err or "")
    return text.decode(errors="replace") if isinstance(text, bytes) else text


def stop(r: Running) -> int | None:
    """SIGTERM (duet drains and exits 0; nginx's master stops its worker),
    then the whole group killed after 15 s; returns the exit status."""
    rc = None
    try:
        r.proc.send_signal(signal.SIGTERM)
        rc = r.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(r.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        r.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    if r.workdir:
        shutil.rmtree(r.workdir, ignore_errors=True)
    return rc


def build_peers(out: str, want: list[str]) -> tuple[dict[str, Server], dict[str, str]]:
    """The peer servers named in `want` that this machine can build and run;
    and, for the others, why not."""
    os.makedirs(out, exist_ok=True)
    peers: dict[str, Server] = {}
    missing: dict[str, str] = {}
    if "nginx" in want:
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if nginx:
            peers["nginx"] = Server("nginx", [nginx], ready="nginx")
        else:
            missing["nginx"] = "nginx not installed (apt-get install nginx)"
    if "go" in want:
        if shutil.which("go"):
            exe = os.path.join(out, "go-http")
            env = dict(os.environ, GOCACHE=os.path.join(out, "gocache"), GO111MODULE="off", GOFLAGS="",
                       GOPATH=os.path.join(out, "gopath"))
            r = subprocess.run(["go", "build", "-o", exe, os.path.join(PEERS, "go", "http", "main.go")], env=env,
                               capture_output=True, text=True)
            if r.returncode == 0:
                peers["go"] = Server("go", lambda tp, c, k, exe=exe: [exe, "0"] + ([str(tp), c, k] if tp else []),
                                     {"GOMAXPROCS": "1"})
            else:
                missing["go"] = f"build failed: {r.stderr.strip()[-300:]}"
        else:
            missing["go"] = "go not installed (apt-get install golang-go)"
    if "hyper" in want:
        reg = "/usr/share/cargo/registry"
        have = os.listdir(reg) if os.path.isdir(reg) else []
        lack = [c for c in ("hyper-0.14", "tokio-rustls-0.23", "rustls-pemfile-1", "serde_json-1")
                if not any(d.startswith(c) for d in have)]
        if not shutil.which("cargo"):
            missing["hyper"] = "cargo not installed (apt-get install cargo rustc)"
        elif lack:
            missing["hyper"] = (f"crate sources missing: {', '.join(lack)} (apt-get install librust-hyper-dev "
                                "librust-tokio-rustls-dev librust-rustls-pemfile-dev librust-serde-json-dev)")
        else:
            proj = os.path.join(out, "hyper-src")
            if os.path.exists(proj):
                shutil.rmtree(proj)
            shutil.copytree(os.path.join(PEERS, "tokio", "http"), proj,
                            ignore=shutil.ignore_patterns("target", "Cargo.lock"))
            target = os.path.join(out, "hyper-target")
            r = subprocess.run(["cargo", "build", "--release", "--offline", "--target-dir", target], cwd=proj,
                               env=dict(os.environ, CARGO_HOME=os.path.join(out, "cargo-home")),
                               capture_output=True, text=True)
            if r.returncode == 0:
                exe = os.path.join(target, "release", "hyper-http")
                peers["hyper"] = Server("hyper", lambda tp, c, k, exe=exe: [exe, "0"] + ([str(tp), c, k] if tp else []))
            else:
                missing["hyper"] = f"build failed: {r.stderr.strip()[-300:]}"
    return peers, missing


def duet_servers(build: str) -> tuple[dict[str, Server], str]:
    exe = os.path.join(build, "examples", "http_server", "http_server")
    if not os.path.isfile(exe):
        return {}, f"{exe} not built"
    out = {}
    for model, drv in DUET_CONFIGS:
        def argv(tp, c, k, model=model):
            # The read timeout as long as nginx's keep-alive timeout here
            # (nginx.conf.in): the idle test holds its connections idle for
            # longer than the server's 10 s default while it opens them.
            a = [exe, "--port", "0", "--model", model, "--workers", "1", "--read-timeout-ms", "300000"]
            return a + (["--tls-port", str(tp), "--cert", c, "--key", k] if tp else [])
        out[f"duet-{model}-{drv}"] = Server(f"duet-{model}-{drv}", argv, {"DUET_DRIVER": drv})
    return out, ""


# ---- one measurement -----------------------------------------------------------------

def wrk_script(tmp: str, load: Load) -> tuple[str, list[str]]:
    """The Lua script for a load (stats.lua's done() hook, after
    pipeline.lua when pipelined) and wrk's script arguments."""
    with open(os.path.join(HERE, "stats.lua")) as f:
        stats = f.read()
    if load.kind != "pipeline":
        return os.path.join(HERE, "stats.lua"), []
    path = os.path.join(tmp, "pipeline_stats.lua")
    with open(os.path.join(HERE, "pipeline.lua")) as f:
        text = f.read() + "\n" + stats
    with open(path, "w") as f:
        f.write(text)
    return path, [str(load.depth), load.path]


def tls_host() -> str:
    """The host name HTTPS URLs use: "localhost" where it resolves to
    127.0.0.1 first (the servers listen there only). wrk sends the URL's host
    as SNI, and rustls (the hyper peer's TLS) refuses an IP address there."""
    try:
        first = socket.getaddrinfo("localhost", 443, type=socket.SOCK_STREAM)[0]
        if first[0] == socket.AF_INET and first[4][0] == "127.0.0.1":
            return "localhost"
    except OSError:
        pass
    return "127.0.0.1"


# Every wrk run opens its connections inside its window, and over TLS each
# is a handshake: HTTPS windows are at least the profile's https_min seconds
# (5 outside the smoke profile), so that the handshakes of 1,000 connections
# are a small part of one.
HTTPS_MIN_SECONDS = 5


def window(load: Load, seconds: int) -> int:
    return max(seconds, HTTPS_MIN_SECONDS) if load.tls else seconds


def run_wrk(cpu: int, r: Running, load: Load, seconds: int, script: str, sargs: list[str]) -> dict:
    port = r.tls_port if load.tls else r.port
    url = f"https://{tls_host()}:{port}{load.path}" if load.tls else f"http://127.0.0.1:{port}{load.path}"
    argv = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{load.conns}", f"-d{seconds}s", "--latency",
            "--timeout", "5s", "-s", script, url] + (["--"] + sargs if sargs else [])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    m = re.search(r"^LAB (\{.*\})$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({p.returncode}): {(p.stdout + p.stderr).strip()[-300:]}")
    d = json.loads(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    d["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    if not d["requests"]:
        raise RuntimeError(f"wrk completed no request: {p.stdout.strip()[-300:]}")
    d["rps"] = d["requests"] / (d["duration_us"] / 1e6) if d["duration_us"] else 0.0
    return d


def measure(srv: Server, load: Load, cpus, cert, key, seconds, warmup, script, sargs) -> dict:
    """One server, fresh, under one load: wrk's figures and the server's CPU
    over wrk's run."""
    r = start(srv, cpus[0], cert, key, load.tls)
    try:
        if load.tls and r.tls_port is None:
            raise NoTLS(r.tls_error or "the server printed no TLS port")
        if warmup:
            # Not measured: a warm-up that completes nothing (HTTPS at many
            # connections can spend a short window on handshakes) is no error.
            try:
                run_wrk(cpus[1], r, load, warmup, script, sargs)
            except RuntimeError:
                pass
        pids = r.pids
        t0 = cpu_ticks(pids)
        d = run_wrk(cpus[1], r, load, window(load, seconds), script, sargs)
        d["cpu_s"] = (cpu_ticks(pids) - t0) / os.sysconf("SC_CLK_TCK")
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
        if load.tls and r.tls_port is None:
            raise NoTLS(r.tls_error or "the server printed no TLS port")
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


PROFILE_TOP = 8   # symbols kept per server and load


def dso_class(dso: str) -> str:
    """Where a sample's code lives: the kernel, the C library (and the
    vDSO, the kernel's clock_gettime in user space), OpenSSL, or the
    server itself (its program and the libraries it brings: duet's
    server and http_parser, nginx, Go's and hyper's binaries)."""
    if dso.startswith("[kernel"):
        return "kernel"
    base = os.path.basename(dso)
    if base.startswith(("libc.so", "libc-", "ld-linux", "libm.so", "libpthread")) or dso == "[vdso]":
        return "libc"
    if base.startswith(("libcrypto", "libssl")):
        return "tls"
    return "server"


PROFILE_CLASSES = ("kernel", "server", "libc", "tls")


def summarize_profile(report: str, top: int = PROFILE_TOP) -> dict:
    """`perf report --sort dso,sym -t TAB` text -> the samples, the share
    (%) of each class of code (dso_class), and the top symbols by share."""
    samples = 0
    shares = {c: 0.0 for c in PROFILE_CLASSES}
    syms = []
    for line in report.splitlines():
        m = re.match(r"#\s*Samples:\s*(\d+)([KM]?)", line)
        if m:
            samples = int(m.group(1)) * {"": 1, "K": 1000, "M": 1000000}[m.group(2)]
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [x.strip() for x in line.split("\t")]
        if len(parts) < 3 or not parts[0].endswith("%"):
            continue
        try:
            pct = float(parts[0].rstrip("%"))
        except ValueError:
            continue
        dso, sym = parts[1], parts[2]
        if sym.startswith("[k] "):
            dso = dso if dso.startswith("[kernel") else "[kernel.kallsyms]"
        sym = re.sub(r"^\[[.kgu]\]\s*", "", sym)
        shares[dso_class(dso)] += pct
        syms.append((pct, dso, sym))
    syms.sort(key=lambda t: -t[0])
    return {"samples": samples, "shares": shares,
            "top": [{"pct": p, "dso": os.path.basename(d), "sym": sy[:120]} for p, d, sy in syms[:top]]}


PROFILE_METHOD = ("perf record -e cpu-clock -F 999 attached to the server's processes over one wrk run (after "
                  "the warm-up), a fresh server per load; perf report --no-children --sort dso,sym: each "
                  "symbol's share of the samples (self time), and the shares of code by where it lives: the "
                  "kernel, the server (its program and the libraries it brings: duet's http_server and "
                  "http_parser, nginx), libc (with the vDSO's clock_gettime), OpenSSL")


TIMELINE_SECONDS = 2   # the timeline pass's wrk run: its start is what it looks at


def handshake_timeline(srv: Server, load: Load, cpus, cert, key, script, sargs) -> tuple[dict, str] | None:
    """The start of one wrk run over HTTPS, packet by packet (tls_timeline.py):
    the figures and the capture's summary; None when no connection reached
    its first response."""
    r = start(srv, cpus[0], cert, key, True)
    pcap = os.path.join(tempfile.gettempdir(), f"duet-http-tls-{os.getpid()}.pcap")
    try:
        if r.tls_port is None:
            raise NoTLS(r.tls_error or "the server printed no TLS port")
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


def profile_server(srv: Server, load: Load, cpus, cert, key, seconds, warmup, script, sargs) -> dict | None:
    """A cpu-clock profile of the server over one wrk run (perf record;
    None where perf is missing or records nothing)."""
    perf = shutil.which("perf")
    if not perf:
        return None
    r = start(srv, cpus[0], cert, key, load.tls)
    data = os.path.join(tempfile.gettempdir(), f"duet-http-prof-{os.getpid()}.data")
    try:
        if load.tls and r.tls_port is None:
            raise NoTLS(r.tls_error or "the server printed no TLS port")
        if warmup:
            try:
                run_wrk(cpus[1], r, load, warmup, script, sargs)
            except RuntimeError:
                pass
        pp = subprocess.Popen(["taskset", "-c", str(cpus[1]), perf, "record", "-q", "-e", "cpu-clock", "-F", "999",
                               "-o", data, "-p", ",".join(map(str, r.pids))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        pids = r.pids
        t0 = cpu_ticks(pids)
        try:
            d = run_wrk(cpus[1], r, load, window(load, seconds), script, sargs)
            cpu_s = (cpu_ticks(pids) - t0) / os.sysconf("SC_CLK_TCK")
        finally:
            pp.send_signal(signal.SIGINT)
            try:
                pp.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pp.kill()
        rep = subprocess.run([perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym",
                              "-g", "none", "--percent-limit", "0", "-t", "\t"],
                             capture_output=True, text=True, timeout=300)
        got = summarize_profile(rep.stdout)
        # The CPU per request of the profiled run (perf's sampling included):
        # what the shares are shares of.
        got["cpu_us_per_req"] = cpu_s * 1e6 / d["requests"] if d["requests"] else None
        return got if got["samples"] > 0 or got["top"] else None
    finally:
        stop(r)
        for f in (data, data + ".old"):
            try:
                os.remove(f)
            except OSError:
                pass


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


def memory_line(r: Running, timeout: float = 5.0) -> dict | None:
    """duet's server prints its memory line on SIGUSR1 (`memory {json}`:
    the block cache, the C heap, fiber stacks; examples/http_server's
    server.cpp): sends the signal and returns the line that follows it, or
    None for a server that prints none."""
    if not r.pids or r.proc.poll() is not None:
        return None
    seen = "".join(r.tail).count("memory {")
    os.kill(r.proc.pid, signal.SIGUSR1)
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = "".join(r.tail)
        lines = re.findall(r"^memory (\{.*\})$", text, re.M)
        if len(lines) > seen or (lines and text.count("memory {") > seen):
            return json.loads(lines[-1])
        time.sleep(0.05)
    return None


def memory_breakdown(m0: dict, m1: dict, pss0: int, pss1: int, n: int) -> dict:
    """Bytes per connection from two memory lines (before, with N open) and
    the Pss around them: the block cache's blocks in use (frames, task
    blocks, I/O operations), by size class as slabs carved; the C heap's
    chunks in use (buffers, strings, registrations); fiber stacks' pages;
    and the rest of the Pss growth (heap pages free but not returned, the
    unused part of the last slab, page tables are not Pss)."""
    if n <= 0:
        return {}
    blocks = ((m1["blocks_carved"] - m1["blocks_depot"]) - (m0["blocks_carved"] - m0["blocks_depot"])) / n
    heap = ((m1["malloc_in_use"] + m1["malloc_mapped"]) - (m0["malloc_in_use"] + m0["malloc_mapped"])) / n
    classes = {}
    for k, v in m1.get("block_slabs", {}).items():
        grew = v - m0.get("block_slabs", {}).get(k, 0)
        if grew > 0:
            classes[int(k)] = grew * SLAB_BYTES / n
    total = (pss1 - pss0) / n
    return {"total": total, "blocks": blocks, "block_classes": dict(sorted(classes.items())), "heap": heap,
            "rest": total - blocks - heap}


SLAB_BYTES = 256 * 1024   # the block cache's slab (duet/memory.hpp)

BREAKDOWN_METHOD = ("duet's server's memory line (SIGUSR1: duet::Runtime::memory() and mallinfo2()) read with the "
                    "idle test's N connections open and before, over N: blocks of duet's block cache in use "
                    "(coroutine frames, fibers' task blocks, the driver's per-socket state), by size class as "
                    "256 KiB slabs carved; the C heap's chunks in use (buffers, strings); the rest of the Pss "
                    "growth (fiber stacks' touched pages, heap and slab pages not in use)")


def breakdown_records(impl: str, n: int, b: dict) -> list[dict]:
    """A memory breakdown (memory_breakdown) as records, B per connection:
    idle_bytes.<part> for blocks, heap and rest, idle_bytes.block<size> per
    block class that grew."""
    if not b:
        return []
    out = []
    parts = [(k, b[k]) for k in ("blocks", "heap", "rest")] + [(f"block{c}", v) for c, v in b["block_classes"].items()]
    for k, v in parts:
        out.append({"experiment": EXPERIMENT, "impl": impl, "metric": f"idle_bytes.{k}", "n": n,
                    "value": round(v, 1), "unit": "B", "method": BREAKDOWN_METHOD})
    return out


# The idle test's warm-up: wrk with this many connections for this many
# seconds on /plaintext, before the baseline.
IDLE_WARMUP = (4, 1)


def idle_rss(srv: Server, n: int, cpus, cert, key, sources: int) -> dict:
    """Memory per idle keep-alive connection: the server's Pss with N open
    (one request answered on each) against before; for duet's server, its
    breakdown too (memory_line, memory_breakdown)."""
    r = start(srv, cpus[0], cert, key, False)
    try:
        # Traffic first, so that what a serving server builds once is in the
        # baseline, not divided among the N: buffer pools, malloc arenas, the
        # io_uring buffer ring (every buffer is filled once as recvs cycle
        # through it). Few connections, so that few connections' state is
        # left cached for the N to reuse (IDLE_WARMUP).
        subprocess.run(["taskset", "-c", str(cpus[1]), "wrk", "-t1", f"-c{IDLE_WARMUP[0]}",
                        f"-d{IDLE_WARMUP[1]}s", f"http://127.0.0.1:{r.port}/plaintext"],
                       capture_output=True, text=True, timeout=60)
        time.sleep(0.3)
        pids = r.pids
        mem0 = memory_line(r) if srv.name.startswith("duet-") else None
        m0 = pss_bytes(pids)
        cl = subprocess.Popen(["taskset", "-c", str(cpus[1]), sys.executable, os.path.join(HERE, "idle_conns.py"),
                               "--port", str(r.port), "--n", str(n), "--sources", str(sources),
                               "--timeout", str(max(30, n / 200))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = cl.stdout.readline()
            m = re.match(r"open (\d+) failed (\d+)", line)
            if not m:
                raise RuntimeError(f"idle_conns: {line.strip()} {cl.stderr.read()[-300:]}")
            opened, failed = int(m.group(1)), int(m.group(2))
            time.sleep(0.5)
            m1 = pss_bytes(r.pids)
            mem1 = memory_line(r) if mem0 else None
        finally:
            try:
                cl.stdin.write("\n")
                cl.stdin.close()
            except OSError:
                pass
            try:
                cl.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cl.kill()
        return {"opened": opened, "failed": failed, "m0": m0, "m1": m1,
                "per_conn": (m1 - m0) / opened if opened else None,
                "breakdown": memory_breakdown(mem0, mem1, m0, m1, opened) if mem0 and mem1 else {}}
    finally:
        stop(r)


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

def rep_records(rep: dict[str, dict], load: Load, method: str) -> list[dict]:
    """One rep of one load (every server once): raw figures and the ratios
    within the rep."""
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
    for ref in ("nginx", "hyper"):
        b = rep.get(ref)
        if not b:
            continue
        for name, d in rep.items():
            if name == ref:
                continue
            if b["rps"] > 0:
                rec(name, f"rps_vs_{ref}", d["rps"] / b["rps"], "x", "ratio of requests/s in the same rep")
            if b["p99_us"] > 0 and d["p99_us"] > 0:
                rec(name, f"p99_vs_{ref}", d["p99_us"] / b["p99_us"], "x", "ratio of p99 latency in the same rep")
            if ref == "nginx" and b["cpu_s"] > 0 and b["requests"] and d["requests"]:
                rec(name, "cpu_vs_nginx", (d["cpu_s"] / d["requests"]) / (b["cpu_s"] / b["requests"]), "x",
                    "ratio of server CPU per request in the same rep")
    for _, drv in DUET_CONFIGS[::2]:
        sl, fb = rep.get(f"duet-stackless-{drv}"), rep.get(f"duet-fiber-{drv}")
        if sl and fb and sl["rps"] > 0:
            rec(f"duet-{drv}", "fiber_vs_stackless", fb["rps"] / sl["rps"], "x",
                "ratio of requests/s, fiber over stackless, in the same rep")
    return out


def main():
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
    ap.add_argument("--timeline-loads", help="the HTTPS loads of the handshake timeline pass (same form; "
                    "empty: none)")
    ap.add_argument("--depth", type=int, default=16, help="requests per write with pipelining")
    ap.add_argument("--sources", type=int, default=16, help="source addresses 127.0.0.2... for the idle test")
    ap.add_argument("--peers", help="comma-separated peers (nginx,go,hyper)")
    ap.add_argument("--servers", default="", help="comma-separated substrings: keep only servers matching one")
    ap.add_argument("--jsonl", action="store_true", help="records on stdout (the lab's format); else a summary too")
    a = ap.parse_args()
    preset = PROFILES[a.profile]
    global HTTPS_MIN_SECONDS
    HTTPS_MIN_SECONDS = preset["https_min"]
    for k in ("reps", "seconds", "warmup", "loads", "count_loads", "idle_n", "peers", "profile_loads",
              "timeline_loads"):
        if getattr(a, k) is None:
            setattr(a, k, preset[k])

    if not shutil.which("wrk"):
        log("wrk not installed (apt-get install wrk): nothing to measure")
        emit({"impl": "wrk", "metric": "unavailable", "value": 1, "unit": "",
              "method": "wrk not installed (apt-get install wrk)"})
        return 0
    nofile = raise_nofile(max(a.idle_n, 1000) + 4096)
    cpus = pick_cpus()
    loads = parse_loads(a.loads, a.depth)
    count_loads = parse_loads(a.count_loads, a.depth) if a.count_loads else []
    profile_loads = parse_loads(a.profile_loads, a.depth) if a.profile_loads else []
    timeline_loads = [x for x in parse_loads(a.timeline_loads, a.depth) if x.tls] if a.timeline_loads else []
    peers, missing = build_peers(os.path.join(a.build, "http-peers"), a.peers.split(","))
    duet, why = duet_servers(a.build)
    if why:
        for model, drv in DUET_CONFIGS:
            missing[f"duet-{model}-{drv}"] = why
    servers = dict(duet, **peers)
    keep = [x for x in a.servers.split(",") if x]
    if keep:
        servers = {k: v for k, v in servers.items() if any(x in k for x in keep)}
        missing = {k: v for k, v in missing.items() if any(x in k for x in keep)}
    for name, reason in missing.items():
        log(f"{name}: not measured ({reason})")
        emit({"impl": name, "metric": "unavailable", "value": 1, "unit": "", "method": reason})
    names = list(servers)
    log(f"servers: {', '.join(names) or 'none'}; loads: {loads}; reps {a.reps}; server CPU {cpus[0]}, "
        f"wrk CPU {cpus[1]}; RLIMIT_NOFILE {nofile}")
    def method(load: Load) -> str:
        return (f"wrk -t1 --latency, {window(load, a.seconds)} s after a {a.warmup} s warm-up, on loopback; server "
                f"pinned to CPU {cpus[0]} (one worker process or thread), wrk to CPU {cpus[1]}; servers fresh per "
                "run, rotated rep by rep")
    rng = random.Random()
    tmp = tempfile.mkdtemp(prefix="duet-http-")
    no_tls: set[str] = set()
    failed: list[str] = []
    try:
        cert, key = make_cert(tmp)
        for load in loads:
            script, sargs = wrk_script(tmp, load)
            for rep in range(a.reps):
                k = rng.randrange(len(names)) if names else 0
                order = names[k:] + names[:k]
                this_rep: dict[str, dict] = {}
                for name in order:
                    if load.tls and name in no_tls:
                        continue
                    try:
                        d = measure(servers[name], load, cpus, cert, key, a.seconds, a.warmup, script, sargs)
                    except NoTLS as e:
                        log(f"{load} rep {rep} {name}: no HTTPS: {e}")
                        no_tls.add(name)
                        emit({"impl": name, "metric": "unavailable.https", "value": 1, "unit": "",
                              "method": str(e)[:300]})
                        continue
                    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                        log(f"{load} rep {rep} {name}: {e}")
                        failed.append(f"{load} rep {rep} {name}: {str(e).splitlines()[0][:120]}")
                        continue
                    if name.startswith("duet-") and d["exit"] not in (0, None):
                        log(f"{name}: exit status {d['exit']} after SIGTERM")
                    this_rep[name] = d
                    log(f"{load} rep {rep} {name}: {d['rps']:.0f} req/s p99 {d['p99_us']:.0f} us "
                        f"cpu {d['cpu_s'] * 1e6 / max(1, d['requests']):.1f} us/req")
                for x in rep_records(this_rep, load, method(load)):
                    print(json.dumps(x), flush=True)
        for load in count_loads:
            script, sargs = wrk_script(tmp, load)
            for name in names:
                if load.tls and name in no_tls:
                    continue
                got = attempt("syscalls", load, name, failed, lambda: count_syscalls(
                    servers[name], load, cpus, cert, key, a.seconds, script, sargs))
                if got is not SKIPPED and got:
                    emit({"impl": name, "metric": f"syscalls_per_req.{load.name}", "n": load.conns,
                          "value": got[0], "unit": "syscalls/request", "method": got[1]})
                    log(f"syscalls {load} {name}: {got[0]:.2f}/req")
        for load in profile_loads:
            script, sargs = wrk_script(tmp, load)
            for name in names:
                if not (name.startswith("duet-") or name in PROFILE_PEERS) or (load.tls and name in no_tls):
                    continue
                prof = attempt("profile", load, name, failed, lambda: profile_server(
                    servers[name], load, cpus, cert, key, a.seconds, a.warmup, script, sargs))
                if prof is SKIPPED:
                    continue
                if prof is None:
                    log(f"profile {load} {name}: perf missing or recorded nothing")
                    continue
                for x in profile_records(name, load, prof):
                    print(json.dumps(x), flush=True)
                top = prof["top"][0] if prof["top"] else {"sym": "-", "pct": 0}
                log(f"profile {load} {name}: {prof['samples']} samples, kernel {prof['shares']['kernel']:.0f}%, "
                    f"top {top['sym']} {top['pct']:.1f}%")
        why_no_capture = tls_timeline.available()
        if timeline_loads and why_no_capture:
            log(f"timeline: not captured ({why_no_capture})")
        for load in timeline_loads if not why_no_capture else []:
            script, sargs = wrk_script(tmp, load)
            for name in names:
                if name in no_tls:
                    continue
                got = attempt("timeline", load, name, failed, lambda: handshake_timeline(
                    servers[name], load, cpus, cert, key, script, sargs))
                if got is SKIPPED:
                    continue
                if got is None:
                    log(f"timeline {load} {name}: no connection reached its first response")
                    continue
                t, summary = got
                for x in timeline_records(name, load, t):
                    print(json.dumps(x), flush=True)
                log(f"timeline {load} {name}: flights done {t['flights_done_ms']:.0f} ms, wrk's handshakes done "
                    f"{t['handshakes_done_ms']:.0f} ms, {t['early_requests']} early requests "
                    f"(median {t['early_wait_ms']:.0f} ms before that), server wait <= {t['server_wait_ms']:.1f} ms "
                    f"[{summary}]")
        if a.idle_n:
            # The server and the client each hold N descriptors, each under
            # its own RLIMIT_NOFILE (this one, inherited).
            n = min(a.idle_n, max(100, nofile - 256))
            for name in names:
                try:
                    d = idle_rss(servers[name], n, cpus, cert, key, a.sources)
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    log(f"idle {name}: {e}")
                    failed.append(f"idle {name}: {str(e).splitlines()[0][:120]}")
                    continue
                meth = (f"idle_conns.py: {n} keep-alive connections from 127.0.0.2-{1 + a.sources}, one GET "
                        "answered on each, then idle; Pss summed over the server's processes "
                        "(/proc/PID/smaps_rollup) with them open minus before (after wrk -c"
                        f"{IDLE_WARMUP[0]} -d{IDLE_WARMUP[1]}s on /plaintext), over the connections open")
                if d["per_conn"] is not None:
                    emit({"impl": name, "metric": "rss_per_idle_conn", "n": n, "value": d["per_conn"],
                          "unit": "B", "method": meth})
                emit({"impl": name, "metric": "idle_conns_open", "n": n, "value": d["opened"], "unit": "connections",
                      "method": meth})
                for x in breakdown_records(name, n, d.get("breakdown") or {}):
                    print(json.dumps(x), flush=True)
                log(f"idle {name}: {d['opened']} open ({d['failed']} failed), "
                    f"{(d['per_conn'] or 0):.0f} B/conn")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # A measurement that failed is not a row; exit 1 so that the lab marks
    # the run partial and its page names them (the last line of stderr).
    if failed:
        log(f"{len(failed)} measurement(s) failed: " + "; ".join(failed)[-250:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
