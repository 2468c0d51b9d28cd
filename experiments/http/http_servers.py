"""The servers of the HTTP benchmark (http_bench.py): how to start each one
(duet's http_server in its six configurations: three connection engines x
two drivers; nginx from nginx.conf.in,
the Go and Tokio+hyper peers, built here from experiments/peers), pinned to
a CPU, with or without its HTTPS port; how it says it is ready; stopping
it; and what /proc says about its processes (CPU time, Pss, read/write
syscalls). Also the machine's part: the server's CPU and wrk's, a free
port, the self-signed certificate.
"""
from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Callable, NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PEERS = os.path.join(ROOT, "experiments", "peers")

# examples/http_server's connection engines (--engine): `coroutine`, a Task per
# connection, and `fiber`, a fiber per connection, are what users' code gets;
# `poll`, the hand-written poll state machine, is the tuned ceiling. Each runs
# on both drivers (DUET_DRIVER); a configuration's name is
# duet-<engine>-<driver>.
ENGINES = ("coroutine", "fiber", "poll")
DRIVERS = ("io_uring", "epoll")
DUET_CONFIGS = [(engine, drv) for drv in DRIVERS for engine in ENGINES]


def duet_name(engine: str, drv: str) -> str:
    return f"duet-{engine}-{drv}"


# ---- the machine -------------------------------------------------------------------

def pick_cpus() -> tuple[int, int]:
    """The server's CPU and wrk's: the first CPU this process may run on, and
    the first one after it that is not its SMT sibling (any other if all are)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return cpus[0], cpus[0]
    server = cpus[0]
    try:
        with open(f"/sys/devices/system/cpu/cpu{server}/topology/thread_siblings_list") as f:
            sib = set()
            for part in f.read().strip().split(","):
                lo, _, hi = part.partition("-")
                sib.update(range(int(lo), int(hi or lo) + 1))
    except OSError:
        sib = {server}
    others = [c for c in cpus if c not in sib] or cpus[1:]
    return server, others[0]


def io_uring_available() -> bool:
    """Whether this kernel lets this process set up an io_uring (the
    io_uring_setup system call, 425 on every architecture, with one entry);
    a forced DUET_DRIVER=io_uring that it refuses falls back to epoll."""
    import ctypes
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            if f.read().strip() == "2":
                return False
    except OSError:
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        params = ctypes.create_string_buffer(120)   # struct io_uring_params
        fd = libc.syscall(425, 1, params)
    except (OSError, AttributeError):
        return False
    if fd < 0:
        return False
    os.close(fd)
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(d: str) -> tuple[str, str]:
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    # ECDSA P-256: every wrk run opens its connections (and so does its TLS
    # handshakes) inside the measured window, for every server alike; a
    # P-256 handshake keeps that share small.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


# ---- /proc readings ------------------------------------------------------------------

def tree(pid: int) -> list[int]:
    """pid and its descendants (nginx: master and worker)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def _proc_sum(pids: list[int], name: str, value: Callable) -> int:
    """The sum over the processes of value(/proc/PID/<name>, open); a process
    gone since, or a file without the figure, counts 0."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/{name}") as f:
                total += value(f)
        except (OSError, IndexError, KeyError, ValueError):
            pass
    return total


def _stat_ticks(f) -> int:
    fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _pss(f) -> int:
    for line in f:
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def _io_calls(f) -> int:
    d = dict(line.split(":") for line in f if ":" in line)
    return int(d["syscr"]) + int(d["syscw"])


def cpu_ticks(pids: list[int]) -> int:
    """utime+stime of the processes, in clock ticks (every thread)."""
    return _proc_sum(pids, "stat", _stat_ticks)


def cpu_ns(pids: list[int]) -> int:
    """Time on a CPU of the processes' threads, in nanoseconds (the
    scheduler's own count, /proc/PID/task/TID/schedstat: exact where
    clock ticks are 10 ms); a thread gone since counts 0."""
    total = 0
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        total += _proc_sum([f"{p}/task/{t}" for t in tids], "schedstat", lambda f: int(f.read().split()[0]))
    return total


def pss_bytes(pids: list[int]) -> int:
    return _proc_sum(pids, "smaps_rollup", _pss)


def io_syscalls(pids: list[int]) -> int:
    return _proc_sum(pids, "io", _io_calls)


# ---- servers ------------------------------------------------------------------------

class Upstream(NamedTuple):
    """The upstream of a server's /proxy/ and /fanout routes (the peers'
    --upstream HOST:PORT, nginx.conf.in's @UPSTREAM@), and their timeouts:
    504 when the upstream's response head takes longer than timeout_ms, and
    one /fanout's deadline."""
    addr: str
    timeout_ms: int = 5000
    fanout_deadline_ms: int = 1000


def upstream_args(up: Upstream | None) -> list[str]:
    """The Go and hyper peers' options for `up` (none without one)."""
    if up is None:
        return []
    return ["--upstream", up.addr, "--upstream-timeout-ms", str(up.timeout_ms),
            "--fanout-deadline-ms", str(up.fanout_deadline_ms)]


class Server:
    """How to start one server: argv built from (tls_port, cert, key) and,
    where the load has one, the Upstream (passed only then, so an argv that
    takes three arguments serves every load without one), its environment,
    and how it says it is ready."""

    def __init__(self, name: str, argv, env=None, ready="line", tls=True, note="", conf="nginx.conf.in"):
        self.name, self.argv, self.env, self.ready, self.tls, self.note = name, argv, env or {}, ready, tls, note
        self.conf = conf   # nginx (ready="nginx"): the config template beside this file (http2_bench.py's own)


class Running:
    def __init__(self, proc: subprocess.Popen, port: int, tls_port: int | None, workdir: str | None = None,
                 tail: list[str] | None = None):
        self.proc, self.port, self.tls_port, self.workdir = proc, port, tls_port, workdir
        self.tail = tail if tail is not None else []     # the end of its output, for errors
        self.tls_error = ""                              # why it serves no HTTPS, when it was asked to

    @property
    def pids(self) -> list[int]:
        return tree(self.proc.pid)

    def require_tls(self, tls: bool = True):
        """Raises NoTLS where HTTPS is asked for (`tls`) and the server
        serves none."""
        if tls and self.tls_port is None:
            raise NoTLS(self.tls_error or "the server printed no TLS port")


def _read_ports(p: subprocess.Popen, want_tls: bool, deadline: float) -> tuple[int | None, int | None]:
    """`listening on N` lines: the first plain one is the port; a line that
    says tls/https, or else the second line, is the TLS port."""
    import select
    port = tls = None
    buf = ""
    while time.time() < deadline:
        if port is not None and (tls is not None or not want_tls):
            break
        # Once the plain port is known, wait a little for a TLS line only.
        wait = min(0.5, deadline - time.time()) if port is None else min(2.0, deadline - time.time())
        r, _, _ = select.select([p.stdout], [], [], max(0.0, wait))
        if not r:
            if port is not None:
                break
            if p.poll() is not None:
                break
            continue
        chunk = os.read(p.stdout.fileno(), 4096).decode(errors="replace")
        if not chunk:
            break
        buf += chunk
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            m = re.search(r"listening on\D*?(\d+)", line)
            if not m:
                continue
            n = int(m.group(1))
            if re.search(r"tls|https|ssl", line, re.I) or port is not None:
                tls = n if tls is None else tls
            else:
                port = n
    return port, tls


def _wait_children(pid: int, n: int, deadline: float) -> bool:
    while time.time() < deadline:
        if len(tree(pid)) > n:
            return True
        time.sleep(0.05)
    return False


def wait_port(port: int, deadline: float) -> bool:
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class NoTLS(RuntimeError):
    """The server serves no HTTPS (its HTTPS rows are marked unavailable)."""


def start(srv: Server, cpu: int, cert: str, key: str, with_tls: bool, prefix=None,
          upstream: Upstream | None = None) -> Running:
    """Starts a server pinned to `cpu`; with_tls asks for its HTTPS port too;
    `upstream` is where its /proxy/ and /fanout go. A server that does not
    start with TLS is started without it, and the reason kept
    (Running.tls_error)."""
    if with_tls and srv.tls and srv.ready != "nginx":
        try:
            return _start(srv, cpu, cert, key, True, prefix, upstream)
        except RuntimeError as e:
            r = _start(srv, cpu, cert, key, False, prefix, upstream)
            r.tls_error = f"did not start with TLS: {e}"
            return r
    return _start(srv, cpu, cert, key, with_tls, prefix, upstream)


def _start(srv: Server, cpu: int, cert: str, key: str, with_tls: bool, prefix=None,
           upstream: Upstream | None = None) -> Running:
    tls_port = free_port() if (with_tls and srv.tls) else None
    if srv.ready == "nginx":
        workdir = tempfile.mkdtemp(prefix="duet-nginx-")
        port = free_port()
        with open(os.path.join(HERE, srv.conf)) as f:
            conf = f.read()
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        up = upstream or Upstream("127.0.0.1:1")   # nothing listens there: /proxy/ answers 502
        for k, v in {"DIR": workdir, "PORT": port, "TLS_PORT": tls_port or free_port(), "CERT": cert, "KEY": key,
                     "NOFILE": nofile, "CONNECTIONS": max(1024, nofile - 64), "UPSTREAM": up.addr,
                     "UPSTREAM_TIMEOUT_MS": up.timeout_ms}.items():
            conf = conf.replace(f"@{k}@", str(v))
        path = os.path.join(workdir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        argv = srv.argv + ["-p", workdir, "-e", os.path.join(workdir, "error.log"), "-c", path]
        p = subprocess.Popen((prefix or []) + ["taskset", "-c", str(cpu)] + argv, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
        # The master listens before it forks its worker: ready is both.
        deadline = time.time() + 15
        if not wait_port(port, deadline) or not _wait_children(p.pid, 1, deadline):
            err = _kill(p)
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"nginx did not start: {err[-300:]}")
        return Running(p, port, tls_port, workdir)
    if not callable(srv.argv):
        argv = list(srv.argv)
    else:
        argv = srv.argv(tls_port, cert, key, upstream) if upstream else srv.argv(tls_port, cert, key)
    p = subprocess.Popen((prefix or []) + ["taskset", "-c", str(cpu)] + argv, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=dict(os.environ, **srv.env), start_new_session=True)
    port, tls = _read_ports(p, tls_port is not None, time.time() + 20)
    if port is None:
        out = _kill(p)
        raise RuntimeError(f"{srv.name} did not start: {out[-300:]}")
    # Keep reading its output to the end: a server whose pipe is closed dies
    # of SIGPIPE at its next log line (Go logs each failed TLS handshake, and
    # wrk abandons handshakes when its window ends); one whose pipe is full
    # blocks.
    tail: list[str] = []
    threading.Thread(target=_drain, args=(p.stdout, tail), daemon=True).start()
    return Running(p, port, tls, tail=tail)


def _drain(pipe, tail: list[str]):
    """Reads a server's output until it exits, keeping the last 4 KiB."""
    while True:
        chunk = os.read(pipe.fileno(), 65536)
        if not chunk:
            break
        tail.append(chunk.decode(errors="replace"))
        while sum(map(len, tail)) > 4096 and len(tail) > 1:
            tail.pop(0)


def _kill(p: subprocess.Popen) -> str:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        out, err = p.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError):
        return ""
    text = (out or b"") + (err or b"") if isinstance(out or b"", bytes) else (out or "") + (err or "")
    return text.decode(errors="replace") if isinstance(text, bytes) else text


def stop(r: Running) -> int | None:
    """SIGTERM (duet drains and exits 0; nginx's master stops its worker),
    then the whole group killed after 15 s; returns the exit status."""
    rc = None
    try:
        r.proc.send_signal(signal.SIGTERM)
        rc = r.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(r.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        r.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    if r.workdir:
        shutil.rmtree(r.workdir, ignore_errors=True)
    return rc


def nginx_binary() -> str | None:
    """nginx's program: on PATH, or Debian's /usr/sbin/nginx; None when absent."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def build_peers(out: str, want: list[str]) -> tuple[dict[str, Server], dict[str, str]]:
    """The peer servers named in `want` that this machine can build and run;
    and, for the others, why not."""
    os.makedirs(out, exist_ok=True)
    peers: dict[str, Server] = {}
    missing: dict[str, str] = {}
    if "nginx" in want:
        nginx = nginx_binary()
        if nginx:
            peers["nginx"] = Server("nginx", [nginx], ready="nginx")
        else:
            missing["nginx"] = "nginx not installed (apt-get install nginx)"
    if "go" in want:
        if shutil.which("go"):
            exe = os.path.join(out, "go-http")
            env = dict(os.environ, GOCACHE=os.path.join(out, "gocache"), GO111MODULE="off", GOFLAGS="",
                       GOPATH=os.path.join(out, "gopath"))
            r = subprocess.run(["go", "build", "-o", exe, os.path.join(PEERS, "go", "http", "main.go")], env=env,
                               capture_output=True, text=True)
            if r.returncode == 0:
                peers["go"] = Server("go", lambda tp, c, k, up=None, exe=exe: [exe] + upstream_args(up) + ["0"]
                                     + ([str(tp), c, k] if tp else []), {"GOMAXPROCS": "1"})
            else:
                missing["go"] = f"build failed: {r.stderr.strip()[-300:]}"
        else:
            missing["go"] = "go not installed (apt-get install golang-go)"
    if "hyper" in want:
        reg = "/usr/share/cargo/registry"
        have = os.listdir(reg) if os.path.isdir(reg) else []
        lack = [c for c in ("hyper-0.14", "tokio-rustls-0.23", "rustls-pemfile-1", "serde_json-1", "futures-util-0.3")
                if not any(d.startswith(c) for d in have)]
        if not shutil.which("cargo"):
            missing["hyper"] = "cargo not installed (apt-get install cargo rustc)"
        elif lack:
            missing["hyper"] = (f"crate sources missing: {', '.join(lack)} (apt-get install librust-hyper-dev "
                                "librust-tokio-rustls-dev librust-rustls-pemfile-dev librust-serde-json-dev "
                                "librust-futures-util-dev)")
        else:
            proj = os.path.join(out, "hyper-src")
            if os.path.exists(proj):
                shutil.rmtree(proj)
            shutil.copytree(os.path.join(PEERS, "tokio", "http"), proj,
                            ignore=shutil.ignore_patterns("target", "Cargo.lock"))
            target = os.path.join(out, "hyper-target")
            r = subprocess.run(["cargo", "build", "--release", "--offline", "--target-dir", target], cwd=proj,
                               env=dict(os.environ, CARGO_HOME=os.path.join(out, "cargo-home")),
                               capture_output=True, text=True)
            if r.returncode == 0:
                exe = os.path.join(target, "release", "hyper-http")
                peers["hyper"] = Server("hyper", lambda tp, c, k, up=None, exe=exe: [exe] + upstream_args(up) + ["0"]
                                        + ([str(tp), c, k] if tp else []))
            else:
                missing["hyper"] = f"build failed: {r.stderr.strip()[-300:]}"
    return peers, missing


def duet_servers(build: str) -> tuple[dict[str, Server], str]:
    exe = os.path.join(build, "examples", "http_server", "http_server")
    if not os.path.isfile(exe):
        return {}, f"{exe} not built"
    out = {}
    for engine, drv in DUET_CONFIGS:
        def argv(tp, c, k, up=None, engine=engine):
            # The read timeout as long as nginx's keep-alive timeout here
            # (nginx.conf.in): the idle test holds its connections idle for
            # longer than the server's 10 s default while it opens them.
            # --handlers, --max-connections and --max-requests are left at
            # the server's defaults.
            a = [exe, "--port", "0", "--engine", engine, "--workers", "1", "--io-timeout-ms", "300000"]
            return a + upstream_args(up) + (["--tls-port", str(tp), "--cert", c, "--key", k] if tp else [])
        out[duet_name(engine, drv)] = Server(duet_name(engine, drv), argv, {"DUET_DRIVER": drv})
    return out, ""
