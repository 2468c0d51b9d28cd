"""The memory tests of the HTTP benchmark (http_bench.py): the server's
memory per idle keep-alive connection (Pss with N connections open through
idle_conns.py, against before), and per in-flight proxied request parked at
depth (Pss with N requests on /proxy/slow held by slow_upstream.py, through
parked_conns.py, against before); for duet's server where those bytes are
(its memory line on SIGUSR1, before and with the N open or held).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

from http_servers import HERE, Running, Server, Upstream, pss_bytes, start, stop
from http_wrk import tls_host


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


def start_client(script: str, cpu: int, port: int, n: int, sources: int, timeout: float,
                 first_line: str, extra: list[str] | None = None) -> tuple[subprocess.Popen, tuple[int, ...]]:
    """Starts one of the connection scripts (idle_conns.py, parked_conns.py)
    pinned to `cpu`, with `extra` arguments, and reads its first line, which
    must match `first_line` (its groups are the counts returned); kills it
    and raises otherwise."""
    cl = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, os.path.join(HERE, script),
                           "--port", str(port), "--n", str(n), "--sources", str(sources),
                           "--timeout", str(timeout)] + (extra or []),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = cl.stdout.readline()
    m = re.match(first_line, line)
    if not m:
        cl.kill()
        raise RuntimeError(f"{script}: {line.strip()} {cl.stderr.read()[-300:]}")
    return cl, tuple(int(g) for g in m.groups())


def stop_client(cl: subprocess.Popen, last: str = "") -> None:
    """Ends a connection script started by start_client: writes `last`,
    closes its stdin (it then closes its connections and exits), and waits
    for it (30 s, then kills it)."""
    try:
        if last:
            cl.stdin.write(last)
        cl.stdin.close()
    except OSError:
        pass
    try:
        cl.wait(timeout=30)
    except subprocess.TimeoutExpired:
        cl.kill()


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


# The idle test's warm-up: wrk with this many connections for this many
# seconds on /plaintext, before the baseline.
IDLE_WARMUP = (4, 1)
# The idle test reads the server twice once its connections are open: at
# once (after IDLE_FIRST_S), and after IDLE_LONG_S, when a connection has
# been idle as a keep-alive connection usually is: past what a server
# gives back from an idle connection after a while (duet's
# RuntimeConfig::fiber_stack_trim_after, 1 s by default, and the worker's
# look one period later; Go's stacks shrink only at a collection, which
# nothing here forces).
IDLE_FIRST_S = 0.5
IDLE_LONG_S = 3.0


def idle_rss(srv: Server, n: int, cpus, cert, key, sources: int, tls: bool = False) -> dict:
    """Memory per idle keep-alive connection: the server's Pss with N open
    (one request answered on each) against before; for duet's server, its
    breakdown too (memory_line, memory_breakdown). `tls`: the connections
    and the warm-up go to the server's HTTPS port (idle_conns.py --tls)."""
    r = start(srv, cpus[0], cert, key, tls)
    try:
        r.require_tls(tls)
        url = (f"https://{tls_host()}:{r.tls_port}/plaintext" if tls
               else f"http://127.0.0.1:{r.port}/plaintext")
        # Traffic first, so that what a serving server builds once is in the
        # baseline, not divided among the N: buffer pools, malloc arenas, the
        # io_uring buffer ring (every buffer is filled once as recvs cycle
        # through it), and over TLS the library's per-process state. Few
        # connections, so that few connections' state is left cached for the
        # N to reuse (IDLE_WARMUP).
        subprocess.run(["taskset", "-c", str(cpus[1]), "wrk", "-t1", f"-c{IDLE_WARMUP[0]}",
                        f"-d{IDLE_WARMUP[1]}s", url], capture_output=True, text=True, timeout=60)
        time.sleep(0.3)
        pids = r.pids
        mem0 = memory_line(r) if srv.name.startswith("duet-") else None
        m0 = pss_bytes(pids)
        # TLS connections open one after another (a handshake each): more time.
        cl, (opened, failed) = start_client("idle_conns.py", cpus[1], r.tls_port if tls else r.port, n, sources,
                                            max(60, n / 50) if tls else max(30, n / 200),
                                            r"open (\d+) failed (\d+)", ["--tls"] if tls else [])
        try:
            t0 = time.monotonic()
            time.sleep(IDLE_FIRST_S)
            m1 = pss_bytes(r.pids)
            mem1 = memory_line(r) if mem0 else None
            time.sleep(max(0.0, IDLE_LONG_S - (time.monotonic() - t0)))
            m2 = pss_bytes(r.pids)
            mem2 = memory_line(r) if mem0 else None
        finally:
            stop_client(cl, "\n")
        return {"opened": opened, "failed": failed, "m0": m0, "m1": m1, "m2": m2,
                "per_conn": (m1 - m0) / opened if opened else None,
                "per_conn_long": (m2 - m0) / opened if opened else None,
                "breakdown": memory_breakdown(mem0, mem1, m0, m1, opened) if mem0 and mem1 else {},
                "breakdown_long": memory_breakdown(mem0, mem2, m0, m2, opened) if mem0 and mem2 else {}}
    finally:
        stop(r)


# ---- requests parked at depth ------------------------------------------------------------

# The depth test's warm-up: wrk with this many connections for this many
# seconds on /proxy/json (answered by the slow upstream at once), before the
# baseline, so that the proxy's client, its pool and the upstream path are
# built before it.
DEPTH_WARMUP = (4, 1)
# How long every server's proxy waits for the upstream's answer in the depth
# test (nginx's proxy_read_timeout, Go's ResponseHeaderTimeout, hyper's
# timeout, duet's ClientConfig::request_timeout through
# --upstream-timeout-ms): longer than parking N requests and reading the
# memory take, so that no request is answered 504 while parked.
DEPTH_UPSTREAM_TIMEOUT_MS = 600_000
# Descriptors the server keeps for itself besides its parked requests'
# (listeners, the driver, the upstream pool's idle connections, stdio).
DEPTH_FD_MARGIN = 1024


def depth_n(want: int, nofile: int) -> int:
    """The number of requests parked at once: `want` (the issue's 10,000)
    where the server's RLIMIT_NOFILE allows, else what it allows with a
    margin, in whole thousands: a parked proxied request holds two of the
    server's descriptors (its client's connection and its upstream
    connection)."""
    fit = max(0, nofile - DEPTH_FD_MARGIN) // 2 // 1000 * 1000
    return max(0, min(want, fit))


def depth_n_why(n: int, want: int, nofile: int) -> str:
    """Why the depth test parks `n` requests (the page's method text)."""
    if n >= want:
        return f"N = {n:,}"
    return (f"N = {n:,}, not {want:,}: a parked proxied request holds two of the server's descriptors (its "
            f"client's connection and its upstream connection) under RLIMIT_NOFILE {nofile:,} here (the "
            f"machine's hard limit), less a margin of {DEPTH_FD_MARGIN:,}, in whole thousands")


def per_request(m0: int, m1: int, n: int) -> float | None:
    """Bytes per parked request: the growth of the server's memory over the
    requests held (None when none was)."""
    return (m1 - m0) / n if n > 0 else None


def upstream_held(port: int, timeout: float = 5.0) -> dict:
    """slow_upstream.py's counters (GET /held): held, served, connections."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/held")
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def wait_held(port: int, n: int, timeout: float) -> int:
    """Waits until the upstream holds n requests, or the deadline; returns
    how many it holds then."""
    deadline = time.time() + timeout
    held = 0
    while time.time() < deadline:
        held = upstream_held(port)["held"]
        if held >= n:
            break
        time.sleep(0.2)
    return held


def parked_rss(srv: Server, n: int, cpus, up_cpu: int, cert, key, sources: int) -> dict:
    """Memory per in-flight proxied request parked at depth: a fresh
    slow_upstream.py (pinned to up_cpu) and a fresh server proxying to it;
    the server's Pss with N requests on /proxy/slow held by the upstream
    against before; then the upstream releases them and every answer is
    counted (200, another status, none). For duet's server its breakdown too
    (memory_line, memory_breakdown)."""
    up = start(Server("slow_upstream.py", [sys.executable, os.path.join(HERE, "slow_upstream.py"), "--port", "0"],
                      tls=False), up_cpu, cert, key, False)
    try:
        r = start(srv, cpus[0], cert, key, False,
                  upstream=Upstream(f"127.0.0.1:{up.port}", timeout_ms=DEPTH_UPSTREAM_TIMEOUT_MS))
        try:
            return _parked(srv, r, up, n, cpus, sources)
        finally:
            stop(r)
    finally:
        stop(up)


def _parked(srv: Server, r: Running, up: Running, n: int, cpus, sources: int) -> dict:
    subprocess.run(["taskset", "-c", str(cpus[1]), "wrk", "-t1", f"-c{DEPTH_WARMUP[0]}", f"-d{DEPTH_WARMUP[1]}s",
                    f"http://127.0.0.1:{r.port}/proxy/json"], capture_output=True, text=True, timeout=60)
    time.sleep(0.3)
    mem0 = memory_line(r) if srv.name.startswith("duet-") else None
    m0 = pss_bytes(r.pids)
    limit = max(60.0, n / 100)
    cl, (sent, failed) = start_client("parked_conns.py", cpus[1], r.port, n, sources, limit,
                                      r"sent (\d+) failed (\d+)")
    try:
        held = wait_held(up.port, sent, limit)
        if held < sent or r.proc.poll() is not None:
            raise RuntimeError(f"the upstream holds {held} of the {sent} requests sent after {limit:.0f} s"
                               + (f"; {srv.name} exited ({r.proc.returncode}): {''.join(r.tail)[-200:]}"
                                  if r.proc.poll() is not None else ""))
        time.sleep(0.5)
        m1 = pss_bytes(r.pids)
        mem1 = memory_line(r) if mem0 else None
        os.kill(up.proc.pid, signal.SIGUSR1)   # slow_upstream.py: answer every request held
        cl.stdin.write("\n")
        cl.stdin.flush()
        line = cl.stdout.readline()
        m = re.match(r"answered (\d+) (\d+) (\d+)", line)
        if not m:
            raise RuntimeError(f"parked_conns: {line.strip()} {cl.stderr.read()[-300:]}")
        ok, other, none = (int(x) for x in m.groups())
    finally:
        stop_client(cl)
    return {"sent": sent, "failed": failed, "held": held, "ok": ok, "other": other, "none": none, "m0": m0,
            "m1": m1, "per_req": per_request(m0, m1, held),
            "breakdown": memory_breakdown(mem0, mem1, m0, m1, held) if mem0 and mem1 else {}}


DEPTH_BREAKDOWN_METHOD = BREAKDOWN_METHOD.replace("the idle test's N connections open", "the depth test's N "
                                                  "requests held") + (
    "; a parked request is its connection's task with the chain of frames (coroutine) or stack pages (fiber) it "
    "is suspended in, the pooled client's exchange and its upstream connection. The rest is negative where the "
    "C heap's chunks in use are larger than the pages written in them: mallinfo2 counts a chunk whole, Pss only "
    "its resident pages")
