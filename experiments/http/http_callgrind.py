#!/usr/bin/env python3
"""http_callgrind: instructions per request of examples/http_server's
connection engines (callgrind, not timing), to compare two builds of the
same server exactly.

    python3 experiments/http/http_callgrind.py BUILD [BUILD ...] [--n 2000]

For each build, engine (coroutine, fiber, poll) and load, the server runs
under `valgrind --tool=callgrind` on the epoll driver with one worker
(valgrind does not model io_uring), and a client in this process sends the
load over loopback: `keepalive`, one GET /plaintext at a time on one
connection; `pipeline`, batches of 16 in one write; `routed`, as
keepalive but GET /users/1/posts/2 (a route with two path parameters
behind one middleware layer: the server started with --route-params
--middleware, as the lab's routing-cost pair; issue 74). The server is run twice,
with N and 2N requests, and the count is (Ir(2N) - Ir(N)) / N, collected
only inside the worker's task runs (TOGGLES below), over every thread of
the server: what one more request costs in the tasks that serve it, with
start-up, teardown and the idle worker's search cancelled out. The handlers are the server's default model for
the engine (examples/http_server: coroutine handlers under the coroutine
and poll engines, plain ones under the fiber engine).

Prints one line per build, engine and load, and a JSON object on the last
line: {build: {"engine/load": instructions per request}}.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

# Collected only while the worker runs a task (a poll task's run, a
# coroutine task's run: the connection and its handler), so that the
# worker's idle search and the time-driven work around it (timer ticks,
# whose count follows valgrind's slow wall clock) stay out. A fiber's run
# jumps to its own stack, which callgrind does not follow as a call: the
# fiber engine is counted only in its coroutine and poll tasks, so its
# figure is not comparable with the others' (compare it with itself), and
# leaves out the handlers it calls on the connection's fiber: --whole counts
# every instruction of the server instead (the worker's idle search too, so
# noisier), which compares the fiber engine's builds.
TOGGLES = ["--toggle-collect=duet::detail::PollTask<*>::run(*",
           "--toggle-collect=duet::detail::CoroTask<*>::run(*"]
REQ = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"
ROUTED_REQ = b"GET /users/1/posts/2 HTTP/1.1\r\nHost: localhost\r\n\r\n"
ROUTED_FLAGS = ["--route-params", "--middleware"]
DEPTH = 16


def read_responses(s: socket.socket, n: int, buf: bytearray) -> None:
    """Reads `n` whole responses (each with a Content-Length) from `s`."""
    got = 0
    while got < n:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            m = re.search(rb"content-length:\s*(\d+)", bytes(buf[:end]), re.I)
            length = int(m.group(1)) if m else 0
            if len(buf) >= end + 4 + length:
                del buf[: end + 4 + length]
                got += 1
                continue
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        buf += chunk


def drive(port: int, load: str, n: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        buf = bytearray()
        if load in ("keepalive", "routed"):
            req = ROUTED_REQ if load == "routed" else REQ
            for _ in range(n):
                s.sendall(req)
                read_responses(s, 1, buf)
        else:
            for _ in range(n // DEPTH):
                s.sendall(REQ * DEPTH)
                read_responses(s, DEPTH, buf)


def instructions(exe: str, engine: str, load: str, n: int, whole: bool = False) -> int:
    """Ir of one server run under callgrind serving `n` requests of `load`."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "callgrind.out.%p")
        p = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *([] if whole else TOGGLES), exe, "--port", "0",
             "--engine", engine, "--workers", "1", *(ROUTED_FLAGS if load == "routed" else [])],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ, DUET_DRIVER="epoll"))
        port = None
        deadline = time.time() + 120
        while port is None and time.time() < deadline:
            line = p.stdout.readline().decode(errors="replace")
            if not line:
                break
            m = re.search(r"listening on\D*?(\d+)", line)
            if m:
                port = int(m.group(1))
        if port is None:
            p.kill()
            raise RuntimeError(f"{exe}: no port")
        drive(port, load, n)
        p.send_signal(15)  # SIGTERM: the server drains and exits
        p.wait(timeout=120)
        total = 0
        for f in glob.glob(os.path.join(d, "callgrind.out.*")):
            with open(f) as fh:
                for line in fh:
                    if line.startswith("summary:") or line.startswith("totals:"):
                        total += int(line.split()[1])
                        break
        return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="build trees with examples/http_server/http_server")
    ap.add_argument("--n", type=int, default=2000, help="requests of the shorter run (a multiple of 16)")
    ap.add_argument("--engines", default="coroutine,fiber,poll")
    ap.add_argument("--loads", default="keepalive,pipeline")
    ap.add_argument("--whole", action="store_true",
                    help="count every instruction of the server, not only inside task runs")
    a = ap.parse_args(argv)
    result: dict[str, dict[str, float]] = {}
    for build in a.builds:
        exe = os.path.join(build, "examples", "http_server", "http_server")
        result[build] = {}
        for engine in a.engines.split(","):
            for load in a.loads.split(","):
                one = instructions(exe, engine, load, a.n, a.whole)
                two = instructions(exe, engine, load, 2 * a.n, a.whole)
                per = (two - one) / a.n
                result[build][f"{engine}/{load}"] = round(per, 1)
                print(f"{build} {engine} {load}: {per:.1f} instructions per request", flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
