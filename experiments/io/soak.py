#!/usr/bin/env python3
"""Fault soak (issue 10): examples/echo_server under a client that mixes
normal echo traffic with faults, for both models and both drivers.

Each wave runs, at once:
  - echo:      connections exchanging random messages; every byte echoed back
               is compared with what was sent (bytes verified);
  - reset:     a connection that sends half a message, then closes with RST
               (SO_LINGER 0);
  - halfclose: send a message, shutdown(SHUT_WR), read the echo to EOF and
               verify it;
  - stall:     a reader that stops reading while it keeps sending, until its
               send blocks (the server's writes back up), then resets;
  - storm:     more connections at once than the server's RLIMIT_NOFILE
               (the server is started with a low limit, so its accepts fail
               with EMFILE), held, then closed; afterwards an echo exchange
               must succeed (accept keeps working after EMFILE);
  - vanish:    a non-blocking connect closed at once, mid-handshake.
After each wave: the server is alive, its open descriptors come back to
their baseline (within a bounded wait), and its RSS stays flat: growth over
the second half of the waves (the first half warms the server's bounded
caches; an io_uring server measured 39 MiB after one quick wave, 46 MiB
after four and 47 MiB after forty) at most max(4 MiB, 10%), plus, on
io_uring, the provided-buffer rings' 8 MiB, which are touched a buffer at
a time as the rings cycle.

Records (JSONL on stdout, --jsonl) per configuration: waves survived,
faults injected per kind, bytes verified, descriptors and RSS, and pass.
The lab runs it as `soak_faults` (./experiments/run --only soak_faults);
DUET_LAB_PROFILE picks the length (smoke: about 30 s in all, for CI).

  experiments/io/soak.py --build build-experiments [--waves N]
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import random
import resource
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak_server import SoakServer  # noqa: E402

PROFILES = {  # waves per configuration, echo connections, messages each
    "smoke": (4, 4, 10),
    "quick": (6, 16, 40),
    "full": (20, 32, 100),
}
SERVER_NOFILE = 160  # the storm opens more connections than this
STORM = 240
SERVER_WORKERS = 2
RSS_SLACK = 4 << 20
# io_uring's provided-buffer rings (RuntimeConfig::io_recv_buffers x
# io_recv_buffer_size = 256 x 4 KiB per worker, MAP_NORESERVE) are touched
# a buffer at a time as the ring cycles: RSS rises by up to their size over
# the first waves, then stops. That is allowed on top of the slack.
URING_BUFFER_RING_BYTES = SERVER_WORKERS * 256 * 4096


def log(msg: str):
    print(f"soak: {msg}", file=sys.stderr, flush=True)


# -- the server ---------------------------------------------------------------------


class Server(SoakServer):
    def __init__(self, exe: str, model: str, driver: str):
        super().__init__([exe, "--model", model, "--driver", driver, "--port", "0", "--workers",
                          str(SERVER_WORKERS)], f"soak-{model}-{driver}", SERVER_NOFILE, stop_timeout=10)


# -- the faults ---------------------------------------------------------------------


class Tally:
    def __init__(self):
        self.mu = threading.Lock()
        self.faults: dict[str, int] = {}
        self.bytes_verified = 0
        self.failures: list[str] = []

    def fault(self, kind: str, n: int = 1):
        with self.mu:
            self.faults[kind] = self.faults.get(kind, 0) + n

    def verified(self, n: int):
        with self.mu:
            self.bytes_verified += n

    def fail(self, what: str):
        with self.mu:
            self.failures.append(what)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"EOF after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def rst_close(s: socket.socket):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def echo_conn(port: int, rng: random.Random, msgs: int, t: Tally):
    try:
        with connect(port) as s:
            for _ in range(msgs):
                msg = rng.randbytes(rng.randint(1, 16384))
                s.sendall(msg)
                if recv_exact(s, len(msg)) != msg:
                    t.fail("echo: bytes differ")
                    return
                t.verified(len(msg))
    except OSError as e:
        t.fail(f"echo: {e}")


def reset_mid_message(port: int, rng: random.Random, t: Tally):
    try:
        s = connect(port)
        s.sendall(rng.randbytes(rng.randint(2, 8192))[: rng.randint(1, 4096)])
        rst_close(s)
        t.fault("reset")
    except OSError as e:
        t.fail(f"reset: {e}")


def half_close(port: int, rng: random.Random, t: Tally):
    try:
        with connect(port) as s:
            msg = rng.randbytes(rng.randint(1, 65536))
            s.sendall(msg)
            s.shutdown(socket.SHUT_WR)
            got = bytearray()
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            if bytes(got) != msg:
                t.fail(f"halfclose: echoed {len(got)} of {len(msg)} bytes, or different")
                return
            t.verified(len(msg))
            t.fault("halfclose")
    except OSError as e:
        t.fail(f"halfclose: {e}")


def stalled_reader(port: int, t: Tally):
    """Sends without reading until the send blocks: the server's writes
    back up behind a full receive window."""
    try:
        s = connect(port)
        s.setblocking(False)
        block = b"\x5a" * 65536
        stalled_at = None
        deadline = time.monotonic() + 10
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
        t.fault("stall")
    except OSError as e:
        t.fail(f"stall: {e}")


def storm(port: int, t: Tally):
    """More connections than the server's descriptor limit, held a moment,
    then reset; then a normal exchange must work."""
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


def accept_after_emfile(port: int, t: Tally):
    """After the storm: accept works again (retried while the storm's
    connections drain out of the server)."""
    deadline = time.monotonic() + 15
    last = ""
    while time.monotonic() < deadline:
        try:
            with connect(port, timeout=5) as s:
                msg = b"after the storm"
                s.sendall(msg)
                if recv_exact(s, len(msg)) == msg:
                    t.verified(len(msg))
                    return
        except OSError as e:
            last = str(e)
            time.sleep(0.05)
    t.fail(f"accept after EMFILE: {last}")


def wave(port: int, seed: int, conns: int, msgs: int, t: Tally):
    rng = random.Random(seed)
    jobs = [threading.Thread(target=echo_conn, args=(port, random.Random(rng.random()), msgs, t))
            for _ in range(conns)]
    jobs += [threading.Thread(target=reset_mid_message, args=(port, random.Random(rng.random()), t))
             for _ in range(8)]
    jobs += [threading.Thread(target=half_close, args=(port, random.Random(rng.random()), t)) for _ in range(4)]
    jobs += [threading.Thread(target=stalled_reader, args=(port, t)) for _ in range(2)]
    jobs += [threading.Thread(target=storm, args=(port, t)), threading.Thread(target=vanish, args=(port, t, 20))]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
    accept_after_emfile(port, t)


def settle_fds(srv: Server, baseline: int, limit_s: float = 10.0) -> int:
    """The server's descriptor count, given `limit_s` to come back to the
    baseline: connections that just closed are reaped a moment later."""
    deadline = time.monotonic() + limit_s
    n = srv.fds()
    while n > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
        n = srv.fds()
    return n


# -- one configuration --------------------------------------------------------------


def soak(exe: str, model: str, driver: str, waves: int, conns: int, msgs: int, seed: int) -> dict:
    srv = Server(exe, model, driver)
    t = Tally()
    # Baseline after one plain exchange (lazy start-up allocations done).
    echo_conn(srv.port, random.Random(seed), 1, t)
    base_fds = settle_fds(srv, 0, 0.5)
    survived, fd_after, rss_first, rss_last, problems = 0, [], 0, 0, []
    # The first half of the waves warms the server's caches (per-thread
    # block and operation caches, slabs, buffer rings: bounded, and measured
    # to level off after a few waves); RSS must be flat over the second.
    warm_waves = max(1, waves // 2)
    for w in range(waves):
        wave(srv.port, seed + w, conns, msgs, t)
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
    return {
        "model": model, "driver": driver, "waves": waves, "survived": survived,
        "faults": dict(sorted(t.faults.items())), "emfile_reports": emfile,
        "bytes_verified": t.bytes_verified, "fd_baseline": base_fds, "fd_max_after": max(fd_after, default=-1),
        "rss_first": rss_first, "rss_last": rss_last, "exit": code, "problems": problems,
        "pass": not problems and survived == waves,
    }


def records(r: dict, method: str) -> list[dict]:
    impl = f"duet-{r['model']}-{r['driver']}"
    base = {"experiment": "soak", "impl": impl, "method": method}
    out = [dict(base, metric="waves_survived", value=r["survived"], unit="waves"),
           dict(base, metric="bytes_verified", value=r["bytes_verified"], unit="bytes"),
           dict(base, metric="fd_over_baseline", value=max(0, r["fd_max_after"] - r["fd_baseline"]), unit="fds"),
           dict(base, metric="rss_growth", value=r["rss_last"] - r["rss_first"], unit="bytes"),
           dict(base, metric="accept_errors_survived", value=r["emfile_reports"], unit="errors"),
           dict(base, metric="pass", value=1 if r["pass"] else 0, unit="bool")]
    out += [dict(base, metric=f"faults.{k}", value=v, unit="faults") for k, v in r["faults"].items()]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="build dir with examples/echo_server")
    ap.add_argument("--profile", default=os.environ.get("DUET_LAB_PROFILE", "quick"), choices=PROFILES)
    ap.add_argument("--waves", type=int)
    ap.add_argument("--models", default="stackless,stackful")
    ap.add_argument("--drivers", default="io_uring,epoll")
    ap.add_argument("--jsonl", action="store_true", help="records on stdout")
    a = ap.parse_args(argv)
    exe = os.path.join(a.build, "examples", "echo_server")
    if not os.access(exe, os.X_OK):
        log(f"{exe} not built")
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    waves, conns, msgs = PROFILES[a.profile]
    waves = a.waves or waves
    ok = True
    for model in a.models.split(","):
        for driver in a.drivers.split(","):
            r = soak(exe, model, driver, waves, conns, msgs, seed=1000)
            ok = ok and r["pass"]
            log(f"{model}/{driver}: {r['survived']}/{r['waves']} waves, {r['bytes_verified']} bytes verified, "
                f"faults {r['faults']}, accept errors {r['emfile_reports']}, fds {r['fd_baseline']}->"
                f"{r['fd_max_after']}, RSS {r['rss_first']}->{r['rss_last']}: "
                + ("PASS" if r["pass"] else "FAIL: " + "; ".join(r["problems"])))
            method = (f"{waves} waves of {conns} echo connections x {msgs} messages with resets, half-closes, "
                      f"stalled readers, a {STORM}-connection storm past the server's RLIMIT_NOFILE "
                      f"{SERVER_NOFILE}, and connects abandoned mid-handshake; server: {SERVER_WORKERS} workers")
            if a.jsonl:
                for rec in records(r, method):
                    print(json.dumps(rec), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
