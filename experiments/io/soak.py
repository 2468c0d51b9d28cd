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

This file is the echo protocol's part (the traffic, what a reset or a
half-close sends); the server, the faults both soaks share, the waves, the
checks after each and the command line are soak_common.py's.
"""
from __future__ import annotations

import os
import random
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak_common import SERVER_NOFILE, SERVER_WORKERS, STORM, Soak, SoakServer, Tally, connect, failing  # noqa: E402


def recv_exact(s: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"EOF after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


class EchoSoak(Soak):
    NAME = "soak"
    PROFILES = {  # waves per configuration, echo connections, messages each
        "smoke": (4, 4, 10),
        "quick": (6, 16, 40),
        "full": (20, 32, 100),
    }
    MODELS = "stackless,stackful"
    EXE = ("examples", "echo_server")
    STALL = (b"\x5a" * 65536, "stall")
    VERIFIED = ("bytes_verified", "bytes", "bytes verified")
    AFTER_STORM = "accept after EMFILE"

    def server(self, model: str, driver: str) -> SoakServer:
        return SoakServer([self.exe, "--model", model, "--driver", driver, "--port", "0", "--workers",
                           str(SERVER_WORKERS)], f"soak-{model}-{driver}", SERVER_NOFILE, stop_timeout=10)

    def traffic(self, port: int, rng: random.Random, n: int, t: Tally):
        """Random messages, each echoed back whole and compared."""
        with failing("echo", t), connect(port) as s:
            for _ in range(n):
                msg = rng.randbytes(rng.randint(1, 16384))
                s.sendall(msg)
                if recv_exact(s, len(msg)) != msg:
                    t.fail("echo: bytes differ")
                    return
                t.passed(len(msg))

    def reset_payload(self, rng: random.Random) -> bytes:
        return rng.randbytes(rng.randint(2, 8192))[: rng.randint(1, 4096)]

    def half_close(self, port: int, rng: random.Random, t: Tally):
        with failing("halfclose", t), connect(port) as s:
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
            t.passed(len(msg))
            t.fault("halfclose")

    def exchange(self, s: socket.socket) -> int:
        msg = b"after the storm"
        s.sendall(msg)
        return len(msg) if recv_exact(s, len(msg)) == msg else 0

    def method(self, waves: int, conns: int, n: int) -> str:
        return (f"{waves} waves of {conns} echo connections x {n} messages with resets, half-closes, "
                f"stalled readers, a {STORM}-connection storm past the server's RLIMIT_NOFILE "
                f"{SERVER_NOFILE}, and connects abandoned mid-handshake; server: {SERVER_WORKERS} workers")


def main(argv=None) -> int:
    return EchoSoak.run(__doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
