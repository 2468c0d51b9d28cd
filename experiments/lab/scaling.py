"""Scaling past two cores (claim R3, issue 15): the work-stealing scheduler on
1, 2, 4, 8 and 16 workers and each placement policy, against Go
(GOMAXPROCS) and Tokio (worker_threads) in the same run.

The machine with the cores is usually not the one that builds: it reaches no
package registry. So the sweep is three steps, each a subcommand:

  python3 -m lab.scaling bundle DIR     (here) build exp_lab_scale, the Go and
        Tokio peers and collect them with the shared libraries they need
        (ldd) and lstopo into DIR, with bundle.json (commit, compiler)
  python3 -m lab.scaling sweep DIR OUT  (there) record the machine (lstopo,
        /sys, hardware counters), then run every (workers, placement,
        runtime) for --repeat rounds, interleaved, into OUT/scaling.jsonl;
        a deadline stops starting new runs so what ran comes back
  python3 -m lab.scaling ingest OUT     (here) fold the records into
        reports/data/<machine>/scaling.json (the lab's data-file format) with
        the topology files, and write reports/scaling.md

(`cd experiments` first, or PYTHONPATH=experiments.) `report` rewrites
reports/scaling.md from the data on file. The tests' definitions are in
experiments/programs/lab_scale.cpp; the peers run the same ones (`scale`).
Duet's workers are pinned by the placement policy; the peers' threads float
inside a taskset of the CPUs duet pins for that placement (Go and Tokio size
their worker pools from the affinity mask).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

WORKERS = (1, 2, 4, 8, 16)
PLACEMENTS = ("compact", "scatter")
EXTRA_PLACEMENTS = ("one_per_core", "none")  # duet only, at the largest worker count
RUNTIMES = ("duet-stackless", "duet-fiber", "go", "tokio")
TESTS = ("scale_spawn_all", "scale_spawn_tree", "scale_work", "scale_pingpong", "scale_yield")
SIZES = {  # n, tree, work, rounds, yields, reps (lab_scale.cpp's arguments)
    "smoke": (5000, 20000, 2000, 500, 2000, 3),
    "quick": (100000, 1000000, 50000, 20000, 100000, 5),
}
SKIP_LIBS = ("linux-vdso", "libc.so", "libm.so", "ld-linux", "libpthread", "libdl.so", "librt.so")


# ---- bundle (here) -----------------------------------------------------------

def _read_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _ldd(path: str) -> list[str]:
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split("=>")
        if len(parts) == 2 and parts[1].strip().startswith("/"):
            lib = parts[1].split()[0]
            if not any(s in lib for s in SKIP_LIBS):
                libs.append(lib)
    return libs


def bundle(build_dir: str, dest: str) -> int:
    from . import peers as P
    r = subprocess.run(["ninja", "-C", build_dir, "experiments/exp_lab_scale", "examples/echo_server",
                        "examples/echo_load"], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
        return 1
    os.makedirs(os.path.join(dest, "lib"), exist_ok=True)
    progs = {"exp_lab_scale": os.path.join(build_dir, "experiments", "exp_lab_scale"),
             "echo_server": os.path.join(build_dir, "examples", "echo_server"),
             "echo_load": os.path.join(build_dir, "examples", "echo_load")}
    notes = {}
    for peer in ("go", "tokio"):
        argv, note = P.build(peer, build_dir)
        if argv is None:
            print(f"bundle: peer {peer} not built: {note}")
            return 1
        progs[f"{peer}-peer"] = argv[0]
        notes[peer] = note
    sys.path.insert(0, os.path.join(ROOT, "experiments", "io"))
    import echo_bench
    echo_peers = echo_bench.build_peers(os.path.join(build_dir, "scale-echo"), ["go", "tokio"])
    for peer in ("go", "tokio"):
        if peer not in echo_peers:
            print(f"bundle: echo peer {peer} not built")
            return 1
        progs[f"{peer}-echo"] = echo_peers[peer][0]
    lstopo = shutil.which("lstopo-no-graphics")
    if lstopo:
        progs["lstopo-no-graphics"] = lstopo
    for name, path in progs.items():
        shutil.copy2(path, os.path.join(dest, name))
        for lib in _ldd(path):
            shutil.copy2(lib, os.path.join(dest, "lib", os.path.basename(lib)))
    from .machine import compiler
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    meta = {"commit": commit + ("+dirty" if dirty else ""), "compiler": compiler(), "peers": notes,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(os.path.join(dest, "bundle.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(dest) for f in fs)
    print(f"bundle: {dest}: {', '.join(progs)}; {size / 2**20:.1f} MiB; {meta['commit']}")
    return 0


# ---- sweep (there) -------------------------------------------------------------

def _capture_machine(bdir: str, out: str, env: dict) -> dict:
    from . import machine as M
    os.environ.update(PATH=env["PATH"], LD_LIBRARY_PATH=env["LD_LIBRARY_PATH"])  # the carried lstopo
    m = M.capture()
    meta = _read_json(os.path.join(bdir, "bundle.json"))
    m["compiler"] = meta["compiler"]
    m["bundle"] = meta
    probe = subprocess.run([os.path.join(bdir, "exp_lab_scale"), "probe"], capture_output=True, text=True, env=env)
    for line in probe.stdout.splitlines():
        r = json.loads(line)
        if r["metric"] == "hw_counters":
            m["perf_counters"] = {"available": bool(r["value"]), "how": r["method"]}
    for name, argv in (("topology.xml", ["lstopo-no-graphics", "--of", "xml"]),
                       ("topology.txt", ["lstopo-no-graphics", "--of", "console"]),
                       ("lscpu.txt", ["lscpu"])):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
            if p.returncode == 0 and p.stdout:
                with open(os.path.join(out, name), "w", encoding="utf-8") as f:
                    f.write(p.stdout)
        except (OSError, subprocess.SubprocessError):
            pass
    with open(os.path.join(out, "machine.json"), "w", encoding="utf-8") as f:
        json.dump(m, f, indent=1)
    return m


def _cpus(bdir: str, env: dict, workers: int, placement: str) -> str:
    return subprocess.run([os.path.join(bdir, "exp_lab_scale"), "cpus", "--workers", str(workers),
                           "--placement", placement], capture_output=True, text=True, env=env).stdout.strip()


def _plan(bdir: str, env: dict, pus: int, size: tuple, runtimes: set[str]) -> list[tuple[str, list[str], str]]:
    """(impl prefix, argv, placement) for one round, largest runs last."""
    n, tree, work, rounds, yields, reps = (str(x) for x in size)
    ws = [w for w in WORKERS if w <= pus]
    runs = []
    for w in ws:
        # One worker sits on one CPU whatever the placement: run it once.
        pls = PLACEMENTS[:1] if w == 1 else PLACEMENTS + (EXTRA_PLACEMENTS if w == ws[-1] else ())
        for pl in pls:
            for backend in ("stackless", "fiber"):
                if f"duet-{backend}" not in runtimes:
                    continue
                runs.append((f"duet-{backend}", [os.path.join(bdir, "exp_lab_scale"), "all", "--workers", str(w),
                                                 "--placement", pl, "--backend", backend, "--n", n, "--tree", tree,
                                                 "--work", work, "--rounds", rounds, "--yields", yields,
                                                 "--reps", reps], f"w{w}/{pl}"))
            if pl in EXTRA_PLACEMENTS:
                continue
            cpus = _cpus(bdir, env, w, pl)
            for peer in ("go", "tokio"):
                if peer not in runtimes:
                    continue
                runs.append((peer, ["taskset", "-c", cpus, os.path.join(bdir, f"{peer}-peer"), "scale", n, tree,
                                    work, rounds, yields, reps], f"w{w}/{pl}"))
    return runs


def sweep(bdir: str, out: str, profile: str, repeat: int, deadline_s: float, timeout_s: float,
          phase: str, runtimes: set[str] | None = None) -> int:
    t_start = time.monotonic()
    bdir = os.path.abspath(bdir)
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(bdir, "lib"),
               PATH=bdir + os.pathsep + os.environ.get("PATH", ""))
    m = _capture_machine(bdir, out, env)
    print(f"machine: {m['hwloc_line']}; counters: {m['perf_counters']}", flush=True)
    if phase == "echo":
        return echo_sweep(bdir, out, env, m["topology"]["pus"], profile, repeat, deadline_s, t_start)
    plan = _plan(bdir, env, m["topology"]["pus"], SIZES[profile], runtimes or set(RUNTIMES))
    log = open(os.path.join(out, "scaling.jsonl"), "w", encoding="utf-8")
    errors = open(os.path.join(out, "errors.txt"), "w", encoding="utf-8")
    done = 0
    for k in range(repeat):
        for impl, argv, tag in plan:
            if time.monotonic() - t_start > deadline_s:
                print(f"deadline: stopped after {done} runs", flush=True)
                log.close()
                return 0
            t0 = time.monotonic()
            try:
                p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout_s)
                stdout, rc, err = p.stdout, p.returncode, p.stderr
            except subprocess.TimeoutExpired as e:
                stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                rc, err = "timeout", ""
            if rc != 0:
                errors.write(f"round {k + 1} {impl} {tag}: exit {rc}: {' '.join(argv)}\n{err[-1000:]}\n")
                errors.flush()
            for line in stdout.splitlines():
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if not r.get("impl", "").startswith("duet-"):
                    r["impl"] = f"{impl}/{tag}"
                r["round"] = k + 1
                log.write(json.dumps(r) + "\n")
            log.flush()
            done += 1
            print(f"round {k + 1}/{repeat} {impl} {tag}: rc {rc}, {time.monotonic() - t0:.1f} s", flush=True)
    log.close()
    return 0


# ---- echo: the server on W workers, the load on the other half of the CPUs ----

ECHO = {"smoke": (4, 1.0, 0.3), "quick": (32, 2.0, 0.5)}  # connections per load process, seconds, warm-up


def _echo_servers(bdir: str, w: int) -> dict[str, tuple[list[str], dict]]:
    """name -> (argv without the port, extra env); the port goes last."""
    s = {}
    for drv in ("io_uring", "epoll"):
        for model in ("stackless", "stackful"):
            s[f"duet-{drv}-{model}"] = ([os.path.join(bdir, "echo_server"), "--driver", drv, "--model", model,
                                        "--workers", str(w), "--port"], {})
    s["go"] = ([os.path.join(bdir, "go-echo")], {"GOMAXPROCS": str(w)})
    s["tokio"] = ([os.path.join(bdir, "tokio-echo")], {})
    return s


def _echo_point(bdir, env, name, argv, extra, w, server_cpus, load_cpus, conns, seconds, warmup):
    import re
    import signal
    port_last = name != "tokio"
    cmd = ["taskset", "-c", server_cpus] + argv + (["0"] if port_last else ["0", str(w)])
    srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(env, **extra))
    port = None
    t_end = time.time() + 20
    while time.time() < t_end:
        line = srv.stdout.readline()
        mm = re.search(r"listening on (\d+)", line)
        if mm:
            port = int(mm.group(1))
            break
        if not line and srv.poll() is not None:
            break
    if port is None:
        srv.kill()
        return None, f"{name} did not start"
    loads = [subprocess.Popen(["taskset", "-c", str(c), os.path.join(bdir, "echo_load"), "--port", str(port),
                               "--connections", str(conns), "--size", "64", "--seconds", str(seconds),
                               "--warmup", str(warmup)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for c in load_cpus]
    res = []
    err = ""
    for p in loads:
        out, e = p.communicate(timeout=seconds + warmup + 60)
        kv = out.split()
        d = {kv[i]: kv[i + 1] for i in range(0, len(kv) - 1, 2)}
        if p.returncode != 0 or "rps" not in d:
            err = f"echo_load exit {p.returncode}: {out[-200:]} {e[-200:]}"
            continue
        res.append({k: float(d[k]) for k in ("rps", "p50_us", "p99_us")})
    srv.send_signal(signal.SIGTERM)
    try:
        srv.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        srv.kill()
    if len(res) != len(loads):
        return None, err
    p50 = sorted(r["p50_us"] for r in res)[len(res) // 2]
    return {"rps": sum(r["rps"] for r in res), "p50_us": p50, "p99_us": max(r["p99_us"] for r in res)}, ""


def echo_sweep(bdir, out, env, pus, profile, repeat, deadline_s, t_start) -> int:
    """The echo server on 1, 2, 4, ... workers pinned to the first CPUs (duet:
    placement compact inside the taskset; Go: GOMAXPROCS; Tokio: a
    multi-thread runtime), one echo_load process per CPU of the other half,
    64-byte messages, closed loop on loopback."""
    conns, seconds, warmup = ECHO[profile]
    half = max(1, pus // 2)
    load_cpus = list(range(half, pus)) or [0]
    ws = [w for w in WORKERS if w <= half]
    log = open(os.path.join(out, "echo.jsonl"), "w", encoding="utf-8")
    errors = open(os.path.join(out, "echo-errors.txt"), "w", encoding="utf-8")
    for k in range(repeat):
        for w in ws:
            for name, (argv, extra) in _echo_servers(bdir, w).items():
                if time.monotonic() - t_start > deadline_s:
                    print("deadline: echo stopped", flush=True)
                    return 0
                r, err = _echo_point(bdir, env, name, argv, extra, w, f"0-{w - 1}", load_cpus, conns, seconds,
                                     warmup)
                if r is None:
                    errors.write(f"round {k + 1} {name} w{w}: {err}\n")
                    errors.flush()
                    print(f"round {k + 1} echo {name} w{w}: {err}", flush=True)
                    continue
                meth = (f"echo_load x{len(load_cpus)} (one per CPU {load_cpus[0]}-{load_cpus[-1]}, {conns} "
                        f"connections each, 64 B, {seconds} s after {warmup} s), closed loop on loopback; server "
                        f"on CPUs 0-{w - 1}")
                for metric, unit in (("rps", "round trips/s"), ("p50_us", "us"), ("p99_us", "us")):
                    log.write(json.dumps({"experiment": "scale_echo", "impl": f"{name}/w{w}/compact",
                                          "metric": metric, "value": r[metric], "unit": unit,
                                          "n": conns * len(load_cpus), "method": meth, "round": k + 1}) + "\n")
                log.flush()
                print(f"round {k + 1} echo {name} w{w}: {r['rps']:.0f} rps, p99 {r['p99_us']:.0f} us", flush=True)
    log.close()
    return 0


# ---- ingest and report (here) ---------------------------------------------------

def ingest(src: str, reports: str, label: str = "", what: str = "") -> int:
    """Folds a sweep's output into reports/data/<machine>/scaling.json, or
    scaling-<label>.json for an earlier build kept for comparison (the page
    shows it beside the current one)."""
    from .stats import fold
    m = _read_json(os.path.join(src, "machine.json"))
    data_dir = os.path.join(reports, "data", m["id"])
    os.makedirs(data_dir, exist_ok=True)
    for f in ("machine.json", "topology.xml", "topology.txt", "lscpu.txt"):
        if os.path.exists(os.path.join(src, f)):
            shutil.copy2(os.path.join(src, f), os.path.join(data_dir, f))
    records, errs = [], ""
    for f in ("scaling.jsonl", "echo.jsonl"):
        if os.path.exists(os.path.join(src, f)):
            records += [json.loads(line) for line in _read_text(os.path.join(src, f)).splitlines() if line]
    for f in ("errors.txt", "echo-errors.txt"):
        if os.path.exists(os.path.join(src, f)):
            errs += _read_text(os.path.join(src, f)).strip()
    rounds = max((r.get("round", 1) for r in records if r["experiment"] != "scale_echo"), default=0)
    echo_rounds = max((r.get("round", 1) for r in records if r["experiment"] == "scale_echo"), default=0)
    summaries = fold(records)
    name = "scaling" + (f"-{label}" if label else "")
    d = {"experiment": name, "area": "scheduler", "owner": "lab", "program": "exp_lab_scale",
         "what": "scheduler scaling on 1-16 workers and each placement, against Go and Tokio (issue 15)",
         "profile": "quick", "repeat": rounds, "echo_repeat": echo_rounds, "machine": m["id"], "machine_line": m["hwloc_line"],
         "command": "python3 -m lab.scaling bundle|sweep|ingest (experiments/lab/scaling.py)",
         "started": m.get("bundle", {}).get("built", ""),
         "program_commit": m.get("bundle", {}).get("commit", "?"), "what_changed": what, "status": "ok" if summaries and not errs else "partial",
         "errors": errs.splitlines()[:20], "results": [s.to_json() for s in summaries]}
    with open(os.path.join(data_dir, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(d, f, indent=1)
        f.write("\n")
    print(f"ingest: {len(records)} records, {len(summaries)} summaries, {rounds} round(s) -> {data_dir}")
    return report(reports) if not label else 0


def _load(reports: str):
    """(machine, data file) of every machine with a scaling.json."""
    out = []
    root = os.path.join(reports, "data")
    for mid in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        p = os.path.join(root, mid, "scaling.json")
        if os.path.exists(p):
            m = _read_json(os.path.join(root, mid, "machine.json"))
            d = _read_json(p)
            # Earlier builds kept for comparison (ingest --label), oldest first.
            d["earlier"] = sorted((_read_json(os.path.join(root, mid, f))
                                   for f in os.listdir(os.path.join(root, mid))
                                   if f.startswith("scaling-") and f.endswith(".json")),
                                  key=lambda e: e.get("started", ""))
            out.append((m, d))
    return out


def report(reports: str) -> int:
    from .scaling_page import write_page
    found = _load(reports)
    if not found:
        print("report: no scaling data on file")
        return 1
    path = write_page(reports, found)
    print(f"report: {path}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="lab.scaling", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundle", help="build and collect what the sweep needs")
    b.add_argument("dest")
    b.add_argument("--build-dir", default=os.path.join(ROOT, "build-experiments"))
    s = sub.add_parser("sweep", help="run the sweep (on the machine with the cores)")
    s.add_argument("bundle")
    s.add_argument("out")
    s.add_argument("--profile", choices=sorted(SIZES), default="quick")
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--deadline", type=float, default=540, help="seconds after which no new run starts")
    s.add_argument("--timeout", type=float, default=90, help="seconds one run may take")
    s.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma-separated subset of " + ", ".join(RUNTIMES))
    s.add_argument("--phase", choices=["sched", "echo"], default="sched",
                   help="sched: exp_lab_scale and the peers' scale tests; echo: the echo servers")
    i = sub.add_parser("ingest", help="fold a sweep's output into reports/")
    i.add_argument("src")
    i.add_argument("--reports", default=os.path.join(ROOT, "reports"))
    i.add_argument("--label", default="", help="keep as scaling-LABEL.json (an earlier build, for comparison)")
    i.add_argument("--what", default="", help="with --label: what that build had (shown on the page)")
    r = sub.add_parser("report", help="rewrite reports/scaling.md from the data on file")
    r.add_argument("--reports", default=os.path.join(ROOT, "reports"))
    a = p.parse_args(argv)
    if a.cmd == "bundle":
        return bundle(a.build_dir, a.dest)
    if a.cmd == "sweep":
        return sweep(a.bundle, a.out, a.profile, a.repeat, a.deadline, a.timeout, a.phase,
                     set(a.runtimes.split(",")))
    if a.cmd == "ingest":
        return ingest(a.src, a.reports, a.label, a.what)
    return report(a.reports)


if __name__ == "__main__":
    sys.exit(main())
