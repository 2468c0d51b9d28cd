// world.cpp: sim::World: installs the simulated network (duet/io/detail/virtual_net.hpp)
// and builds the runtime that runs on it (one worker, the paused clock, the
// world's seed, IoDriver::sim), with the pump task that delivers the
// network's segments and events at their instants (network/pump.cpp); and
// the hosts' tasks (HostTasks), which a crash cancels, and their boot
// functions, which a restart runs again; HostTasks also sees every spawn
// of the world's runtime, so that a child of a host's task is the host's;
// and the world's look and setup of its hosts' simulated files.
#include "duet/sim/world.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "duet/detail/current.hpp"
#include "duet/detail/random.hpp"
#include "duet/detail/thread_local.hpp"
#include "duet/join_handle.hpp"

#include "duet/time/sleep.hpp"
#include "network/network.hpp"
#include "world/driven_time.hpp"
#include "world/fault_points.hpp"

namespace duet::sim {
namespace {

/// The stream of the world's seed that seeds the generator of the thread
/// that builds the world (duet/random.hpp).
constexpr std::uint64_t kBuilderStream = 0x7e57ull;

/// The pump: a poll future that sleeps on the wheel until the network's
/// next instant and delivers what is due; with nothing queued it waits for
/// the network to wake it. Detached; the runtime's shutdown cancels it.
class Pump {
 public:
  explicit Pump(detail::Network* n) : net_(n) {}
  Poll<void> poll(Context& cx) {
    for (;;) {
      std::optional<Instant> next = net_->pump(cx.waker());
      if (!next) return pending;  // the network wakes us when it queues
      if (!sleep_ || sleep_at_ != *next) {
        sleep_ = std::make_unique<Sleep>(*next);
        sleep_at_ = *next;
      }
      if (sleep_->poll(cx).is_pending()) return pending;
      sleep_.reset();  // due: deliver it on the next round
    }
  }

 private:
  detail::Network* net_;
  std::unique_ptr<Sleep> sleep_;  // a Sleep must not move once polled
  Instant sleep_at_{};
};

RuntimeConfig runtime_config(const WorldConfig& cfg) {
  RuntimeConfig rc;
  rc.workers = 1;
  rc.placement = Placement::none;
  rc.clock = ClockMode::paused;
  rc.seed = cfg.seed;
  rc.io_driver = IoDriver::sim;
  return rc;
}

}  // namespace

namespace detail {

namespace {
/// Set by reserve_host_slot on the spawning thread, for the one spawn that
/// follows it (a spawn with its host named: sim::spawn, World::spawn),
/// which the spawn observer then leaves alone; cleared by that observer,
/// or by the slot's fill or drop where the spawn went to no world.
DUET_TLS bool tl_named_spawn = false;
}  // namespace

/// The tasks started on each host that may not have ended yet, in the
/// order their spawns reserved their slots (world.hpp: a slot is reserved
/// before the spawn and filled with its task after), each with a task
/// reference of the world's own (so that a crash may cancel it whatever
/// its handle's fate); and each host's boot function.
///
/// A plain spawn (duet::spawn, a server's task per connection) from a task
/// that runs as a host (the host key's scope open) is seen by spawned(),
/// the world runtime's spawn observer: the child is listed as the host's at
/// once, with a scope of the host key opened for it (a ChildScope), so its
/// sockets are the host's, its own children are the host's too, and a
/// crash cancels it.
///
/// Invariants: slots are numbered from 1 in reservation order and the list
/// is sorted by them; a reference is dropped only outside the lock (the
/// last one frees the task), and a child's scope is closed with it, after
/// its task completed; entries whose task has completed are dropped
/// when the list has doubled since the last sweep, so the list stays
/// within twice the live tasks (plus a floor) and a host that serves many
/// short connections does not keep their tasks; a crash marks the entries
/// it cancels, which stay until they complete (a cancelled task may still
/// run to its next suspension, as its host); a slot a crash found unfilled
/// waits in `doomed_` for its fill, which cancels the task. Any thread may
/// call (the test's thread through World::spawn, the worker through
/// sim::spawn, a plain spawn and a task's first run).
class HostTasks final : public duet::detail::SpawnObserver {
 public:
  HostTasks() = default;
  HostTasks(const HostTasks&) = delete;
  HostTasks& operator=(const HostTasks&) = delete;

  std::uint64_t reserve(std::uint32_t host) {
    std::vector<Entry> done;  // unreferenced after the lock is let go
    std::lock_guard g(mu_);
    sweep(done);
    live_.push_back(Entry{next_slot_, host, TaskRef(), nullptr});
    return next_slot_++;
  }

  /// The spawn observer: a plain spawn's child of a task that runs as a
  /// host becomes the host's (above).
  void spawned(duet::detail::TaskHeader* child) noexcept override {
    if (std::exchange(tl_named_spawn, false)) return;
    const std::uint32_t* host = host_key().try_get();
    if (host == nullptr) return;  // the pump, or the test's thread
    auto scope = std::make_unique<HostScope>(host_key(), child, *host);
    std::vector<Entry> done;
    std::lock_guard g(mu_);
    sweep(done);
    live_.push_back(Entry{next_slot_++, *host, TaskRef(child), std::move(scope)});
  }

  void fill(std::uint64_t slot, duet::detail::TaskHeader* t) {
    bool doomed = false;
    {
      std::lock_guard g(mu_);
      auto it = std::lower_bound(live_.begin(), live_.end(), slot,
                                 [](const Entry& e, std::uint64_t s) { return e.slot < s; });
      if (it != live_.end() && it->slot == slot) {
        if (it->task.get() == nullptr) it->task = TaskRef(t);
        return;
      }
      doomed = doomed_.erase(slot) != 0;
    }
    if (doomed) duet::detail::cancel_task(t);
  }

  void drop(std::uint64_t slot) noexcept {
    std::lock_guard g(mu_);
    auto it = std::lower_bound(live_.begin(), live_.end(), slot,
                               [](const Entry& e, std::uint64_t s) { return e.slot < s; });
    if (it != live_.end() && it->slot == slot && it->task.get() == nullptr) live_.erase(it);
    doomed_.erase(slot);
  }

  /// Cancels every task of `host` that has not completed, in slot order;
  /// a later crash of the host does not cancel them again.
  void cancel(std::uint32_t host) {
    std::vector<Entry> unfilled;
    std::vector<TaskRef> doomed;
    {
      std::lock_guard g(mu_);
      take_if([host](const Entry& e) { return e.host == host && e.task.get() == nullptr; },
              unfilled);
      for (const Entry& e : unfilled) doomed_.insert(e.slot);
      for (Entry& e : live_) {
        if (e.host != host || e.cancelled) continue;
        e.cancelled = true;
        doomed.push_back(e.task.share());
      }
    }
    for (TaskRef& t : doomed) {
      if (!t.complete()) duet::detail::cancel_task(t.get());
    }
  }

  /// Drops every reference (the runtime has shut down: each task ended).
  void release() {
    std::vector<Entry> all;
    std::lock_guard g(mu_);
    all.swap(live_);
    doomed_.clear();
  }

  void set_boot(std::uint32_t host, std::function<void()> boot) {
    std::lock_guard g(mu_);
    boots_[host] = std::move(boot);
  }
  /// A copy of the host's boot function (empty: none), to run unlocked.
  std::function<void()> boot(std::uint32_t host) const {
    std::lock_guard g(mu_);
    auto it = boots_.find(host);
    return it != boots_.end() ? it->second : std::function<void()>{};
  }

 private:
  static constexpr std::size_t kSweepFloor = 64;

  using HostScope = TaskLocal<std::uint32_t>::ChildScope;

  /// One task reference (or none yet), dropped with it.
  class TaskRef {
   public:
    TaskRef() noexcept = default;
    /// Takes a reference of its own on `t`.
    explicit TaskRef(duet::detail::TaskHeader* t) noexcept : t_(t) { t_->ref(); }
    TaskRef(TaskRef&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
    TaskRef& operator=(TaskRef&& o) noexcept {
      if (this != &o) {
        reset();
        t_ = std::exchange(o.t_, nullptr);
      }
      return *this;
    }
    TaskRef(const TaskRef&) = delete;
    TaskRef& operator=(const TaskRef&) = delete;
    ~TaskRef() { reset(); }
    [[nodiscard]] duet::detail::TaskHeader* get() const noexcept { return t_; }
    [[nodiscard]] bool complete() const noexcept { return t_->load().is_complete(); }
    /// Another reference on the same task.
    [[nodiscard]] TaskRef share() const noexcept { return TaskRef(t_); }

   private:
    void reset() noexcept {
      if (t_ != nullptr) std::exchange(t_, nullptr)->unref();
    }
    duet::detail::TaskHeader* t_ = nullptr;
  };

  struct Entry {
    std::uint64_t slot;
    std::uint32_t host;
    TaskRef task;  // empty until the slot is filled
    // A plain spawn's child: the host key's scope opened for it. Declared
    // after `task`: closed before the reference goes.
    std::unique_ptr<HostScope> scope;
    bool cancelled = false;  // by a crash
  };

  /// When the list has doubled since the last sweep: moves the entries
  /// whose task completed into `done`. Under the lock.
  void sweep(std::vector<Entry>& done) {
    if (live_.size() < sweep_at_) return;
    take_if([](const Entry& e) { return e.task.get() != nullptr && e.task.complete(); }, done);
    sweep_at_ = std::max(kSweepFloor, 2 * live_.size());
  }

  /// Moves the entries that match `pred` into `out`, keeping the others'
  /// order. Under the lock.
  template <class Pred>
  void take_if(Pred pred, std::vector<Entry>& out) {
    std::vector<Entry> keep;
    keep.reserve(live_.size());
    for (Entry& e : live_) (pred(e) ? out : keep).push_back(std::move(e));
    live_.swap(keep);
  }

  mutable std::mutex mu_;
  std::vector<Entry> live_;
  std::set<std::uint64_t> doomed_;
  std::uint64_t next_slot_ = 1;
  std::size_t sweep_at_ = kSweepFloor;
  std::map<std::uint32_t, std::function<void()>> boots_;
};

namespace {
/// The installed world's tasks (one world per process), for sim::spawn.
std::atomic<HostTasks*> g_tasks{nullptr};
}  // namespace

std::uint64_t reserve_host_slot(std::uint32_t h) {
  HostTasks* ht = g_tasks.load(std::memory_order_acquire);
  if (ht == nullptr) return 0;
  const std::uint64_t slot = ht->reserve(h);
  tl_named_spawn = true;
  return slot;
}

void fill_host_slot(std::uint64_t slot, duet::detail::TaskHeader* t) {
  tl_named_spawn = false;
  if (slot == 0 || t == nullptr) return;
  if (HostTasks* ht = g_tasks.load(std::memory_order_acquire)) ht->fill(slot, t);
}

void drop_host_slot(std::uint64_t slot) noexcept {
  tl_named_spawn = false;
  if (slot == 0) return;
  if (HostTasks* ht = g_tasks.load(std::memory_order_acquire)) ht->drop(slot);
}

}  // namespace detail

const std::string& Host::name() const {
  return world_->net_->host_name(id_);
}

net::SocketAddr Host::addr(std::uint16_t port) const {
  return *world_->net_->host_addr(id_, port, AF_UNSPEC);  // a host has an address
}

net::SocketAddr Host::addr_v4(std::uint16_t port) const {
  auto a = world_->net_->host_addr(id_, port, AF_INET);
  if (!a) throw std::logic_error("duet::sim: host " + name() + " has no IPv4 address");
  return *a;
}

net::SocketAddr Host::addr_v6(std::uint16_t port) const {
  auto a = world_->net_->host_addr(id_, port, AF_INET6);
  if (!a) throw std::logic_error("duet::sim: host " + name() + " has no IPv6 address");
  return *a;
}

World::World(WorldConfig cfg)
    : cfg_(cfg),
      net_(std::make_unique<detail::Network>(cfg)),
      tasks_(std::make_unique<detail::HostTasks>()) {
  io::detail::install_virtual_net(net_.get());
  try {
    rt_ = std::make_unique<Runtime>(runtime_config(cfg_));
  } catch (...) {
    io::detail::install_virtual_net(nullptr);
    throw;
  }
  detail::g_tasks.store(tasks_.get(), std::memory_order_release);
  duet::detail::set_spawn_observer(duet::detail::scheduler_of(*rt_), tasks_.get());
  try {
    time_ = std::make_unique<detail::DrivenTime>(*rt_);
    fault_points_ =
        std::make_unique<detail::WorldFaultPoints>(cfg_.seed, cfg_.buggify_sites, *net_);
  } catch (...) {
    time_.reset();
    rt_->shutdown();
    duet::detail::set_spawn_observer(duet::detail::scheduler_of(*rt_), nullptr);
    detail::g_tasks.store(nullptr, std::memory_order_release);
    rt_.reset();
    io::detail::install_virtual_net(nullptr);
    throw;
  }
  duet::detail::seed_thread_random(duet::detail::mix_seed(cfg_.seed, kBuilderStream));
  net_->start_clock();
  rt_->spawn(Pump(net_.get())).detach();
  settle();
}

World::~World() {
  // The runtime shuts down first: cancelling its tasks closes their
  // sockets, which the network (still installed) answers. Then the
  // network lets go of the wakers it keeps, and the hosts' list its task
  // references, while their runtime is there.
  rt_->shutdown();
  fault_points_.reset();
  time_.reset();
  duet::detail::set_spawn_observer(duet::detail::scheduler_of(*rt_), nullptr);
  detail::g_tasks.store(nullptr, std::memory_order_release);
  net_->drop_wakers();
  tasks_->release();
  rt_.reset();
  io::detail::install_virtual_net(nullptr);
}

Host World::add_host(std::string name) {
  return Host(this, net_->add_host(std::move(name), std::nullopt));
}

Host World::add_host(std::string name, std::string_view address) {
  const std::string text(address);
  in_addr a4{};
  in6_addr a6{};
  std::optional<detail::Ip> ip;
  if (::inet_pton(AF_INET, text.c_str(), &a4) == 1) {
    ip = detail::Ip::v4(ntohl(a4.s_addr));
  } else if (::inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    detail::Ip x;
    std::memcpy(x.bytes.data(), &a6, sizeof a6);
    ip = x;
  } else {
    throw std::invalid_argument("duet::sim: not an IPv4 or IPv6 address: " + text);
  }
  return Host(this, net_->add_host(std::move(name), ip));
}

void World::set_link(Host a, Host b, LinkConfig link) {
  net_->set_link(a.id(), b.id(), link);
  settle();
}
void World::partition(Host a, Host b) {
  net_->set_partitioned(a.id(), b.id(), true);
  settle();
}
void World::repair(Host a, Host b) {
  net_->set_partitioned(a.id(), b.id(), false);
  settle();
}
void World::partition_one_way(Host from, Host to) {
  net_->partition_one_way(from.id(), to.id());
  settle();
}
void World::hold(Host from, Host to) {
  net_->set_held(from.id(), to.id(), true);
  settle();
}
void World::release(Host from, Host to) {
  net_->set_held(from.id(), to.id(), false);
  settle();
}
void World::partition_resolver(Host h) {
  net_->set_resolver_partitioned(h.id(), true);
  settle();
}
void World::repair_resolver(Host h) {
  net_->set_resolver_partitioned(h.id(), false);
  settle();
}
void World::crash_resolver() {
  net_->set_resolver_up(false);
  settle();
}
void World::restart_resolver() {
  net_->set_resolver_up(true);
  settle();
}
void World::crash(Host h) {
  // The kernel first: the tasks' sockets are reset before their cancelled
  // frames close them, so no close sends a FIN for a crashed host.
  net_->crash(h.id());
  tasks_->cancel(h.id());
  settle();
}
void World::restart(Host h) {
  net_->restart(h.id());
  if (std::function<void()> boot = tasks_->boot(h.id())) as_host(h, boot);
  settle();
}
void World::on_boot(Host h, std::function<void()> boot) {
  tasks_->set_boot(h.id(), boot);
  if (net_->host_up(h.id())) as_host(h, boot);
  settle();
}
void World::bounce(Host h) {
  crash(h);
  restart(h);
}
bool World::is_up(Host h) const {
  return net_->host_up(h.id());
}
std::vector<Host> World::hosts() const {
  std::vector<Host> out;
  const std::size_t n = net_->host_count();
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(Host(this, static_cast<std::uint32_t>(i)));
  }
  return out;
}
std::optional<Host> World::lookup(std::string_view name) const {
  const std::uint32_t h = net_->host_named(name);
  if (h == detail::kNoHost) return std::nullopt;
  return Host(this, h);
}
void World::repair_one_way(Host from, Host to) {
  net_->repair_one_way(from.id(), to.id());
  settle();
}

void World::settle() {
  time_->settle();
}
void World::run_for(Duration d) {
  rt_->advance(d);
  settle();
}

std::uint64_t World::trace_hash() const {
  return net_->trace_hash();
}
std::size_t World::trace_events() const {
  return net_->trace_events();
}
std::vector<std::string> World::trace() const {
  return net_->trace();
}
std::size_t World::open_sockets() const {
  return net_->open_sockets();
}

std::optional<std::string> World::read_file(Host h, std::string_view path) const {
  std::optional<std::vector<std::byte>> b = net_->file_contents(h.id(), path);
  if (!b) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(b->data()), b->size());
}

void World::write_file(Host h, std::string_view path, std::string_view contents) {
  const auto* p = reinterpret_cast<const std::byte*>(contents.data());
  net_->put_file(h.id(), path, std::vector<std::byte>(p, p + contents.size()));
}

std::string World::fingerprint() const {
  char b[96];
  std::snprintf(b, sizeof b, "seed %llu trace %016llx events %zu",
                static_cast<unsigned long long>(cfg_.seed),
                static_cast<unsigned long long>(trace_hash()), trace_events());
  return b;
}

}  // namespace duet::sim
