"""The Python asyncio peer: the lab's shared tests, one asyncio event loop
(single-threaded by design), printed as JSONL records.

    python3 peer.py rss|spawn_seq|spawn_conc|spawn_inc|yield N
"""

import asyncio
import gc
import json
import os
import sys
import time

IMPL = "python"
VERSION = f"CPython {sys.version.split()[0]} asyncio"


def emit(exp, metric, value, unit, n, method):
    print(json.dumps({"experiment": exp, "impl": IMPL, "metric": metric, "value": value, "unit": unit,
                      "n": n, "method": f"{method}, {VERSION}"}), flush=True)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_rss(n):
    gate = asyncio.Event()
    parked = 0

    async def waiter():
        nonlocal parked
        parked += 1
        await gate.wait()

    gc.collect()
    r0 = rss_bytes()
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(waiter()) for _ in range(n)]
    while parked < n:
        await asyncio.sleep(0)
    el = time.perf_counter() - t0
    r1 = rss_bytes()
    gate.set()
    await asyncio.gather(*tasks)
    m = "RSS (/proc/self/statm) after N tasks parked on an asyncio.Event minus before (task list included)"
    emit("rss", "rss_per_task", (r1 - r0) / n, "B", n, m)
    emit("rss", "rss_delta", r1 - r0, "B", n, m)
    emit("rss", "spawn_park_time", el * 1e9 / n, "ns", n, "time to spawn N and see all parked, per task")


async def child(i):
    return i + 1


async def test_seq(n):
    async def one_pass():
        s = 0
        for i in range(n):
            s += await asyncio.create_task(child(i))
        return s
    t0 = time.perf_counter()
    await one_pass()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    await one_pass()
    warm = time.perf_counter() - t0
    m = "asyncio.create_task(child) then await it, N times"
    emit("spawn_seq", "time_per_op", warm * 1e9 / n, "ns", n, m + ", warm (second pass)")
    emit("spawn_seq", "time_per_op_cold", cold * 1e9 / n, "ns", n, m + ", cold (first pass)")


async def test_conc(name, n):
    counter = 0

    async def inc():
        nonlocal counter
        counter += 1

    async def one_pass():
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(inc()) for _ in range(n)]
        for t in tasks:
            await t
        return time.perf_counter() - t0
    cold = await one_pass()
    warm = await one_pass()
    m = "create_task N (each increments a counter), await each; one thread"
    emit(name, "total_time", cold * 1e3, "ms", n, m + ", first pass (cold)")
    emit(name, "total_time_warm", warm * 1e3, "ms", n, m + ", second pass (warm)")


async def test_yield(n):
    k = n // 2

    async def y():
        for _ in range(k):
            await asyncio.sleep(0)
    t0 = time.perf_counter()
    await asyncio.gather(y(), y())
    el = time.perf_counter() - t0
    emit("yield", "time_per_yield", el * 1e9 / (2 * k), "ns", n, "two tasks await asyncio.sleep(0)")


def main():
    test, n = sys.argv[1], int(sys.argv[2])
    if test == "rss":
        asyncio.run(test_rss(n))
    elif test == "spawn_seq":
        asyncio.run(test_seq(n))
    elif test in ("spawn_conc", "spawn_inc"):
        asyncio.run(test_conc(test, n))
    elif test == "yield":
        asyncio.run(test_yield(n))
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
