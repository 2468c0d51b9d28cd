#!/usr/bin/env python3
"""HTTP/2 benchmark (issue 76): duet's HTTP server (examples/http_server on
duet::http) over HTTP/2 against nginx and Go net/http under h2load
(Debian's nghttp2-client), side by side in one run.

duet's server speaks h2c with prior knowledge on its plain port and h2 by
ALPN on its TLS port. Its HTTP/2 connection is one coroutine under every
engine (drivers/http/src/h2_connection.cpp); each stream runs in a task of
the handlers' model. So the configurations measured are the handlers'
models: duet-coroutine-<driver> (--engine coroutine --handlers coroutine:
a coroutine task per stream), duet-fiber-<driver> (--engine fiber
--handlers fiber: a fiber per stream) and duet-poll-<driver> (--engine
poll, its default coroutine handlers), on one driver (io_uring where the
kernel allows it, else epoll; `--drivers all` for both). The peers: nginx
(one worker; nginx_h2.conf.in: `listen ... http2` is h2c with prior
knowledge, `ssl http2` h2 by ALPN) and Go (experiments/peers/go/http2:
net/http with golang.org/x/net/http2/h2c on the plain port, the standard
library's h2 on the TLS port; GOMAXPROCS=1).

Method: each server runs pinned to one CPU (one worker process / one
thread / GOMAXPROCS=1), h2load (one thread) pinned to another CPU on a
different core where the machine has one, as http_bench.py pins wrk
(http_servers.pick_cpus). Per rep the servers take turns in an order rotated
from a random start, each a fresh process serving every load of the rep in
turn: h2load -c C -m M (C connections, M concurrent streams on each) on GET
/plaintext, for --warm-up-time then -D (the window), over h2c and over TLS
(h2 by ALPN; the connections and their handshakes are made before the
warm-up, outside the window). Per server and load:

- requests/s: h2load's, over the window; its errors (failed, errored,
  timed out, and answers other than 2xx); its mean time per request;
- the server's CPU and h2load's over h2load's whole run (warm-up
  included), over its length (server_busy, client_busy: a server near 1
  CPU bounds the figure; h2load near 1, the client does);
- ratios within the rep: each server's requests/s over nginx's and Go's,
  and the fiber handlers' over the coroutine handlers' (impl
  duet-<driver>, fiber_vs_coroutine).

Memory per open stream parked at depth (parked_pass): h2load -c 100 -m 100
-n 10000 on GET /delay?ms=D: 100 connections with 100 streams each, every
stream held D ms by the server's handler (a timer: a parked stream). The
server's Pss (summed over its processes, /proc/PID/smaps_rollup) read
while they are held, minus before (after a short h2load on /plaintext, so
that what a serving server builds once is in the baseline), over the
streams: bytes per open stream, their 100 connections' share included.
The reading is checked to have caught every stream parked: every stream
takes at least D, so h2load's end less D bounds when its last stream
opened, and the reading must come after that and end before D. duet's
engines with coroutine and with fiber handlers, and Go; nginx cannot park
a stream on a timer without a module and is left out. duet's memory line
(SIGUSR1) before and during splits duet's bytes (h2_parked_bytes.*).

Memory per idle HTTP/2 connection (idle_pass): h2_idle.py opens N h2c
connections, each only the preface and the SETTINGS exchange, no stream,
and holds them; the server's Pss with them open minus before (after a
short h2load on /plaintext), over N. Every server here, with each one's
ratio over nginx's within the rep; duet's memory line splits its bytes
(idle_h2_bytes.*).

The lab runs it (`./experiments/run --only http2`, through the generated
wrapper exp_http2, with --jsonl: records on stdout) and writes its section
of reports/http.md. By hand:

  experiments/http/http2_bench.py --build build-experiments --profile quick --servers nginx,duet-coroutine
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
import subprocess
import sys
import tempfile
import time

from http_memory import memory_breakdown, memory_line, start_client, stop_client
from http_servers import DRIVERS, HERE, PEERS, NoTLS, Running, Server, cpu_ns, io_uring_available, make_cert, \
    nginx_binary, pick_cpus, pss_bytes, start, stop

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab.script import log, raise_nofile  # noqa: E402

EXPERIMENT = "http2"
# The pseudo-server of the pass timings (report.py leaves it out of the
# servers' tables).
TIMING_IMPL = "http2_bench"
# The references of the ratios within a rep.
REFS = ("nginx", "go")

# The loads: over h2c and over h2 (TLS), 1 connection x 100 streams and 64
# connections x 10 streams.
ALL_LOADS = "h2c:1x100,64x10;h2:1x100,64x10"
PROFILES = {
    # smoke (CI): the wiring of every pass in about 10 s: one shape per
    # transport, 0.4-s windows, duet's coroutine and fiber handlers and
    # nginx (the lab's smoke profile builds no other peer), 1,000 streams
    # parked over 10 connections for 0.6 s, 100 idle connections.
    "smoke": dict(loads="h2c:1x100;h2:64x10", reps=1, window_ms=400, warmup_ms=200, engines="coroutine,fiber",
                  peers="nginx", drivers="one", parked_n=1000, parked_conns=10, delay_ms=600, idle_n=100,
                  idle_runs=None, baseline_ms=200),
    # quick: every load, one rep a run (the lab runs it 3 times: 3 reps),
    # 1.5-s windows after 0.5 s of warm-up; the depth test in every run
    # (its target needs reps; about 13 s a run); the idle test in the lab's
    # first run only (DUET_LAB_RUN=0; no target grades it). About a minute
    # a run on 2 cores.
    "quick": dict(loads=ALL_LOADS, reps=1, window_ms=1500, warmup_ms=500, engines="coroutine,fiber,poll",
                  peers="nginx,go", drivers="one", parked_n=10000, parked_conns=100, delay_ms=2000, idle_n=1000,
                  idle_runs=1, baseline_ms=500),
    # full: 2 reps a run of 4-s windows, both drivers, every pass every run.
    "full": dict(loads=ALL_LOADS, reps=2, window_ms=4000, warmup_ms=1000, engines="coroutine,fiber,poll",
                 peers="nginx,go", drivers="all", parked_n=10000, parked_conns=100, delay_ms=3000, idle_n=5000,
                 idle_runs=None, baseline_ms=1000),
}


def emit(rec: dict):
    print(json.dumps(dict({"experiment": EXPERIMENT}, **rec)), flush=True)


def write(records: list[dict]):
    for x in records:
        print(json.dumps(x), flush=True)


# ---- loads and h2load ------------------------------------------------------------------

class Load:
    """One h2load workload: h2c or h2 (TLS), connections x streams on each,
    GET /plaintext."""

    def __init__(self, proto: str, conns: int, streams: int):
        if proto not in ("h2c", "h2"):
            raise ValueError(f"a load's protocol is h2c or h2, not {proto!r}")
        self.proto, self.conns, self.streams = proto, conns, streams

    @property
    def name(self) -> str:
        """The load in a record's metric (no dot: the report splits there)."""
        return f"{self.proto}-{self.conns}x{self.streams}"

    @property
    def tls(self) -> bool:
        return self.proto == "h2"

    path = "/plaintext"

    def __repr__(self):
        return self.name


def parse_loads(spec: str) -> list[Load]:
    """"h2c:1x100,64x10;h2:64x10" -> loads, in that order ("": none)."""
    out = []
    for part in spec.split(";"):
        if not part.strip():
            continue
        proto, _, shapes = part.partition(":")
        for shape in shapes.split(","):
            c, _, m = shape.strip().partition("x")
            out.append(Load(proto.strip(), int(c), int(m)))
    return out


_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6}


def _us(text: str) -> float:
    """h2load's durations ("60us", "9.12ms", "3.00s") in microseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"not an h2load duration: {text!r}")
    return float(m.group(1)) * _UNITS_US[m.group(2)]


def parse_h2load(text: str) -> dict:
    """h2load's report (stdout) as figures: rps (its requests/s over the
    main duration, or over the whole run without -D), finished_s, the
    request counts (total, succeeded, failed, errored, timeout), the status
    classes (s2xx ... s5xx), the application protocol it negotiated, and
    the time per request (req_min_us, req_max_us, req_mean_us); errors is
    every request that did not end in a 2xx answer. ValueError when the
    report is not there."""
    fin = re.search(r"^finished in ([\d.]+(?:us|ms|s)), ([\d.]+) req/s", text, re.M)
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                    r"(\d+) errored, (\d+) timeout", text, re.M)
    st = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if not (fin and req and st):
        raise ValueError("no h2load report in its output")
    d = {"finished_s": _us(fin.group(1)) / 1e6, "rps": float(fin.group(2))}
    for k, v in zip(("total", "started", "done", "succeeded", "failed", "errored", "timeout"), req.groups()):
        d[k] = int(v)
    for k, v in zip(("s2xx", "s3xx", "s4xx", "s5xx"), st.groups()):
        d[k] = int(v)
    proto = re.search(r"^Application protocol: (\S+)", text, re.M)
    d["protocol"] = proto.group(1) if proto else ""
    t = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if t:
        d["req_min_us"], d["req_max_us"], d["req_mean_us"] = (_us(x) for x in t.groups()[:3])
    # Every request that did not end in a 2xx answer: h2load's failed
    # (answers 4xx and 5xx, and as its subsets the errored and the timed
    # out), the 3xx it counts as succeeded, and the requests it counted but
    # never finished (a counted run, -n, cut short). Not the gap between
    # succeeded and the 2xx count: in a timed run the status counts take
    # the answers whose headers came in the warm-up's last moments or after
    # the window, the request counts only those the window finished.
    d["errors"] = d["failed"] + d["s3xx"] + max(0, d["total"] - d["done"])
    return d


def h2load_argv(cpu: int, url: str, conns: int, streams: int, window_ms: int = 0, warmup_ms: int = 0,
                n: int = 0) -> list[str]:
    """h2load pinned to `cpu`, one thread: a timed run (-D, after
    --warm-up-time) or a counted one (-n)."""
    argv = ["taskset", "-c", str(cpu), "h2load", "-t", "1", "-c", str(conns), "-m", str(streams)]
    if n:
        argv += ["-n", str(n)]
    else:
        argv += ["-D", f"{window_ms}ms"] + (["--warm-up-time", f"{warmup_ms}ms"] if warmup_ms else [])
    return argv + [url]


def expected_protocol(url: str) -> str:
    return "h2" if url.startswith("https:") else "h2c"


def check_report(d: dict, url: str, out: str) -> dict:
    """A parsed report that negotiated HTTP/2 as asked (h2c over http://,
    h2 over https://); RuntimeError otherwise."""
    want = expected_protocol(url)
    if d["protocol"] != want:
        raise RuntimeError(f"h2load negotiated {d['protocol'] or 'nothing'}, not {want}: {out.strip()[-300:]}")
    return d


def run_h2load(cpu: int, url: str, conns: int, streams: int, window_ms: int, warmup_ms: int,
               watch: list[int] | None = None) -> dict:
    """One timed h2load run: its figures (parse_h2load), its own CPU over
    its wall time (client_busy, from the children's rusage), and with
    `watch` (the server's processes) theirs (server_busy)."""
    argv = h2load_argv(cpu, url, conns, streams, window_ms, warmup_ms)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = cpu_ns(watch) if watch else 0
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=(window_ms + warmup_ms) / 1000 + 60)
    wall = time.monotonic() - t0
    s1 = cpu_ns(watch) if watch else 0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        d = parse_h2load(p.stdout)
    except ValueError:
        raise RuntimeError(f"h2load failed ({p.returncode}): {(p.stdout + p.stderr).strip()[-300:]}") from None
    check_report(d, url, p.stdout)
    if not d["succeeded"]:
        raise RuntimeError(f"h2load completed no request: {p.stdout.strip()[-300:]}")
    d["wall_s"] = wall
    d["client_busy"] = ((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)) / wall if wall else 0.0
    if watch:
        d["server_busy"] = (s1 - s0) / 1e9 / wall if wall else 0.0
    return d


def url_of(r: Running, load: Load, path: str | None = None) -> str:
    path = path or load.path
    return f"https://localhost:{r.tls_port}{path}" if load.tls else f"http://127.0.0.1:{r.port}{path}"


# ---- servers ---------------------------------------------------------------------------

def duet_name(engine: str, drv: str) -> str:
    return f"duet-{engine}-{drv}"


# The handlers' model of each engine here: the coroutine engine with
# coroutine handlers, the fiber engine with fiber handlers (a fiber per
# stream), the poll engine with its default (coroutine handlers).
HANDLERS = {"coroutine": ["--handlers", "coroutine"], "fiber": ["--handlers", "fiber"], "poll": []}


def duet_servers(build: str, engines: list[str], drivers: list[str]) -> tuple[dict[str, Server], str]:
    exe = os.path.join(build, "examples", "http_server", "http_server")
    if not os.path.isfile(exe):
        return {}, f"{exe} not built"
    out = {}
    for drv in drivers:
        for engine in engines:
            def argv(tp, c, k, engine=engine):
                # The I/O timeout (an idle HTTP/2 connection's, then GOAWAY)
                # as long as nginx's keepalive_timeout in nginx_h2.conf.in.
                return ([exe, "--port", "0", "--engine", engine, "--workers", "1", "--io-timeout-ms", "300000"]
                        + HANDLERS[engine] + (["--tls-port", str(tp), "--cert", c, "--key", k] if tp else []))
            out[duet_name(engine, drv)] = Server(duet_name(engine, drv), argv, {"DUET_DRIVER": drv})
    return out, ""


GO_XNET = "/usr/share/gocode/src/golang.org/x/net/http2/h2c"


def build_peers(out: str, want: list[str]) -> tuple[dict[str, Server], dict[str, str]]:
    """nginx (from nginx_h2.conf.in) and the Go HTTP/2 peer, those of
    `want` this machine can run; for the others, why not."""
    os.makedirs(out, exist_ok=True)
    peers: dict[str, Server] = {}
    missing: dict[str, str] = {}
    if "nginx" in want:
        nginx = nginx_binary()
        if nginx:
            peers["nginx"] = Server("nginx", [nginx], ready="nginx", conf="nginx_h2.conf.in")
        else:
            missing["nginx"] = "nginx not installed (apt-get install nginx)"
    if "go" in want:
        if not shutil.which("go"):
            missing["go"] = "go not installed (apt-get install golang-go)"
        elif not os.path.isdir(GO_XNET):
            missing["go"] = "golang.org/x/net/http2/h2c not installed (apt-get install golang-golang-x-net-dev)"
        else:
            exe = os.path.join(out, "go-http2")
            # Offline, GOPATH mode: Debian's Go sources under /usr/share/gocode.
            env = dict(os.environ, GOCACHE=os.path.join(out, "gocache"), GO111MODULE="off", GOFLAGS="",
                       GOPATH=os.path.join(out, "gopath") + ":/usr/share/gocode")
            r = subprocess.run(["go", "build", "-o", exe, os.path.join(PEERS, "go", "http2", "main.go")], env=env,
                               capture_output=True, text=True)
            if r.returncode == 0:
                peers["go"] = Server("go", lambda tp, c, k, exe=exe: [exe, "0"] + ([str(tp), c, k] if tp else []),
                                     {"GOMAXPROCS": "1"})
            else:
                missing["go"] = f"build failed: {r.stderr.strip()[-300:]}"
    return peers, missing


def one_driver(mode: str, uring=None) -> list[str]:
    """duet's drivers: both ("all"), or one: io_uring where the kernel
    allows it, else epoll."""
    if mode == "all":
        return list(DRIVERS)
    return ["io_uring"] if (io_uring_available() if uring is None else uring) else ["epoll"]


# ---- records ---------------------------------------------------------------------------

def rep_records(rep: dict[str, dict[str, dict]], loads: list[Load], method: str) -> list[dict]:
    """One rep (server -> load name -> figures): each server's figures per
    load, its requests/s over nginx's and Go's in the rep, and the fiber
    handlers' over the coroutine handlers' on each driver."""
    out = []

    def rec(impl, metric, load, value, unit, meth=method):
        out.append({"experiment": EXPERIMENT, "impl": impl, "metric": f"{metric}.{load.name}", "n": load.conns,
                    "value": value, "unit": unit, "method": meth})

    for load in loads:
        got = {name: figs[load.name] for name, figs in rep.items() if load.name in figs}
        for name, d in got.items():
            rec(name, "rps", load, d["rps"], "requests/s")
            rec(name, "errors", load, d["errors"], "count",
                "h2load: requests that did not end in a 2xx answer (failed, errored, timed out, unfinished)")
            if "req_mean_us" in d:
                rec(name, "req_mean_us", load, d["req_mean_us"], "us", "h2load's mean time for request over the "
                    f"window, {load.streams} streams in flight on each connection")
            if "server_busy" in d:
                rec(name, "server_busy", load, d["server_busy"], "CPUs",
                    "the server's CPU time (its threads' schedstat) over h2load's whole run (warm-up included), "
                    "over its length: near 1, the server bounds the figure")
            rec(name, "client_busy", load, d["client_busy"], "CPUs",
                "h2load's CPU time (rusage) over its whole run, over its length: near 1, the client bounds the "
                "figure")
        for ref in REFS:
            b = got.get(ref)
            if not b or b["rps"] <= 0:
                continue
            for name, d in got.items():
                if name != ref:
                    rec(name, f"rps_vs_{ref}", load, d["rps"] / b["rps"], "x", "ratio of requests/s in the same rep")
        for drv in DRIVERS:
            co, fb = got.get(duet_name("coroutine", drv)), got.get(duet_name("fiber", drv))
            if co and fb and co["rps"] > 0:
                rec(f"duet-{drv}", "fiber_vs_coroutine", load, fb["rps"] / co["rps"], "x",
                    "ratio of requests/s, fiber handlers (a fiber per stream) over coroutine handlers (a task per "
                    "stream), in the same rep")
    return out


def breakdown_records(impl: str, n: int, b: dict, prefix: str, method: str) -> list[dict]:
    """duet's memory breakdown (http_memory.memory_breakdown) as records,
    bytes per stream or connection: <prefix><part>."""
    if not b:
        return []
    parts = [(k, b[k]) for k in ("blocks", "heap", "rest")] + [(f"block{c}", v) for c, v in b["block_classes"].items()]
    return [{"experiment": EXPERIMENT, "impl": impl, "metric": f"{prefix}{k}", "n": n, "value": round(v, 1),
             "unit": "B", "method": method} for k, v in parts]


BREAKDOWN_METHOD = ("duet's server's memory line (SIGUSR1: duet::Runtime::memory() and mallinfo2()) read before "
                    "and during, over N: blocks of duet's block cache in use (coroutine frames, fibers' task "
                    "blocks, the driver's per-socket state), by size class as 256 KiB slabs carved; the C heap's "
                    "chunks in use (nghttp2's session, buffers); the rest of the Pss growth (fiber stacks' touched "
                    "pages, heap and slab pages not in use)")


def parked_records(name: str, d: dict, method: str) -> list[dict]:
    n = d["n"]
    out = [{"experiment": EXPERIMENT, "impl": name, "metric": "rss_per_parked_stream", "n": n,
            "value": d["per_stream"], "unit": "B", "method": method},
           {"experiment": EXPERIMENT, "impl": name, "metric": "parked_ok", "n": n, "value": d["ok"],
            "unit": "streams", "method": "h2load: streams answered 2xx after the delay"},
           {"experiment": EXPERIMENT, "impl": name, "metric": "parked_errors", "n": n, "value": d["errors"],
            "unit": "count", "method": "h2load: streams that did not end in a 2xx answer"}]
    return out + breakdown_records(name, n, d.get("breakdown") or {}, "h2_parked_bytes.", BREAKDOWN_METHOD)


def ratio_records(rep: dict[str, float], ref: str, metric: str, n: int, what: str) -> list[dict]:
    """Each server's figure over `ref`'s in the same rep (server -> bytes)."""
    b = rep.get(ref)
    if not b or b <= 0:
        return []
    return [{"experiment": EXPERIMENT, "impl": name, "metric": metric, "n": n, "value": v / b, "unit": "x",
             "method": f"ratio of bytes per {what}, over {ref}'s, in the same rep"}
            for name, v in rep.items() if name != ref and v is not None]


# ---- the run ---------------------------------------------------------------------------

def diagnostics_this_run(preset_runs: int | None, env=None) -> bool:
    """Every run where the profile says None, else the lab's first
    `preset_runs` runs (DUET_LAB_RUN, 0-based; a run by hand does it)."""
    if preset_runs is None:
        return True
    run = (env if env is not None else os.environ).get("DUET_LAB_RUN", "")
    return not run.isdigit() or int(run) < preset_runs


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("DUET_LAB_BUILD", os.path.join(HERE, "..", "..",
                                                                                     "build-experiments")),
                    type=os.path.abspath)
    ap.add_argument("--profile", default=os.environ.get("DUET_LAB_PROFILE", "") or "quick",
                    choices=sorted(PROFILES), help="presets for the options below (the lab sets it)")
    ap.add_argument("--loads", help=f'e.g. "{ALL_LOADS}" (empty: no load pass)')
    ap.add_argument("--reps", type=int)
    ap.add_argument("--window-ms", type=int, help="h2load's -D")
    ap.add_argument("--warmup-ms", type=int, help="h2load's --warm-up-time")
    ap.add_argument("--engines", help="duet's engines (coroutine,fiber,poll), each with its handlers' model")
    ap.add_argument("--drivers", choices=("one", "all"), help="duet's drivers: one (io_uring where the kernel "
                    "allows it, else epoll) or all")
    ap.add_argument("--peers", help="comma-separated peers (nginx,go)")
    ap.add_argument("--servers", default="", help="comma-separated substrings: keep only servers matching one")
    ap.add_argument("--parked-n", type=int, help="streams parked at once in the depth test (0: skip it)")
    ap.add_argument("--parked-conns", type=int, help="the connections they are opened over")
    ap.add_argument("--delay-ms", type=int, help="how long each parked stream is held (GET /delay?ms=)")
    ap.add_argument("--idle-n", type=int, help="idle HTTP/2 connections in the idle test (0: skip it)")
    ap.add_argument("--baseline-ms", type=int, help="the memory tests' h2load on /plaintext before the baseline")
    ap.add_argument("--idle-test", choices=("auto", "yes", "no"), default="auto",
                    help="the idle test: auto (the profile's rule: in quick, the lab's first run only), yes or no")
    ap.add_argument("--jsonl", action="store_true", help="records on stdout (the lab's format)")
    a = ap.parse_args(argv)
    preset = PROFILES[a.profile]
    for k in ("loads", "reps", "window_ms", "warmup_ms", "engines", "peers", "drivers", "parked_n", "parked_conns",
              "delay_ms", "idle_n", "baseline_ms"):
        if getattr(a, k) is None:
            setattr(a, k, preset[k])
    a.idle_test = (diagnostics_this_run(preset["idle_runs"]) if a.idle_test == "auto" else a.idle_test == "yes")
    if a.parked_n and a.parked_n % max(1, a.parked_conns):
        ap.error("--parked-n must be a multiple of --parked-conns (h2load gives each connection n/c requests)")
    return a


class Bench:
    def __init__(self, a, cpus, servers: dict[str, Server], tmp: str):
        self.a, self.cpus, self.servers, self.tmp = a, cpus, servers, tmp
        self.names = list(servers)
        self.cert, self.key = make_cert(tmp)
        self.rng = random.Random()
        self.failed: list[str] = []
        self.no_tls: set[str] = set()

    def rotated(self, names: list[str]) -> list[str]:
        k = self.rng.randrange(len(names)) if names else 0
        return names[k:] + names[:k]

    def fail(self, what: str, e: Exception):
        log(f"{what}: {e}")
        self.failed.append(f"{what}: {str(e).splitlines()[0][:160]}")


def load_method(b: Bench) -> str:
    return (f"h2load -t1 -c C -m M (C connections, M concurrent streams each) on GET /plaintext, "
            f"{b.a.window_ms / 1000:g} s (-D) after a {b.a.warmup_ms / 1000:g} s warm-up (connections and TLS "
            f"handshakes made before it), over h2c (prior knowledge) and over TLS (h2 by ALPN); server pinned to "
            f"CPU {b.cpus[0]} (one worker process or thread), h2load to CPU {b.cpus[1]}; each server a fresh "
            "process per rep serving every load of the rep in turn, servers rotated rep by rep")


def serve_loads(b: Bench, name: str, loads: list[Load]) -> dict[str, dict]:
    """One server, fresh, under every load in turn: load name -> figures."""
    srv = b.servers[name]
    want_tls = any(x.tls for x in loads) and name not in b.no_tls
    r = start(srv, b.cpus[0], b.cert, b.key, want_tls)
    out = {}
    try:
        for load in loads:
            if load.tls:
                if name in b.no_tls:
                    continue
                try:
                    r.require_tls()
                except NoTLS as e:
                    b.no_tls.add(name)
                    log(f"{name}: no TLS: {e}")
                    emit({"impl": name, "metric": "unavailable.h2", "value": 1, "unit": "", "method": str(e)[:300]})
                    continue
            d = run_h2load(b.cpus[1], url_of(r, load), load.conns, load.streams, b.a.window_ms, b.a.warmup_ms,
                           r.pids)
            if r.proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({r.proc.returncode}) during {load}: {''.join(r.tail)[-300:]}")
            out[load.name] = d
            log(f"{load} {name}: {d['rps']:.0f} req/s, {d['errors']} errors, server {d.get('server_busy', 0):.2f} "
                f"CPU, h2load {d['client_busy']:.2f} CPU")
    finally:
        rc = stop(r)
        if name.startswith("duet-") and rc not in (0, None):
            log(f"{name}: exit status {rc} after SIGTERM")
    return out


def load_pass(b: Bench, loads: list[Load]):
    if not loads:
        return
    method = load_method(b)
    for rep in range(b.a.reps):
        got: dict[str, dict[str, dict]] = {}
        for name in b.rotated(b.names):
            try:
                got[name] = serve_loads(b, name, loads)
            except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                b.fail(f"rep {rep} {name}", e)
        write(rep_records(got, loads, method))


# ---- the depth test: streams parked at once ----------------------------------------------

# The idle and depth tests' warm-up: h2load with this many connections and
# streams on /plaintext (h2c), for the profile's baseline_ms, before the
# baseline: what a serving server builds once is then not divided among the
# streams or connections measured.
WARMUP = (4, 10)


def warm(b: Bench, r: Running):
    c, m = WARMUP
    try:
        run_h2load(b.cpus[1], f"http://127.0.0.1:{r.port}/plaintext", c, m, b.a.baseline_ms, 0)
    except RuntimeError as e:
        raise RuntimeError(f"warm-up: {e}") from None
    time.sleep(0.3)


def parked_at_reading(t_read0: float, t_read1: float, t_end: float, delay_s: float) -> bool:
    """Whether a reading from t_read0 to t_read1 (seconds after h2load was
    started) saw every stream parked: each stream is held at least
    delay_s, so none ended before delay_s (the reading must end before
    it), and the last one opened no later than h2load's end less delay_s
    (the reading must start after that)."""
    return t_read1 < delay_s and t_end - delay_s < t_read0


def parked_rss(b: Bench, srv: Server, n: int, conns: int, delay_ms: int) -> dict:
    """Memory per open stream parked at depth: a fresh server, warmed; its
    Pss with n streams held on /delay over `conns` connections against
    before; for duet its breakdown."""
    r = start(srv, b.cpus[0], b.cert, b.key, False)
    try:
        warm(b, r)
        duet = srv.name.startswith("duet-")
        mem0 = memory_line(r) if duet else None
        m0 = pss_bytes(r.pids)
        url = f"http://127.0.0.1:{r.port}/delay?ms={delay_ms}"
        delay_s = delay_ms / 1000
        t0 = time.monotonic()
        p = subprocess.Popen(h2load_argv(b.cpus[1], url, conns, n // conns, n=n), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            # The streams open within a fraction of a second (0.1-0.2 s for
            # 10,000 on the 2-vCPU VM); read at 40% of the delay.
            time.sleep(max(0.0, t0 + 0.4 * delay_s - time.monotonic()))
            t_read0 = time.monotonic() - t0
            m1 = pss_bytes(r.pids)
            mem1 = memory_line(r) if mem0 else None
            t_read1 = time.monotonic() - t0
            out, err = p.communicate(timeout=delay_s + 120)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        t_end = time.monotonic() - t0
        try:
            d = check_report(parse_h2load(out), url, out)
        except ValueError:
            raise RuntimeError(f"h2load failed ({p.returncode}): {(out + err).strip()[-300:]}") from None
        if r.proc.poll() is not None:
            raise RuntimeError(f"{srv.name} exited ({r.proc.returncode}): {''.join(r.tail)[-300:]}")
        if not parked_at_reading(t_read0, t_read1, t_end, delay_s):
            raise RuntimeError(f"the reading ({t_read0:.2f}-{t_read1:.2f} s) did not see every stream parked: "
                               f"h2load ended at {t_end:.2f} s, each stream held {delay_s:g} s")
        return {"n": n, "m0": m0, "m1": m1, "per_stream": (m1 - m0) / n, "ok": d["s2xx"], "errors": d["errors"],
                "breakdown": memory_breakdown(mem0, mem1, m0, m1, n) if mem0 and mem1 else {}}
    finally:
        stop(r)


def parked_method(b: Bench, n: int, conns: int, delay_ms: int) -> str:
    return (f"h2load -c {conns} -m {n // conns} -n {n} on GET /delay?ms={delay_ms} (h2c): {n:,} streams open at "
            f"once, {n // conns} on each of {conns} connections, each held {delay_ms / 1000:g} s by the server's "
            "handler on a timer; Pss summed over the server's processes (/proc/PID/smaps_rollup) read at 40% of "
            f"the delay minus before (after h2load -c{WARMUP[0]} -m{WARMUP[1]} -D{b.a.baseline_ms}ms on /plaintext), "
            f"over the {n:,} streams (their connections' share included), the reading checked to have seen every "
            f"stream parked (h2load's end less the delay before it); server pinned to CPU {b.cpus[0]}, h2load to "
            f"CPU {b.cpus[1]}")


PARKED_ENGINES = ("coroutine", "fiber")   # the handlers' two models
NO_PARK = {"nginx": "nginx cannot hold a request on a timer without a module (no /delay in nginx_h2.conf.in)"}


def parked_names(names: list[str]) -> list[str]:
    return [x for x in names if x not in NO_PARK and (not x.startswith("duet-") or x.split("-")[1] in PARKED_ENGINES)]


def parked_pass(b: Bench):
    n, conns, delay = b.a.parked_n, b.a.parked_conns, b.a.delay_ms
    names = parked_names(b.names)
    for name, why in NO_PARK.items():
        if name in b.names:
            emit({"impl": name, "metric": "unavailable.parked", "value": 1, "unit": "", "method": why})
    method = parked_method(b, n, conns, delay)
    rep: dict[str, float] = {}
    for name in b.rotated(names):
        try:
            d = parked_rss(b, b.servers[name], n, conns, delay)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            b.fail(f"parked {name}", e)
            continue
        rep[name] = d["per_stream"]
        write(parked_records(name, d, method))
        log(f"parked {name}: {d['per_stream']:.0f} B/stream, {d['ok']} answered 2xx, {d['errors']} errors")
    write(ratio_records(rep, "go", "parked_vs_go", n, "parked stream"))


# ---- the idle test: open HTTP/2 connections with no stream -------------------------------

def idle_rss(b: Bench, srv: Server, n: int) -> dict:
    r = start(srv, b.cpus[0], b.cert, b.key, False)
    try:
        warm(b, r)
        mem0 = memory_line(r) if srv.name.startswith("duet-") else None
        m0 = pss_bytes(r.pids)
        cl, (opened, failed) = start_client("h2_idle.py", b.cpus[1], r.port, n, 16, max(30, n / 200),
                                            r"open (\d+) failed (\d+)")
        try:
            time.sleep(0.5)
            m1 = pss_bytes(r.pids)
            mem1 = memory_line(r) if mem0 else None
        finally:
            stop_client(cl, "\n")
        if r.proc.poll() is not None:
            raise RuntimeError(f"{srv.name} exited ({r.proc.returncode}): {''.join(r.tail)[-300:]}")
        return {"opened": opened, "failed": failed, "per_conn": (m1 - m0) / opened if opened else None,
                "breakdown": memory_breakdown(mem0, mem1, m0, m1, opened) if mem0 and mem1 and opened else {}}
    finally:
        stop(r)


def idle_method(b: Bench, n: int) -> str:
    return (f"h2_idle.py: {n:,} h2c connections from 127.0.0.2-17, each the client preface and the SETTINGS "
            "exchange only (no stream), then idle; Pss summed over the server's processes "
            f"(/proc/PID/smaps_rollup) 0.5 s after the last opened minus before (after h2load -c{WARMUP[0]} "
            f"-m{WARMUP[1]} -D{b.a.baseline_ms}ms on /plaintext), over the connections open; server pinned to CPU "
            f"{b.cpus[0]}, the client to CPU {b.cpus[1]}")


def idle_pass(b: Bench):
    n = b.a.idle_n
    method = idle_method(b, n)
    rep: dict[str, float] = {}
    for name in b.rotated(b.names):
        try:
            d = idle_rss(b, b.servers[name], n)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            b.fail(f"idle {name}", e)
            continue
        if d["per_conn"] is not None:
            rep[name] = d["per_conn"]
            emit({"impl": name, "metric": "rss_per_idle_h2_conn", "n": n, "value": d["per_conn"], "unit": "B",
                  "method": method})
        emit({"impl": name, "metric": "idle_h2_open", "n": n, "value": d["opened"], "unit": "connections",
              "method": method})
        write(breakdown_records(name, n, d["breakdown"], "idle_h2_bytes.", BREAKDOWN_METHOD))
        log(f"idle {name}: {d['opened']} open ({d['failed']} failed), {(d['per_conn'] or 0):.0f} B/conn")
    write(ratio_records(rep, "nginx", "idle_vs_nginx", n, "idle connection"))


def timed_pass(name: str, run) -> None:
    t0 = time.monotonic()
    try:
        run()
    finally:
        secs = time.monotonic() - t0
        log(f"pass {name}: {secs:.0f} s")
        emit({"impl": TIMING_IMPL, "metric": f"pass_seconds.{name}", "value": round(secs, 1), "unit": "s",
              "method": "wall time of the pass in one run of http2_bench.py (time.monotonic)"})


def select_servers(a) -> dict[str, Server]:
    """duet's configurations and the peers asked for, narrowed by
    --servers; each that cannot run an `unavailable` record."""
    engines = [e for e in a.engines.split(",") if e]
    duet, why = duet_servers(a.build, engines, one_driver(a.drivers))
    missing: dict[str, str] = {}
    if why:
        for drv in one_driver(a.drivers):
            for e in engines:
                missing[duet_name(e, drv)] = why
    peers, lack = build_peers(os.path.join(a.build, "http-peers"), [p for p in a.peers.split(",") if p])
    missing.update(lack)
    servers = dict(duet, **peers)
    keep = [x for x in a.servers.split(",") if x]
    if keep:
        servers = {k: v for k, v in servers.items() if any(x in k for x in keep)}
        missing = {k: v for k, v in missing.items() if any(x in k for x in keep)}
    for name, reason in missing.items():
        log(f"{name}: not measured ({reason})")
        emit({"impl": name, "metric": "unavailable", "value": 1, "unit": "", "method": reason})
    return servers


def main(argv=None) -> int:
    a = parse_args(argv)
    if not shutil.which("h2load"):
        why = "h2load not installed (apt-get install nghttp2-client)"
        log(f"{why}: nothing to measure")
        emit({"impl": "h2load", "metric": "unavailable", "value": 1, "unit": "", "method": why})
        return 0
    nofile = raise_nofile(max(a.idle_n, a.parked_conns) + 4096)
    cpus = pick_cpus()
    loads = parse_loads(a.loads)
    servers = select_servers(a)
    log(f"servers: {', '.join(servers) or 'none'}; loads: {loads}; reps {a.reps}; server CPU {cpus[0]}, h2load CPU "
        f"{cpus[1]}; RLIMIT_NOFILE {nofile}")
    tmp = tempfile.mkdtemp(prefix="duet-http2-")
    try:
        b = Bench(a, cpus, servers, tmp)
        timed_pass("load", lambda: load_pass(b, loads))
        if a.parked_n:
            timed_pass("parked", lambda: parked_pass(b))
        if a.idle_n and a.idle_test:
            timed_pass("idle", lambda: idle_pass(b))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if b.failed:
        log(f"{len(b.failed)} measurement(s) failed: " + "; ".join(b.failed)[-250:])
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
