# duet-gdb.py: gdb commands for duet fibers.
#
#   (gdb) source stackful/gdb/duet-gdb.py
#   (gdb) duet fibers            # every live fiber of the newest runtime alive
#   (gdb) duet fibers &rt        # ... of this runtime (a duet::Runtime expression)
#   (gdb) duet bt 0x7ffff7e3df00 # backtrace of a suspended fiber (a live process)
#
# `duet fibers` walks the runtime's list of live tasks (Scheduler::owned)
# and prints each fiber: address, strategy, state, stack in use, name and
# spawn site. `duet bt` points the selected thread's registers at the
# fiber's saved context (Boost.Context's x86-64 fcontext frame: ctx+0x30 rbp,
# ctx+0x38 return address, rsp = ctx+0x40), prints the backtrace, and puts
# the registers back. It needs a running process (a core file's registers
# cannot be changed) and a fiber with its own stack: a suspended copy fiber's
# frames are in its save buffer, not at their addresses.
# Build with -g; the script reads duet's types by name (docs/stackful.md).

import gdb

STRATEGIES = {0: "pooled", 1: "lazy", 2: "copy", 3: "unguarded_unsafe"}
KIND_STACKFUL = 2
STATE_BITS = [(4, "complete"), (8, "cancelled"), (2, "running"), (1, "ready")]


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


def _scheduler(arg):
    if arg:
        rt = gdb.parse_and_eval(arg)
        if rt.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
            rt = rt.dereference()
        return _unique_ptr_get(rt["sched_"]).dereference()
    p = _atomic_load(gdb.parse_and_eval("duet::detail::g_gdb_last_scheduler"))
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


def _state(word):
    for bit, name in STATE_BITS:
        if word & bit:
            return name
    return "parked"


def _fiber(addr):
    return gdb.parse_and_eval("*(duet::detail::FiberBase*)%s" % addr)


def _site(f):
    if not int(f["has_site"]):
        return "?"
    impl = f["site"]["_M_impl"]
    if int(impl) == 0:
        return "?"
    impl = impl.dereference()
    return "%s:%d" % (impl["_M_file_name"].string(), int(impl["_M_line"]))


class DuetPrefix(gdb.Command):
    """duet fibers [RUNTIME] | duet bt FIBER"""

    def __init__(self):
        super().__init__("duet", gdb.COMMAND_USER, prefix=True)


class DuetFibers(gdb.Command):
    """List live fibers: duet fibers [RUNTIME-EXPR]."""

    def __init__(self):
        super().__init__("duet fibers", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        sched = _scheduler(arg.strip())
        if sched is None:
            print("duet: no runtime found (pass one: duet fibers &rt)")
            return
        n = 0
        for t in _tasks(sched):
            kind = int(t.dereference()["vtable"].dereference()["kind"])
            if kind != KIND_STACKFUL:
                continue
            f = _fiber(int(t))
            word = int(_atomic_load(t.dereference()["state_"]))
            strat = STRATEGIES.get(int(f["strategy"]), "?")
            in_use = int(_atomic_load(f["in_use"]))
            name = f["name"].string() if int(f["name"]) != 0 else ""
            started = "started" if int(f["ctx"]) != 0 else "not started"
            print("fiber 0x%x %-16s %-9s %-11s in_use=%-6d %s %s" %
                  (int(t), strat, _state(word), started, in_use,
                   ('"%s"' % name) if name else "", _site(f)))
            n += 1
        print("%d fibers" % n)


class DuetBt(gdb.Command):
    """Backtrace of a suspended fiber: duet bt FIBER-ADDRESS."""

    def __init__(self):
        super().__init__("duet bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        f = _fiber(arg.strip())
        ctx = int(f["ctx"])
        word = int(_atomic_load(f["state_"]))
        if ctx == 0:
            print("duet: the fiber has not started")
            return
        if word & 2:
            print("duet: the fiber is running: find its worker thread (info threads) and use bt")
            return
        if STRATEGIES.get(int(f["strategy"])) == "copy":
            print("duet: a suspended copy fiber's frames live in its save buffer "
                  "(%d bytes at 0x%x), not at their addresses: no backtrace" %
                  (int(f["saved_size"]), int(f["saved"])))
            return
        u64 = gdb.lookup_type("unsigned long").pointer()
        rbp = int(gdb.Value(ctx + 0x30).cast(u64).dereference())
        rip = int(gdb.Value(ctx + 0x38).cast(u64).dereference())
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
DuetFibers()
DuetBt()
