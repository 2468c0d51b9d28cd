"""soak_common.py: what the two fault soaks share. experiments/io/soak.py
(examples/echo_server) and http_soak.py (examples/http_server) each define
a Soak: the server, the traffic whose every answer is checked, and the
faults only that protocol has; this module runs them.

- SoakServer: the server process under load. It starts the program with a
  low RLIMIT_NOFILE (so a connection storm reaches EMFILE), its stderr in a
  file, reads its ready line ("listening on PORT"), and answers what the
  soak checks after each wave: alive, descriptors open, RSS, how many
  accept errors it reported. stop() sends SIGTERM and returns the exit
  status (killed past `stop_timeout`).
- The faults both soaks inject: a reset (RST, SO_LINGER 0) part-way
  through what the client sends, a stalled reader, the storm of more
  connections than the server's descriptor limit, connects abandoned
  mid-handshake; Tally counts them, the units verified and the failures.
- Soak: one wave (every job at once, then one exchange that must succeed
  after the storm), one configuration's waves with the checks after each
  (alive, descriptors back to their baseline, RSS flat over the second
  half of the waves), its JSONL records, and the command line.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import random
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab.script import log, raise_nofile  # noqa: E402

SERVER_NOFILE = 160  # the storm opens more connections than this
STORM = 240
SERVER_WORKERS = 2
RSS_SLACK = 4 << 20
# io_uring's provided-buffer rings (RuntimeConfig::io_recv_buffers x
# io_recv_buffer_size = 256 x 4 KiB per worker, MAP_NORESERVE) are touched
# a buffer at a time as the ring cycles: RSS rises by up to their size over
# the first waves, then stops. That is allowed on top of the slack.
URING_BUFFER_RING_BYTES = SERVER_WORKERS * 256 * 4096


# -- the server ---------------------------------------------------------------------


class SoakServer:
    def __init__(self, argv: list[str], name: str, nofile: int, stop_timeout: float,
                 env: dict[str, str] | None = None):
        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.stop_timeout = stop_timeout
        self.err_path = f"/tmp/duet-{name}-{os.getpid()}.err"
        self.err = open(self.err_path, "w+", encoding="utf-8")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  preexec_fn=limit, env=env)
        line = self.p.stdout.readline()
        m = re.search(r"listening on (\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"{os.path.basename(argv[0])} did not start: {line!r}")
        self.port = int(m.group(1))

    def alive(self) -> bool:
        return self.p.poll() is None

    def fds(self) -> int:
        """Open descriptors, less the server's reads of its own /proc files
        (the fiber stack mapper counts /proc/self/maps while it maps a slab):
        those may be open at any moment and are nobody's leak."""
        base = f"/proc/{self.p.pid}/fd"
        n = 0
        for name in os.listdir(base):
            try:
                target = os.readlink(f"{base}/{name}")
            except OSError:
                continue  # closed since the listing
            if not target.startswith("/proc/"):
                n += 1
        return n

    def rss(self) -> int:
        with open(f"/proc/{self.p.pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def emfile_reports(self) -> int:
        self.err.flush()
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if "accept:" in line)

    def stop(self) -> int | None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()
        os.unlink(self.err_path)
        return self.p.returncode


def settle_fds(srv: SoakServer, baseline: int, limit_s: float = 10.0) -> int:
    """The server's descriptor count, given `limit_s` to come back to the
    baseline: connections that just closed are reaped a moment later."""
    deadline = time.monotonic() + limit_s
    n = srv.fds()
    while n > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
        n = srv.fds()
    return n


# -- the faults ---------------------------------------------------------------------


class Tally:
    """What a soak's client threads counted: faults injected per kind, units
    verified (bytes echoed, responses checked), failures."""

    def __init__(self):
        self.mu = threading.Lock()
        self.faults: dict[str, int] = {}
        self.verified = 0
        self.failures: list[str] = []

    def fault(self, kind: str, n: int = 1):
        with self.mu:
            self.faults[kind] = self.faults.get(kind, 0) + n

    def passed(self, n: int = 1):
        with self.mu:
            self.verified += n

    def fail(self, what: str):
        with self.mu:
            self.failures.append(what)


@contextlib.contextmanager
def failing(kind: str, t: Tally):
    """An OSError inside is a client failure of `kind`, not the end of the
    soak."""
    try:
        yield
    except OSError as e:
        t.fail(f"{kind}: {e}")


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rst_close(s: socket.socket):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def reset_mid_send(port: int, payload: bytes, t: Tally):
    """Sends the start of a message, then closes with RST."""
    with failing("reset", t):
        s = connect(port)
        s.sendall(payload)
        rst_close(s)
        t.fault("reset")


def stall(port: int, block: bytes, kind: str, t: Tally):
    """Sends `block` after `block` without reading until the send blocks
    (the server's writes back up behind a full receive window), then
    resets."""
    with failing(kind, t):
        s = connect(port)
        s.setblocking(False)
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
        t.fault(kind)


def storm(port: int, t: Tally):
    """More connections than the server's descriptor limit, held a moment,
    then reset; the wave's last exchange checks that accept works after."""
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


# -- a soak -------------------------------------------------------------------------


class Soak:
    """One fault soak. A subclass sets the constants and fills in the hooks
    (server, traffic, reset_payload, half_close, exchange, method; its own
    faults in more_faults); run() is its command line."""

    NAME = ""            # the log lines' prefix and the records' experiment
    PROFILES: dict[str, tuple[int, int, int]] = {}  # waves per configuration, traffic connections, exchanges each
    MODELS = ""          # --models' default
    EXE: tuple[str, ...] = ()  # the server program's path under --build
    WARM_UP = 1          # exchanges on one connection before the descriptor baseline
    STALL = (b"", "")    # the stalled reader's block, and its fault's kind
    VERIFIED = ("", "", "")  # Tally.verified: the record's metric, its unit, and the log's words
    AFTER_STORM = ""     # what must work after the storm (the failure's words)
    CLEAN_EXIT = False   # SIGTERM must drain the server to exit 0

    def __init__(self, exe: str):
        self.exe = exe

    def log(self, msg: str):
        log(msg, self.NAME)

    # -- hooks --------------------------------------------------------------------------

    def server(self, model: str, driver: str) -> SoakServer:
        raise NotImplementedError

    def traffic(self, port: int, rng: random.Random, n: int, t: Tally):
        """One connection's `n` exchanges, every answer checked."""
        raise NotImplementedError

    def reset_payload(self, rng: random.Random) -> bytes:
        """What a reset connection sends before its RST."""
        raise NotImplementedError

    def half_close(self, port: int, rng: random.Random, t: Tally):
        """A request, shutdown(SHUT_WR), the whole answer, the end of the stream."""
        raise NotImplementedError

    def more_faults(self, port: int, t: Tally) -> list[tuple[Callable, tuple]]:
        """This protocol's own faults in a wave: (function, arguments) each."""
        return []

    def exchange(self, s: socket.socket) -> int:
        """One exchange on a fresh connection: the units verified, 0 where
        the answer is wrong."""
        raise NotImplementedError

    def method(self, waves: int, conns: int, n: int) -> str:
        raise NotImplementedError

    def usable_drivers(self, drivers: list[str]) -> list[str]:
        return drivers

    # -- one configuration --------------------------------------------------------------

    def wave(self, port: int, seed: int, conns: int, n: int, t: Tally):
        rng = random.Random(seed)
        jobs = [(self.traffic, (port, random.Random(rng.random()), n, t)) for _ in range(conns)]
        jobs += [(self.reset, (port, random.Random(rng.random()), t)) for _ in range(8)]
        jobs += [(self.half_close, (port, random.Random(rng.random()), t)) for _ in range(4)]
        jobs += [(stall, (port, *self.STALL, t)) for _ in range(2)]
        jobs += self.more_faults(port, t)
        jobs += [(storm, (port, t)), (vanish, (port, t, 20))]
        threads = [threading.Thread(target=f, args=a) for f, a in jobs]
        for j in threads:
            j.start()
        for j in threads:
            j.join()
        self.after_storm(port, t)

    def reset(self, port: int, rng: random.Random, t: Tally):
        reset_mid_send(port, self.reset_payload(rng), t)

    def after_storm(self, port: int, t: Tally):
        """After the storm: an exchange works again (retried while the
        storm's connections drain out of the server)."""
        deadline, last = time.monotonic() + 15, ""
        while time.monotonic() < deadline:
            try:
                with connect(port, timeout=5) as s:
                    got = self.exchange(s)
                    if got:
                        t.passed(got)
                        return
            except OSError as e:
                last = str(e)
                time.sleep(0.05)
        t.fail(f"{self.AFTER_STORM}: {last}")

    def soak(self, model: str, driver: str, waves: int, conns: int, n: int, seed: int) -> dict:
        srv = self.server(model, driver)
        t = Tally()
        # Baseline after plain exchanges (lazy start-up allocations done).
        self.traffic(srv.port, random.Random(seed), self.WARM_UP, t)
        base_fds = settle_fds(srv, 0, 0.5)
        survived, fd_after, rss_first, rss_last, problems = 0, [], 0, 0, []
        # The first half of the waves warms the server's caches (per-thread
        # block and operation caches, slabs, buffer rings: bounded, and measured
        # to level off after a few waves); RSS must be flat over the second.
        warm_waves = max(1, waves // 2)
        for w in range(waves):
            self.wave(srv.port, seed + w, conns, n, t)
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
        if self.CLEAN_EXIT and code != 0:
            problems.append(f"SIGTERM: exit {code}, not 0")
        return {
            "model": model, "driver": driver, "waves": waves, "survived": survived,
            "faults": dict(sorted(t.faults.items())), "emfile_reports": emfile, "verified": t.verified,
            "fd_baseline": base_fds, "fd_max_after": max(fd_after, default=-1),
            "rss_first": rss_first, "rss_last": rss_last, "exit": code, "problems": problems,
            "pass": not problems and survived == waves,
        }

    def records(self, r: dict, method: str) -> list[dict]:
        impl = f"duet-{r['model']}-{r['driver']}"
        base = {"experiment": self.NAME, "impl": impl, "method": method}
        metric, unit, _ = self.VERIFIED
        out = [dict(base, metric="waves_survived", value=r["survived"], unit="waves"),
               dict(base, metric=metric, value=r["verified"], unit=unit),
               dict(base, metric="fd_over_baseline", value=max(0, r["fd_max_after"] - r["fd_baseline"]), unit="fds"),
               dict(base, metric="rss_growth", value=r["rss_last"] - r["rss_first"], unit="bytes"),
               dict(base, metric="accept_errors_survived", value=r["emfile_reports"], unit="errors"),
               dict(base, metric="pass", value=1 if r["pass"] else 0, unit="bool")]
        out += [dict(base, metric=f"faults.{k}", value=v, unit="faults") for k, v in r["faults"].items()]
        return out

    def summary(self, r: dict) -> str:
        exit_code = f", exit {r['exit']}" if self.CLEAN_EXIT else ""
        return (f"{r['model']}/{r['driver']}: {r['survived']}/{r['waves']} waves, {r['verified']} "
                f"{self.VERIFIED[2]}, faults {r['faults']}, accept errors {r['emfile_reports']}, fds "
                f"{r['fd_baseline']}->{r['fd_max_after']}, RSS {r['rss_first']}->{r['rss_last']}{exit_code}: "
                + ("PASS" if r["pass"] else "FAIL: " + "; ".join(r["problems"])))

    # -- the command line ---------------------------------------------------------------

    @classmethod
    def run(cls, doc: str, argv=None) -> int:
        """Every model x driver, one soak each; exit 0 when all passed."""
        exe_path = os.path.join(*cls.EXE)
        ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
        ap.add_argument("--build", required=True, help=f"build dir with {exe_path}")
        ap.add_argument("--exe", help=f"the server program (default: {exe_path} under --build)")
        ap.add_argument("--profile", default=os.environ.get("DUET_LAB_PROFILE", "quick"), choices=cls.PROFILES)
        ap.add_argument("--waves", type=int)
        ap.add_argument("--models", "--engines", dest="models", default=cls.MODELS,
                        help="comma-separated: the echo server's models, the HTTP server's engines")
        ap.add_argument("--drivers", default="io_uring,epoll")
        ap.add_argument("--jsonl", action="store_true", help="records on stdout")
        a = ap.parse_args(argv)
        soak = cls(a.exe or os.path.join(a.build, exe_path))
        if not os.access(soak.exe, os.X_OK):
            soak.log(f"{soak.exe} not built")
            return 2
        raise_nofile(4096)
        waves, conns, n = cls.PROFILES[a.profile]
        waves = a.waves or waves
        drivers = soak.usable_drivers(a.drivers.split(","))
        ok = True
        for model in a.models.split(","):
            for driver in drivers:
                r = soak.soak(model, driver, waves, conns, n, seed=1000)
                ok = ok and r["pass"]
                soak.log(soak.summary(r))
                if a.jsonl:
                    for rec in soak.records(r, soak.method(waves, conns, n)):
                        print(json.dumps(rec), flush=True)
        return 0 if ok else 1
