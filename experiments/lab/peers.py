"""The peers: small programs under experiments/peers/<peer>/ that run the
lab's five shared tests (experiments.py) in another runtime. Built here from
Debian-packaged toolchains into <build>/peers/; a peer whose toolchain is
missing is reported as such, never faked.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .experiments import Ctx, Experiment, Invocation, by_profile, peer_tests

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_SRC = os.path.abspath(os.path.join(HERE, "..", "peers"))

# peer -> the Debian packages that provide its toolchain
PEERS = {
    "go": ["golang-go"],
    "tokio": ["cargo", "rustc", "librust-tokio-dev"],
    "python": ["python3"],
    "node": ["nodejs"],
    "boost-fiber": ["libboost-fiber-dev"],
    "asio": ["libasio-dev"],
}


def _log(msg: str):
    print(f"  peers: {msg}", flush=True)


def build(name: str, build_dir: str) -> tuple[list[str] | None, str]:
    """Builds one peer; returns (argv prefix, note)."""
    out = os.path.join(build_dir, "peers", name)
    os.makedirs(out, exist_ok=True)
    try:
        if name == "go":
            if not shutil.which("go"):
                return None, "go not installed (apt-get install golang-go)"
            exe = os.path.join(out, "go-peer")
            env = dict(os.environ, GOCACHE=os.path.join(out, "cache"), GOPATH=os.path.join(out, "gopath"),
                       GO111MODULE="off", GOFLAGS="")
            _check(["go", "build", "-o", exe, os.path.join(PEERS_SRC, "go", "main.go")], env)
            return [exe], _version(["go", "version"])
        if name == "tokio":
            if not shutil.which("cargo"):
                return None, "cargo not installed (apt-get install cargo rustc librust-tokio-dev)"
            if not any(d.startswith("tokio-1") for d in _ls("/usr/share/cargo/registry")):
                return None, "tokio sources missing (apt-get install librust-tokio-dev)"
            proj = os.path.join(out, "src-copy")
            if os.path.exists(proj):
                shutil.rmtree(proj)
            shutil.copytree(os.path.join(PEERS_SRC, "tokio"), proj,
                            ignore=shutil.ignore_patterns("target", "Cargo.lock"))
            _check(["cargo", "build", "--release", "--offline", "--target-dir", os.path.join(out, "target")],
                   dict(os.environ, CARGO_HOME=os.path.join(out, "cargo-home")), cwd=proj)
            return [os.path.join(out, "target", "release", "tokio-peer")], _version(["cargo", "--version"])
        if name == "python":
            py = shutil.which("python3")
            return ([py, os.path.join(PEERS_SRC, "python", "peer.py")], _version([py, "--version"])) if py else \
                (None, "python3 not installed")
        if name == "node":
            node = shutil.which("node") or shutil.which("nodejs")
            return ([node, os.path.join(PEERS_SRC, "node", "peer.js")], _version([node, "--version"])) if node else \
                (None, "nodejs not installed (apt-get install nodejs)")
        if name in ("boost-fiber", "asio"):
            src_dir = "boost_fiber" if name == "boost-fiber" else "asio"
            # The Boost headers ship boost/fiber/all.hpp even without the
            # library: probe what the link needs (the package itself).
            pkg = PEERS[name][0]
            if not _installed(pkg):
                return None, f"{pkg} not installed (apt-get install {pkg})"
            exe = os.path.join(out, f"{name}-peer")
            libs = ["-lboost_fiber", "-lboost_context"] if name == "boost-fiber" else []
            _check(["g++", "-std=c++20", "-O2", "-o", exe, os.path.join(PEERS_SRC, src_dir, "peer.cpp"), "-pthread"] + libs)
            return [exe], _version(["g++", "--version"])
    except subprocess.CalledProcessError as e:
        return None, f"build failed: {(e.stderr or '')[-300:]}"
    return None, "unknown peer"


def _check(argv, env=None, cwd=None):
    subprocess.run(argv, check=True, capture_output=True, text=True, env=env, cwd=cwd, timeout=900)


def _version(argv) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return ""


def _installed(pkg: str) -> bool:
    """The Debian package is installed (dpkg's status, not a file that
    another package may also provide)."""
    try:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return p.returncode == 0 and p.stdout.strip().endswith("installed")


def _ls(d: str) -> list[str]:
    try:
        return os.listdir(d)
    except OSError:
        return []


def build_all(build_dir: str, names: list[str]) -> dict[str, list[str] | None]:
    built = {}
    for n in names:
        argv, note = build(n, build_dir)
        built[n] = argv
        _log(f"{n}: {'built' if argv else 'not available'} ({note})")
    return built


def _taskset(ctx: Ctx, one_worker: bool) -> list[str]:
    """The same pinning as duet's workers (compact from CPU 0)."""
    if not shutil.which("taskset"):
        return []
    cpus = "0" if one_worker else f"0-{max(0, ctx.pus - 1)}"
    return ["taskset", "-c", cpus]


def experiments() -> list[Experiment]:
    out = []
    for name, pkgs in PEERS.items():
        def inv(ctx: Ctx, name=name):
            # Boost.Fiber and Asio run on one thread; 1M live fibers with
            # 64 KiB+ stacks would need 64 GB of address space and malloc.
            # Its spawns map a stack each (tens of microseconds on a VM
            # slow at mapping): the quick profile stops its spawn tests at
            # 10K (the quick profile's budget), full at 100K.
            # CPython needs ~20 s per pass for 1M tasks: the quick profile
            # stops it at 200K (S7's claim is Tokio's); full runs 1M.
            cap = (by_profile(ctx, 100000, 10000, 100000) if name == "boost-fiber"
                   else by_profile(ctx, None, 200000, None) if name == "python" else None)
            rss_cap = 100000 if name == "boost-fiber" else None
            conc_cap = by_profile(ctx, None, 10000, None) if name == "boost-fiber" else None
            # CPython's yield costs microseconds: 500K of them give its
            # per-yield time in quick as 2M do elsewhere.
            yield_cap = by_profile(ctx, None, 500000, None) if name == "python" else None
            tests = peer_tests(ctx, ["peer"], name, inc_max=cap, rss_max=rss_cap, conc_max=conc_cap,
                               yield_max=yield_cap)
            fixed = []
            for t in tests:
                one = t.argv[1] in ("rss", "spawn_seq", "yield")
                fixed.append(Invocation(["peer"] + t.argv[1:], t.label, name,
                                        dict(t.env, **env_prefix(ctx, one)), t.timeout, key=t.key))
            if name == "go":
                fixed += [Invocation(["peer", "depth", str(by_profile(ctx, 10000, 1000000, 10000000))], "go depth", "go"),
                          Invocation(["peer", "select", str(by_profile(ctx, 10000, 1000000, 1000000))], "go select", "go"),
                          Invocation(["peer", "close", str(by_profile(ctx, 1000, 100000, 1000000))], "go close", "go")]
            if name == "tokio":
                fixed.append(Invocation(["peer", "waits", str(by_profile(ctx, 10000, 200000, 1000000))], "tokio waits", "tokio"))
            return fixed
        out.append(Experiment(f"peer_{name}", "switch", f"peer:{name}", "lab",
                              f"{name} peer ({', '.join(pkgs)}): the shared tests", inv,
                              {"smoke": 10, "quick": 60 if name != "python" else 120, "full": 300}, peer=name,
                              rounds="peer_tests"))
    return out


def env_prefix(ctx: Ctx, one_worker: bool):
    # Stored in Invocation.env as a marker the runner turns into a prefix.
    return {"LAB_TASKSET": " ".join(_taskset(ctx, one_worker))}
