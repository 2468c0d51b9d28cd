// gdb_probe.cpp: a process for tests/stackful/gdb_script.cmake to stop in
// gdb and read with stackful/gdb/duet-gdb.py: a coroutine task parked at
// the end of a three-deep chain of awaits, and a named fiber parked in a
// wait; then it stops itself (SIGTRAP), for the debugger to look.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <duet/duet.hpp>
#include <duet/dump.hpp>
#include <sstream>
#include <string>
#include <thread>

namespace {
duet::Notify g_gate;
std::atomic<int> g_parked{0};  // entered their wait

duet::Task<void> probe_leaf() {
  g_parked.fetch_add(1);
  co_await g_gate.notified();
}
duet::Task<void> probe_middle() {
  co_await probe_leaf();
}
duet::Task<void> probe_root() {
  co_await probe_middle();
}
}  // namespace

int main() {
  duet::Runtime rt({.workers = 2});
  auto coro = rt.spawn(probe_root());
  auto fiber = rt.spawn(duet::stackful({.name = "probe-fiber"}), [] {
    g_parked.fetch_add(1);
    duet::wait(g_gate.notified());
  });
  // Until both are parked (listed, and neither running nor queued).
  for (;;) {
    std::ostringstream os;
    duet::dump_tasks(rt, os);
    const std::string d = os.str();
    if (d.find(" coroutine parked refs=") != std::string::npos &&
        d.find(" fiber parked refs=") != std::string::npos) {
      break;
    }
    std::this_thread::yield();
  }
  std::raise(SIGTRAP);  // gdb stops here; without a debugger this ends the process
  g_gate.notify_all();
  coro.join();
  fiber.join();
  std::puts("probe done");
  return 0;
}
