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


def open_many(port: int, n: int, sources: int, timeout: float, in_flight: int, host: str,
              make_opening) -> tuple[list[socket.socket], int]:
    """Opens up to n connections to (host, port) from 127.0.0.2 on
    (`sources` addresses), at most `in_flight` at once, each driven by
    `make_opening()`: an object with hello() (the bytes written once the
    connect is done), feed(data) (the server's bytes in, the bytes to
    write back out), done (its opening is over: the socket is kept) and
    failed (the server refused it). Returns the sockets whose opening is
    done and the number that failed (closed by the server, refused, or
    not done by the deadline). h2_idle.py opens HTTP/2 connections with
    it."""
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    idle: list[socket.socket] = []
    failed = started = pending = 0

    def finish(s: socket.socket, ok: bool) -> None:
        nonlocal pending, failed
        sel.unregister(s)
        pending -= 1
        if ok:
            idle.append(s)
        else:
            s.close()
            failed += 1

    while (started < n or pending) and time.monotonic() < deadline:
        while started < n and pending < in_flight:
            s = start_connect(host, port, 2 + started % sources)
            started += 1
            if s is None:
                failed += 1
                continue
            sel.register(s, selectors.EVENT_WRITE, [s, None])
            pending += 1
        for key, _ in sel.select(timeout=0.2):
            s, o = key.data
            try:
                if o is None:  # connected (or not): say hello
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    o = make_opening()
                    s.sendall(o.hello())
                    if o.done:
                        finish(s, True)
                    else:
                        sel.modify(s, selectors.EVENT_READ, [s, o])
                    continue
                data = s.recv(4096)
                if not data:
                    raise OSError(errno.ECONNRESET, "closed by the server")
                reply = o.feed(data)
                if reply:
                    s.sendall(reply)
                if o.failed:
                    raise OSError(errno.ECONNRESET, "refused by the server")
                if o.done:
                    finish(s, True)
            except OSError:
                finish(s, False)
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed += 1
    failed += n - started
    sel.close()
    return idle, failed


class RequestOpening:
    """An HTTP/1.1 connection's opening: one GET written, and its answer
    read whole (or, `read_answer` false, the request only written: then the
    connection is kept with it in flight)."""

    def __init__(self, request: bytes, read_answer: bool):
        self.request = request
        self.read_answer = read_answer
        self.buf = b""
        self.failed = False

    def hello(self) -> bytes:
        return self.request

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        return b""

    @property
    def done(self) -> bool:
        return not self.read_answer or response_done(self.buf)


def open_idle(port: int, n: int, path: str, sources: int, timeout: float, in_flight: int,
              host: str = "127.0.0.1", read_answer: bool = True) -> tuple[list[socket.socket], int]:
    """Opens up to n connections, one request each; returns the idle sockets
    that were answered and the number that failed. With read_answer false
    the request is only written: the sockets returned have it in flight
    (parked_conns.py parks requests this way)."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    return open_many(port, n, sources, timeout, in_flight, host,
                     lambda: RequestOpening(request, read_answer))


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
