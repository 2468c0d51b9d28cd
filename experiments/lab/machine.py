"""The machine a number was measured on: CPU model, hwloc topology (cores,
hardware threads, caches and their sizes, NUMA nodes), kernel, compiler,
whether hardware performance counters can be read, and what the kernel does
to memory behind the programs' backs (THP, a running DAMON monitor).

Every report names the machine with `describe()`; raw data lives under
reports/data/<machine id>/.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET


def _run(argv: list[str], timeout: float = 20) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return p.stdout if p.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def hwloc_topology() -> dict:
    """Cores, PUs, NUMA nodes and caches from `lstopo --of xml`."""
    tool = next((t for t in ("lstopo-no-graphics", "lstopo", "hwloc-ls") if shutil.which(t)), None)
    topo = {"source": "none", "cores": os.cpu_count() or 1, "pus": os.cpu_count() or 1,
            "numa_nodes": 1, "packages": 1, "caches": []}
    if tool is None:
        return topo
    xml = _run([tool, "--of", "xml", "-"]) or _run([tool, "--of", "xml"])
    if not xml:
        return topo
    root = ET.fromstring(xml)
    objs = list(root.iter("object"))
    count = lambda t: sum(1 for o in objs if o.get("type") == t)  # noqa: E731
    caches: dict[tuple, dict] = {}
    for o in objs:
        m = re.fullmatch(r"L(\d)(i?)Cache", o.get("type", ""))
        if not m:
            continue
        level = int(m.group(1))
        ctype = {"0": "unified", "1": "data", "2": "instruction"}.get(o.get("cache_type", "0"), "unified")
        if m.group(2) == "i":
            ctype = "instruction"
        k = (level, ctype)
        c = caches.setdefault(k, {"level": level, "type": ctype, "size": int(o.get("cache_size", 0)),
                                  "line": int(o.get("cache_linesize", 64)),
                                  "associativity": int(o.get("cache_associativity", 0)), "instances": 0})
        c["instances"] += 1
    topo.update(source=tool, cores=max(1, count("Core")), pus=max(1, count("PU")),
                numa_nodes=max(1, count("NUMANode")), packages=max(1, count("Package")),
                caches=sorted(caches.values(), key=lambda c: (c["level"], c["type"])))
    return topo


def cache_size(machine: dict, level: int) -> int:
    """Bytes of the data/unified cache at `level` (per instance), 0 if unknown."""
    for c in machine.get("topology", {}).get("caches", []):
        if c["level"] == level and c["type"] != "instruction":
            return c["size"]
    return 0


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def compiler() -> str:
    out = _run(["c++", "--version"]) or _run(["g++", "--version"])
    return out.splitlines()[0].strip() if out else "unknown"


def perf_counters() -> dict:
    """Whether hardware counters work: `perf stat -e instructions true`.

    perf_event_open is also probed by the C++ programs themselves
    (lab_cache); this is the machine-level answer for the report."""
    if not shutil.which("perf"):
        paranoid = _read("/proc/sys/kernel/perf_event_paranoid").strip()
        return {"available": False, "how": f"perf not installed (perf_event_paranoid={paranoid or '?'})"}
    try:
        p = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", "true"],
                           capture_output=True, text=True, timeout=20)
        text = p.stderr + p.stdout
    except (OSError, subprocess.SubprocessError) as e:
        return {"available": False, "how": f"perf stat failed: {e}"}
    ok = p.returncode == 0 and "not supported" not in text and "<not counted>" not in text
    return {"available": ok, "how": "perf stat -e instructions true: " + ("counts" if ok else "not supported")}


def damon(root: str = "/sys/kernel/mm/damon/admin") -> str:
    """The kernel's DAMON monitors that are running, in a few words: "" when
    the kernel has no DAMON sysfs interface, "off" when no kdamond runs,
    else e.g. "1 kdamond on (paddr: pageout)". A running kdamond samples
    page access bits and, with a scheme such as pageout, reclaims memory it
    found cold, behind the measured programs' backs (the 2-vCPU EPYC VM runs
    one); the reports say so beside their numbers."""
    kd = os.path.join(root, "kdamonds")
    if not os.path.isdir(kd):
        return ""
    running = []
    for name in sorted(os.listdir(kd), key=lambda n: (len(n), n)):
        d = os.path.join(kd, name)
        if not name.isdigit() or _read(os.path.join(d, "state")).strip() != "on":
            continue
        ops = []
        ctxs = os.path.join(d, "contexts")
        for c in sorted(n for n in (os.listdir(ctxs) if os.path.isdir(ctxs) else []) if n.isdigit()):
            cd = os.path.join(ctxs, c)
            schemes = os.path.join(cd, "schemes")
            actions = [_read(os.path.join(schemes, sc, "action")).strip()
                       for sc in sorted(n for n in (os.listdir(schemes) if os.path.isdir(schemes) else [])
                                        if n.isdigit())]
            op = _read(os.path.join(cd, "operations")).strip() or "?"
            ops.append(f"{op}: {', '.join(a for a in actions if a) or 'monitoring only'}")
        running.append("; ".join(ops))
    if not running:
        return "off"
    return f"{len(running)} kdamond{'s' if len(running) > 1 else ''} on ({'; '.join(running)})"


def slug(s: str) -> str:
    s = re.sub(r"\(R\)|\(TM\)|CPU|Processor|\d+-Core", "", s)
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "unknown"


def machine_id(model: str, topo: dict) -> str:
    """The data directory's name: CPU model, PUs and the data caches
    (L1d-L2-L3 sizes), e.g. amd-epyc-2pu-32k-512k-32m. VMs of one CPU model
    and size differ in cache (L1d 32 vs 48 KiB, L2 512 KiB vs 1 MiB were
    seen under one name): their data must not merge into one median."""
    sizes = []
    for c in sorted(topo.get("caches", []), key=lambda c: c["level"]):
        if c.get("type") != "instruction" and c.get("size"):
            sizes.append(_short_size(int(c["size"])))
    return "-".join([slug(model), f"{topo['pus']}pu"] + sizes)


def _short_size(b: int) -> str:
    if b >= 1 << 20 and b % (1 << 20) == 0:
        return f"{b >> 20}m"
    if b >= 1 << 10 and b % (1 << 10) == 0:
        return f"{b >> 10}k"
    return f"{b}b"


def capture() -> dict:
    topo = hwloc_topology()
    model = cpu_model()
    un = os.uname()
    hyp = "hypervisor" in _read("/proc/cpuinfo")
    m = {
        "cpu_model": model,
        "arch": un.machine,
        "kernel": f"{un.sysname} {un.release}",
        "os": _os_release(),
        "compiler": compiler(),
        "virtualized": hyp,
        "memory_bytes": _mem_total(),
        "topology": topo,
        "perf_counters": perf_counters(),
        "vm_max_map_count": _int(_read("/proc/sys/vm/max_map_count")),
        "thp": _read("/sys/kernel/mm/transparent_hugepage/enabled").strip(),
        "damon": damon(),
        "page_size": os.sysconf("SC_PAGE_SIZE"),
    }
    m["id"] = machine_id(model, topo)
    m["hwloc_line"] = describe_topology(m)
    return m


def describe_topology(m: dict) -> str:
    t = m["topology"]
    parts = [f"{m['cpu_model']}: {t['packages']} package(s), {t['cores']} cores, {t['pus']} PUs, "
             f"{t['numa_nodes']} NUMA node(s)"]
    for c in t["caches"]:
        if c["type"] == "instruction":
            continue
        name = f"L{c['level']}{'d' if c['type'] == 'data' else ''}"
        parts.append(f"{name} {_kib(c['size'])} x{c['instances']}")
    return ", ".join(parts)


def describe(m: dict) -> str:
    """One paragraph for the top of every page."""
    perf = m["perf_counters"]
    return (f"{m['hwloc_line']}; {m['arch']}, {m['kernel']}, {m['os']}, {m['compiler']}, "
            f"{_kib(m['memory_bytes'])} RAM{', virtualized (KVM or similar)' if m['virtualized'] else ''}; "
            f"hardware counters: {'yes' if perf['available'] else 'no'} ({perf['how']}); "
            f"vm.max_map_count {m['vm_max_map_count']}; THP {m['thp'] or '?'}"
            + (f"; DAMON {m['damon']}" if m.get("damon") and m["damon"] != "off" else ""))


def _kib(b: int) -> str:
    if b >= 1 << 30:
        return f"{b / (1 << 30):.0f} GiB"
    if b >= 1 << 20:
        return f"{b / (1 << 20):.0f} MiB"
    return f"{b // 1024} KiB"


def _int(s: str) -> int:
    try:
        return int(s.strip())
    except ValueError:
        return 0


def _mem_total() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _os_release() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.platform()


if __name__ == "__main__":
    import json
    print(json.dumps(capture(), indent=2))
