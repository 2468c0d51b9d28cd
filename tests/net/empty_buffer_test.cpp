// empty_buffer_test.cpp: reads and writes of no bytes on io_uring and
// epoll, from coroutines and fibers (empty_buffer_scenarios.inc, compiled
// twice): a read into an empty buffer is 0 at once, on a TCP stream and a
// unix stream with nothing to read, as read(2) answers it; a write of
// nothing is 0 and a write_all of nothing succeeds, at once.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <span>
#include <string>

#include "net_util.hpp"

#define DUET_SCENARIOS "../net/empty_buffer_scenarios.inc"
#include "both_models.inc"

TEST_CASE("a read into an empty buffer is 0 at once, and a write of nothing too", "[net]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("empty buffers");
  auto rt = duet::iotest::make_rt(drv);
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  REQUIRE(l);
  CHECK(SPAWN_MODEL(*rt, model, empty_tcp_transfers, &*l).join() == "");
  CHECK(SPAWN_MODEL(*rt, model, empty_unix_transfers).join() == "");
}
