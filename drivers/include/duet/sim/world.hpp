// duet/sim/world.hpp: a deterministic simulated network (duet::sim): hosts
// with names and addresses, links with latency, jitter and loss, partitions
// and crashes, and seeded faults, under the unchanged TcpListener and
// TcpStream of duet/net/tcp.hpp, so coroutine, fiber and poll-future code
// runs on it as on the kernel (docs/simulation.md).
//
// A World owns its Runtime: one worker, the paused test clock, the world's
// seed, and IoDriver::sim, whose sockets are virtual descriptors that never
// reach the kernel. Time moves only when every task waits, so simulated
// minutes take milliseconds; every delivered segment is appended to a trace
// whose FNV-1a hash is the same for the same seed.
//
// Example (file):
//   #include <duet/sim/world.hpp>
//   int sim_main() {
//     duet::sim::World w(duet::sim::WorldConfig{.seed = 7});
//     duet::sim::Host client = w.add_host("client");
//     duet::sim::Host server = w.add_host("server");
//     w.set_link(client, server, {.latency = std::chrono::milliseconds(5)});
//     auto listener = duet::sim::as_host(server, [] {
//       return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(80));
//     });
//     if (!listener) return 1;
//     bool ok = w.run(client, [](duet::sim::Host server) -> duet::Task<bool> {
//       auto c = co_await duet::net::TcpStream::connect(server.addr(80));
//       co_return c.has_value();
//     }(server));
//     std::printf("%s\n", w.fingerprint().c_str());  // seed and trace hash
//     return ok ? 0 : 1;
//   }
//
// One World at a time per process (it installs the test clock and the
// virtual network); a second throws std::logic_error.
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "duet/net/address.hpp"
#include "duet/poll.hpp"
#include "duet/runtime.hpp"
#include "duet/sim/config.hpp"
#include "duet/stackful/fiber.hpp"
#include "duet/stackless/spawn.hpp"
#include "duet/stackless/task.hpp"
#include "duet/stackless/task_local.hpp"
#include "duet/task_local.hpp"

namespace duet::sim {

class World;

/// A simulated machine: a name and one IPv4 address (10.0.0.N unless given).
class DUET_API Host {
 public:
  Host() noexcept = default;
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  [[nodiscard]] const std::string& name() const;
  /// This host's address with `port`.
  [[nodiscard]] net::SocketAddr addr(std::uint16_t port) const;
  friend bool operator==(const Host& a, const Host& b) noexcept {
    return a.world_ == b.world_ && a.id_ == b.id_;
  }

 private:
  friend class World;
  Host(World* w, std::uint32_t id) noexcept : world_(w), id_(id) {}
  World* world_ = nullptr;
  std::uint32_t id_ = 0;
};

namespace detail {

class Network;

/// A poll future polled with a host's scope open.
template <Future F>
class OnHost {
 public:
  OnHost(std::uint32_t host, F f) : host_(host), f_(std::move(f)) {}
  auto poll(Context& cx) {
    typename TaskLocal<std::uint32_t>::Scope s(host_key(), host_);
    return f_.poll(cx);
  }

 private:
  std::uint32_t host_;
  F f_;
};

}  // namespace detail

class DUET_API World {
 public:
  explicit World(WorldConfig cfg = {});
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  /// A host named `name` at 10.0.0.N (N: 1 for the first host, and so on).
  Host add_host(std::string name);
  /// A host at `ipv4` ("a.b.c.d"); throws std::invalid_argument when it is
  /// malformed or taken.
  Host add_host(std::string name, std::string_view ipv4);

  /// Both directions between `a` and `b`.
  void set_link(Host a, Host b, LinkConfig link);
  /// Nothing crosses between `a` and `b` until repair: connects retransmit
  /// their SYN and time out, data is retransmitted and the sender's
  /// connection times out when the retransmissions give up.
  void partition(Host a, Host b);
  /// Both directions again (a one-way partition included).
  void repair(Host a, Host b);
  /// One direction only: what `from` sends to `to` is lost (retransmitted,
  /// and timed out as above), what `to` sends to `from` crosses.
  void partition_one_way(Host from, Host to);
  /// Holds what `from` sends to `to` on established connections (data and
  /// closes): it waits in order, with no retransmission counted (no
  /// connection times out for it), until release(from, to) sends it on at
  /// once. Connects (SYNs) and the kernel's resets are not held: they cross.
  void hold(Host from, Host to);
  void release(Host from, Host to);
  /// The host's processes die and its kernel resets every connection (its
  /// peers get a reset after the link's latency; its own sockets fail with
  /// ECONNRESET, its listeners are gone); until restart it answers nothing
  /// and its sockets fail with ENETDOWN.
  void crash(Host h);
  void restart(Host h);

  /// The world's runtime (one worker, the paused clock, the world's seed).
  Runtime& runtime() noexcept { return *rt_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return cfg_.seed; }

  /// Runs `t` on host `h` to its end and returns its result.
  template <class T>
  T run(Host h, Task<T> t) {
    return rt_->block_on(local_scope(detail::host_key(), h.id(), std::move(t)));
  }
  /// Runs fiber body `fn` on host `h` to its end.
  template <class Fn>
  auto run(Host h, Stackful s, Fn fn) {
    return rt_->block_on(s, [id = h.id(), fn = std::move(fn)]() mutable {
      return detail::host_key().sync_scope(id, fn);
    });
  }
  /// Runs poll future `f` on host `h` to its end.
  template <Future F>
  auto run(Host h, F f) {
    return rt_->block_on(detail::OnHost<F>(h.id(), std::move(f)));
  }

  /// The same, spawned (from the test's thread or a task): the JoinHandle.
  template <class T>
  JoinHandle<T> spawn(Host h, Task<T> t) {
    return rt_->spawn(local_scope(detail::host_key(), h.id(), std::move(t)));
  }
  template <class Fn>
  auto spawn(Host h, Stackful s, Fn fn) {
    return rt_->spawn(s, [id = h.id(), fn = std::move(fn)]() mutable {
      return detail::host_key().sync_scope(id, fn);
    });
  }
  template <Future F>
  auto spawn(Host h, F f) {
    return rt_->spawn(detail::OnHost<F>(h.id(), std::move(f)));
  }

  /// FNV-1a 64 of the trace: every delivered segment and network event.
  [[nodiscard]] std::uint64_t trace_hash() const;
  [[nodiscard]] std::size_t trace_events() const;
  /// The trace's lines (WorldConfig::keep_trace; else empty).
  [[nodiscard]] std::vector<std::string> trace() const;
  /// "seed <seed> trace <hash> events <n>": what a run prints to be replayed.
  [[nodiscard]] std::string fingerprint() const;
  /// Virtual sockets whose descriptor is still open (a leak check).
  [[nodiscard]] std::size_t open_sockets() const;

 private:
  friend class Host;
  WorldConfig cfg_;
  std::unique_ptr<detail::Network> net_;
  std::unique_ptr<Runtime> rt_;
};

/// Runs synchronous `fn` (no wait inside) as host `h`: a listener or a
/// socket made inside belongs to `h` (a test's setup of another host).
template <class Fn>
decltype(auto) as_host(Host h, Fn&& fn) {
  return detail::host_key().sync_scope(h.id(), std::forward<Fn>(fn));
}

/// From a task of the world: spawns a Task, a fiber (`sim::spawn(h,
/// duet::stackful, fn)`) or a poll future on host `h`.
template <class T>
JoinHandle<T> spawn(Host h, Task<T> t) {
  return duet::spawn(local_scope(detail::host_key(), h.id(), std::move(t)));
}
template <class Fn>
auto spawn(Host h, Stackful s, Fn fn) {
  return duet::spawn(s, [id = h.id(), fn = std::move(fn)]() mutable {
    return detail::host_key().sync_scope(id, fn);
  });
}
template <Future F>
auto spawn(Host h, F f) {
  return duet::spawn(detail::OnHost<F>(h.id(), std::move(f)));
}

}  // namespace duet::sim
