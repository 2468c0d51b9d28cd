# duet-gdb.py: gdb commands for duet's tasks, fibers and coroutines.
#
#   (gdb) source stackful/gdb/duet-gdb.py
#   (gdb) duet tasks             # every listed task of the newest runtime alive,
#                                # with each parked coroutine task's chain of awaits
#   (gdb) duet tasks &rt         # ... of this runtime (a duet::Runtime expression)
#   (gdb) duet fibers [&rt]      # the fibers only
#   (gdb) duet bt 0x7ffff7e3df00 # backtrace of a suspended fiber (a live process)
#
# Both listings walk the runtime's list of tasks that have parked at least
# once (Scheduler::owned; every live task with RuntimeConfig::list_all_tasks).
# A fiber line: address, strategy, state, stack in use and size, high-water
# mark, name, spawn site and where it parked. A parked coroutine task is
# followed by its async backtrace, as dump_tasks prints it (duet/dump.hpp):
# from the innermost coroutine up to the spawned one, each named by the
# resume function its frame begins with, through the links the run loop
# keeps (duet/stackless/task.hpp): the spawned frame follows its 64-byte
# task header, its promise (after the frame's two resume pointers) holds the
# innermost frame tagged `root`, and each child's promise its parent's
# frame. The process is stopped, so nothing runs under the walk.
#
# `duet bt` points the selected thread's registers at the fiber's saved
# context (Boost.Context's x86-64 fcontext frame: ctx+0x30 rbp, ctx+0x38
# return address, rsp = ctx+0x40), prints the backtrace, and puts the
# registers back. It needs a running process (a core file's registers
# cannot be changed) and a fiber with its own stack: a suspended copy
# fiber's frames are in its save buffer, not at their addresses.
# Build with -g; the script reads duet's types by name (docs/stackful.md).
# Without debug info (a Release build) every command says so in one line.
# tests/stackful/gdb_script.cmake runs it on tests/stackful/gdb_probe.cpp.

import re

import gdb

STRATEGIES = {0: "pooled", 1: "lazy", 2: "copy", 3: "unguarded_unsafe"}
KINDS = {0: "coroutine", 1: "poll", 2: "fiber"}
KIND_STACKLESS, KIND_STACKFUL = 0, 2
# The state word's flags (duet/detail/task/state.hpp), in the order a dump
# names the state by.
NOTIFIED, RUNNING, COMPLETE, CANCELLED = 1, 2, 4, 8
REF_ONE = 1 << 24  # bits 7-23: PINNED and the home worker
FRAME_HEAD = 64  # the task header in front of a spawned frame
PROMISE_OFFSET = 16  # the promise after a frame's two resume pointers
LINK_ROOT = 2  # the tag of a spawned frame's link
LINK_TAGS = 3
MAX_FRAMES = 64
STAMP_WORKER_BITS = 16  # ParkStamp: tick << 16 | worker


def _find_field(val, name, want_ptr=False, depth=0):
    """The first field called `name` in val or its bases (libstdc++ wrappers);
    with want_ptr, the first such field of pointer type."""
    if depth > 8:
        return None
    t = val.type.strip_typedefs()
    if t.code != gdb.TYPE_CODE_STRUCT:
        return None
    for f in t.fields():
        if f.name == name:
            v = val[f.name]
            if not want_ptr or v.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
                return v
    for f in t.fields():
        sub = val[f] if f.is_base_class else (val[f.name] if f.name else None)
        if sub is None:
            continue
        r = _find_field(sub, name, want_ptr, depth + 1)
        if r is not None:
            return r
    return None


def _unique_ptr_get(up):
    return _find_field(up, "_M_head_impl", want_ptr=True)


def _atomic_load(a):
    for n in ("_M_p", "_M_i"):
        v = _find_field(a, n)
        if v is not None:
            return v
    return None


NO_DEBUG_INFO = ("duet: this program has no debug info for duet's types (%s): the script "
                 "reads them by name; build duet and the program with -g "
                 "(CMAKE_BUILD_TYPE=RelWithDebInfo or Debug)")


def _require_debug_info():
    """Fails the command with what it needs when duet's types are unknown
    (a Release build): one clear line, never a Python traceback."""
    for name in ("duet::detail::TaskHeader", "duet::detail::FiberBase"):
        try:
            gdb.lookup_type(name)
        except gdb.error:
            raise gdb.GdbError(NO_DEBUG_INFO % name)
    try:
        last = gdb.parse_and_eval("'duet::detail::g_gdb_last_scheduler'")
        if last.type.code == gdb.TYPE_CODE_ERROR or "unknown type" in str(last.type):
            raise gdb.error("unknown type")
    except gdb.error:
        raise gdb.GdbError(NO_DEBUG_INFO % "duet::detail::g_gdb_last_scheduler")


def _scheduler(arg):
    if arg:
        rt = gdb.parse_and_eval(arg)
        if rt.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
            rt = rt.dereference()
        return _unique_ptr_get(rt["sched_"]).dereference()
    p = _atomic_load(gdb.parse_and_eval("'duet::detail::g_gdb_last_scheduler'"))
    return None if p is None or int(p) == 0 else p.dereference()


def _tasks(sched):
    shards = sched["owned"]["shards_"]["_M_impl"]
    p, end = shards["_M_start"], shards["_M_finish"]
    while p != end:
        shard = _unique_ptr_get(p.dereference()).dereference()
        t = shard["head"]
        while int(t) != 0:
            yield t
            t = t.dereference()["owned_next"]
        p += 1


def _kind(task):
    return int(task.dereference()["vtable"].dereference()["kind"])


def _word(task):
    return int(_atomic_load(task.dereference()["state"]["word_"]))


def _state(word):
    if word & COMPLETE:
        return "complete"
    if word & CANCELLED:
        return "cancelling" if word & RUNNING else "cancel-pending"
    if word & RUNNING:
        return "running"
    if word & NOTIFIED:
        return "ready"
    return "parked"


def _read_u64(addr):
    u64 = gdb.lookup_type("unsigned long").pointer()
    return int(gdb.Value(addr).cast(u64).dereference())


def clean_coroutine_name(s):
    """A coroutine body's symbol as the source names it (as
    common/src/sched/symbols.cpp does for the dump)."""
    for suffix in (" [clone .resume]", " (.resume)"):
        if s.endswith(suffix):
            return s[: -len(suffix)]
    actor = " [clone .actor]"
    if not s.endswith(actor):
        return s
    s = s[: -len(actor)]
    frame = s.rfind("::_Z")
    if frame < 0:
        return s
    p = s.find("(", 1)
    while 0 <= p < frame:
        if frame > 2 * p + 1 and s[p + 1 : 2 * p + 1] == s[:p]:
            return s[p + 1 : frame]
        p = s.find("(", p + 1)
    return s


def _code_name(addr):
    out = gdb.execute("info symbol 0x%x" % addr, to_string=True).strip()
    if out.startswith("No symbol"):
        return "0x%x" % addr
    name = out.split(" in section ")[0]
    name = re.sub(r" \+ \d+$", "", name)
    return clean_coroutine_name(name)


def _await_chain(task):
    """The chain of a parked coroutine task, innermost first."""
    frame = int(task) + FRAME_HEAD
    link = _read_u64(frame + PROMISE_OFFSET)
    if not link & LINK_ROOT:
        return ["(the spawned frame's link is not a root's: no chain)"]
    names = []
    f = link & ~LINK_TAGS
    while len(names) < MAX_FRAMES:
        names.append(_code_name(_read_u64(f)))
        if f == frame:
            return names
        f = _read_u64(f + PROMISE_OFFSET)
    names.append("... (deeper than %d awaits)" % MAX_FRAMES)
    return names


def _fiber(task):
    return task.cast(gdb.lookup_type("duet::detail::FiberBase").pointer()).dereference()


def _fiber_line(task, word):
    f = _fiber(task)
    strat = STRATEGIES.get(int(f["strategy"]), "?")
    # Bit 31 marks a parked fiber whose deep pages were given back
    # (stackful/src/high_water.hpp, trimmed_bit): not part of the bytes.
    in_use = int(_atomic_load(f["in_use"])) & 0x7FFFFFFF
    high = int(_atomic_load(f["high_water"]))
    name = f["name"].string() if int(f["name"]) != 0 else ""
    site = ("%s:%d" % (f["site_file"].string(), int(f["site_line"]))
            if int(f["site_file"]) != 0 else "?")
    parked_at = int(_atomic_load(f["parked_at"]))
    started = "started" if int(f["ctx"]) != 0 else "not-started"
    line = "fiber 0x%x %-16s %-9s %-11s in_use=%d size=%d high_water=%d %s spawned at %s" % (
        int(task), strat, _state(word), started, in_use, int(f["stack_bytes"]), high,
        ('"%s"' % name) if name else "", site)
    if parked_at and not word & RUNNING:
        line += " parked in %s" % _code_name(parked_at)
    return line


def _listed(arg):
    _require_debug_info()
    sched = _scheduler(arg.strip())
    if sched is None:
        print("duet: no runtime found (pass one: duet tasks &rt)")
        return None
    header = gdb.lookup_type("duet::detail::TaskHeader").pointer()
    return [t.cast(header) for t in _tasks(sched)]


class DuetPrefix(gdb.Command):
    """duet tasks [RUNTIME] | duet fibers [RUNTIME] | duet bt FIBER"""

    def __init__(self):
        super().__init__("duet", gdb.COMMAND_USER, prefix=True)


class DuetTasks(gdb.Command):
    """List listed tasks, with parked coroutines' chains: duet tasks [RUNTIME-EXPR]."""

    def __init__(self):
        super().__init__("duet tasks", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        tasks = _listed(arg)
        if tasks is None:
            return
        for t in tasks:
            word, kind = _word(t), _kind(t)
            if kind == KIND_STACKFUL:
                print(_fiber_line(t, word))
                continue
            state = _state(word)
            line = "task 0x%x %s %s refs=%d" % (int(t), KINDS.get(kind, "?"), state, word // REF_ONE)
            if state == "parked":
                # The ParkStamp in `next` (duet/detail/task_header.hpp).
                line += " worker=%d" % (int(t.dereference()["next"]) & ((1 << STAMP_WORKER_BITS) - 1))
            print(line)
            if kind == KIND_STACKLESS and state == "parked":
                for i, name in enumerate(_await_chain(t)):
                    print("  #%d %s" % (i, name))
        print("%d tasks listed" % len(tasks))


class DuetFibers(gdb.Command):
    """List live fibers: duet fibers [RUNTIME-EXPR]."""

    def __init__(self):
        super().__init__("duet fibers", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        tasks = _listed(arg)
        if tasks is None:
            return
        fibers = [t for t in tasks if _kind(t) == KIND_STACKFUL]
        for t in fibers:
            print(_fiber_line(t, _word(t)))
        print("%d fibers" % len(fibers))


class DuetBt(gdb.Command):
    """Backtrace of a suspended fiber: duet bt FIBER-ADDRESS."""

    def __init__(self):
        super().__init__("duet bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        _require_debug_info()
        task = gdb.Value(int(gdb.parse_and_eval(arg.strip())))
        task = task.cast(gdb.lookup_type("duet::detail::TaskHeader").pointer())
        f = _fiber(task)
        ctx = int(f["ctx"])
        word = _word(task)
        if ctx == 0:
            print("duet: the fiber has not started")
            return
        if word & RUNNING:
            print("duet: the fiber is running: find its worker thread (info threads) and use bt")
            return
        if STRATEGIES.get(int(f["strategy"])) == "copy":
            print("duet: a suspended copy fiber's frames live in its save buffer, "
                  "not at their addresses: no backtrace")
            return
        rbp = _read_u64(ctx + 0x30)
        rip = _read_u64(ctx + 0x38)
        gdb.execute("frame 0", to_string=True)
        saved = {r: int(gdb.parse_and_eval("$" + r)) for r in ("rsp", "rbp", "rip")}
        try:
            gdb.execute("set $rsp = 0x%x" % (ctx + 0x40))
            gdb.execute("set $rbp = 0x%x" % rbp)
            gdb.execute("set $rip = 0x%x" % rip)
            gdb.execute("bt")
        finally:
            for r, v in saved.items():
                gdb.execute("set $%s = 0x%x" % (r, v))


DuetPrefix()
DuetTasks()
DuetFibers()
DuetBt()
