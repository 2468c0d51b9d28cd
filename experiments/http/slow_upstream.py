#!/usr/bin/env python3
"""The upstream of the HTTP benchmark's proxy and fan-out loads, and the slow
upstream of its memory-at-depth measurement: an HTTP/1.1 server on loopback
(asyncio, one connection a task, keep-alive) whose `/slow...` requests are
held unanswered until it is told to answer them, so that a server proxying
to it keeps that many requests parked in flight at once.

Routes (every answer has a Content-Length; a request may be chunked):
  GET /json        {"message":"Hello, World!"} (application/json), at once
  GET /plaintext   Hello, World! (text/plain), at once
  any /echo...     the request's body back (application/octet-stream), with
                   X-Echo-Method and X-Echo-Target saying what came, and a
                   hop-by-hop Keep-Alive field a proxy must not relay
  any /slow...     held; answered 200 {"message":"Hello, World!"} when
                   released (SIGUSR1, or a line on stdin with --stdin)
  GET /held        {"held":N,"served":M,"connections":C}, at once: the
                   requests held now, those answered and the connections
                   accepted since start (the caller's wait; its check that
                   a proxy reuses its upstream connections)
  anything else    404
With --silent every request but /held is held (a silent upstream: a fan-out
through it meets its deadline).

Releasing answers every request held at that moment; later ones are held
again. A held request whose client closes its connection is dropped.

Capacity: one fd per connection; RLIMIT_NOFILE is raised to --nofile
(default 1,048,576) or the hard limit, and the listening line says the
limit in force: it holds about that many requests, less a few fds, as long
as memory lasts (a held request costs one task and a socket, about 10 KiB).

Protocol with the caller: one line on stdout, `listening on PORT (nofile
N)`; then it serves until SIGTERM or SIGINT (exit 0), or with --stdin until
stdin closes.

  slow_upstream.py [--port 0] [--silent] [--stdin] [--nofile 1048576]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab.script import raise_nofile  # noqa: E402

HELLO_JSON = b'{"message":"Hello, World!"}'
MAX_HEAD = 64 * 1024


class Upstream:
    def __init__(self, silent: bool):
        self.silent = silent
        self.release = asyncio.get_running_loop().create_future()   # resolved by the next release
        self.held = 0
        self.served = 0
        self.connections = 0

    def release_all(self):
        """Answers every request held now: they all wait on this future."""
        self.release.set_result(None)
        self.release = asyncio.get_running_loop().create_future()

    async def hold(self, reader: asyncio.StreamReader) -> bool:
        """Waits for the next release; False when the client closed (or sent
        more: a pipelining client is not expected here) first."""
        release = self.release
        eof = asyncio.ensure_future(reader.read(1))
        self.held += 1
        try:
            await asyncio.wait([release, eof], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.held -= 1
        if release.done() and not eof.done():
            eof.cancel()
            # The reader is free again only once the cancelled read has ended.
            await asyncio.gather(eof, return_exceptions=True)
            return True
        return False

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                method, target, fields, body = req
                path = target.split("?", 1)[0]
                extra = b""
                if path == "/held":
                    status, ctype = 200, b"application/json"
                    out = b'{"held":%d,"served":%d,"connections":%d}' % (self.held, self.served, self.connections)
                elif self.silent or path.startswith("/slow"):
                    if not await self.hold(reader):
                        break
                    status, ctype, out = 200, b"application/json", HELLO_JSON
                elif path == "/json":
                    status, ctype, out = 200, b"application/json", HELLO_JSON
                elif path == "/plaintext":
                    status, ctype, out = 200, b"text/plain", b"Hello, World!"
                elif path.startswith("/echo"):
                    status, ctype, out = 200, b"application/octet-stream", body
                    extra = (b"X-Echo-Method: " + method.encode() + b"\r\nX-Echo-Target: " + target.encode()
                             + b"\r\nKeep-Alive: timeout=300\r\n")
                else:
                    status, ctype, out = 404, b"text/plain", b"not found"
                close = fields.get("connection", "").lower() == "close"
                writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n"
                             % (status, b"OK" if status == 200 else b"Not Found", ctype, len(out), extra,
                                b"Connection: close\r\n" if close else b"") + out)
                await writer.drain()
                self.served += 1
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader):
    """(method, target, lower-cased fields, body) of the next request, or
    None at a clean end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":   # trailer fields
                    pass
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    else:
        body = await reader.readexactly(int(fields.get("content-length", "0")))
    return method, target, fields, body


async def main_async(a) -> int:
    up = Upstream(a.silent)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, up.release_all)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    server = await asyncio.start_server(up.serve, "127.0.0.1", a.port, backlog=65535, limit=MAX_HEAD)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {port} (nofile {a.nofile_now})", flush=True)
    if a.stdin:
        async def watch_stdin():
            r = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(r), sys.stdin)
            while await r.readline():
                up.release_all()
            if not stop.done():
                stop.set_result(None)
        stdin_task = asyncio.ensure_future(watch_stdin())  # noqa: F841 (kept alive until exit)
    await stop
    server.close()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--silent", action="store_true", help="hold every request but /held")
    ap.add_argument("--stdin", action="store_true", help="a line on stdin releases; EOF exits")
    ap.add_argument("--nofile", type=int, default=1 << 20)
    a = ap.parse_args()
    a.nofile_now = raise_nofile(a.nofile)
    return asyncio.run(main_async(a))


if __name__ == "__main__":
    sys.exit(main())
