#!/usr/bin/env python3
"""Idle keep-alive connections for the HTTP benchmark (http_bench.py): opens
N connections to a server on loopback, sends one GET on each and reads its
response, then holds every connection open and idle while the benchmark
reads the server's memory.

Connections come from several source addresses (127.0.0.2, 127.0.0.3, ...,
one per `--sources`) so that no single address runs out of ephemeral ports;
connects are kept to a bounded number in flight so the server's accept
backlog is not overrun. Bounded in count (`--n`) and time (`--timeout`): it
never opens more than N, and gives up on whatever is not done by the
deadline.

With `--tls` every connection is TLS (any certificate accepted, SNI
"localhost"), opened one after another: the handshake done, the GET
written and its response read before the next connection starts.

Protocol with the caller: one line on stdout, `open K failed F` (K
connections answered and now idle, F that failed or timed out), then it
waits until stdin has a line or closes, closes every connection and exits 0.

  idle_conns.py --port 8080 --n 10000 [--path /plaintext] [--sources 8] [--tls]
"""
from __future__ import annotations

import argparse
import errno
import os
import selectors
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab.script import raise_nofile, start_connect  # noqa: E402


class Conn:
    __slots__ = ("sock", "state", "buf")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connecting"
        self.buf = b""


def response_done(buf: bytes) -> bool:
    """A whole HTTP/1.1 response with a Content-Length body is in `buf`."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    length = 0
    for line in buf[:head_end].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    return len(buf) >= head_end + 4 + length


def open_idle(port: int, n: int, path: str, sources: int, timeout: float, in_flight: int,
              host: str = "127.0.0.1", read_answer: bool = True) -> tuple[list[socket.socket], int]:
    """Opens up to n connections, one request each; returns the idle sockets
    that were answered and the number that failed. With read_answer false
    the request is only written: the sockets returned have it in flight
    (parked_conns.py parks requests this way)."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    idle: list[socket.socket] = []
    failed = 0
    started = 0
    pending = 0
    while (started < n or pending) and time.monotonic() < deadline:
        while started < n and pending < in_flight:
            s = start_connect(host, port, 2 + started % sources)
            started += 1
            if s is None:
                failed += 1
                continue
            c = Conn(s)
            sel.register(s, selectors.EVENT_WRITE, c)
            pending += 1
        for key, _ in sel.select(timeout=0.2):
            c = key.data
            s = c.sock
            try:
                if c.state == "connecting":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    s.sendall(request)
                    if not read_answer:
                        sel.unregister(s)
                        pending -= 1
                        idle.append(s)
                        continue
                    c.state = "reading"
                    sel.modify(s, selectors.EVENT_READ, c)
                    continue
                data = s.recv(4096)
                if not data:
                    raise OSError(errno.ECONNRESET, "closed by the server")
                c.buf += data
                if response_done(c.buf):
                    sel.unregister(s)
                    pending -= 1
                    idle.append(s)
            except OSError:
                sel.unregister(s)
                s.close()
                pending -= 1
                failed += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed += 1
    failed += n - started
    sel.close()
    return idle, failed


def open_idle_tls(port: int, n: int, path: str, sources: int, timeout: float,
                  host: str = "127.0.0.1") -> tuple[list[ssl.SSLSocket], int]:
    """open_idle over TLS: up to n connections, one after another, each
    handshake done and one GET answered; returns the idle TLS sockets and
    the number that failed (the ones not started by the deadline count as
    failed)."""
    request = f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    idle: list[ssl.SSLSocket] = []
    failed = 0
    for i in range(n):
        left = deadline - time.monotonic()
        if left <= 0:
            failed += n - i
            break
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            raw.settimeout(min(left, 10.0))
            raw.bind((f"127.0.0.{2 + i % sources}", 0))
            raw.connect((host, port))
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            s.sendall(request)
            buf = b""
            while not response_done(buf):
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError(errno.ECONNRESET, "closed by the server")
                buf += chunk
            idle.append(s)
        except OSError:
            raw.close()
            failed += 1
    return idle, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--path", default="/plaintext")
    ap.add_argument("--sources", type=int, default=8, help="source addresses 127.0.0.2 ... (at most 250)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to open and answer all N")
    ap.add_argument("--in-flight", type=int, default=256, help="connects not yet answered, at most")
    ap.add_argument("--tls", action="store_true", help="TLS connections, opened one after another")
    a = ap.parse_args()
    raise_nofile(a.n + 64)
    sources = max(1, min(a.sources, 250))
    if a.tls:
        idle, failed = open_idle_tls(a.port, a.n, a.path, sources, a.timeout)
    else:
        idle, failed = open_idle(a.port, a.n, a.path, sources, a.timeout, a.in_flight)
    print(f"open {len(idle)} failed {failed}", flush=True)
    sys.stdin.readline()
    for s in idle:
        s.close()


if __name__ == "__main__":
    main()
