// buffered_io_test.cpp: buffered, vectored and split-stream I/O over TCP on
// loopback, on io_uring and epoll, from coroutines and fibers
// (net_scenarios.inc, compiled twice), each checking that no descriptor
// leaked; and the third face: a buffered future spawned as a poll future.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <span>
#include <string>
#include <vector>

#include "net_util.hpp"

namespace coro {
#define IO_FN(T) duet::Task<T>
#define AWAIT(x) (co_await (x))
#define RETURN co_return
#define SPAWN_FN(fn, ...) duet::spawn(fn(__VA_ARGS__))
#include "net_scenarios.inc"
#undef IO_FN
#undef AWAIT
#undef RETURN
#undef SPAWN_FN
}  // namespace coro

namespace fib {
#define IO_FN(T) T
#define AWAIT(x) duet::wait(x)
#define RETURN return
#define SPAWN_FN(fn, a, b)    \
  duet::spawn(duet::stackful, \
              [a_ = std::move(a), b_ = (b)]() mutable { return fn(std::move(a_), b_); })
#include "net_scenarios.inc"
#undef IO_FN
#undef AWAIT
#undef RETURN
#undef SPAWN_FN
}  // namespace fib

using duet::net::SocketAddr;
using duet::net::TcpListener;
using namespace std::chrono_literals;

TEST_CASE("split halves: one task writes lines while another reads the echo", "[net][split]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("split lines", 120s);
  auto rt = duet::iotest::make_rt(drv);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  auto server = SPAWN_MODEL(*rt, model, line_echo_server, &*l);
  const int lines = duet::iotest::sanitized ? 300 : 2000;
  CHECK(SPAWN_MODEL(*rt, model, line_client, l->local_addr().value(), lines).join() == "");
  CHECK(server.join() == "");
}

TEST_CASE("buffered reads from a peer that stops short keep every byte", "[net][buffered]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("short peer");
  auto rt = duet::iotest::make_rt(drv);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  CHECK(SPAWN_MODEL(*rt, model, short_peer, &*l).join() == "");
}

TEST_CASE("a buffered writer to a reset peer: EPIPE or ECONNRESET, bytes kept", "[net][buffered]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("reset peer");
  auto rt = duet::iotest::make_rt(drv);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  CHECK(SPAWN_MODEL(*rt, model, write_to_reset_peer, &*l).join() == "");
}

TEST_CASE("readv and writev move every byte in order", "[net][vectored]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("vectored");
  auto rt = duet::iotest::make_rt(drv);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  CHECK(SPAWN_MODEL(*rt, model, vectored, &*l).join() == "");
}

TEST_CASE("a buffered read_line spawned as a poll future", "[net][buffered]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("poll future");
  auto rt = duet::iotest::make_rt(drv);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const SocketAddr addr = l->local_addr().value();
  duet::io::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(c.get(), addr.raw(), addr.len()) == 0);
  auto acc = duet::wait(l->accept());  // off the runtime: a blocking accept
  REQUIRE(acc);
  duet::io::BufReader rd(std::move(*acc));
  std::string line;
  auto h = rt->spawn(rd.read_line(line));
  REQUIRE(::send(c.get(), "first\nsecond\n", 13, 0) == 13);
  auto n = h.join();
  REQUIRE(n);
  CHECK(*n == 6);
  CHECK(line == "first\n");
  line.clear();
  CHECK(*rt->spawn(rd.read_line(line)).join() == 7);
  CHECK(line == "second\n");
}

TEST_CASE("split halves reunite only with their own partner", "[net][split]") {
  duet::nettest::FdCheck fd_check;
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  auto a = duet::wait(duet::net::TcpStream::connect(l->local_addr().value()));
  auto b = duet::wait(duet::net::TcpStream::connect(l->local_addr().value()));
  REQUIRE(a);
  REQUIRE(b);
  const int fd_a = a->native_handle();
  auto [ra, wa] = std::move(*a).into_split();
  auto [rb, wb] = std::move(*b).into_split();
  auto mixed = duet::net::reunite(ra, wb);
  CHECK(mixed.error() == std::errc::invalid_argument);
  CHECK(ra.is_open());  // both halves as they were
  auto back = duet::net::reunite(ra, wa);
  REQUIRE(back);
  CHECK(back->native_handle() == fd_a);
  CHECK(!ra.is_open());
  // The reunited stream still writes (no FIN was sent by the write half).
  CHECK(*duet::wait(back->write("x", 1)) == 1);
}
