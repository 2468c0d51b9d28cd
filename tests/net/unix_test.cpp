// unix_test.cpp: Unix domain sockets on io_uring and epoll, from coroutines
// and fibers (unix_scenarios.inc, compiled twice), each checking that no
// descriptor leaked: streams on abstract names and paths with peer
// credentials, descriptor passing (SCM_RIGHTS), datagrams; and the errors
// of binding and connecting.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <string>

#include "net_util.hpp"

#define DUET_SCENARIOS "../net/unix_scenarios.inc"
#include "both_models.inc"

using duet::net::UnixAddr;
using duet::net::UnixListener;

namespace {
/// An abstract name no other test process uses.
std::string unique_name(const char* what) {
  static int n = 0;
  return "duet-test-" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(n++);
}

/// A fresh directory under /tmp, removed with what is in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/duet-unix-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
};
}  // namespace

TEST_CASE("unix stream on an abstract name: echo, peer credentials", "[net][unix]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("unix abstract");
  auto rt = duet::iotest::make_rt(drv);
  const UnixAddr addr = UnixAddr::abstract(unique_name("echo"));
  auto l = UnixListener::bind(addr);
  REQUIRE(l);
  CHECK(l->local_addr()->is_abstract());
  CHECK(l->local_addr()->name() == addr.name());
  auto server = SPAWN_MODEL(*rt, model, unix_echo_server, &*l);
  CHECK(SPAWN_MODEL(*rt, model, unix_echo_client, addr).join() == "");
  CHECK(server.join() == "");
}

TEST_CASE("unix stream on a path, and the errors of bind and connect", "[net][unix]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("unix path");
  TempDir dir;
  auto rt = duet::iotest::make_rt(drv);
  const UnixAddr addr = UnixAddr::path(dir.path + "/sock");
  auto l = UnixListener::bind(addr);
  REQUIRE(l);
  CHECK(!l->local_addr()->is_abstract());
  CHECK(l->local_addr()->name() == dir.path + "/sock");
  auto again = UnixListener::bind(addr);
  CHECK(again.error() == std::errc::address_in_use);
  auto too_long = UnixListener::bind(UnixAddr::path(std::string(200, 'x')));
  CHECK(too_long.error() == std::errc::invalid_argument);
  auto server = SPAWN_MODEL(*rt, model, unix_echo_server, &*l);
  CHECK(SPAWN_MODEL(*rt, model, unix_echo_client, addr).join() == "");
  CHECK(server.join() == "");
  auto none = duet::wait(duet::net::UnixStream::connect(UnixAddr::path(dir.path + "/none")));
  CHECK(none.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("descriptor passing: SCM_RIGHTS over a unix stream", "[net][unix][fds]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("unix fds");
  auto rt = duet::iotest::make_rt(drv);
  CHECK(SPAWN_MODEL(*rt, model, pass_fds).join() == "");
}

TEST_CASE("unix datagrams: send_to and recv_from with names, a connected pair",
          "[net][unix][datagram]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("unix datagrams");
  TempDir dir;
  auto rt = duet::iotest::make_rt(drv);
  CHECK(SPAWN_MODEL(*rt, model, datagrams, UnixAddr::abstract(unique_name("dgram-a")),
                    UnixAddr::path(dir.path + "/b"))
            .join() == "");
}
