// echo_test.cpp: an echo between two simulated hosts in each model, over the
// unchanged TcpListener and TcpStream (docs/simulation.md).
#include <catch2/catch.hpp>

#include "sim_util.hpp"

using namespace duet::simtest;

TEST_CASE("a coroutine echo between two hosts") {
  duet::sim::World w(duet::sim::WorldConfig{.seed = 1});
  auto client = w.add_host("client");
  auto server = w.add_host("server");
  const auto msg = bytes(10000);
  auto got =
      w.run(client,
            [](duet::sim::Host server,
               std::vector<std::byte> msg) -> duet::Task<duet::Result<std::vector<std::byte>>> {
              auto srv = duet::sim::spawn(server, coro_echo_server(80, 1));
              auto r = co_await coro_echo_client(server.addr(80), msg);
              co_await srv;
              co_return r;
            }(server, msg));
  REQUIRE(got);
  CHECK(*got == msg);
  CHECK(w.open_sockets() == 0);
}

TEST_CASE("a fiber echo between two hosts") {
  duet::sim::World w(duet::sim::WorldConfig{.seed = 2});
  auto client = w.add_host("client");
  auto server = w.add_host("server");
  const auto msg = bytes(100000);  // more than a socket buffer: the window waits
  auto got = w.run(client, duet::stackful, [server, &msg] {
    auto srv = duet::sim::spawn(server, duet::stackful, [] { fiber_echo_server(80, 1); });
    auto r = fiber_echo_client(server.addr(80), msg);
    duet::wait(srv);
    return r;
  });
  REQUIRE(got);
  CHECK(*got == msg);
  CHECK(w.open_sockets() == 0);
}

TEST_CASE("a poll-future echo client between two hosts") {
  duet::sim::World w(duet::sim::WorldConfig{.seed = 3});
  auto client = w.add_host("client");
  auto server = w.add_host("server");
  const auto msg = bytes(5000);
  // The server first (a coroutine on its host), then the client, a poll
  // future run as itself on the other host.
  auto srv = w.spawn(server, coro_echo_server(80, 1));
  auto got = w.run(client, PollEchoClient(server.addr(80), msg));
  srv.join();
  REQUIRE(got);
  CHECK(*got == msg);
  CHECK(w.open_sockets() == 0);
}
