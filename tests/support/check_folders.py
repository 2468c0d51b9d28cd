#!/usr/bin/env python3
"""check_folders.py: inside a library's src/, the folders include one another
without a loop: each sits on the ones below it, a ladder.

Usage: check_folders.py ROOT [SRC...]

SRC are source folders relative to ROOT (default: common/src, stackful/src,
each library's under drivers/, and stackless's src/ should it get one). Each is read on its
own: its files (*.hpp, *.cpp, *.inc, *.h) and their `#include "..."` lines.
An include is resolved as the compiler does, beside the including file first,
then from SRC; one that resolves to no file in SRC (a public `duet/...`
header, a system header) is no edge. A file's folder is its first folder
under SRC (`sched` for common/src/sched/worker.cpp); a file directly in SRC
is the folder `.`. An include from one folder into another is an edge;
an edge back, directly or through other folders, closes a loop. Fails,
naming each loop's folders and one include line for each of its edges,
when a SRC has one (common/src's ladder: docs/architecture.md, "Module
map"). Fails too on an include that reaches out of SRC to a file of the
repository (`"../../io/src/x.hpp"`): a library includes another's public
headers only, never its src/.
"""
import pathlib
import re
import sys

SOURCES = ("common/src", "stackful/src", "drivers/io/src", "drivers/tls/src", "drivers/dns/src",
           "drivers/http/src", "drivers/sim/src", "stackless/src")
CXX = (".hpp", ".cpp", ".inc", ".h")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def folder_of(src, path):
    """The folder of `path` (a file under `src`): its first folder, or `.`."""
    parts = path.relative_to(src).parts
    return parts[0] if len(parts) > 1 else "."


def resolve(src, path, name):
    """The file under `src` that `#include "name"` in `path` reads, or None."""
    for base in (path.parent, src):
        target = (base / name).resolve()
        if target.is_file() and target.is_relative_to(src):
            return target
    return None


def edges(src):
    """{(from folder, to folder): "file:line includes name"}, the first
    include line found for each edge (files read in sorted order)."""
    out = {}
    for path in sorted(p for p in src.rglob("*") if p.suffix in CXX and p.is_file()):
        here = folder_of(src, path)
        for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE_RE.match(line)
            target = resolve(src, path, m.group(1)) if m else None
            if target is None:
                continue
            there = folder_of(src, target)
            if there != here:
                out.setdefault((here, there), f"{path.relative_to(src)}:{no} includes "
                                              f"{m.group(1)}")
    return out


def components(graph):
    """The strongly connected components of `graph` ({node: set of nodes})
    with more than one node (Tarjan's algorithm), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def shortest_loop(graph, start, inside):
    """A shortest loop from `start` back to it through `inside`, as the list
    of its folders (breadth first, so the one reported is short)."""
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w not in inside:
                    continue
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start]


def crossings(src, root):
    """One line per include in `src` that resolves, beside the including
    file, to a file of `root` outside `src`."""
    out = []
    for path in sorted(p for p in src.rglob("*") if p.suffix in CXX and p.is_file()):
        for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            target = (path.parent / m.group(1)).resolve()
            if target.is_file() and target.is_relative_to(root) and not target.is_relative_to(src):
                out.append(f"{path.relative_to(src)}:{no} includes {m.group(1)}, outside its library")
    return out


def loops(src):
    """One line per loop of `src`'s folders: the folders of each strongly
    connected component's shortest loops, through each of its folders, with
    the include behind every edge."""
    found = edges(src)
    graph = {}
    for a, b in found:
        graph.setdefault(a, set()).add(b)
    out, seen = [], set()
    for comp in components(graph):
        for start in comp:
            loop = shortest_loop(graph, start, set(comp))
            # The same loop from another start: rotated, it is one loop.
            key = min(tuple(loop[i:-1] + loop[:i]) for i in range(len(loop) - 1))
            if key in seen:
                continue
            seen.add(key)
            why = "; ".join(found[(a, b)] for a, b in zip(loop, loop[1:]))
            out.append(f"{' -> '.join(loop)} ({why})")
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[1]).resolve()
    names = sys.argv[2:] or [s for s in SOURCES if (root / s).is_dir()]
    bad = 0
    for name in names:
        src = (root / name).resolve()
        if not src.is_dir():
            print(f"{name}: no such folder", file=sys.stderr)
            bad += 1
            continue
        for loop in loops(src):
            print(f"{name}: folder loop {loop}", file=sys.stderr)
            bad += 1
        for crossing in crossings(src, root):
            print(f"{name}: {crossing}", file=sys.stderr)
            bad += 1
    print(f"check_folders: {len(names)} source folder(s) read, {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
