// network.cpp: the simulated network's construction, the socket table's
// look-up, what the world reads of it (open sockets, the trace, dropping
// every waker at the end), and the seeded bytes and clock it lends a
// library (VirtualNet::seeded_bytes, elapsed); network.hpp says what the other files
// of this folder hold.
#include "network.hpp"

#include <cerrno>
#include <stdexcept>

namespace duet::sim::detail {

Network::Network(const WorldConfig& cfg)
    : cfg_(cfg),
      draws_(cfg.seed),
      seeded_(cfg.seed),
      topo_(cfg.link),
      trace_(cfg.keep_trace),
      disk_(cfg.disk, draws_, trace_) {
  if (cfg.ephemeral_ports.first == 0 || cfg.ephemeral_ports.first > cfg.ephemeral_ports.last) {
    throw std::invalid_argument("duet::sim: the ephemeral ports need 0 < first <= last");
  }
}

Network::~Network() = default;

void Network::seeded_bytes(std::span<unsigned char> out) noexcept {
  std::lock_guard g(mu_);
  seeded_.fill(out);
}

std::chrono::nanoseconds Network::elapsed() const noexcept {
  std::lock_guard g(mu_);
  return Clock::now() - trace_.started();
}

Socket* Network::find(int fd) noexcept {
  auto it = sockets_.find(fd);
  return it != sockets_.end() ? &it->second : nullptr;
}

std::uint64_t Network::trace_hash() const {
  std::lock_guard g(mu_);
  return trace_.hash();
}

std::size_t Network::trace_events() const {
  std::lock_guard g(mu_);
  return trace_.events();
}

std::vector<std::string> Network::trace() const {
  std::lock_guard g(mu_);
  return trace_.lines();
}

std::size_t Network::open_sockets() const {
  std::lock_guard g(mu_);
  std::size_t n = 0;
  for (const auto& [fd, s] : sockets_) n += s.fd_open && s.tcp.accepted ? 1 : 0;
  return n;
}

void Network::drop_wakers() noexcept {
  WakeList dropped;  // dropped after the lock is let go
  std::vector<DiskOp> in_flight;
  {
    std::lock_guard g(mu_);
    for (auto& [id, d] : disk_ops_) in_flight.push_back(d);
    disk_ops_.clear();
    take(dropped, pump_waker_);
    for (auto& [fd, s] : sockets_) {
      take(dropped, s.reader);
      take(dropped, s.writer);
      for (Waker& a : s.tcp.acceptors) take(dropped, a);
      s.tcp.acceptors.clear();
    }
  }
  // A disk operation still in flight completes cancelled, its waker
  // dropped unwoken: its task's runtime has shut down.
  for (DiskOp& d : in_flight) {
    d.op->lock.lock();
    dropped.push_back(std::move(d.op->waker));
    d.op->waker = Waker{};
    d.op->lock.unlock();
    d.result = -ECANCELED;
  }
  complete(in_flight);
}

}  // namespace duet::sim::detail
