"""The experiments: what to run, with which N per profile. One entry per
program in EXPERIMENTS (the peers' entries are made in peers.py).

An experiment is a list of invocations; each invocation prints records
(JSONL, see stats.py) or Google Benchmark JSON. The runner repeats the whole
list K times and folds the records into median/min/max.

Which claims an experiment feeds is not said here: each claim rule in
claims.py declares the experiments it reads, and `--only` follows those
declarations. Plugging in another engineer's program is one `external(...)`
line in EXPERIMENTS: its name, binary, area, owner, arguments per profile.
Programs receive DUET_LAB_PROFILE=smoke|quick|full in the environment.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))

PROFILES = ("smoke", "quick", "full")


@dataclass
class Invocation:
    argv: list[str]                 # argv[0] is a program name resolved by the runner
    label: str = ""                 # progress text
    impl: str = ""                  # default "impl" for records that lack one
    env: dict = field(default_factory=dict)
    timeout: float = 300.0
    parse: str = "jsonl"            # jsonl | gbench | cachegrind
    ok_codes: tuple = (0,)
    key: str = ""                   # the test across implementations ("spawn_seq"): interleaved rounds
                                    # run the invocations with one key back to back (runner.run_rounds)


@dataclass
class Experiment:
    name: str
    area: str                       # memory | switch | cache | scheduler | io | http | reliability | portability
    program: str                    # binary (exp_*, bench_*), "peer:<name>" or "python:<name>" (PYTHON_RECORDS
                                    # in runner.py: records read in the lab's own process, no invocations)
    owner: str
    what: str                       # one line for the report
    invocations: Callable[["Ctx"], list[Invocation]]
    estimate_s: dict = field(default_factory=dict)   # per profile, before any run is on file
    peer: str = ""                  # non-empty for peer experiments (skipped by --no-peers)
    skip: Callable[["Ctx"], str | None] | None = None   # why this machine cannot run it (None: it can)
    rounds: str = ""                # experiments with the same non-empty value are compared with one another:
                                    # their repeats run interleaved (runner.run_rounds)
    once: bool = False              # exact counts (callgrind): one run whatever the profile's repeat, since
                                    # a second run would give the same numbers
    quick_runs: int = 0             # the quick profile runs it at most this many times (0: the profile's
                                    # repeat): memory figures that vary little from run to run, as the
                                    # HTTP idle and depth tests (the quick profile's budget)


@dataclass
class Ctx:
    profile: str
    pus: int
    machine: dict


def by_profile(ctx: Ctx, smoke, quick, full):
    return {"smoke": smoke, "quick": quick, "full": full}[ctx.profile]


# ---- the shared peer tests: the same definitions in every peer program ----
#
#   rss N         N tasks parked on one gate; RSS growth per task (1 worker)
#   spawn_seq N   spawn+await N times from inside a task (1 worker)
#   spawn_conc N  spawn N, then await all, from inside a task (all workers)
#   spawn_inc N   spawn N that increment an atomic, join all (all workers)
#   yield N       two tasks yield to each other N times in all (1 worker)

def rss_ns(ctx):
    # The smoke N must span several of the block cache's 2 MiB chunks
    # (common/src/alloc/block_cache.cpp): at 200 and 2,000 parked tasks
    # (~0.5 MiB) RSS could grow by 0 or by a whole chunk, and a zero slope
    # broke M2's ratio in CI's smoke run.
    return by_profile(ctx, [2000, 20000], [1000, 10000, 100000], [1000, 10000, 100000, 1000000])


def conc_ns(ctx):
    return by_profile(ctx, [100, 1000], [1000, 10000, 50000, 100000], [1000, 10000, 50000, 100000])


def seq_n(ctx):
    return by_profile(ctx, 1000, 10000, 10000)


def inc_n(ctx):
    return by_profile(ctx, 5000, 1000000, 1000000)


def yield_n(ctx):
    return by_profile(ctx, 20000, 2000000, 10000000)


def peer_tests(ctx: Ctx, prog: list[str], impl: str, env: dict | None = None,
               skip: tuple = (), rss_max: int | None = None, inc_max: int | None = None,
               conc_max: int | None = None, yield_max: int | None = None,
               timeout: float = 300) -> list[Invocation]:
    """The five shared tests for one implementation, at this profile's N
    (spawn_conc's N up to conc_max, spawn_inc's and yield's capped at
    inc_max and yield_max)."""
    env = env or {}
    out = []
    for n in rss_ns(ctx):
        if "rss" not in skip and (rss_max is None or n <= rss_max):
            out.append(Invocation(prog + ["rss", str(n)], f"{impl} rss N={n}", impl, env, timeout, key=f"rss N={n}"))
    if "spawn_seq" not in skip:
        out.append(Invocation(prog + ["spawn_seq", str(seq_n(ctx))], f"{impl} spawn_seq", impl, env, timeout,
                              key="spawn_seq"))
    if "spawn_conc" not in skip:
        for n in conc_ns(ctx):
            if conc_max is not None and n > conc_max:
                continue
            out.append(Invocation(prog + ["spawn_conc", str(n)], f"{impl} spawn_conc N={n}", impl, env, timeout,
                                  key=f"spawn_conc N={n}"))
    if "spawn_inc" not in skip:
        n = inc_n(ctx) if inc_max is None else min(inc_n(ctx), inc_max)
        out.append(Invocation(prog + ["spawn_inc", str(n)], f"{impl} spawn_inc N={n}", impl, env, timeout,
                              key="spawn_inc"))
    if "yield" not in skip:
        n = yield_n(ctx) if yield_max is None else min(yield_n(ctx), yield_max)
        out.append(Invocation(prog + ["yield", str(n)], f"{impl} yield", impl, env, timeout, key="yield"))
    return out


# ---- duet (lab_*) -----------------------------------------------------------

def _duet(backend: str):
    def inv(ctx: Ctx):
        # spawn_inc runs at every backend's full N: a fiber takes its stack at
        # its first run and gives it back when it finishes (docs/stackful.md),
        # so a million fibers that increment and end need only as many stacks
        # as run at once (1M on the 2-vCPU EPYC VM: ~70-80 ms, not minutes),
        # whatever vm.max_map_count is. rss parks all N at once: a guarded
        # stack is two mappings, so 1M parked fibers need vm.max_map_count
        # above 2M (the runner raises it when root).
        rss_max = None
        if backend == "fiber" and ctx.machine.get("vm_max_map_count", 0) < 2_200_000:
            rss_max = 30000
        return [Invocation(i.argv + ["--backend", backend], i.label, i.impl, i.env, i.timeout, key=i.key)
                for i in peer_tests(ctx, ["exp_lab_duet"], f"duet-{backend}", rss_max=rss_max)]
    return inv


def _switch(ctx):
    return [Invocation(["exp_lab_switch", "--scale", str(by_profile(ctx, 0.05, 0.3, 2))], "bare switch mechanisms")]


def _frames(ctx):
    return [Invocation(["exp_lab_frames", "--n", str(by_profile(ctx, 2000, 100000, 1000000))], "frame sizes, allocations")]


def _threads(ctx):
    n = by_profile(ctx, [100, 500], [1000, 5000], [1000, 10000])
    cap = by_profile(ctx, 1000, 20000, 100000)
    out = [Invocation(["exp_lab_threads", "rss", str(k)], f"threads rss N={k}", "os-thread") for k in n]
    out.append(Invocation(["exp_lab_threads", "ceiling", str(cap)], f"threads ceiling cap={cap}", "os-thread",
                          timeout=600))
    return out


def _cache(ctx):
    max_n = by_profile(ctx, 1024, 262144, 1048576)
    sw = by_profile(ctx, 50000, 2000000, 8000000)
    return [Invocation(["exp_lab_cache", "--max-n", str(max_n), "--min-switches", str(sw),
                        "--touch", "0,1024"], "switch cost vs live tasks", timeout=900)]


def _cachegrind(ctx):
    """cachegrind on a reduced N (the claim's 1000 tasks): two runs per point
    with different round counts; the difference divided by the extra
    switches is misses per switch, free of setup costs."""
    n = by_profile(ctx, 200, 1000, 1000)
    out = []
    for variant in ("stackless", "fiber"):
        for touch in (0, 1024):
            for rounds in (2, 12):
                out.append(Invocation(
                    ["exp_lab_cache", "--point", variant, "--n", str(n), "--touch", str(touch),
                     "--rounds", str(rounds)],
                    f"cachegrind {variant} touch={touch} rounds={rounds}", variant,
                    env={"LAB_CACHEGRIND": f"{variant}|{touch}|{rounds}|{n}"},
                    timeout=600, parse="cachegrind"))
    return out


def _sched(ctx):
    scale = str(by_profile(ctx, 0.05, 1, 3))
    return [Invocation(["exp_lab_sched", t, "--scale", scale], f"scheduler {t}", "duet", timeout=600)
            for t in ("budget", "lifo", "steal", "waits")]


def _chan(ctx):
    return [Invocation(["exp_lab_chan", "close", "--n", str(by_profile(ctx, 1000, 100000, 1000000))], "close fan-out", "duet"),
            Invocation(["exp_lab_chan", "select", "--n", str(by_profile(ctx, 10000, 1000000, 10000000))], "select fairness", "duet"),
            Invocation(["exp_lab_chan", "blocking", "--n", str(by_profile(ctx, 100, 1000, 2000))], "blocking pool", "duet")]


def _uring(ctx):
    return [Invocation(["exp_lab_uring", "--n", str(by_profile(ctx, 256, 4096, 16384))], "io_uring batch", "io_uring")]


def _echo(ctx):
    # exp_io_echo (experiments/io/echo_bench.py) reads DUET_LAB_PROFILE for
    # its preset: configs, reps per run, seconds per server.
    return [Invocation(["exp_io_echo"], "echo: duet x drivers x models vs C epoll, Go, Asio, Tokio", "",
                       {"DUET_LAB_PROFILE": ctx.profile}, by_profile(ctx, 120, 900, 1800))]


def _http(ctx):
    # exp_http (experiments/http/http_bench.py) reads DUET_LAB_PROFILE for its
    # preset: loads, reps per run, seconds per server, the idle connections,
    # the loads it profiles.
    return [Invocation(["exp_http"], "http: duet's http_server (engines x drivers) vs nginx, Go, hyper under wrk", "",
                       {"DUET_LAB_PROFILE": ctx.profile}, by_profile(ctx, 300, 1500, 4800))]


def _http2(ctx):
    # exp_http2 (experiments/http/http2_bench.py) reads DUET_LAB_PROFILE for
    # its preset: loads, windows, the depth and idle tests.
    return [Invocation(["exp_http2"], "http2: duet's http_server over h2c and h2 vs nginx, Go under h2load", "",
                       {"DUET_LAB_PROFILE": ctx.profile}, by_profile(ctx, 120, 400, 1200))]


def _soak(ctx):
    # exp_io_soak (experiments/io/soak.py) reads DUET_LAB_PROFILE for its
    # length: smoke (CI) about 10 s, quick about a minute.
    return [Invocation(["exp_io_soak"], "fault soak: echo server x drivers x models", "",
                       {"DUET_LAB_PROFILE": ctx.profile}, by_profile(ctx, 300, 900, 1800))]


def _http_soak(ctx):
    # exp_io_http_soak (experiments/io/http_soak.py) reads DUET_LAB_PROFILE
    # for its length, as the echo soak does.
    return [Invocation(["exp_io_http_soak"], "fault soak: http server x drivers x engines", "",
                       {"DUET_LAB_PROFILE": ctx.profile}, by_profile(ctx, 300, 900, 1800))]


def _scope_rss(ctx):
    # The two holders differ by a few bytes per child while RSS moves in the
    # block cache's 2 MiB chunks: only a span of about a million children
    # resolves that (a chunk is 2 B per child over 1M; the smoke profile's
    # span only runs the programs).
    ns = by_profile(ctx, [20000, 200000], [100000, 400000, 1000000], [100000, 1000000, 2000000])
    return [Invocation(["exp_lab_duet", "scope_rss", str(n), "--holder", h], f"scope_rss {h} N={n}",
                       f"duet-{h}", key=f"scope_rss N={n}")
            for n in ns for h in ("scope", "handles")]


# bench_sched's short benchmarks whose ratios are targets (a yield against a
# bare switch, a spawn+join against a bare resume, the ping-pongs, a scope's
# spawn+next against a plain spawn+join).
SCHED_HOT = r"^(bare|yield|yield_pair|pingpong|pingpong_distinct|spawn_join|scope_spawn_join)/"


def _sched_benches(ctx):
    # Google Benchmark sizes its own iterations; the quick profile keeps each
    # benchmark short (the runner repeats the program K times anyway).
    #
    # The hot benchmarks run as R repetitions each, in random order within the
    # process (--benchmark_enable_random_interleaving): every repetition is a
    # sample, so each benchmark's median spans the whole process, and the
    # numerator and denominator of a ratio meet the same phases of the
    # machine. Run one after another, a benchmark and the bare loop it is
    # compared with were seconds apart, and on the 2-vCPU EPYC VM the speed
    # changed within seconds (yield_pair/stackless 12.3 and 21.7 ns in
    # consecutive 0.2 s runs). The rest (spawn_all's and scope_all's sizes,
    # the LIFO watch) keep their fixed order: what one leaves in the stack and
    # block caches is part of what the next one measures.
    mt = by_profile(ctx, "0.01", "0.02", "0.5")
    reps = by_profile(ctx, 1, 5, 5)
    hot_mt = by_profile(ctx, "0.01", "0.01", "0.1")
    env = {"DUET_LAB_PROFILE": ctx.profile}
    timeout = by_profile(ctx, 120, 600, 900)
    return [
        Invocation(["{bench}", f"--benchmark_filter={SCHED_HOT}", f"--benchmark_min_time={hot_mt}",
                    f"--benchmark_repetitions={reps}", "--benchmark_enable_random_interleaving=true",
                    "--benchmark_format=json"],
                   "Google Benchmark, hot benchmarks interleaved", "duet", env, timeout, parse="gbench"),
        Invocation(["{bench}", f"--benchmark_filter=-{SCHED_HOT}", f"--benchmark_min_time={mt}",
                    "--benchmark_format=json"],
                   "Google Benchmark, the rest in order", "duet", env, timeout, parse="gbench"),
    ]


def _hot_path_counts(ctx):
    # One process (experiments/lab/hot_path_counts.py) runs the six hot
    # benchmarks under callgrind, one valgrind run each (about 13 s in all on
    # a 2-vCPU EPYC VM); the counts are exact, so every profile runs the same
    # thing. "{program_path}" is bench_sched's path in the build.
    return [Invocation([sys.executable, os.path.join(HERE, "hot_path_counts.py"), "{program_path}"],
                       "callgrind: yield_pair, pingpong, spawn_join/1 x (stackless, stackful)",
                       "duet", timeout=by_profile(ctx, 300, 600, 600))]


def _hot_path_skip(ctx):
    from .hot_path_counts import skip_reason
    return skip_reason()


def external(name: str, program: str, area: str, owner: str, what: str, invocations=None,
             estimate=None, quick_runs: int = 0) -> Experiment:
    """Another engineer's program. Default: run it with no arguments and
    DUET_LAB_PROFILE set; it prints JSONL records."""
    inv = invocations or (lambda ctx: [Invocation([program], name, "", {"DUET_LAB_PROFILE": ctx.profile}, 900)])
    return Experiment(name, area, program, owner, what, inv, estimate or {"smoke": 10, "quick": 60, "full": 300},
                      quick_runs=quick_runs)


def _args(program: str, smoke: list[str], quick: list[str], full: list[str]):
    def inv(ctx: Ctx):
        return [Invocation([program] + by_profile(ctx, smoke, quick, full), program, "",
                           {"DUET_LAB_PROFILE": ctx.profile}, by_profile(ctx, 60, 400, 900))]
    return inv


# Every experiment, in the order they run and appear on their area's page.
EXPERIMENTS: list[Experiment] = [
    Experiment("duet_stackless", "memory", "exp_lab_duet", "lab",
               "duet stackless tasks: the five shared peer tests", _duet("stackless"),
               {"smoke": 5, "quick": 40, "full": 120}, rounds="peer_tests"),
    Experiment("duet_poll", "memory", "exp_lab_duet", "lab",
               "duet poll futures spawned as tasks: the five shared peer tests", _duet("poll"),
               {"smoke": 5, "quick": 30, "full": 100}, rounds="peer_tests"),
    Experiment("duet_fiber", "memory", "exp_lab_duet", "lab",
               "duet fibers (default stack strategy): the five shared peer tests", _duet("fiber"),
               {"smoke": 8, "quick": 90, "full": 400}, rounds="peer_tests"),
    Experiment("scope_rss", "memory", "exp_lab_duet", "lab",
               "a TaskScope's memory per child over the children's JoinHandles: N stackless children parked, "
               "held by one scope or by N handles (RSS slope over N; issue 36's target: at most 16 B)",
               _scope_rss, {"smoke": 3, "quick": 10, "full": 40}),
    Experiment("frames", "memory", "exp_lab_frames", "lab",
               "coroutine frame sizes, duet sizes, allocations per spawn, stack overflow", _frames,
               {"smoke": 2, "quick": 10, "full": 40}),
    Experiment("threads", "memory", "exp_lab_threads", "lab",
               "OS threads: RSS and address space per thread, creation cost, how many can be created",
               _threads, {"smoke": 3, "quick": 30, "full": 120}),
    Experiment("switch_bare", "switch", "exp_lab_switch", "lab",
               "bare switch mechanisms and the S1 breakdown", _switch, {"smoke": 3, "quick": 25, "full": 80}),
    Experiment("cache_sweep", "cache", "exp_lab_cache", "lab",
               "switch cost vs live tasks past L1/L2/L3", _cache, {"smoke": 2, "quick": 25, "full": 120}),
    Experiment("cache_cachegrind", "cache", "exp_lab_cache", "lab",
               "cachegrind simulation at 1000 tasks", _cachegrind, {"smoke": 10, "quick": 40, "full": 40}),
    Experiment("sched_policies", "scheduler", "exp_lab_sched", "lab",
               "budget, LIFO cap, steal efficiency, allocations per wait", _sched,
               {"smoke": 5, "quick": 40, "full": 120}),
    Experiment("chan_pool", "scheduler", "exp_lab_chan", "lab",
               "channel close fan-out, select fairness, blocking pool", _chan, {"smoke": 5, "quick": 20, "full": 60}),
    Experiment("uring_batch", "io", "exp_lab_uring", "lab",
               "io_uring: reads submitted per system call", _uring, {"smoke": 1, "quick": 3, "full": 5}),
    Experiment("io_echo", "io", "exp_io_echo", "drivers",
               "TCP echo, closed loop on loopback: round trips/s, p50/p99/p999 and syscalls per message, duet "
               "(io_uring, epoll) x (stackless, stackful) against C epoll, Go, Asio and Tokio in the same run",
               _echo, {"smoke": 15, "quick": 450, "full": 800}),
    Experiment("http", "http", "exp_http", "lab",
               "HTTP/1.1 under wrk on loopback: requests/s, p50/p99/p99.9, server CPU and syscalls per request, "
               "memory per idle keep-alive connection; duet's examples/http_server on duet::http, its engines "
               "(coroutine, fiber, poll) x (io_uring, epoll), against nginx (one worker), Go net/http and "
               "Tokio+hyper in the same run (issues 37, 51); and GET /proxy/json and GET /fanout?n=4 through one "
               "shared upstream per rep (issue 51's proxy target); memory per in-flight proxied request, N requests "
               "parked at once on a slow upstream (issue 51's memory target)",
               _http, {"smoke": 130, "quick": 920, "full": 6250}),
    Experiment("http2", "http", "exp_http2", "lab",
               "HTTP/2 under h2load on loopback (issue 76): requests/s over h2c (prior knowledge) and h2 (TLS, ALPN) "
               "at 1 connection x 100 streams and 64 connections x 10 streams, duet's examples/http_server with "
               "coroutine handlers (coroutine and poll engines) and fiber handlers (fiber engine) against nginx "
               "(one worker) and Go net/http in the same run; memory per open stream, 10,000 parked at once on "
               "/delay over 100 connections; memory per idle HTTP/2 connection",
               _http2, {"smoke": 15, "quick": 190, "full": 600}),
    Experiment("http_loc", "http", "python:http_loc", "lab",
               "the lines of duet::http's connection engines (coroutine, fiber, poll) and of examples/http_server's "
               "handler sets (coroutine, fiber), with the Go and hyper peers' whole programs for reference: "
               "non-blank, non-comment lines, read from the sources (experiments/lab/loc.py; issue 51)",
               lambda ctx: [], {"smoke": 1, "quick": 1, "full": 1}),
    Experiment("soak_faults", "reliability", "exp_io_soak", "drivers",
               "the echo server (examples/echo_server) under a client mixing verified echo traffic with resets "
               "mid message, half-closes, stalled readers, connection storms past its RLIMIT_NOFILE (EMFILE) and "
               "connects abandoned mid-handshake, for both drivers and both models",
               _soak, {"smoke": 15, "quick": 60, "full": 300}),
    Experiment("http_soak", "reliability", "exp_io_http_soak", "drivers",
               "the HTTP server (examples/http_server) under a client mixing verified requests with resets "
               "mid-body, half-closes, slow readers and writers, malformed requests and an EMFILE storm, for both "
               "drivers and its three engines (issues 37, 51)",
               _http_soak, {"smoke": 20, "quick": 60, "full": 300}),
    Experiment("arch", "portability", "python:arch", "lab",
               "architectures supported per model, read from the build", lambda ctx: [],
               {"smoke": 2, "quick": 5, "full": 5}),
    # Other engineers' programs.
    external("stackful_rss", "exp_stackful_rss", "memory", "stackful",
             "RSS per parked fiber per stack strategy (slope over N)",
             # quick: the three strategies users choose (unguarded_unsafe,
             # pooled without its guard, is the full profile's), in the
             # lab's first run only (quick_runs: RSS slopes vary little).
             _args("exp_stackful_rss", ["--strategy", "all", "--n", "200,2000"],
                   ["--strategy", "pooled,lazy,copy", "--n", "1000,10000,100000", "--raise-map-count"],
                   ["--strategy", "all", "--n", "10000,100000,1000000", "--raise-map-count"]),
             {"smoke": 10, "quick": 40, "full": 600}, quick_runs=1),
    external("page_touch", "exp_page_touch", "memory", "stackful",
             "what fresh memory costs on this machine: a first touch of an anonymous page, a second touch, a "
             "touch after MADV_DONTNEED, and a fiber stack's life the old way (mmap + mprotect + touch + munmap); "
             "the price behind every cold (first pass) row",
             _args("exp_page_touch", ["--pages", "2000", "--rounds", "200"], [], ["--pages", "100000"]),
             {"smoke": 2, "quick": 5, "full": 20}),
    external("stackful_depth", "exp_stackful_depth", "memory", "stackful",
             "recursion depth per stack strategy and frame size",
             # quick: the lazy stack's overflow probe on its 8 MiB reserve
             # only (the 1 GiB one touches a gigabyte per frame size: the
             # full profile's); the 1M-frame target runs in every profile.
             _args("exp_stackful_depth", ["--locals", "0", "--target", "20000"], ["--lazy-reserve", "8388608"], []),
             {"smoke": 5, "quick": 30, "full": 60}),
    external("stackful_spawn", "exp_stackful_spawn", "switch", "stackful",
             "create+run+destroy of a fiber per stack strategy",
             _args("exp_stackful_spawn", ["--strategy", "all", "--n", "2000"], ["--strategy", "all"],
                   ["--strategy", "all", "--n", "1000000"]),
             {"smoke": 5, "quick": 30, "full": 120}),
    external("sync_bench", "exp_sync_bench", "scheduler", "sync",
             "channel ping-pong, mutex, close fan-in, broadcast, timers (allocations per operation)",
             _args("exp_sync_bench", ["all", "1"], ["all", "1"], ["all", "4"]), {"smoke": 5, "quick": 15, "full": 60}),
    external("sched_bench", "bench_sched", "switch", "lead",
             "Google Benchmark: bare resume/fcontext, yield, ping-pong, spawn+join, spawn all, allocations per op",
             _sched_benches, {"smoke": 20, "quick": 90, "full": 300}),
    Experiment("hot_path_counts", "switch", "bench_sched", "lab",
               "instructions and locked (lock-prefixed or xchg-with-memory) instructions per operation of "
               "bench_sched's yield_pair, pingpong and spawn_join/1, both backends, counted exactly by callgrind",
               _hot_path_counts, {"smoke": 45, "quick": 45, "full": 45}, skip=_hot_path_skip, once=True),
    external("tls_echo", "exp_tls_echo", "io", "drivers",
             "TLS echo throughput through duet::tls (a BIO pair over TcpStream) against the same OpenSSL work "
             "in a blocking thread-per-connection loop, rounds alternated in one process; the ratio's target is "
             "at least 0.9 (issue 35)",
             _args("exp_tls_echo", ["--bytes", str(4 << 20), "--rounds", "1"],
                   ["--bytes", str(64 << 20), "--rounds", "7"], ["--bytes", str(256 << 20), "--rounds", "9"]),
             {"smoke": 5, "quick": 60, "full": 240}),
    external("bufread", "bench_bufread", "io", "drivers",
             "the buffered reader's read_line against a plain read loop that splits the same lines itself, per "
             "byte, repetitions interleaved in one process; the ratio's target is at most 1.2 (issue 35)",
             lambda ctx: [Invocation(["bench_bufread", "--benchmark_repetitions=" + str(by_profile(ctx, 1, 7, 9)),
                                      "--benchmark_enable_random_interleaving=true",
                                      "--benchmark_min_time=" + by_profile(ctx, "0.01", "0.1", "0.3"),
                                      "--benchmark_format=json"],
                                     "Google Benchmark, interleaved repetitions", "duet",
                                     {"DUET_LAB_PROFILE": ctx.profile}, by_profile(ctx, 60, 300, 600),
                                     parse="gbench")],
             {"smoke": 5, "quick": 20, "full": 60}),
    external("stackful_switch", "exp_stackful_switch", "cache", "stackful",
             "fiber switch through the scheduler with 1, 1K, 100K live fibers",
             _args("exp_stackful_switch", ["--strategy", "all", "--n", "1,100", "--yields", "20000"],
                   ["--strategy", "pooled,lazy,copy", "--yields", "300000", "--raise-map-count"],
                   ["--strategy", "all", "--n", "1,1000,100000,1000000", "--raise-map-count"]),
             {"smoke": 5, "quick": 90, "full": 300}),
]


# Programs in the build that are not experiments of this runner (discovery
# skips them): the scaling sweep's, which scaling.py drives on a machine with
# more cores.
NOT_EXPERIMENTS = {"exp_lab_scale": "the scaling sweep's program (experiments/lab/scaling.py)"}


def all_experiments(peers: list[Experiment]) -> list[Experiment]:
    return EXPERIMENTS + peers
