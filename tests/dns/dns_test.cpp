// dns_test.cpp: duet::dns on both drivers x both models, against a DNS
// stub on loopback (dns_stub.hpp) and a scratch hosts file (CARES_HOSTS);
// never the outside network. Every case checks the fd count before and
// after.
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <duet/dns.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "dns_stub.hpp"
#include "io_util.hpp"

namespace shared {
/// What a scenario observed: the addresses (as text) or the error.
struct Observed {
  std::vector<std::string> addrs;
  std::error_code error;
};
inline void note(Observed* out, duet::Result<std::vector<duet::net::SocketAddr>>& r) {
  if (!r) {
    out->error = r.error();
    return;
  }
  for (const auto& a : r.value()) out->addrs.push_back(a.to_string());
}
}  // namespace shared

#define DUET_SCENARIOS "../dns/dns_scenarios.inc"
#include "both_models.inc"

using duet::IoDriver;
using duet::dns::Resolver;
using duet::dns::ResolverConfig;
using duet::dnstest::DnsStub;
using duet::iotest::Model;
using duet::net::SocketAddr;
using duet::net::TcpListener;
using shared::Observed;
using namespace std::chrono_literals;

namespace {

/// A scratch hosts file, named by CARES_HOSTS for the whole process (set
/// before any runtime thread exists), so no test reads or edits /etc/hosts.
struct HostsFile {
  std::filesystem::path path;
  HostsFile() {
    path = std::filesystem::temp_directory_path() / ("duet-hosts-" + std::to_string(::getpid()));
    std::ofstream(path) << "127.0.0.1 localhost\n127.0.0.9 filed.test\n::1 filed6.test\n";
    ::setenv("CARES_HOSTS", path.c_str(), 1);
  }
  ~HostsFile() {
    std::error_code e;
    std::filesystem::remove(path, e);
  }
};
const HostsFile& hosts_file() {
  static const HostsFile h;
  return h;
}

DnsStub::Answers both(const char* a, const char* aaaa) {
  return {{a}, {aaaa}};
}

Resolver resolver(const DnsStub& stub, std::chrono::milliseconds attempt = 2000ms, int tries = 2,
                  duet::dns::Family f = duet::dns::Family::any) {
  ResolverConfig c;
  c.servers = stub.servers();
  c.attempt_timeout = attempt;
  c.tries = tries;
  c.family = f;
  return Resolver::create(c).value();
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

#define DNS_MATRIX()                                                                         \
  (void)hosts_file();                                                                        \
  const IoDriver drv = GENERATE(IoDriver::io_uring, IoDriver::epoll);                        \
  const Model model = GENERATE(Model::stackless, Model::stackful);                           \
  INFO("driver " << duet::to_string(drv).data() << ", " << duet::iotest::model_name(model)); \
  if (!duet::iotest::driver_available(drv)) {                                                \
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");        \
    return;                                                                                  \
  }                                                                                          \
  struct FdCheck {                                                                           \
    int before = duet::iotest::fd_count();                                                   \
    ~FdCheck() { CHECK(duet::iotest::settled_fd_count(before) == before); }                  \
  } fd_check

TEST_CASE("lookup: A and AAAA from the stub server, the family filter, an IP literal",
          "[dns][lookup]") {
  DNS_MATRIX();
  duet::iotest::Watchdog wd("dns lookup");
  DnsStub stub({{"two.test", both("127.0.0.2", "::1")}, {"v4.test", {{"127.0.0.3"}, {}}}});
  auto rt = duet::iotest::make_rt(drv);
  auto r = resolver(stub);
  Observed o;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &r, std::string("two.test"), std::uint16_t{8080}, 0ns, &o)
            .join() == "");
  INFO(o.error.message());
  CHECK(sorted(o.addrs) == std::vector<std::string>{"127.0.0.2:8080", "[::1]:8080"});
  Observed o4;
  auto r4 = resolver(stub, 2000ms, 2, duet::dns::Family::v4);
  CHECK(SPAWN_MODEL(*rt, model, lookup, &r4, std::string("TWO.test"), std::uint16_t{1}, 0ns, &o4)
            .join() == "");
  CHECK(o4.addrs == std::vector<std::string>{"127.0.0.2:1"});
  Observed ov4;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &r, std::string("v4.test"), std::uint16_t{2}, 0ns, &ov4)
            .join() == "");
  CHECK(ov4.addrs == std::vector<std::string>{"127.0.0.3:2"});
  Observed lit;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &r, std::string("127.0.0.1"), std::uint16_t{3}, 0ns, &lit)
            .join() == "");
  CHECK(lit.addrs == std::vector<std::string>{"127.0.0.1:3"});
}

TEST_CASE("lookup: NXDOMAIN is a clear not-found error", "[dns][nx]") {
  DNS_MATRIX();
  duet::iotest::Watchdog wd("dns nx");
  DnsStub stub({});
  auto rt = duet::iotest::make_rt(drv);
  auto r = resolver(stub);
  Observed o;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &r, std::string("nx.test"), std::uint16_t{80}, 0ns, &o)
            .join() == "");
  CHECK(o.addrs.empty());
  CHECK(duet::dns::is_not_found(o.error));
  CHECK(o.error.message() == "Domain name not found");
}

TEST_CASE("lookup: a server that never answers times out, a deadline cuts it, a drop cancels it",
          "[dns][timeout]") {
  DNS_MATRIX();
  duet::iotest::Watchdog wd("dns timeout");
  DnsStub stub({});
  auto rt = duet::iotest::make_rt(drv);
  // c-ares's own retry timer: one try of 100 ms.
  auto quick = resolver(stub, 100ms, 1);
  Observed o;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &quick, std::string("silent.test"), std::uint16_t{80}, 0ns,
                    &o)
            .join() == "");
  CHECK(o.error == std::errc::timed_out);
  CHECK(stub.asked("silent.test") >= 1);
  // The lookup's deadline, far sooner than c-ares's 3 x 10 s.
  auto slow = resolver(stub, 10000ms, 3);
  Observed d;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &slow, std::string("silent.test"), std::uint16_t{80},
                    std::chrono::nanoseconds(150ms), &d)
            .join() == "");
  CHECK(d.error == std::errc::timed_out);
  // Dropped by duet::timeout: its socket is closed (the fd check).
  CHECK(SPAWN_MODEL(*rt, model, dropped_lookup, &slow, std::string("silent.test")).join() == "");
}

TEST_CASE("lookup: the hosts file (CARES_HOSTS) answers before the server", "[dns][hosts]") {
  DNS_MATRIX();
  duet::iotest::Watchdog wd("dns hosts");
  DnsStub stub({{"filed.test", both("127.0.0.77", "::77")}});
  auto rt = duet::iotest::make_rt(drv);
  auto r = resolver(stub);
  Observed o;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &r, std::string("filed.test"), std::uint16_t{80}, 0ns, &o)
            .join() == "");
  INFO(o.error.message());
  CHECK(o.addrs == std::vector<std::string>{"127.0.0.9:80"});
  Observed lh;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &r, std::string("localhost"), std::uint16_t{80}, 0ns, &lh)
            .join() == "");
  CHECK(lh.addrs == std::vector<std::string>{"127.0.0.1:80"});
}

TEST_CASE("connect by name: addresses tried in order, the refused one skipped", "[dns][connect]") {
  DNS_MATRIX();
  duet::iotest::Watchdog wd("dns connect");
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const std::uint16_t port = l->local_addr()->port();
  // Only 127.0.0.1 listens on `port`; [::1]:port refuses.
  DnsStub stub({{"svc.test", both("127.0.0.1", "::1")}, {"dead.test", {{}, {"::1"}}}});
  auto rt = duet::iotest::make_rt(drv);
  auto r = resolver(stub);
  const duet::dns::ConnectConfig opt{1s, 5s, 250ms};
  Observed o;
  CHECK(
      SPAWN_MODEL(*rt, model, connect_by_name, &r, std::string("svc.test"), port, &o, opt).join() ==
      "");
  INFO(o.error.message());
  CHECK(o.addrs == std::vector<std::string>{"127.0.0.1:" + std::to_string(port)});
  Observed dead;
  CHECK(SPAWN_MODEL(*rt, model, connect_by_name, &r, std::string("dead.test"), port, &dead, opt)
            .join() == "");
  CHECK(dead.error == std::errc::connection_refused);
  Observed nx;
  CHECK(
      SPAWN_MODEL(*rt, model, connect_by_name, &r, std::string("nx.test"), port, &nx, opt).join() ==
      "");
  CHECK(duet::dns::is_not_found(nx.error));
}

TEST_CASE("resolver: a malformed server list is EINVAL at create()", "[dns][config]") {
  ResolverConfig c;
  c.servers = "not a server";
  CHECK(Resolver::create(c).error() == std::errc::invalid_argument);
  c.servers = "127.0.0.1:53";
  c.tries = 0;
  CHECK(Resolver::create(c).error() == std::errc::invalid_argument);
}

TEST_CASE("connect by name: Happy Eyeballs starts the next address while the first hangs",
          "[dns][happy-eyeballs]") {
  DNS_MATRIX();
  duet::iotest::Watchdog wd("dns happy eyeballs");
  auto l4 = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l4);
  const std::uint16_t port = l4->local_addr()->port();
  // [::1]:port is a black hole: a listener whose accept queue (backlog 0)
  // one connection fills, so the kernel drops every further SYN and a
  // connect there never completes.
  duet::io::Fd l6(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(l6.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  SocketAddr a6 = SocketAddr::v6_loopback(port);
  if (::bind(l6.get(), a6.raw(), a6.len()) != 0) DUET_SKIP("cannot bind [::1]:" << port);
  REQUIRE(::listen(l6.get(), 0) == 0);
  duet::io::Fd filler(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(filler.get(), a6.raw(), a6.len()) == 0);
  DnsStub stub({{"he.test", both("127.0.0.1", "::1")}});
  auto rt = duet::iotest::make_rt(drv);
  auto r = resolver(stub);
  // The black hole comes first in the order c-ares gives.
  Observed order;
  CHECK(SPAWN_MODEL(*rt, model, lookup, &r, std::string("he.test"), port, 0ns, &order).join() ==
        "");
  REQUIRE(order.addrs.size() == 2);
  CHECK(order.addrs[0] == "[::1]:" + std::to_string(port));
  // No per-attempt timeout: one address after another would wait on the
  // black hole for good; the staggered attempt on 127.0.0.1 wins.
  Observed o;
  CHECK(SPAWN_MODEL(*rt, model, connect_by_name, &r, std::string("he.test"), port, &o,
                    duet::dns::ConnectConfig{0ns, 5s, 50ms})
            .join() == "");
  INFO(o.error.message());
  CHECK(o.addrs == std::vector<std::string>{"127.0.0.1:" + std::to_string(port)});
}
