"""The profile pass of the HTTP benchmark (http_bench.py): `perf record -e
cpu-clock` attached to a server over one wrk run, and `perf report`'s text
reduced to the share of samples by where the code lives (the kernel, the
server, libc, OpenSSL) and the top symbols.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from http_servers import Server, Upstream, cpu_ticks, start, stop
from http_wrk import Load, run_wrk, warm_up, window

PROFILE_TOP = 8   # symbols kept per server and load


def dso_class(dso: str) -> str:
    """Where a sample's code lives: the kernel, the C library (and the
    vDSO, the kernel's clock_gettime in user space), OpenSSL, or the
    server itself (its program and the libraries it brings: duet's
    server and http_parser, nginx, Go's and hyper's binaries)."""
    if dso.startswith("[kernel"):
        return "kernel"
    base = os.path.basename(dso)
    if base.startswith(("libc.so", "libc-", "ld-linux", "libm.so", "libpthread")) or dso == "[vdso]":
        return "libc"
    if base.startswith(("libcrypto", "libssl")):
        return "tls"
    return "server"


PROFILE_CLASSES = ("kernel", "server", "libc", "tls")


def summarize_profile(report: str, top: int = PROFILE_TOP) -> dict:
    """`perf report --sort dso,sym -t TAB` text -> the samples, the share
    (%) of each class of code (dso_class), and the top symbols by share."""
    samples = 0
    shares = {c: 0.0 for c in PROFILE_CLASSES}
    syms = []
    for line in report.splitlines():
        m = re.match(r"#\s*Samples:\s*(\d+)([KM]?)", line)
        if m:
            samples = int(m.group(1)) * {"": 1, "K": 1000, "M": 1000000}[m.group(2)]
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [x.strip() for x in line.split("\t")]
        if len(parts) < 3 or not parts[0].endswith("%"):
            continue
        try:
            pct = float(parts[0].rstrip("%"))
        except ValueError:
            continue
        dso, sym = parts[1], parts[2]
        if sym.startswith("[k] "):
            dso = dso if dso.startswith("[kernel") else "[kernel.kallsyms]"
        sym = re.sub(r"^\[[.kgu]\]\s*", "", sym)
        shares[dso_class(dso)] += pct
        syms.append((pct, dso, sym))
    syms.sort(key=lambda t: -t[0])
    return {"samples": samples, "shares": shares,
            "top": [{"pct": p, "dso": os.path.basename(d), "sym": sy[:120]} for p, d, sy in syms[:top]]}


PROFILE_METHOD = ("perf record -e cpu-clock -F 999 attached to the server's processes over one wrk run (after "
                  "the warm-up), a fresh server per load; perf report --no-children --sort dso,sym: each "
                  "symbol's share of the samples (self time), and the shares of code by where it lives: the "
                  "kernel, the server (its program and the libraries it brings: duet's http_server and "
                  "http_parser, nginx), libc (with the vDSO's clock_gettime), OpenSSL")


def record_profile(pids: list[int], cpu: int, run) -> tuple[dict, object]:
    """`perf record -e cpu-clock` (pinned to `cpu`) attached to `pids` while
    `run()` runs, reduced by summarize_profile: (the profile, run's result).
    The one recording both benchmarks use (this one and the echo
    benchmark's profile pass)."""
    data = os.path.join(tempfile.gettempdir(), f"duet-prof-{os.getpid()}.data")
    try:
        pp = subprocess.Popen(["taskset", "-c", str(cpu), "perf", "record", "-q", "-e", "cpu-clock", "-F", "999",
                               "-o", data, "-p", ",".join(map(str, pids))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        try:
            result = run()
        finally:
            pp.send_signal(signal.SIGINT)
            try:
                pp.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pp.kill()
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym",
                              "-g", "none", "--percent-limit", "0", "-t", "\t"],
                             capture_output=True, text=True, timeout=300)
        return summarize_profile(rep.stdout), result
    finally:
        for f in (data, data + ".old"):
            try:
                os.remove(f)
            except OSError:
                pass


def profile_server(srv: Server, load: Load, cpus, cert, key, seconds, warmup, script, sargs,
                   upstream: Upstream | None = None) -> dict | None:
    """A cpu-clock profile of the server over one wrk run (perf record;
    None where perf is missing or records nothing); `upstream` is where its
    proxy and fan-out go."""
    if not shutil.which("perf"):
        return None
    r = start(srv, cpus[0], cert, key, load.tls, upstream=upstream)
    try:
        r.require_tls(load.tls)
        warm_up(cpus[1], r, load, warmup, script, sargs)
        pids = r.pids
        t0 = cpu_ticks(pids)

        def measured():
            d = run_wrk(cpus[1], r, load, window(load, seconds), script, sargs)
            return d, (cpu_ticks(pids) - t0) / os.sysconf("SC_CLK_TCK")

        got, (d, cpu_s) = record_profile(pids, cpus[1], measured)
        # The CPU per request of the profiled run (perf's sampling included):
        # what the shares are shares of.
        got["cpu_us_per_req"] = cpu_s * 1e6 / d["requests"] if d["requests"] else None
        return got if got["samples"] > 0 or got["top"] else None
    finally:
        stop(r)
