#!/usr/bin/env python3
"""HTTP fault soak (issue 37): examples/http_server under a client that mixes
normal HTTP traffic with faults, for both models and both drivers, in the
style of experiments/io/soak.py.

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
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import random
import re
import resource
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak_server import SoakServer  # noqa: E402

PROFILES = {  # waves per configuration, keep-alive connections, requests each
    "smoke": (3, 4, 40),
    "quick": (6, 16, 200),
    "full": (20, 32, 1000),
}
SERVER_NOFILE = 160  # the storm opens more connections than this
STORM = 240
SERVER_WORKERS = 2
RSS_SLACK = 4 << 20
URING_BUFFER_RING_BYTES = SERVER_WORKERS * 256 * 4096
LIMITS = ["--max-header-bytes", "4096", "--max-body-bytes", "65536", "--read-timeout-ms", "3000"]
PLAIN = b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n"
JSON = b"GET /json HTTP/1.1\r\nHost: soak\r\n\r\n"
HELLO = b"Hello, World!"
JSON_BODY = b'{"message":"Hello, World!"}'


def log(msg: str):
    print(f"http_soak: {msg}", file=sys.stderr, flush=True)


class Server(SoakServer):
    def __init__(self, exe: str, model: str, driver: str):
        super().__init__([exe, "--model", model, "--port", "0", "--workers", str(SERVER_WORKERS)] + LIMITS,
                         f"http-soak-{model}-{driver}", SERVER_NOFILE, stop_timeout=20,
                         env=dict(os.environ, DUET_DRIVER=driver))


class Tally:
    def __init__(self):
        self.mu = threading.Lock()
        self.faults: dict[str, int] = {}
        self.responses = 0
        self.failures: list[str] = []

    def fault(self, kind: str, n: int = 1):
        with self.mu:
            self.faults[kind] = self.faults.get(kind, 0) + n

    def answered(self, n: int = 1):
        with self.mu:
            self.responses += n

    def fail(self, what: str):
        with self.mu:
            self.failures.append(what)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rst_close(s: socket.socket):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


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


def http_conn(port: int, rng: random.Random, n: int, t: Tally):
    """Keep-alive traffic: batches of pipelined requests, some with bodies."""
    try:
        with connect(port) as s:
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
                    t.answered()
    except OSError as e:
        t.fail(f"http: {e}")


def reset_mid_body(port: int, rng: random.Random, t: Tally):
    try:
        s = connect(port)
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: soak\r\nContent-Length: 50000\r\n\r\n"
                  + rng.randbytes(rng.randint(0, 20000)))
        rst_close(s)
        t.fault("reset")
    except OSError as e:
        t.fail(f"reset: {e}")


def half_close(port: int, t: Tally):
    try:
        with connect(port) as s:
            s.sendall(PLAIN + JSON)
            s.shutdown(socket.SHUT_WR)
            rd = Reader(s)
            if rd.response()[2] != HELLO or rd.response()[2] != JSON_BODY or not rd.eof():
                t.fail("halfclose: wrong answers or no end of stream")
                return
            t.answered(2)
            t.fault("halfclose")
    except OSError as e:
        t.fail(f"halfclose: {e}")


def slow_reader(port: int, t: Tally):
    """Pipelines without reading until the send blocks, then resets."""
    try:
        s = connect(port)
        s.setblocking(False)
        block = PLAIN * 1000
        stalled_at, deadline = None, time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                s.send(block)
            except BlockingIOError:
                if stalled_at is None:
                    stalled_at = time.monotonic()
                if time.monotonic() - stalled_at > 0.2:  # stayed blocked: backed up
                    break
                time.sleep(0.01)
            else:
                stalled_at = None
        rst_close(s)
        t.fault("slowread")
    except OSError as e:
        t.fail(f"slowread: {e}")


def slow_writer(port: int, t: Tally):
    """A request a few bytes at a time, well within the read timeout."""
    try:
        with connect(port) as s:
            req = JSON
            for i in range(0, len(req), 6):
                s.sendall(req[i:i + 6])
                time.sleep(0.02)
            if Reader(s).response()[2] != JSON_BODY:
                t.fail("slowwrite: wrong answer")
                return
            t.answered()
            t.fault("slowwrite")
    except OSError as e:
        t.fail(f"slowwrite: {e}")


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /json HTTP/1.1\r\nHost: soak\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET /json HTTP/1.1\r\nHost: soak\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"GET /json HTTP/1.1\r\nHost: soak\r\nX: a\r\n folded\r\n\r\n", 400),
    (b"GET /json HTTP/1.1\r\nHost: soak\r\nX: " + b"a" * 5000 + b"\r\n\r\n", 431),
    (b"POST /json HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n", 413),
    (b"POST /json HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"GET /json HTTP/2.0\r\nHost: soak\r\n\r\n", 505),
]


def malformed(port: int, t: Tally):
    for req, status in MALFORMED:
        try:
            with connect(port) as s:
                s.sendall(req)
                rd = Reader(s)
                got = rd.response()[0]
                if got != status or not rd.eof():
                    t.fail(f"malformed: {req[:30]!r} got {got}, wanted {status} and a close")
                    continue
                t.fault("malformed")
        except OSError as e:
            t.fail(f"malformed: {e}")


def storm(port: int, t: Tally):
    socks = []
    try:
        for _ in range(STORM):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                continue
            socks.append(s)
        time.sleep(0.3)  # the fault itself: the server sits at its limit
        t.fault("storm_connections", len(socks))
    finally:
        for s in socks:
            try:
                rst_close(s)
            except OSError:
                s.close()
    t.fault("storm")


def vanish(port: int, t: Tally, n: int):
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        s.close()  # mid-handshake
        t.fault("vanish")


def answered_after_storm(port: int, t: Tally):
    deadline, last = time.monotonic() + 15, ""
    while time.monotonic() < deadline:
        try:
            with connect(port, timeout=5) as s:
                s.sendall(PLAIN)
                if Reader(s).response()[2] == HELLO:
                    t.answered()
                    return
        except OSError as e:
            last = str(e)
            time.sleep(0.05)
    t.fail(f"a request after EMFILE: {last}")


def wave(port: int, seed: int, conns: int, n: int, t: Tally):
    rng = random.Random(seed)
    jobs = [threading.Thread(target=http_conn, args=(port, random.Random(rng.random()), n, t))
            for _ in range(conns)]
    jobs += [threading.Thread(target=reset_mid_body, args=(port, random.Random(rng.random()), t))
             for _ in range(8)]
    jobs += [threading.Thread(target=half_close, args=(port, t)) for _ in range(4)]
    jobs += [threading.Thread(target=slow_reader, args=(port, t)) for _ in range(2)]
    jobs += [threading.Thread(target=slow_writer, args=(port, t)) for _ in range(2)]
    jobs += [threading.Thread(target=malformed, args=(port, t)),
             threading.Thread(target=storm, args=(port, t)), threading.Thread(target=vanish, args=(port, t, 20))]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
    answered_after_storm(port, t)


def settle_fds(srv: Server, baseline: int, limit_s: float = 10.0) -> int:
    deadline = time.monotonic() + limit_s
    n = srv.fds()
    while n > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
        n = srv.fds()
    return n


def soak(exe: str, model: str, driver: str, waves: int, conns: int, n: int, seed: int) -> dict:
    srv = Server(exe, model, driver)
    t = Tally()
    http_conn(srv.port, random.Random(seed), 4, t)  # start-up allocations done
    base_fds = settle_fds(srv, 0, 0.5)
    survived, fd_after, rss_first, rss_last, problems = 0, [], 0, 0, []
    warm_waves = max(1, waves // 2)
    for w in range(waves):
        wave(srv.port, seed + w, conns, n, t)
        if not srv.alive():
            problems.append(f"server died in wave {w + 1} (exit {srv.p.returncode})")
            break
        fds = settle_fds(srv, base_fds)
        fd_after.append(fds)
        rss = srv.rss()
        if w + 1 == warm_waves:
            rss_first = rss
        rss_last = rss
        if fds > base_fds:
            problems.append(f"wave {w + 1}: {fds} descriptors open, baseline {base_fds}")
        survived += 1
    emfile = srv.emfile_reports()
    code = srv.stop()
    growth = rss_last - rss_first
    allowed = max(RSS_SLACK, rss_first // 10) + (URING_BUFFER_RING_BYTES if driver == "io_uring" else 0)
    if growth > allowed:
        problems.append(f"RSS grew {growth} bytes from wave {warm_waves} to wave {survived}")
    if t.failures:
        problems.append(f"{len(t.failures)} client failures, first: {t.failures[0]}")
    if emfile == 0:
        problems.append("the storm never hit the server's descriptor limit (no accept error)")
    if code != 0:
        problems.append(f"SIGTERM: exit {code}, not 0")
    return {
        "model": model, "driver": driver, "waves": waves, "survived": survived,
        "faults": dict(sorted(t.faults.items())), "emfile_reports": emfile, "responses": t.responses,
        "fd_baseline": base_fds, "fd_max_after": max(fd_after, default=-1),
        "rss_first": rss_first, "rss_last": rss_last, "exit": code, "problems": problems,
        "pass": not problems and survived == waves,
    }


def records(r: dict, method: str) -> list[dict]:
    impl = f"duet-{r['model']}-{r['driver']}"
    base = {"experiment": "http_soak", "impl": impl, "method": method}
    out = [dict(base, metric="waves_survived", value=r["survived"], unit="waves"),
           dict(base, metric="responses_verified", value=r["responses"], unit="responses"),
           dict(base, metric="fd_over_baseline", value=max(0, r["fd_max_after"] - r["fd_baseline"]), unit="fds"),
           dict(base, metric="rss_growth", value=r["rss_last"] - r["rss_first"], unit="bytes"),
           dict(base, metric="accept_errors_survived", value=r["emfile_reports"], unit="errors"),
           dict(base, metric="pass", value=1 if r["pass"] else 0, unit="bool")]
    out += [dict(base, metric=f"faults.{k}", value=v, unit="faults") for k, v in r["faults"].items()]
    return out


def io_uring_refused(exe: str) -> str | None:
    """Why this kernel refuses io_uring (the server then fails to start
    with DUET_DRIVER=io_uring), or None."""
    try:
        Server(exe, "stackless", "io_uring").stop()
        return None
    except RuntimeError as e:
        return str(e)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="build dir with examples/http_server/http_server")
    ap.add_argument("--exe", help="the http_server program (default: under --build)")
    ap.add_argument("--profile", default=os.environ.get("DUET_LAB_PROFILE", "quick"), choices=PROFILES)
    ap.add_argument("--waves", type=int)
    ap.add_argument("--models", default="stackless,fiber")
    ap.add_argument("--drivers", default="io_uring,epoll")
    ap.add_argument("--jsonl", action="store_true", help="records on stdout")
    a = ap.parse_args(argv)
    exe = a.exe or os.path.join(a.build, "examples", "http_server", "http_server")
    if not os.access(exe, os.X_OK):
        log(f"{exe} not built")
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    waves, conns, n = PROFILES[a.profile]
    waves = a.waves or waves
    drivers = a.drivers.split(",")
    if "io_uring" in drivers and (why := io_uring_refused(exe)):
        log(f"SKIP io_uring: the kernel refuses it ({why})")
        drivers.remove("io_uring")
    ok = True
    for model in a.models.split(","):
        for driver in drivers:
            r = soak(exe, model, driver, waves, conns, n, seed=1000)
            ok = ok and r["pass"]
            log(f"{model}/{driver}: {r['survived']}/{r['waves']} waves, {r['responses']} responses verified, "
                f"faults {r['faults']}, accept errors {r['emfile_reports']}, fds {r['fd_baseline']}->"
                f"{r['fd_max_after']}, RSS {r['rss_first']}->{r['rss_last']}, exit {r['exit']}: "
                + ("PASS" if r["pass"] else "FAIL: " + "; ".join(r["problems"])))
            method = (f"{waves} waves of {conns} keep-alive connections x {n} pipelined requests (bodies by "
                      f"Content-Length and chunked) with resets mid-body, half-closes, slow readers and writers, "
                      f"malformed requests, a {STORM}-connection storm past the server's RLIMIT_NOFILE "
                      f"{SERVER_NOFILE}, and connects abandoned mid-handshake; server: {SERVER_WORKERS} workers")
            if a.jsonl:
                for rec in records(r, method):
                    print(json.dumps(rec), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
