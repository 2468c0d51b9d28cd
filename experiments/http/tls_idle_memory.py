#!/usr/bin/env python3
"""Memory per idle keep-alive TLS connection of an HTTPS server: starts
`--server` (examples/http_server) with a TLS port and a throwaway
certificate, warms it up, then opens N TLS connections on loopback, sends
one GET on each, reads its response and keeps it open and idle; prints the
server's Pss growth (/proc/PID/smaps_rollup) per connection.

  tls_idle_memory.py --server build/examples/http_server/http_server \\
      [--n 2000] [--engine poll] [--path /plaintext]

A one-off measurement, not a lab row: one process, one run per call.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_conns import response_done  # noqa: E402


def pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss line")


def memory_line(srv: subprocess.Popen) -> dict:
    """The server's memory line (SIGUSR1): duet's caches and the C heap."""
    srv.send_signal(signal.SIGUSR1)
    while True:
        line = srv.stdout.readline()
        if not line:
            raise RuntimeError("the server exited")
        if line.startswith("memory "):
            return json.loads(line[len("memory "):])


def open_conn(ctx: ssl.SSLContext, port: int, request: bytes) -> ssl.SSLSocket:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                        server_hostname="localhost")
    s.sendall(request)
    buf = b""
    while not response_done(buf):
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("closed before the response")
        buf += chunk
    return s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--engine", default="poll")
    ap.add_argument("--path", default="/plaintext")
    ap.add_argument("--warmup", type=int, default=200)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.n * 2 + 1000), hard))
    with tempfile.TemporaryDirectory() as d:
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost"],
                       check=True, capture_output=True)
        srv = subprocess.Popen([a.server, "--port", "0", "--engine", a.engine, "--tls-port", "0",
                                "--cert", cert, "--key", key],
                               stdout=subprocess.PIPE, text=True)
        try:
            port = 0
            while port == 0:
                line = srv.stdout.readline()
                if not line:
                    raise RuntimeError("the server exited")
                if line.startswith("listening on") and "(tls)" in line:
                    port = int(line.split()[2])
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            request = f"GET {a.path} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode()
            for _ in range(a.warmup):
                open_conn(ctx, port, request).close()
            time.sleep(0.5)
            before, m0 = pss_kib(srv.pid), memory_line(srv)
            conns = [open_conn(ctx, port, request) for _ in range(a.n)]
            time.sleep(1.0)
            after, m1 = pss_kib(srv.pid), memory_line(srv)
            print(f"{a.server}: engine {a.engine}, {a.n} idle TLS connections: Pss "
                  f"{before} -> {after} KiB, {(after - before) / a.n:.2f} KiB per connection; "
                  f"C heap in use {(m1['malloc_in_use'] - m0['malloc_in_use']) / a.n / 1024:.2f} "
                  f"KiB, duet's blocks "
                  f"{(m1['blocks_carved'] - m0['blocks_carved']) / a.n / 1024:.2f} KiB "
                  "per connection")
            for c in conns:
                c.close()
        finally:
            srv.terminate()
            srv.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
