// world.cpp: sim::World: installs the simulated network (io/virtual_net.hpp)
// and builds the runtime that runs on it (one worker, the paused clock, the
// world's seed, IoDriver::sim), with the pump task that delivers the
// network's segments and events at their instants (sim/network.hpp).
#include "duet/sim/world.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "duet/time/sleep.hpp"
#include "sim/network.hpp"

namespace duet::sim {
namespace {

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

const std::string& Host::name() const {
  return world_->net_->host_name(id_);
}

net::SocketAddr Host::addr(std::uint16_t port) const {
  return world_->net_->host_addr(id_, port);
}

World::World(WorldConfig cfg) : cfg_(cfg), net_(std::make_unique<detail::Network>(cfg)) {
  io::detail::install_virtual_net(net_.get());
  try {
    rt_ = std::make_unique<Runtime>(runtime_config(cfg_));
  } catch (...) {
    io::detail::install_virtual_net(nullptr);
    throw;
  }
  net_->start_clock();
  rt_->spawn(Pump(net_.get())).detach();
}

World::~World() {
  // The runtime shuts down first: cancelling its tasks closes their
  // sockets, which the network (still installed) answers. Then the
  // network lets go of the wakers it keeps, while their runtime is there.
  rt_->shutdown();
  net_->drop_wakers();
  rt_.reset();
  io::detail::install_virtual_net(nullptr);
}

Host World::add_host(std::string name) {
  return Host(this, net_->add_host(std::move(name), net_->next_default_ip()));
}

Host World::add_host(std::string name, std::string_view ipv4) {
  in_addr a{};
  const std::string s(ipv4);
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) {
    throw std::invalid_argument("duet::sim: not an IPv4 address: " + s);
  }
  return Host(this, net_->add_host(std::move(name), ntohl(a.s_addr)));
}

void World::set_link(Host a, Host b, LinkConfig link) {
  net_->set_link(a.id(), b.id(), link);
}
void World::partition(Host a, Host b) {
  net_->set_partitioned(a.id(), b.id(), true);
}
void World::repair(Host a, Host b) {
  net_->set_partitioned(a.id(), b.id(), false);
}
void World::partition_one_way(Host from, Host to) {
  net_->partition_one_way(from.id(), to.id());
}
void World::hold(Host from, Host to) {
  net_->set_held(from.id(), to.id(), true);
}
void World::release(Host from, Host to) {
  net_->set_held(from.id(), to.id(), false);
}
void World::crash(Host h) {
  net_->crash(h.id());
}
void World::restart(Host h) {
  net_->restart(h.id());
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

std::string World::fingerprint() const {
  char b[96];
  std::snprintf(b, sizeof b, "seed %llu trace %016llx events %zu",
                static_cast<unsigned long long>(cfg_.seed),
                static_cast<unsigned long long>(trace_hash()), trace_events());
  return b;
}

}  // namespace duet::sim
