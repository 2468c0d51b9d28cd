#!/usr/bin/env python3
"""HTTP fault soak (issues 37 and 51): examples/http_server under a client
that mixes normal HTTP traffic with faults, for each of its three connection
engines (coroutine, fiber, poll: --engine) and both drivers, in the style of
experiments/io/soak.py.

Each wave runs, at once:
  - http:      keep-alive connections sending pipelined GET /plaintext and
               GET /json plus requests with Content-Length and chunked
               bodies; every response is checked (status and body);
  - reset:     a request whose body is cut off by an RST (SO_LINGER 0);
  - halfclose: a request, then shutdown(SHUT_WR); the response must arrive
               whole, then the end of the stream;
  - slowread:  a client that pipelines requests without reading until its
               send blocks (the server's writes back up), then resets;
  - slowwrite: a request sent a few bytes at a time, within the read
               timeout; it must be answered;
  - malformed: bad requests, each with its expected answer (400, 431, 413,
               501, 505) and the close;
  - storm:     more connections at once than the server's RLIMIT_NOFILE
               (a low limit), held, then reset; afterwards a request must be
               answered (accept keeps working after EMFILE);
  - vanish:    connects closed mid-handshake.
After each wave: the server is alive, its descriptors come back to their
baseline (within a bounded wait), and its RSS is flat over the second half
of the waves (growth at most max(4 MiB, 10%), plus the io_uring buffer
rings, as experiments/io/soak.py allows). At the end SIGTERM must drain it
to exit 0.

  experiments/io/http_soak.py --build build-tests/plain --profile smoke

This file is HTTP's part (the traffic, the slow writer, the malformed
requests, what a reset or a half-close sends); the server, the faults both
soaks share, the waves, the checks after each and the command line are
soak_common.py's.
"""
from __future__ import annotations

import os
import random
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak_common import (SERVER_NOFILE, SERVER_WORKERS, STORM, Soak, SoakServer, Tally, connect,  # noqa: E402
                         failing)

LIMITS = ["--max-header-bytes", "4096", "--max-body-bytes", "65536", "--io-timeout-ms", "3000"]
PLAIN = b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n"
JSON = b"GET /json HTTP/1.1\r\nHost: soak\r\n\r\n"
HELLO = b"Hello, World!"
JSON_BODY = b'{"message":"Hello, World!"}'


class Reader:
    """Reads whole responses (Content-Length framed) from a socket."""

    def __init__(self, s: socket.socket):
        self.s, self.buf = s, b""

    def response(self) -> tuple[int, bytes, bytes]:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError(f"EOF before a response head ({self.buf[:60]!r})")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = int(head[9:12])
        m = re.search(rb"\r\nContent-Length: (\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("EOF inside a body")
            self.buf += chunk
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, head, body

    def eof(self) -> bool:
        if self.buf:
            return False
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True


def chunked(body: bytes, rng: random.Random) -> bytes:
    out, i = b"", 0
    while i < len(body):
        n = rng.randint(1, 4096)
        out += b"%x;ext=%d\r\n" % (len(body[i:i + n]), n) + body[i:i + n] + b"\r\n"
        i += n
    return out + b"0\r\nX-Trailer: t\r\n\r\n"


def slow_writer(port: int, t: Tally):
    """A request a few bytes at a time, well within the read timeout."""
    with failing("slowwrite", t), connect(port) as s:
        req = JSON
        for i in range(0, len(req), 6):
            s.sendall(req[i:i + 6])
            time.sleep(0.02)
        if Reader(s).response()[2] != JSON_BODY:
            t.fail("slowwrite: wrong answer")
            return
        t.passed()
        t.fault("slowwrite")


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /json HTTP/1.1\r\nHost: soak\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET /json HTTP/1.1\r\nHost: soak\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"GET /json HTTP/1.1\r\nHost: soak\r\nX: a\r\n folded\r\n\r\n", 400),
    (b"GET /json HTTP/1.1\r\nHost: soak\r\nX: " + b"a" * 5000 + b"\r\n\r\n", 431),
    (b"POST /json HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n", 413),
    # RFC 9112 6.3: chunked not the final coding, the length unknown: 400
    # (a MUST); 6.1: a coding the server does not know, chunked final: 501.
    (b"POST /json HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"POST /json HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    # RFC 9110 9.1: a method the server does not know: 501.
    (b"BREW /json HTTP/1.1\r\nHost: soak\r\n\r\n", 501),
    (b"GET /json HTTP/2.0\r\nHost: soak\r\n\r\n", 505),
]


def malformed(port: int, t: Tally):
    for req, status in MALFORMED:
        with failing("malformed", t), connect(port) as s:
            s.sendall(req)
            rd = Reader(s)
            got = rd.response()[0]
            if got != status or not rd.eof():
                t.fail(f"malformed: {req[:30]!r} got {got}, wanted {status} and a close")
                continue
            t.fault("malformed")


class HttpSoak(Soak):
    NAME = "http_soak"
    # Waves per configuration, keep-alive connections, requests each. Smoke
    # (CI's soak:http:smoke) runs 2 waves on each of the six configurations:
    # the 12 waves it ran as 3 on each of four (two models), so its cost
    # stays what it was with a third engine.
    PROFILES = {
        "smoke": (2, 4, 40),
        "quick": (4, 16, 200),
        "full": (20, 32, 1000),
    }
    MODELS = "coroutine,fiber,poll"   # the engines (--models/--engines)
    EXE = ("examples", "http_server", "http_server")
    WARM_UP = 4
    STALL = (PLAIN * 1000, "slowread")
    VERIFIED = ("responses_verified", "responses", "responses verified")
    AFTER_STORM = "a request after EMFILE"
    CLEAN_EXIT = True

    def server(self, model: str, driver: str) -> SoakServer:
        """`model` is the connection engine."""
        return SoakServer([self.exe, "--engine", model, "--port", "0", "--workers", str(SERVER_WORKERS)] + LIMITS,
                          f"http-soak-{model}-{driver}", SERVER_NOFILE, stop_timeout=20,
                          env=dict(os.environ, DUET_DRIVER=driver))

    def traffic(self, port: int, rng: random.Random, n: int, t: Tally):
        """Keep-alive traffic: batches of pipelined requests, some with bodies."""
        with failing("http", t), connect(port) as s:
            rd, sent = Reader(s), 0
            while sent < n:
                batch, want = b"", []
                for _ in range(min(n - sent, rng.randint(1, 16))):
                    kind = rng.randrange(4)
                    if kind == 0:
                        batch, want = batch + PLAIN, want + [(200, HELLO)]
                    elif kind == 1:
                        batch, want = batch + JSON, want + [(200, JSON_BODY)]
                    else:
                        body = rng.randbytes(rng.randint(0, 8192))
                        frame = (b"Content-Length: %d\r\n\r\n" % len(body) + body if kind == 2
                                 else b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, rng))
                        batch += b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n" + frame
                        want.append((200, HELLO))
                    sent += 1
                s.sendall(batch)
                for status, body in want:
                    got = rd.response()
                    if (got[0], got[2]) != (status, body):
                        t.fail(f"http: got {got[0]} {got[2][:40]!r}, wanted {status}")
                        return
                    t.passed()

    def reset_payload(self, rng: random.Random) -> bytes:
        """A request whose body the RST cuts off."""
        return (b"GET /plaintext HTTP/1.1\r\nHost: soak\r\nContent-Length: 50000\r\n\r\n"
                + rng.randbytes(rng.randint(0, 20000)))

    def half_close(self, port: int, rng: random.Random, t: Tally):
        with failing("halfclose", t), connect(port) as s:
            s.sendall(PLAIN + JSON)
            s.shutdown(socket.SHUT_WR)
            rd = Reader(s)
            if rd.response()[2] != HELLO or rd.response()[2] != JSON_BODY or not rd.eof():
                t.fail("halfclose: wrong answers or no end of stream")
                return
            t.passed(2)
            t.fault("halfclose")

    def more_faults(self, port: int, t: Tally) -> list:
        return [(slow_writer, (port, t)) for _ in range(2)] + [(malformed, (port, t))]

    def exchange(self, s: socket.socket) -> int:
        s.sendall(PLAIN)
        return 1 if Reader(s).response()[2] == HELLO else 0

    def method(self, waves: int, conns: int, n: int) -> str:
        return (f"{waves} waves of {conns} keep-alive connections x {n} pipelined requests (bodies by "
                f"Content-Length and chunked) with resets mid-body, half-closes, slow readers and writers, "
                f"malformed requests, a {STORM}-connection storm past the server's RLIMIT_NOFILE "
                f"{SERVER_NOFILE}, and connects abandoned mid-handshake; server: {SERVER_WORKERS} workers")

    def usable_drivers(self, drivers: list[str]) -> list[str]:
        if "io_uring" in drivers and (why := self.io_uring_refused()):
            self.log(f"SKIP io_uring: the kernel refuses it ({why})")
            drivers.remove("io_uring")
        return drivers

    def io_uring_refused(self) -> str | None:
        """Why this kernel refuses io_uring (the server then fails to start
        with DUET_DRIVER=io_uring), or None."""
        try:
            self.server("poll", "io_uring").stop()
            return None
        except RuntimeError as e:
            return str(e)


def main(argv=None) -> int:
    return HttpSoak.run(__doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
