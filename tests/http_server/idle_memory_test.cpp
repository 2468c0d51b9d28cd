// idle_memory_test.cpp: what an idle keep-alive connection of duet::http's
// coroutine engine holds in duet's block cache, on both drivers: N connections
// opened on loopback, one GET answered on each, then idle; the block
// cache's bytes in use with them open, less those before, over N. In use:
// carved and not in the depot, once every thread that serves (the one
// worker, and this thread) has moved its free lists to the depot
// (block_cache_trim), so that what the count holds is what the
// connections hold (Runtime::memory_stats(), duet/memory.hpp).
#include <sys/resource.h>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <duet/detail/block_cache.hpp>
#include <duet/memory.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "server_fixture.hpp"

namespace idle_memory_test {

using namespace std::chrono_literals;

/// Connections held idle at once: enough that a block of any class per
/// connection is seen whole (a slab's rounding is spread over them).
constexpr std::size_t kIdle = 1000;

/// The block cache's bytes in use now: every serving thread's free lists
/// moved to the depot first. The runtime has one worker, where every
/// connection's task runs.
std::int64_t blocks_in_use(duet::Runtime& rt) {
  rt.block_on([]() -> duet::Task<void> {
    duet::detail::block_cache_trim();  // the worker's lists
    co_return;
  }());
  duet::detail::block_cache_trim();  // this thread's (the trim task's block)
  const duet::BlockMemory m = rt.memory_stats().blocks;
  return static_cast<std::int64_t>(m.carved_bytes) - static_cast<std::int64_t>(m.depot_bytes);
}

/// The block-cache bytes one idle connection of `engine` holds on `drv`:
/// kIdle connections, each answered once, against before them; measured
/// once no fiber holds a stack (the fiber engine's connections idle past
/// `kept_idle` have handed their waits off).
std::int64_t idle_connection_bytes(duet::http::Engine engine, duet::IoDriver drv,
                                   std::chrono::nanoseconds kept_idle = std::chrono::seconds(1)) {
  duet::http::Router r;
  r.get("/now", [](duet::http::Request&) -> duet::Task<duet::http::Response> {
    co_return duet::http::Response::text(200, "now");
  });
  duet::http::ServerConfig o;
  o.engine = engine;
  o.limits.io_timeout = std::chrono::minutes(10);  // none closes while the case runs
  auto rt = http_server_test::one_worker_rt(drv, kept_idle);
  duet::http::Server server(std::move(r), std::move(o));
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  if (!l) throw std::runtime_error("bind: " + l.error().message());
  const std::uint16_t port = l->local_addr()->port();
  server.serve(*rt, std::move(*l));
  constexpr std::string_view get = "GET /now HTTP/1.1\r\nHost: t\r\n\r\n";
  const auto answered = [&](http_server_test::Client& c) {
    c.send(get);
    return c.response().status == 200;
  };
  {  // what a first connection builds once (the driver's rings, the routes' state)
    http_server_test::Client c(port);
    REQUIRE(answered(c));
  }
  while (server.stats().open != 0) std::this_thread::yield();
  const std::int64_t before = blocks_in_use(*rt);
  std::vector<std::unique_ptr<http_server_test::Client>> idle;
  idle.reserve(kIdle);
  for (std::size_t i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<http_server_test::Client>(port));
    REQUIRE(answered(*idle.back()));
  }
  REQUIRE(server.stats().open == kIdle);
  while (rt->memory_stats().stacks.in_use != 0) std::this_thread::yield();
  const std::int64_t with = blocks_in_use(*rt);
  idle.clear();
  while (server.stats().open != 0) std::this_thread::yield();
  (void)rt->drain(5s);
  return (with - before) / static_cast<std::int64_t>(kIdle);
}

/// Whether this process may open the descriptors of kIdle connections
/// (both ends), the limit raised as far as it goes.
bool descriptors_enough() {
  duet::iotest::raise_nofile();
  rlimit lim{};
  return ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur >= 2 * kIdle + 256;
}

/// idle_connection_bytes where this machine and build can measure it;
/// none (the reason warned) where they cannot.
std::optional<std::int64_t> measured_bytes(duet::http::Engine engine, duet::IoDriver drv,
                                           std::chrono::nanoseconds kept_idle) {
  if (!duet::iotest::driver_available(drv)) {
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");
    return std::nullopt;
  }
  if (duet::test::sanitized) {
    WARN("SKIP: under a sanitizer every block is a heap allocation (block_memory() reads 0)");
    return std::nullopt;
  }
  if (!descriptors_enough()) {
    WARN("SKIP: RLIMIT_NOFILE is below two descriptors per idle connection");
    return std::nullopt;
  }
  duet::iotest::Watchdog wd("idle connection memory", std::chrono::seconds(120));
  return idle_connection_bytes(engine, drv, kept_idle);
}

}  // namespace idle_memory_test

using idle_memory_test::measured_bytes;

// The coroutine engine's idle connection is its task's one block (the
// header and the frame: the machine with its 64 first-read bytes, the
// stream, the drain's registration, the one wait in flight: the read and
// its timer) and the driver's block for the socket. Every wait of the
// frame shares one slot (turn.hpp's StepWait): a frame with one co_await
// per kind of wait kept every kind at once (a 1,600-byte block over TCP,
// with GCC 12).
TEST_CASE("an idle coroutine-engine connection holds at most 1 KiB of the block cache",
          "[http_server]") {
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);
  INFO("driver " << duet::to_string(drv).data());
  const std::optional<std::int64_t> got =
      measured_bytes(duet::http::Engine::coroutine, drv, std::chrono::seconds(1));
  if (!got) return;
  const std::int64_t bytes = *got;
  INFO("block-cache bytes per idle connection: " << bytes);
  CHECK(bytes > 0);
  CHECK(bytes <= 1024);
}

// The fiber engine's connection idle past fiber_stack_trim_after: its fiber
// has ended (its stack back in the pool), and what is left is the small
// task that waits for the next bytes (fiber_engine.cpp, wait_idle: the
// machine, the stream, the drain's registration and the read in one
// frame) and the driver's block, as the coroutine engine's connection.
TEST_CASE(
    "an idle fiber-engine connection past fiber_stack_trim_after holds no stack and at "
    "most 1 KiB of the block cache",
    "[http_server]") {
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);
  INFO("driver " << duet::to_string(drv).data());
  const std::optional<std::int64_t> got =
      measured_bytes(duet::http::Engine::fiber, drv, std::chrono::milliseconds(20));
  if (!got) return;
  const std::int64_t bytes = *got;
  INFO("block-cache bytes per idle connection: " << bytes);
  CHECK(bytes > 0);
  CHECK(bytes <= 1024);
}
