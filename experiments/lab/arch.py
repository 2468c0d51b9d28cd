"""P1: which architectures this build supports for each model, read from the
build itself: the ELF machine of the Boost.Context library that holds the
fibers' switch (jump_fcontext, assembly), the count of assembly statements in
duet's stackless sources, and (where clang is installed) whether a
self-contained stackless coroutine compiles for other targets.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# A stackless coroutine with no library at all: the compiler's coroutine
# transform plus a hand-written std::coroutine_handle (the parts <coroutine>
# would give), so it compiles for targets that have no C++ library here.
PROBE = r"""
namespace std {
template <class R, class... A> struct coroutine_traits { using promise_type = typename R::promise_type; };
template <class P = void> struct coroutine_handle;
template <> struct coroutine_handle<void> {
  void* p = nullptr;
  static coroutine_handle from_address(void* a) { coroutine_handle h; h.p = a; return h; }
  void* address() const { return p; }
  void resume() const { __builtin_coro_resume(p); }
};
template <class P> struct coroutine_handle {
  void* p = nullptr;
  static coroutine_handle from_address(void* a) { coroutine_handle h; h.p = a; return h; }
  static coroutine_handle from_promise(P& pr) {
    coroutine_handle h; h.p = __builtin_coro_promise(&pr, alignof(P), true); return h; }
  void* address() const { return p; }
  operator coroutine_handle<>() const { return coroutine_handle<>::from_address(p); }
  void resume() const { __builtin_coro_resume(p); }
  void destroy() const { __builtin_coro_destroy(p); }
  P& promise() const { return *static_cast<P*>(__builtin_coro_promise(p, alignof(P), false)); }
};
}
struct sa { bool await_ready() noexcept { return false; } void await_suspend(std::coroutine_handle<>) noexcept {}
            void await_resume() noexcept {} };
static char arena[4096];
struct Task {
  struct promise_type {
    static void* operator new(decltype(sizeof 0) n) { return arena; }
    static void operator delete(void*) {}
    Task get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    sa initial_suspend() noexcept { return {}; }
    sa final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() {}
  };
  std::coroutine_handle<promise_type> h;
};
Task counter(int* out) { for (int i = 0;; ++i) { *out = i; co_await sa{}; } }
int drive(int k) { int v = 0; Task t = counter(&v); for (int i = 0; i < k; ++i) t.h.resume(); return v; }
"""

TARGETS = ("x86_64-linux-gnu", "aarch64-linux-gnu", "riscv64-linux-gnu", "wasm32-unknown-unknown")


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def boost_context_lib() -> str | None:
    libs = sorted(glob.glob("/usr/lib/*/libboost_context.so.*") + glob.glob("/usr/lib/libboost_context.so.*"))
    return libs[-1] if libs else None


def records(machine: dict, bindir: str) -> list[dict]:
    out = []
    m = "read from the build"
    out.append({"experiment": "arch", "impl": "build", "metric": "host_arch", "value": 1, "unit": "",
                "n": None, "method": f"{machine['arch']} ({machine['compiler']})"})
    lib = boost_context_lib()
    if lib:
        hdr = _run(["readelf", "-h", lib])
        mach = re.search(r"Machine:\s*(.+)", hdr)
        syms = _run(["nm", "-D", "--defined-only", lib])
        has = all(s in syms for s in ("jump_fcontext", "make_fcontext"))
        desc = (f"{os.path.basename(lib)}: ELF machine {mach.group(1).strip() if mach else '?'}, "
                f"jump_fcontext/make_fcontext {'defined (assembly)' if has else 'absent'}; other targets need "
                "Boost.Context's assembly for that target (none exists for WASM)")
        out.append({"experiment": "arch", "impl": "stackful", "metric": "boost_context_arch", "value": 1 if has else 0,
                    "unit": "", "n": None, "method": desc})
    else:
        out.append({"experiment": "arch", "impl": "stackful", "metric": "boost_context_arch", "value": 0,
                    "unit": "", "n": None, "method": "libboost_context not found"})
    asm = 0
    for path in glob.glob(os.path.join(ROOT, "stackless", "**", "*.[ch]pp"), recursive=True):
        with open(path, encoding="utf-8", errors="replace") as f:
            asm += len(re.findall(r"\b(?:__asm__|asm)\s*(?:volatile\s*)?\(", f.read()))
    out.append({"experiment": "arch", "impl": "stackless", "metric": "asm_statements", "value": asm,
                "unit": "statements", "n": None, "method": "grep for asm( in stackless/ sources"})
    clang = shutil.which("clang++") or shutil.which("clang++-14")
    if clang:
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "probe.cpp")
            with open(src, "w", encoding="utf-8") as f:
                f.write(PROBE)
            for t in TARGETS:
                p = subprocess.run([clang, f"--target={t}", "-std=c++20", "-O2", "-ffreestanding", "-nostdinc++",
                                    "-fno-exceptions", "-S", "-o", os.devnull, src], capture_output=True, text=True)
                out.append({"experiment": "arch", "impl": "stackless", "metric": f"cross_compiles.{t.split('-')[0]}",
                            "value": 1 if p.returncode == 0 else 0, "unit": "bool", "n": None,
                            "method": f"{os.path.basename(clang)} --target={t} -S of a library-free stackless coroutine"
                                      + ("" if p.returncode == 0 else f": {p.stderr.strip().splitlines()[-1][:120]}")})
    return [dict(r, method=r["method"] or m) for r in out]
