// duet/sim/world.hpp: a deterministic simulated network (duet::sim): hosts
// with names, addresses and tasks, links with latency, jitter, loss,
// bandwidth and reordering, partitions, crashes and restarts, and seeded
// faults, under the unchanged TcpListener and TcpStream of
// duet/net/tcp.hpp (and UdpSocket, duet/net/udp.hpp), so coroutine, fiber
// and poll-future code runs on it as on the kernel (docs/simulation.md).
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
//     // The world stands still between the test's waits: a point the seed fixes.
//     std::printf("%s\n", w.fingerprint().c_str());  // seed and trace hash
//     return ok ? 0 : 1;
//   }
//
// Hosts and their tasks: a task started on a host (World::run,
// World::spawn, sim::spawn) is one of that host's tasks until it ends, and
// World::crash(h) cancels every one of h's tasks that has not ended, after
// its kernel has reset h's connections. A task that one of h's tasks
// spawns with plain duet::spawn (a server's task per connection) is h's
// too, and so are its own children: the world's runtime sees every spawn
// and opens h's scope for the child; sim::spawn(other, ...) starts a task
// on another host. World::on_boot(h, fn) keeps a host's boot function: it
// runs at once and again at every restart(h).
//
// Time and the test's thread: the world's clock moves only while a thread
// off the world (the test's) waits on it: in World::run, a JoinHandle's
// join, duet::wait, or World::run_for. The wake that ends such a wait
// stops the clock where it is, on the world's worker, and the wait returns
// once every task has run what that instant holds. So between two waits
// the world stands still, and what the test's thread does there (a crash,
// a restart, a partition, a spawn, a read of the trace or of the tasks'
// results) lands at the same point of the run for the same seed. Every
// World call from the test's thread that starts something (spawn, crash,
// restart, release, ...) returns once what it started has run at the
// current instant (World::settle).
//
// Randomness and fault points: duet/random.hpp's draws on the world's
// worker and on the thread that built the world, and duet/buggify.hpp's
// fault points, come from generators the world's seed starts, so a seed
// replays a jittered back-off and the fault points that fired.
//
// Files: each host has a simulated disk (DiskConfig, duet/sim/config.hpp):
// fs::File opened in a task of host h names h's files, kept in memory,
// never the kernel's; a task of no host (spawned on the world's runtime
// without sim::spawn or World::spawn) has a disk of its own. A crash of h
// keeps the synced contents of h's files and draws for each write made
// since. The test's thread off the runtime still opens real files (no
// driver answers it there): it reads and sets up a host's files with
// read_file and write_file.
//
// One World at a time per process (it installs the virtual network for
// the process); a second throws std::logic_error. Its clock is its
// runtime's paused test clock, which a thread off the runtime reads with
// Clock::now() while no other test clock lives (duet/time/clock.hpp).
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "duet/net/address.hpp"
#include "duet/poll.hpp"
#include "duet/runtime.hpp"
#include "duet/sim/config.hpp"
#include "duet/stackful/fiber.hpp"
#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
#include "duet/stackless/task_local.hpp"
#include "duet/task_local.hpp"

namespace duet::sim {

class World;

/// A simulated machine: a name and its addresses, an IPv4 one, an IPv6
/// one or both (WorldConfig::ip_version: 10.0.0.N and fd00::N unless
/// given).
class DUET_API Host {
 public:
  Host() noexcept = default;
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  [[nodiscard]] const std::string& name() const;
  /// The world the host is in (a Host is a handle: it does not own it).
  [[nodiscard]] World& world() const noexcept { return const_cast<World&>(*world_); }
  /// This host's address with `port`: its IPv4 one, or its IPv6 one on a
  /// host with no IPv4 address.
  [[nodiscard]] net::SocketAddr addr(std::uint16_t port) const;
  /// This host's IPv4 address with `port`; throws std::logic_error on a
  /// host with none.
  [[nodiscard]] net::SocketAddr addr_v4(std::uint16_t port) const;
  /// This host's IPv6 address with `port`; throws std::logic_error on a
  /// host with none.
  [[nodiscard]] net::SocketAddr addr_v6(std::uint16_t port) const;
  friend bool operator==(const Host& a, const Host& b) noexcept {
    return a.world_ == b.world_ && a.id_ == b.id_;
  }

 private:
  friend class World;
  Host(const World* w, std::uint32_t id) noexcept : world_(w), id_(id) {}
  const World* world_ = nullptr;
  std::uint32_t id_ = 0;
};

namespace detail {

class Network;
class HostTasks;
class DrivenTime;
class WorldFaultPoints;

// A host's tasks (world.cpp, HostTasks): a spawn on host h first reserves
// a slot in h's list, in the spawner's order (the order a crash cancels
// in), then starts the task, and the slot is filled with the task by
// whichever comes first: the spawn's return, or the task's first run (a
// task spawned from the test's thread may run before its spawn returns).
// A crash of h before the slot is filled cancels the task at the fill.
// With no world installed these do nothing.

/// A slot in host `h`'s list (0: no world).
DUET_API std::uint64_t reserve_host_slot(std::uint32_t h);
/// Fills `slot` with task `t` (the world keeps a reference of its own on
/// it until it has completed); a filled slot stays as it is; a slot whose
/// host crashed meanwhile cancels `t`.
DUET_API void fill_host_slot(std::uint64_t slot, duet::detail::TaskHeader* t);
/// Gives back a slot whose spawn failed.
DUET_API void drop_host_slot(std::uint64_t slot) noexcept;

/// Spawns with `spawn(slot)` (a JoinHandle) as one of host `h`'s tasks.
template <class Spawn>
auto spawn_on_host(std::uint32_t h, Spawn spawn) {
  const std::uint64_t slot = reserve_host_slot(h);
  try {
    auto j = spawn(slot);
    duet::detail::TaskHeader* t = j.into_raw();
    decltype(j) back(t);
    fill_host_slot(slot, t);
    return back;
  } catch (...) {
    drop_host_slot(slot);
    throw;
  }
}

/// A task of a host: fills its slot at its first run, then runs `t`.
template <class T>
Task<T> host_entry(std::uint64_t slot, Task<T> t) {
  fill_host_slot(slot, duet::detail::current_task());
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
  } else {
    co_return co_await std::move(t);
  }
}

/// A poll future polled with a host's scope open (its first poll fills
/// its slot).
template <Future F>
class OnHost {
 public:
  OnHost(std::uint32_t host, std::uint64_t slot, F f)
      : host_(host), slot_(slot), f_(std::move(f)) {}
  auto poll(Context& cx) {
    if (slot_ != 0) fill_host_slot(std::exchange(slot_, 0), duet::detail::current_task());
    typename TaskLocal<std::uint32_t>::Scope s(host_key(), host_);
    return f_.poll(cx);
  }

 private:
  std::uint32_t host_;
  std::uint64_t slot_;
  F f_;
};

/// A fiber body run with a host's scope open (its start fills its slot).
template <class Fn>
auto on_host_fiber(std::uint32_t host, std::uint64_t slot, Fn fn) {
  return [host, slot, fn = std::move(fn)]() mutable {
    fill_host_slot(slot, duet::detail::current_task());
    return host_key().sync_scope(host, fn);
  };
}

}  // namespace detail

class DUET_API World {
 public:
  explicit World(WorldConfig cfg = {});
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  /// A host named `name` with the addresses of WorldConfig::ip_version:
  /// 10.0.0.N, fd00::N or both (N: 1 for the first host, and so on).
  Host add_host(std::string name);
  /// A host at `address` ("a.b.c.d" or an IPv6 address, "fd00::7"): its
  /// one address, or under IpVersion::dual the default of the other
  /// family beside it. Throws std::invalid_argument when it is malformed,
  /// a wildcard, a loopback, or taken.
  Host add_host(std::string name, std::string_view address);

  /// Both directions between `a` and `b`.
  void set_link(Host a, Host b, LinkConfig link);
  /// Nothing crosses between `a` and `b` until repair: connects retransmit
  /// their SYN and time out, data is retransmitted and the sender's
  /// connection times out when the retransmissions give up; a reset the
  /// kernel sends (it sends each once) is lost.
  void partition(Host a, Host b);
  /// Both directions again (a one-way partition included).
  void repair(Host a, Host b);
  /// One direction only: what `from` sends to `to` is lost (retransmitted,
  /// and timed out as above), what `to` sends to `from` crosses.
  void partition_one_way(Host from, Host to);
  /// Repairs the direction from `from` to `to` only (a partition the
  /// other way stays).
  void repair_one_way(Host from, Host to);
  /// Holds what `from` sends to `to`: data and closes on established
  /// connections, connects (SYNs and the SYN-ACKs back), and datagrams. It
  /// waits in order, with no retransmission counted (no connection times
  /// out for it; a connect's own timeout still runs), until
  /// release(from, to) sends it on at once. The kernel's own answers (a
  /// reset, a port unreachable) are not held: they cross.
  void hold(Host from, Host to);
  void release(Host from, Host to);
  /// The host's processes die and its kernel resets every connection (its
  /// peers get a reset after the link's latency, but a peer across a
  /// partition gets none and learns of the crash only when its next
  /// segment reaches the host after the repair; its own sockets fail with
  /// ECONNRESET, its listeners are gone); until restart it answers nothing
  /// and its sockets fail with ENETDOWN. Then every one of the host's tasks
  /// that has not ended is cancelled (its JoinHandle reports
  /// duet::Cancelled; a World::run of it throws duet::Cancelled), in the
  /// order they were started: a parked one is destroyed when the worker
  /// next runs it, the calling task itself at its next suspension. Its
  /// sockets are already reset, so their close sends nothing.
  void crash(Host h);
  /// Nothing crosses between `h` and the world's resolver until
  /// repair_resolver(h): each of h's duet::dns lookups loses every try and
  /// fails with std::errc::timed_out after c-ares's retry schedule.
  void partition_resolver(Host h);
  void repair_resolver(Host h);
  /// The resolver's process dies: until restart_resolver, each try that
  /// reaches it is refused after its round trip (the next sent at once),
  /// and a lookup with no try answered fails with duet::dns's
  /// ARES_ECONNREFUSED ("Could not contact DNS servers"), or timed_out if
  /// a try was lost.
  void crash_resolver();
  void restart_resolver();
  /// The host answers again (with nothing listening), then its boot
  /// function (on_boot), if any, runs as at on_boot.
  void restart(Host h);
  /// Keeps `boot` as host `h`'s boot function (replacing any before) and
  /// runs it now when `h` is up. It runs synchronously as `h` (sim::as_host)
  /// on the calling thread, the test's or a task's, and must not wait: it
  /// binds the host's listeners and starts its tasks with World::spawn.
  void on_boot(Host h, std::function<void()> boot);
  /// crash(h), then restart(h): the host's processes die and boot again
  /// at the same instant.
  void bounce(Host h);
  /// Whether h runs (false from its crash to its restart).
  [[nodiscard]] bool is_up(Host h) const;
  /// Every host, in the order they were added.
  [[nodiscard]] std::vector<Host> hosts() const;
  /// The host named `name`, if one is.
  [[nodiscard]] std::optional<Host> lookup(std::string_view name) const;

  /// From the test's thread: returns once every task has run what the
  /// current instant holds (the clock stands still meanwhile; see "Time
  /// and the test's thread" above). On the world's worker it does nothing.
  void settle();
  /// From the test's thread: moves the world's clock forward by `d`,
  /// running every task and delivery due on the way (Runtime::advance),
  /// then settles. Throws std::logic_error on the world's worker.
  void run_for(Duration d);
  /// The world's clock (its runtime's paused clock).
  [[nodiscard]] Instant now() const noexcept { return rt_->now(); }

  /// The world's runtime (one worker, the paused clock, the world's seed).
  Runtime& runtime() noexcept { return *rt_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return cfg_.seed; }

  /// Runs `t` on host `h` to its end (from the test's thread) and returns
  /// its result; one of h's tasks (a crash of h throws duet::Cancelled).
  template <class T>
  T run(Host h, Task<T> t) {
    return spawn(h, std::move(t)).join();
  }
  /// Runs fiber body `fn` on host `h` to its end.
  template <class Fn>
  auto run(Host h, Stackful s, Fn fn) {
    return spawn(h, s, std::move(fn)).join();
  }
  /// Runs poll future `f` on host `h` to its end.
  template <Future F>
  auto run(Host h, F f) {
    return spawn(h, std::move(f)).join();
  }

  /// The same, spawned (from the test's thread or a task): the JoinHandle.
  /// From the test's thread it returns once the task has run what the
  /// current instant holds (settle).
  template <class T>
  JoinHandle<T> spawn(Host h, Task<T> t) {
    auto j = detail::spawn_on_host(h.id(), [&](std::uint64_t slot) {
      return rt_->spawn(
          detail::host_entry(slot, local_scope(detail::host_key(), h.id(), std::move(t))));
    });
    settle();
    return j;
  }
  template <class Fn>
  auto spawn(Host h, Stackful s, Fn fn) {
    auto j = detail::spawn_on_host(h.id(), [&](std::uint64_t slot) {
      return rt_->spawn(s, detail::on_host_fiber(h.id(), slot, std::move(fn)));
    });
    settle();
    return j;
  }
  template <Future F>
  auto spawn(Host h, F f) {
    auto j = detail::spawn_on_host(h.id(), [&](std::uint64_t slot) {
      return rt_->spawn(detail::OnHost<F>(h.id(), slot, std::move(f)));
    });
    settle();
    return j;
  }

  /// FNV-1a 64 of the trace: every delivered segment and network event.
  [[nodiscard]] std::uint64_t trace_hash() const;
  [[nodiscard]] std::size_t trace_events() const;
  /// The trace's lines (WorldConfig::keep_trace; else empty).
  [[nodiscard]] std::vector<std::string> trace() const;
  /// "seed <seed> trace <hash> events <n>": what a run prints to be
  /// replayed. Read it from the test's thread between its waits, or in a
  /// task of the world: both are points the seed fixes.
  [[nodiscard]] std::string fingerprint() const;
  /// Virtual sockets whose descriptor is still open (a leak check).
  [[nodiscard]] std::size_t open_sockets() const;

  // ---- each host's simulated disk (DiskConfig; docs/simulation.md, "A
  // simulated disk"): the files fs::File opens in a task of a host ----
  /// The contents of file `path` on host `h` as its processes read them
  /// now, synced or not (a test's check); nullopt when there is no such
  /// file.
  [[nodiscard]] std::optional<std::string> read_file(Host h, std::string_view path) const;
  /// Makes file `path` on host `h` hold `contents`, durable at once, in
  /// place of any file of that name (a test's setup: what an earlier life
  /// of the host left on its disk). Descriptors open on the file it
  /// replaces keep that one.
  void write_file(Host h, std::string_view path, std::string_view contents);

 private:
  friend class Host;
  WorldConfig cfg_;
  std::unique_ptr<detail::Network> net_;
  std::unique_ptr<detail::HostTasks> tasks_;
  std::unique_ptr<Runtime> rt_;
  std::unique_ptr<detail::DrivenTime> time_;
  std::unique_ptr<detail::WorldFaultPoints> fault_points_;
};

/// Runs synchronous `fn` (no wait inside) as host `h`: a listener or a
/// socket made inside belongs to `h` (a test's setup of another host).
template <class Fn>
decltype(auto) as_host(Host h, Fn&& fn) {
  return detail::host_key().sync_scope(h.id(), std::forward<Fn>(fn));
}

/// From a task of the world: spawns a Task, a fiber (`sim::spawn(h,
/// duet::stackful, fn)`) or a poll future on host `h`, one of h's tasks
/// (World::crash cancels it): World::spawn on h's world, whose three
/// forms it takes. A plain duet::spawn makes a task of the spawner's own
/// host; this one names the host, another host's or none's (the test's
/// thread outside sim::as_host).
template <class... A>
auto spawn(Host h, A&&... a) {
  return h.world().spawn(h, std::forward<A>(a)...);
}

}  // namespace duet::sim
