#!/usr/bin/env python3
"""Idle HTTP/2 connections for the HTTP/2 benchmark (http2_bench.py): opens N
h2c connections (HTTP/2 over cleartext with prior knowledge) to a server on
loopback, and on each does the connection's opening and nothing more: the
client preface and an empty SETTINGS frame out; the server's SETTINGS in
(answered with a SETTINGS ACK) and its ACK of ours. Then it holds every
connection open and idle, no stream ever opened, while the benchmark reads
the server's memory.

A connection counts as open once both SETTINGS exchanges are done; one the
server closes, resets or sends GOAWAY on first counts as failed.
Connections come from several source addresses (127.0.0.2, ..., one per
`--sources`), connects kept to a bounded number in flight; bounded in count
(`--n`) and time (`--timeout`).

Protocol with the caller (as idle_conns.py's): one line on stdout,
`open K failed F`, then it waits until stdin has a line or closes, closes
every connection and exits 0.

  h2_idle.py --port 8080 --n 1000 [--sources 8] [--timeout 30]
"""
from __future__ import annotations

import argparse
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_conns import open_many  # noqa: E402
from lab.script import raise_nofile  # noqa: E402

# RFC 9113: the client connection preface, the frame types and flag used here.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, GOAWAY = 0x4, 0x7
ACK = 0x1
HEADER = 9


def frame(kind: int, flags: int = 0, stream: int = 0, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload."""
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + (stream & 0x7FFFFFFF).to_bytes(4, "big") + payload


def split_frames(buf: bytes) -> tuple[list[tuple[int, int, int, bytes]], bytes]:
    """The whole frames at the front of `buf` as (type, flags, stream,
    payload), and the bytes left over (a partial frame)."""
    out = []
    while len(buf) >= HEADER:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < HEADER + n:
            break
        kind, flags = buf[3], buf[4]
        stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
        out.append((kind, flags, stream, buf[HEADER:HEADER + n]))
        buf = buf[HEADER + n:]
    return out, buf


class Opening:
    """The opening of one connection, fed the bytes the server sends:
    `feed` returns the bytes to write back (a SETTINGS ACK for the server's
    SETTINGS); `done` once the server's SETTINGS came and ours was
    acknowledged; `failed` on a GOAWAY."""

    def __init__(self):
        self.buf = b""
        self.server_settings = False
        self.acked = False
        self.failed = False

    @staticmethod
    def hello() -> bytes:
        return PREFACE + frame(SETTINGS)

    def feed(self, data: bytes) -> bytes:
        frames, self.buf = split_frames(self.buf + data)
        reply = b""
        for kind, flags, stream, _ in frames:
            if kind == SETTINGS and stream == 0:
                if flags & ACK:
                    self.acked = True
                else:
                    self.server_settings = True
                    reply += frame(SETTINGS, ACK)
            elif kind == GOAWAY:
                self.failed = True
        return reply

    @property
    def done(self) -> bool:
        return self.server_settings and self.acked and not self.failed


def open_idle_h2(port: int, n: int, sources: int, timeout: float, in_flight: int,
                 host: str = "127.0.0.1") -> tuple[list[socket.socket], int]:
    """Opens up to n h2c connections; returns the sockets whose opening is
    done (now idle) and the number that failed (idle_conns.open_many)."""
    return open_many(port, n, sources, timeout, in_flight, host, Opening)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--sources", type=int, default=8, help="source addresses 127.0.0.2 ... (at most 250)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to open all N")
    ap.add_argument("--in-flight", type=int, default=256, help="openings not yet done, at most")
    a = ap.parse_args()
    raise_nofile(a.n + 64)
    idle, failed = open_idle_h2(a.port, a.n, max(1, min(a.sources, 250)), a.timeout, a.in_flight)
    print(f"open {len(idle)} failed {failed}", flush=True)
    sys.stdin.readline()
    for s in idle:
        s.close()


if __name__ == "__main__":
    main()
