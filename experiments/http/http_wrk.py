"""The load generator of the HTTP benchmark (http_bench.py): a load (a
route, a connection count, pipelining depth, TLS), its wrk script
(stats.lua's done() hook, after pipeline.lua when pipelined), and one wrk
run against a running server, pinned to its CPU, read back as one record
of figures.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess

from http_servers import HERE, Running


# The loads through an upstream: /proxy/json (the upstream's /json, through
# the server's proxy) and /fanout?n=4 (four upstream /json requests at once,
# merged).
FANOUT_N = 4
UPSTREAM_PATHS = {"proxy": "/proxy/json", "fanout": f"/fanout?n={FANOUT_N}"}
# The routing-cost pair (http_bench.py's routing_pass): the bare route, and
# the routed one, a route with two path parameters behind one middleware
# layer (examples/http_server's --route-params and --middleware: the same
# "Hello, World!" answer).
ROUTING_PATHS = {"bare": "/plaintext", "routed": "/users/1/posts/2"}


class Load:
    """One wrk workload: a route, a connection count, pipelining depth, TLS."""

    def __init__(self, kind: str, conns: int, depth: int = 16):
        self.kind, self.conns, self.depth = kind, conns, depth

    @property
    def name(self) -> str:
        return f"pipeline{self.depth}" if self.kind == "pipeline" else self.kind

    @property
    def path(self) -> str:
        return (UPSTREAM_PATHS.get(self.kind) or ROUTING_PATHS.get(self.kind)
                or ("/json" if self.kind == "json" else "/plaintext"))

    @property
    def upstream(self) -> bool:
        """Whether the route goes through an upstream (the proxy and fan-out
        loads)."""
        return self.kind in UPSTREAM_PATHS

    @property
    def tls(self) -> bool:
        return self.kind == "https"

    def __repr__(self):
        return f"{self.name}@{self.conns}"


def parse_loads(spec: str, depth: int) -> list[Load]:
    """"plaintext:64,256;json:256" -> loads, in that order ("": none)."""
    out = []
    for part in spec.split(";"):
        if not part.strip():
            continue
        kind, _, conns = part.partition(":")
        for c in conns.split(","):
            out.append(Load(kind.strip(), int(c), depth))
    return out


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
# (5 in the full profile, so that the handshakes of 1,000 connections are a
# small part of one; 3 in quick, whose HTTPS load has 256; 2 in smoke).
HTTPS_MIN_SECONDS = 5   # http_bench.py sets it from its profile's https_min


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


def warm_up(cpu: int, r: Running, load: Load, seconds: int, script: str, sargs: list[str]):
    """A wrk run of `seconds` (none for 0) that is not measured: one that
    completes nothing (HTTPS at many connections can spend a short window
    on handshakes) is no error."""
    if not seconds:
        return
    try:
        run_wrk(cpu, r, load, seconds, script, sargs)
    except RuntimeError:
        pass
