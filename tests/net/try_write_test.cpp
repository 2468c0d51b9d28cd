// try_write_test.cpp: TcpStream::try_write, the write that never waits, on
// io_uring and epoll: the bytes the socket takes now, 0 once its buffer is
// full (and bytes again after the peer reads), the error after the peer's
// reset; and the data it wrote arrives in order with a write future's.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <string>
#include <vector>

#include "net_util.hpp"

using duet::net::SocketAddr;
using duet::net::TcpListener;
using duet::net::TcpStream;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Fills `c`'s socket with try_write until it takes nothing: the bytes
/// written (bounded: 64 MiB at most).
std::size_t fill(TcpStream& c, std::vector<std::byte>& chunk) {
  std::size_t total = 0;
  for (int i = 0; i < 1024; ++i) {
    auto k = c.try_write(chunk);
    REQUIRE(k);
    if (*k == 0) return total;
    total += *k;
  }
  FAIL("the socket took 64 MiB without filling");
  return total;
}

}  // namespace

TEST_CASE("try_write: the bytes taken now, 0 when full, the error after a reset", "[net]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("try_write");
  auto rt = duet::iotest::make_rt(drv);
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  auto c = duet::wait(TcpStream::connect(*l->local_addr()));
  REQUIRE(c);
  auto a = duet::wait(l->accept());
  REQUIRE(a);

  // Taken at once, and in order with a write future's bytes.
  auto k = c->try_write(as_bytes("hello "));
  REQUIRE(k);
  CHECK(*k == 6);
  CHECK(*duet::wait(c->write("world", 5)) == 5);
  char got[11];
  std::size_t have = 0;
  while (have < sizeof got) {
    auto n = duet::wait(a->read(got + have, sizeof got - have));
    REQUIRE(n);
    REQUIRE(*n > 0);
    have += *n;
  }
  CHECK(std::string(got, sizeof got) == "hello world");

  // Full: 0, not an error; after the peer reads some, bytes again.
  std::vector<std::byte> chunk(64 << 10, std::byte{'x'});
  const std::size_t sent = fill(*c, chunk);
  CHECK(sent > 0);
  CHECK(*c->try_write(chunk) == 0);
  std::vector<std::byte> sink(1 << 20);
  std::size_t drained = 0;
  while (drained < sent) {
    auto n = duet::wait(a->read(sink));
    REQUIRE(n);
    REQUIRE(*n > 0);
    drained += *n;
  }
  auto again = c->try_write(chunk);
  REQUIRE(again);
  CHECK(*again > 0);

  // The peer resets: once the reset is seen, try_write says so.
  linger lg{1, 0};
  REQUIRE(::setsockopt(a->native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  REQUIRE(a->close());
  std::byte b[16];
  for (int i = 0; i < 100000; ++i) {  // what was in flight, then the reset
    auto n = duet::wait(c->read(b));
    if (!n || *n == 0) break;
  }
  auto after = c->try_write(as_bytes("late"));
  REQUIRE_FALSE(after);
  CHECK((after.error() == std::errc::connection_reset || after.error() == std::errc::broken_pipe));
}
