// A downstream program that does no I/O: it links duet::stackless and
// duet::stackful (and through them the core, duet::common) but not
// duet::drivers, so it links without liburing (run_consumer.cmake checks
// the binary). Its runtime sleeps in the core's futex driver, timers
// included; asking for an I/O backend that is not linked is a clear error.
#include <chrono>
#include <cstdio>
#include <duet/runtime.hpp>
#include <duet/stackful.hpp>
#include <duet/stackless.hpp>
#include <duet/time/sleep.hpp>
#include <stdexcept>
#include <string>

duet::Task<int> half() {
  co_await duet::sleep(std::chrono::milliseconds(1));
  co_return 21;
}

int main() {
  try {
    duet::Runtime bad({.workers = 1, .io_driver = duet::IoDriver::io_uring});
    std::printf("an io_uring runtime started without duet::drivers\n");
    return 1;
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find("duet::drivers") == std::string::npos) {
      std::printf("unclear error: %s\n", e.what());
      return 1;
    }
  }
  duet::Runtime rt({.workers = 2});
  auto a = rt.spawn(half());
  auto b = rt.spawn(duet::stackful({.name = "core_only"}), [&a] { return a.join() * 2; });
  std::printf("core only ok %d\n", b.join());
}
