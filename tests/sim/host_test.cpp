// host_test.cpp: a host's tasks: a crash cancels every task started on the
// host (World::spawn, World::run, sim::spawn: coroutines and fibers, and
// their children spawned with plain duet::spawn, whose sockets are the
// host's) while its peers see a reset, and a restart runs the host's boot
// function again so that its service answers; each the same trace for the
// same seed.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "duet/sync/notify.hpp"
#include "sim_util.hpp"

using namespace duet::simtest;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

/// Whether `h`'s task ended cancelled (its join throws duet::Cancelled).
duet::Task<bool> was_cancelled(duet::JoinHandle<void> h) {
  try {
    co_await std::move(h);
  } catch (const duet::Cancelled&) {
    co_return true;
  }
  co_return false;
}

/// A connection's task: echoes one message, then holds the stream open
/// (an hour's sleep) until something ends it.
duet::Task<void> echo_then_hold(duet::net::TcpStream s) {
  std::byte buf[64];
  auto n = co_await s.read(buf);
  if (!n || *n == 0) co_return;
  auto w = co_await s.write_all(std::span(buf, *n));
  if (!w) co_return;
  co_await duet::sleep(std::chrono::hours(1));
}

/// A server on its host: each accepted connection gets a task of the host
/// (sim::spawn), whose handle goes to `conns`.
duet::Task<void> serve(Host self, duet::net::TcpListener l,
                       std::vector<duet::JoinHandle<void>>* conns) {
  for (;;) {
    auto s = co_await l.accept();
    if (!s) continue;
    conns->push_back(duet::sim::spawn(self, echo_then_hold(std::move(*s))));
  }
}

/// Connects to `to`, sends "ping" and reads the echo: true when it came.
duet::Task<bool> ping(duet::net::SocketAddr to, std::optional<duet::net::TcpStream>* keep) {
  auto c = co_await duet::net::TcpStream::connect(to, std::chrono::seconds(2));
  if (!c) co_return false;
  auto w = co_await c->write_all("ping", 4);
  if (!w) co_return false;
  char back[4];
  auto n = co_await c->read(back, sizeof back);
  const bool ok = n && *n == 4 && std::string(back, 4) == "ping";
  if (keep != nullptr) keep->emplace(std::move(*c));
  co_return ok;
}

struct CrashSeen {
  bool served = false;      // the service answered before the crash
  bool reset = false;       // the client's read then failed with ECONNRESET
  bool server = false;      // the server task (World::spawn) was cancelled
  bool conn = false;        // the connection's task (sim::spawn from the server) was cancelled
  bool fiber = false;       // a fiber of the host (World::spawn) was cancelled
  bool other_host = false;  // a task of the client's host was not
  std::string fingerprint;
};

/// The crash scenario under `seed`: a server on b with a task per
/// connection, a fiber on b, a task on a; the client on a crashes b.
CrashSeen crash_scenario(std::uint64_t seed) {
  World w(WorldConfig{.seed = seed});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b,
             {.latency = std::chrono::milliseconds(3), .jitter = std::chrono::milliseconds(1)});
  std::vector<duet::JoinHandle<void>> conns;
  auto l = duet::sim::as_host(
      b, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(80)); });
  REQUIRE(l);
  // The server waits on its accept (no timer), so the paused clock stands
  // still between this spawn and the run's; the sleepers are spawned from
  // the run's task, where no idle moment lets the clock jump to them.
  auto server = w.spawn(b, serve(b, std::move(*l), &conns));
  CrashSeen seen;
  w.run(a,
        [](World& w, Host a, Host b, CrashSeen& seen, duet::JoinHandle<void> server,
           std::vector<duet::JoinHandle<void>>& conns) -> duet::Task<void> {
          auto fiber =
              w.spawn(b, duet::stackful, [] { duet::wait(duet::sleep(std::chrono::hours(1))); });
          auto bystander = duet::sim::spawn(
              a, []() -> duet::Task<void> { co_await duet::sleep(std::chrono::seconds(30)); }());
          std::optional<duet::net::TcpStream> c;
          seen.served = co_await ping(b.addr(80), &c);
          if (!seen.served || conns.size() != 1) co_return;
          w.crash(b);
          std::byte buf[4];
          auto r = co_await c->read(buf);
          seen.reset = !r && r.error() == code(ECONNRESET);
          seen.server = co_await was_cancelled(std::move(server));
          seen.conn = co_await was_cancelled(std::move(conns[0]));
          seen.fiber = co_await was_cancelled(std::move(fiber));
          const bool by = co_await was_cancelled(std::move(bystander));
          seen.other_host = !by;
          seen.fingerprint = w.fingerprint();  // on the world's worker, at a point the seed fixes
        }(w, a, b, seen, std::move(server), conns));
  return seen;
}

/// Accepts on `l` and holds each connection (its peer's children connect
/// here).
duet::Task<void> accept_and_hold(duet::net::TcpListener l,
                                 std::vector<duet::net::TcpStream>* held) {
  for (;;) {
    auto s = co_await l.accept();
    if (s) held->push_back(std::move(*s));
  }
}

/// What plain children of a host's task saw, and how they ended.
struct ChildrenSeen {
  std::string child_addr;       // a plain child's socket's local address
  std::string grandchild_addr;  // its own plain child's
  duet::JoinHandle<void> parent, coroutine, fiber, future, grandchild, named_other;
  bool cancelled[5] = {};  // parent, coroutine, fiber, future, grandchild
  bool named_other_cancelled = true;
  std::string fingerprint;
};

/// Connects to `to`, noting the socket's own address (or the error) in
/// `*addr`; the stream, to hold.
duet::Task<std::optional<duet::net::TcpStream>> connect_noting(duet::net::SocketAddr to,
                                                               std::string* addr) {
  auto c = co_await duet::net::TcpStream::connect(to, std::chrono::seconds(2));
  if (!c) {
    *addr = c.error().message();
    co_return std::nullopt;
  }
  auto local = c->local_addr();
  *addr = local ? local->to_string() : "no local address";
  co_return std::move(*c);
}

/// A plain child: connects (as its parent's host), then spawns a
/// grandchild the same way, which notifies `ready` once it has connected.
duet::Task<void> child(duet::net::SocketAddr to, ChildrenSeen* seen, duet::Notify* ready) {
  auto c = co_await connect_noting(to, &seen->child_addr);
  seen->grandchild = duet::spawn(
      [](duet::net::SocketAddr to, ChildrenSeen* seen, duet::Notify* ready) -> duet::Task<void> {
        auto g = co_await connect_noting(to, &seen->grandchild_addr);
        ready->notify_one();
        co_await duet::sleep(std::chrono::hours(1));
      }(to, seen, ready));
  co_await duet::sleep(std::chrono::hours(1));
}

/// Host b's task: spawns a coroutine, a fiber and a poll future with plain
/// duet::spawn, and a task of host a with sim::spawn; then waits.
duet::Task<void> parent(Host a, ChildrenSeen* seen, duet::Notify* ready) {
  seen->coroutine = duet::spawn(child(a.addr(7), seen, ready));
  seen->fiber = duet::spawn(duet::stackful, [] { duet::wait(duet::sleep(std::chrono::hours(1))); });
  seen->future = duet::spawn(duet::sleep(std::chrono::hours(1)));
  seen->named_other = duet::sim::spawn(
      a, []() -> duet::Task<void> { co_await duet::sleep(std::chrono::seconds(30)); }());
  co_await duet::sleep(std::chrono::hours(1));
}

/// Host a holds a listener; its task starts b's parent task, waits for the
/// grandchild's connect, crashes b and collects how each task ended.
ChildrenSeen children_scenario(std::uint64_t seed) {
  World w(WorldConfig{.seed = seed});
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.set_link(a, b,
             {.latency = std::chrono::milliseconds(2), .jitter = std::chrono::milliseconds(1)});
  std::vector<duet::net::TcpStream> held;
  auto l = duet::sim::as_host(
      a, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(7)); });
  REQUIRE(l);
  auto server = w.spawn(a, accept_and_hold(std::move(*l), &held));
  ChildrenSeen seen;
  duet::Notify ready;
  w.run(a,
        [](World& w, Host a, Host b, ChildrenSeen& seen, duet::Notify& ready) -> duet::Task<void> {
          seen.parent = w.spawn(b, parent(a, &seen, &ready));
          co_await ready.notified();
          w.crash(b);
          duet::JoinHandle<void>* hs[] = {&seen.parent, &seen.coroutine, &seen.fiber, &seen.future,
                                          &seen.grandchild};
          for (int i = 0; i < 5; ++i) seen.cancelled[i] = co_await was_cancelled(std::move(*hs[i]));
          const bool other = co_await was_cancelled(std::move(seen.named_other));
          seen.named_other_cancelled = other;
          seen.fingerprint = w.fingerprint();
        }(w, a, b, seen, ready));
  return seen;
}

}  // namespace

TEST_CASE("a child spawned with plain duet::spawn is its parent's host's task") {
  const ChildrenSeen s = children_scenario(31);
  // Its sockets are the host's: b is 10.0.0.2 (before, a connect from a
  // plain child failed with EADDRNOTAVAIL).
  CHECK(s.child_addr.rfind("10.0.0.2:", 0) == 0);
  CHECK(s.grandchild_addr.rfind("10.0.0.2:", 0) == 0);
  // b's crash cancels its task and every plain descendant, in each model.
  CHECK(s.cancelled[0]);  // the parent (World::spawn)
  CHECK(s.cancelled[1]);  // a coroutine child
  CHECK(s.cancelled[2]);  // a fiber child
  CHECK(s.cancelled[3]);  // a poll future child
  CHECK(s.cancelled[4]);  // a grandchild
  // A child spawned onto another host with sim::spawn is that host's.
  CHECK_FALSE(s.named_other_cancelled);
  CHECK(children_scenario(31).fingerprint == s.fingerprint);
}

TEST_CASE("a crash cancels the host's tasks, and its peer sees a reset") {
  const CrashSeen s = crash_scenario(21);
  CHECK(s.served);
  CHECK(s.reset);
  CHECK(s.server);
  CHECK(s.conn);
  CHECK(s.fiber);
  CHECK(s.other_host);
  // The same seed: the same trace.
  const CrashSeen again = crash_scenario(21);
  CHECK(again.fingerprint == s.fingerprint);
  CHECK(crash_scenario(22).fingerprint != s.fingerprint);
}

TEST_CASE("a World::run on a host that crashes throws duet::Cancelled") {
  World w(WorldConfig{.seed = 23});
  Host a = w.add_host("a");
  bool after = false;
  CHECK_THROWS_AS(w.run(a,
                        [](World& w, Host a, bool& after) -> duet::Task<void> {
                          w.crash(a);  // its own host: cancelled at its next suspension
                          co_await duet::sleep(std::chrono::seconds(1));
                          after = true;
                        }(w, a, after)),
                  duet::Cancelled);
  CHECK_FALSE(after);
  // Restarted, the host runs tasks again.
  w.restart(a);
  CHECK(w.run(a, []() -> duet::Task<int> { co_return 7; }()) == 7);
}

TEST_CASE("a restart runs the host's boot function again, and its service answers") {
  auto scenario = [](std::uint64_t seed) {
    World w(WorldConfig{.seed = seed});
    Host a = w.add_host("a");
    Host b = w.add_host("b");
    w.set_link(a, b, {.latency = std::chrono::milliseconds(2)});
    std::vector<duet::JoinHandle<void>> servers;
    std::vector<duet::JoinHandle<void>> conns;
    int boots = 0;
    w.on_boot(b, [&w, b, &servers, &conns, &boots] {
      ++boots;
      // As b: the listener is b's, and so is the server's task.
      auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(80));
      REQUIRE(l);
      servers.push_back(w.spawn(b, serve(b, std::move(*l), &conns)));
    });
    CHECK(boots == 1);  // booted at once
    std::string fp;
    w.run(a,
          [](World& w, Host b, std::vector<duet::JoinHandle<void>>& servers, int& boots,
             std::string& fp) -> duet::Task<void> {
            const bool first = co_await ping(b.addr(80), nullptr);
            CHECK(first);
            w.crash(b);
            const bool old_cancelled = co_await was_cancelled(std::move(servers.at(0)));
            CHECK(old_cancelled);
            // Down: nothing answers (the deadline is not the SYN retry at 1 s:
            // two timers at one instant may fire in either order).
            auto down =
                co_await duet::net::TcpStream::connect(b.addr(80), std::chrono::milliseconds(1500));
            CHECK_FALSE(down);
            w.restart(b);
            CHECK(boots == 2);
            const bool second = co_await ping(b.addr(80), nullptr);
            CHECK(second);
            CHECK(servers.size() == 2);
            CHECK_FALSE(servers.at(1).is_finished());
            fp = w.fingerprint();
          }(w, b, servers, boots, fp));
    return fp;
  };
  const std::string fp = scenario(24);
  CHECK(scenario(24) == fp);
}
