#!/usr/bin/env python3
"""The start of an HTTPS run, packet by packet (http_bench.py's timeline
pass): what a latency percentile of wrk's cannot show, where the time of
the first requests goes while the connections' TLS handshakes are done.

tcpdump captures the server's TLS port on loopback (headers only) while wrk
runs; per connection, the client's first three data segments are its
ClientHello, its Finished and its first request (wrk writes the request in
the event-loop turn after its handshake completes), and the server's first
data segment is its handshake flight (TLS 1.3: ServerHello to Finished).
From those, the figures (milliseconds from the first ClientHello):

- flights_done_ms: the server's last handshake flight;
- handshakes_done_ms: wrk's last Finished (its last handshake done);
- early_requests: first requests written before that, while wrk still had
  handshakes to complete. wrk runs every connection on one thread, so it
  reads such a request's response only between handshakes, and its latency
  counts the handshakes done meanwhile;
- early_wait_ms: for those, the median from the request to wrk's last
  Finished;
- server_wait_ms: the longest a first request waited for its response at
  the server (response segment minus request segment).

Usage (a pcap from an earlier capture): tls_timeline.py FILE.pcap PORT
"""
from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

# tcpdump -tt -n: "1700000000.123456 IP 127.0.0.1.A > 127.0.0.1.B: Flags [P.], ..., length N"
LINE = re.compile(r"^(\d+\.\d+) IP6? [\d.:a-f]+\.(\d+) > [\d.:a-f]+\.(\d+): .*length (\d+)")


def available() -> str:
    """Empty when a capture can run here, else why not."""
    if not shutil.which("tcpdump"):
        return "tcpdump not installed"
    return ""


def start_capture(port: int, path: str) -> subprocess.Popen:
    """tcpdump on loopback, the port's packets, headers only (96 bytes)."""
    return subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-s", "96", "-B", "65536", "-w", path,
                             f"tcp port {port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_capture(p: subprocess.Popen) -> str:
    """Stops tcpdump; returns its summary ("N packets captured ... M dropped by kernel")."""
    p.terminate()
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return " ".join(line.strip() for line in (err or "").splitlines() if "packets" in line)


def segments(pcap: str, port: int) -> dict[int, list[tuple[float, str, int]]]:
    """Per client port, its data segments in order: (time s, 'C' from the
    client or 'S' from the server, bytes)."""
    text = subprocess.run(["tcpdump", "-r", pcap, "-tt", "-n"], capture_output=True, text=True).stdout
    conns: dict[int, list[tuple[float, str, int]]] = defaultdict(list)
    for line in text.splitlines():
        m = LINE.match(line)
        if not m or int(m.group(4)) == 0:
            continue
        t, a, b = float(m.group(1)), int(m.group(2)), int(m.group(3))
        if b == port:
            conns[a].append((t, "C", int(m.group(4))))
        elif a == port:
            conns[b].append((t, "S", int(m.group(4))))
    return conns


def timeline(conns: dict[int, list[tuple[float, str, int]]]) -> dict | None:
    """The figures of the module's docstring, or None when no connection
    got as far as its first response."""
    rows = []
    for ev in conns.values():
        c = [t for t, who, _ in ev if who == "C"]
        s = [t for t, who, _ in ev if who == "S"]
        if len(c) < 3 or not s:
            continue
        hello, fin, req = c[0], c[1], c[2]
        resp = next((t for t in s if t >= req), None)
        if resp is not None:
            rows.append((hello, s[0], fin, req, resp))
    if not rows:
        return None
    t0 = min(r[0] for r in rows)
    done = max(r[2] for r in rows)
    early = [done - r[3] for r in rows if r[3] < done]
    ms = 1e3
    return {"connections": len(rows),
            "flights_done_ms": (max(r[1] for r in rows) - t0) * ms,
            "handshakes_done_ms": (done - t0) * ms,
            "early_requests": len(early),
            "early_wait_ms": statistics.median(early) * ms if early else 0.0,
            "server_wait_ms": max(r[4] - r[3] for r in rows) * ms}


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    t = timeline(segments(sys.argv[1], int(sys.argv[2])))
    print(t if t else "no connection reached its first response")
    return 0


if __name__ == "__main__":
    sys.exit(main())
