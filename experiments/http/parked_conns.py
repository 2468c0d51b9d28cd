#!/usr/bin/env python3
"""Requests parked at depth for the HTTP benchmark's depth test
(http_memory.py's parked_rss): opens N connections to a server on loopback
and writes one request on each (GET /proxy/slow: the server forwards it to
slow_upstream.py, which holds it), without reading; the caller reads the
server's memory while all N are held. Then, told to, it reads every
connection's answer and says how many were 200, how many another status,
and how many got none (closed, reset or past the deadline).

Connections come from several source addresses (127.0.0.2, 127.0.0.3, ...,
one per `--sources`) so that no single address runs out of ephemeral ports;
connects not yet written are kept to a bounded number so the server's accept
backlog is not overrun. Bounded in count (`--n`) and time (`--timeout` for
the writes, the same again for the answers).

Protocol with the caller: one line on stdout, `sent K failed F` (K requests
written and now waiting, F connections that failed or timed out first);
then, at a line on stdin, it reads the answers and prints `answered OK
OTHER NONE` (200s, other statuses, no answer); it exits 0 when stdin closes
(closing every connection).

  parked_conns.py --port 8080 --n 9000 [--path /proxy/slow] [--sources 16]
"""
from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab.script import raise_nofile  # noqa: E402

from idle_conns import open_idle, response_done  # noqa: E402


def park(port: int, n: int, path: str, sources: int, timeout: float, in_flight: int,
         host: str = "127.0.0.1") -> tuple[list[socket.socket], int]:
    """Opens up to n connections and writes one request on each, reading
    nothing; returns the sockets whose request is written and the number
    that failed."""
    return open_idle(port, n, path, sources, timeout, in_flight, host, read_answer=False)


def status_of(buf: bytes) -> int:
    """The status code of the response at the start of `buf` (0: none)."""
    parts = buf.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def collect(socks: list[socket.socket], timeout: float) -> tuple[int, int, int]:
    """Reads one response on each socket: (200s, other statuses, none: the
    connection closed, reset or still silent at the deadline)."""
    sel = selectors.DefaultSelector()
    bufs: dict[socket.socket, bytes] = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    ok = other = none = 0
    deadline = time.monotonic() + timeout
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                bufs[s] += data
                if not response_done(bufs[s]):
                    continue
                if status_of(bufs[s]) == 200:
                    ok += 1
                else:
                    other += 1
            else:
                none += 1
            sel.unregister(s)
            del bufs[s]
    none += len(bufs)
    sel.close()
    return ok, other, none


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--path", default="/proxy/slow")
    ap.add_argument("--sources", type=int, default=16, help="source addresses 127.0.0.2 ... (at most 250)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to write all N; as long for the answers")
    ap.add_argument("--in-flight", type=int, default=256, help="connects not yet written, at most")
    a = ap.parse_args()
    raise_nofile(a.n + 64)
    socks, failed = park(a.port, a.n, a.path, max(1, min(a.sources, 250)), a.timeout, a.in_flight)
    print(f"sent {len(socks)} failed {failed}", flush=True)
    if sys.stdin.readline():
        ok, other, none = collect(socks, a.timeout)
        print(f"answered {ok} {other} {none}", flush=True)
        sys.stdin.readline()
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
