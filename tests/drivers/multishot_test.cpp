// multishot_test.cpp: io_uring multishot recv with provided buffers
// (drivers/io/src/uring/recv_queue.cpp): order and completeness under
// backpressure, a buffer ring shared by many sockets and starved, buffers
// returned by a close with unread data, a socket that outlives its runtime,
// a read starved by an empty ring, a ring that grows after running dry.
// Every io_uring test in io_test.cpp also reads through it (it is the
// default); these push on its edges with small rings.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "io_util.hpp"

using duet::net::SocketAddr;
using duet::net::TcpListener;
using duet::net::TcpStream;
using namespace std::chrono_literals;

namespace {

/// Tests of a kernel feature the machine lacks skip with that reason.
#define SKIP_WITHOUT_MULTISHOT()                                          \
  if (!duet::io::uring_features().recv_multishot) {                       \
    DUET_SKIP("io_uring multishot recv is not available on this kernel"); \
  }

/// A runtime whose rings hold `buffers` and grow to `max_buffers` (by
/// default they keep their size: these tests push on a fixed ring's edges).
std::unique_ptr<duet::Runtime> ring_rt(std::uint32_t buffers, std::uint32_t size,
                                       unsigned workers = 1, std::uint32_t max_buffers = 0) {
  ::unsetenv("DUET_DRIVER");
  duet::RuntimeConfig cfg;
  cfg.workers = workers;
  cfg.placement = duet::Placement::none;
  cfg.io_driver = duet::IoDriver::io_uring;
  cfg.io_recv_buffers = buffers;
  cfg.io_recv_buffers_max = max_buffers == 0 ? buffers : max_buffers;
  cfg.io_recv_buffer_size = size;
  return std::make_unique<duet::Runtime>(cfg);
}

std::byte pattern(std::size_t i) {
  return static_cast<std::byte>((i * 13 + 5) % 251);
}

/// A plain-thread client: connects, sends `total` pattern bytes, closes.
void send_pattern(SocketAddr addr, std::size_t total) {
  duet::io::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(c.get(), addr.raw(), addr.len()) != 0) return;
  std::vector<std::byte> buf(8192);
  std::size_t sent = 0;
  while (sent < total) {
    const std::size_t n = std::min(buf.size(), total - sent);
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern(sent + i);
    const ssize_t w = ::send(c.get(), buf.data(), n, MSG_NOSIGNAL);
    if (w <= 0) return;
    sent += static_cast<std::size_t>(w);
  }
}

/// Reads to EOF in `chunk`-byte reads, yielding after each; checks the
/// pattern. Returns "" or what went wrong.
duet::Task<std::string> read_all(TcpStream s, std::size_t chunk, std::size_t expect) {
  std::vector<std::byte> buf(chunk);
  std::size_t got = 0;
  for (;;) {
    auto n = co_await s.read(buf.data(), buf.size());
    if (!n) co_return "read: " + n.error().message();
    if (*n == 0) break;
    for (std::size_t i = 0; i < *n; ++i) {
      if (buf[i] != pattern(got + i)) co_return "byte " + std::to_string(got + i) + " wrong";
    }
    got += *n;
    co_await duet::yield_now();
  }
  co_return got == expect ? "" : "got " + std::to_string(got) + " of " + std::to_string(expect);
}

duet::Task<std::string> accept_and_read(TcpListener* l, std::size_t chunk, std::size_t expect) {
  auto s = co_await l->accept();
  if (!s) co_return "accept: " + s.error().message();
  co_return co_await read_all(std::move(*s), chunk, expect);
}

}  // namespace

TEST_CASE("multishot recv: a slow reader gets every byte, in order, across buffers",
          "[io][multishot]") {
  SKIP_WITHOUT_MULTISHOT();
  duet::iotest::Watchdog wd("multishot slow reader", 120s);
  const auto before = duet::io_stats();
  {
    // 64 buffers of 1 KiB, 512 KiB sent, read 100 bytes at a time: the
    // queue hits its cap, the multishot is cancelled and re-armed.
    auto rt = ring_rt(64, 1024);
    auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
    REQUIRE(l);
    constexpr std::size_t total = 512 * 1024;
    auto h = rt->spawn(accept_and_read(&*l, 100, total));
    std::thread client(send_pattern, l->local_addr().value(), total);
    CHECK(h.join() == "");
    client.join();
  }
  const auto after = duet::io_stats();
  CHECK(after.recv_buffers - before.recv_buffers > 0);
  CHECK(after.recv_arms - before.recv_arms > 1);  // re-armed after backpressure
}

TEST_CASE("multishot recv: sockets share a small ring, starved reads fall back to one-shot",
          "[io][multishot]") {
  SKIP_WITHOUT_MULTISHOT();
  duet::iotest::raise_nofile();
  duet::iotest::Watchdog wd("multishot shared ring", 120s);
  constexpr int conns = 20;
  constexpr std::size_t total = 64 * 1024;
  for (unsigned workers : {1u, 2u}) {
    INFO(workers << " workers");
    // 16 buffers of 512 bytes for 20 sockets of 64 KiB each.
    auto rt = ring_rt(16, 512, workers);
    auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
    REQUIRE(l);
    std::vector<duet::JoinHandle<std::string>> readers;
    for (int i = 0; i < conns; ++i) readers.push_back(rt->spawn(accept_and_read(&*l, 700, total)));
    std::vector<std::thread> clients;
    for (int i = 0; i < conns; ++i) {
      clients.emplace_back(send_pattern, l->local_addr().value(), total);
    }
    int failures = 0;
    std::string first;
    for (auto& r : readers) {
      std::string e = r.join();
      if (!e.empty() && failures++ == 0) first = e;
    }
    for (auto& c : clients) c.join();
    CHECK(first == "");
    CHECK(failures == 0);
  }
}

namespace {
duet::Task<std::string> read_some_then_drop(TcpListener* l) {
  auto s = co_await l->accept();
  if (!s) co_return "accept: " + s.error().message();
  std::byte b[10];
  auto n = co_await s->read(b, sizeof b);
  if (!n) co_return "read: " + n.error().message();
  // Give the kernel time to fill more buffers, then close with them unread.
  co_await duet::sleep(5ms);
  co_return "";
}
}  // namespace

TEST_CASE("multishot recv: a close with unread data gives its buffers back", "[io][multishot]") {
  SKIP_WITHOUT_MULTISHOT();
  duet::iotest::Watchdog wd("multishot close", 120s);
  // 16 buffers of 256 bytes; each round leaves ~8 of them filled and unread.
  // If a close leaked them, the ring would run short within two rounds and
  // later reads would not arm a multishot.
  auto rt = ring_rt(16, 256);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  constexpr int rounds = 30;
  const auto before = duet::io_stats();
  for (int i = 0; i < rounds; ++i) {
    auto h = rt->spawn(read_some_then_drop(&*l));
    send_pattern(l->local_addr().value(), 2048);
    REQUIRE(h.join() == "");
  }
  const auto after = duet::io_stats();
  CHECK(after.recv_arms - before.recv_arms == rounds);
}

namespace {
duet::Task<duet::Result<TcpStream>> accept_read_one(TcpListener* l) {
  auto s = co_await l->accept();
  if (!s) co_return std::move(s);
  std::byte b[1];
  auto n = co_await s->read(b, 1);
  if (!n) co_return duet::Result<TcpStream>(n.error());
  co_return std::move(s);
}
}  // namespace

TEST_CASE("multishot recv: a socket outlives its runtime", "[io][multishot]") {
  SKIP_WITHOUT_MULTISHOT();
  duet::iotest::Watchdog wd("multishot outlives", 60s);
  const int fds_before = duet::iotest::fd_count();
  {
    auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
    REQUIRE(l);
    duet::io::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const SocketAddr addr = l->local_addr().value();
    REQUIRE(::connect(c.get(), addr.raw(), addr.len()) == 0);
    REQUIRE(::send(c.get(), "ab", 2, MSG_NOSIGNAL) == 2);
    std::optional<TcpStream> kept;
    {
      auto rt = ring_rt(16, 256);
      auto r = rt->spawn(accept_read_one(&*l)).join();
      REQUIRE(r);
      kept.emplace(std::move(*r));
    }  // the ring and its buffers are gone; the stream's queue is detached
    // "b" was in a buffer of the ring: the read reports the loss once...
    std::byte b[4];
    auto n = duet::wait(kept->read(b, sizeof b));
    CHECK((!n && n.error() == std::errc::operation_canceled));
    // ...and then reads the socket directly (blocking, off the runtime).
    REQUIRE(::send(c.get(), "c", 1, MSG_NOSIGNAL) == 1);
    n = duet::wait(kept->read(b, sizeof b));
    REQUIRE(n);
    CHECK(*n == 1);
    CHECK(b[0] == std::byte{'c'});
  }
  CHECK(duet::iotest::settled_fd_count(fds_before) == fds_before);
}

namespace {
/// rt.memory_stats()'s buffers out of the ring, all workers.
std::uint32_t buffers_in_use(duet::Runtime& rt) {
  std::uint32_t n = 0;
  for (const auto& d : rt.memory_stats().drivers) n += d.buffers_in_use;
  return n;
}

/// Buffers in the worker rings (in the ring or out of it, held by data).
std::uint32_t ring_buffers(duet::Runtime& rt) {
  std::uint32_t n = 0;
  for (const auto& d : rt.memory_stats().drivers) n += d.buffers;
  return n;
}

/// Polls `done()` until it holds, at most ~10 s.
template <class P>
bool wait_until(P done) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

/// Polls `rt.memory_stats()` until `pred(in use)` holds, at most ~10 s.
template <class P>
bool wait_in_use(duet::Runtime& rt, P pred) {
  return wait_until([&] { return pred(buffers_in_use(rt)); });
}

/// A plain client connected to `l` that has sent one byte, and the
/// server's stream, its first read done (its multishot armed).
struct ArmedPair {
  duet::io::Fd client;
  TcpStream server;
};
ArmedPair armed_pair(duet::Runtime& rt, TcpListener& l) {
  duet::io::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const SocketAddr addr = l.local_addr().value();
  REQUIRE(::connect(c.get(), addr.raw(), addr.len()) == 0);
  REQUIRE(::send(c.get(), "x", 1, MSG_NOSIGNAL) == 1);
  auto s = rt.spawn(accept_read_one(&l)).join();
  REQUIRE(s);
  return {std::move(c), std::move(*s)};
}

duet::Task<std::size_t> read_exactly(TcpStream* s, std::size_t total) {
  std::vector<std::byte> buf(total);
  std::size_t got = 0;
  while (got < total) {
    auto n = co_await s->read(buf.data() + got, total - got);
    if (!n || *n == 0) break;
    got += *n;
  }
  co_return got;
}
}  // namespace

TEST_CASE("multishot recv: Runtime::memory counts the buffers held by unread data",
          "[io][multishot][memory]") {
  SKIP_WITHOUT_MULTISHOT();
  duet::iotest::Watchdog wd("multishot buffers in use", 120s);
  auto rt = ring_rt(16, 256);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  CHECK(buffers_in_use(*rt) == 0);
  // A plain client: one byte (the server's first read arms the multishot
  // recv), then 1 KiB the server leaves unread for a while.
  ArmedPair p = armed_pair(*rt, *l);
  std::vector<char> kib(1024, 'k');
  REQUIRE(::send(p.client.get(), kib.data(), kib.size(), MSG_NOSIGNAL) == 1024);
  // 1 KiB in 256-byte buffers: at least four out of the ring until read.
  CHECK(wait_in_use(*rt, [](std::uint32_t n) { return n >= 4; }));
  CHECK(buffers_in_use(*rt) <= 16);
  CHECK(rt->spawn(read_exactly(&p.server, 1024)).join() == 1024);
  // Read and given back: all in the ring again.
  CHECK(wait_in_use(*rt, [](std::uint32_t n) { return n == 0; }));
}

TEST_CASE("multishot recv: a read starved by an empty ring takes the waiting bytes directly",
          "[io][multishot]") {
  SKIP_WITHOUT_MULTISHOT();
  duet::iotest::Watchdog wd("multishot starved", 120s);
  auto rt = ring_rt(16, 256);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  // Two sockets with their multishot armed; `full` then takes the whole
  // ring (4 KiB in 256-byte buffers, left unread).
  ArmedPair starved = armed_pair(*rt, *l);
  ArmedPair full = armed_pair(*rt, *l);
  std::vector<char> four_kib(4096, 'f');
  REQUIRE(::send(full.client.get(), four_kib.data(), four_kib.size(), MSG_NOSIGNAL) == 4096);
  REQUIRE(wait_in_use(*rt, [](std::uint32_t n) { return n == 16; }));
  // Bytes for the other socket find no buffer: its multishot ends starved,
  // and the bytes wait in the socket.
  const auto before = duet::io_stats();
  REQUIRE(::send(starved.client.get(), "hello", 5, MSG_NOSIGNAL) == 5);
  REQUIRE(wait_until([&] { return duet::io_stats().recv_starved > before.recv_starved; }));
  // Its next read takes them with one direct recv, the ring still empty.
  auto got = rt->spawn([](TcpStream* s) -> duet::Task<std::string> {
                 std::string out(5, '\0');
                 auto n = co_await s->read(out.data(), out.size());
                 if (!n) co_return "read: " + n.error().message();
                 out.resize(*n);
                 co_return out;
               }(&starved.server))
                 .join();
  CHECK(got == "hello");
  const auto after = duet::io_stats();
  CHECK(after.io_syscalls > before.io_syscalls);
  CHECK(buffers_in_use(*rt) == 16);
  // At its cap (io_recv_buffers_max == io_recv_buffers) the ring keeps
  // its size.
  CHECK(ring_buffers(*rt) == 16);
  CHECK(after.recv_ring_growths == before.recv_ring_growths);
  // The full socket's bytes are all there, and the ring fills up again.
  CHECK(rt->spawn(read_exactly(&full.server, 4096)).join() == 4096);
  CHECK(wait_in_use(*rt, [](std::uint32_t n) { return n == 0; }));
}

TEST_CASE("multishot recv: a ring that runs dry doubles, up to io_recv_buffers_max",
          "[io][multishot]") {
  SKIP_WITHOUT_MULTISHOT();
  duet::iotest::Watchdog wd("multishot ring growth", 120s);
  auto rt = ring_rt(16, 256, 1, 32);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  CHECK(ring_buffers(*rt) == 16);
  ArmedPair starved = armed_pair(*rt, *l);
  ArmedPair full = armed_pair(*rt, *l);
  // `full` takes the whole ring (4 KiB in 256-byte buffers, left unread);
  // bytes for `starved` then find none: its multishot ends, and the ring
  // doubles.
  const auto before = duet::io_stats();
  std::vector<char> four_kib(4096, 'f');
  REQUIRE(::send(full.client.get(), four_kib.data(), four_kib.size(), MSG_NOSIGNAL) == 4096);
  REQUIRE(wait_in_use(*rt, [](std::uint32_t n) { return n == 16; }));
  REQUIRE(::send(starved.client.get(), "hello", 5, MSG_NOSIGNAL) == 5);
  REQUIRE(
      wait_until([&] { return duet::io_stats().recv_ring_growths > before.recv_ring_growths; }));
  CHECK(ring_buffers(*rt) == 32);
  // The starved read still gets its bytes, and re-arms on the grown ring.
  CHECK(rt->spawn(read_exactly(&starved.server, 5)).join() == 5);
  // Every byte of `full` is there, in order of arrival.
  CHECK(rt->spawn(read_exactly(&full.server, 4096)).join() == 4096);
  CHECK(wait_in_use(*rt, [](std::uint32_t n) { return n == 0; }));
}

TEST_CASE("multishot recv: io_recv_buffers_max below io_recv_buffers is refused",
          "[io][multishot]") {
  SKIP_WITHOUT_MULTISHOT();
  ::unsetenv("DUET_DRIVER");
  duet::RuntimeConfig cfg;
  cfg.workers = 1;
  cfg.placement = duet::Placement::none;
  cfg.io_driver = duet::IoDriver::io_uring;
  cfg.io_recv_buffers = 64;
  cfg.io_recv_buffers_max = 32;
  CHECK_THROWS_AS(duet::Runtime(cfg), std::invalid_argument);
  cfg.io_recv_buffers_max = 100;  // not a power of two
  CHECK_THROWS_AS(duet::Runtime(cfg), std::invalid_argument);
}
