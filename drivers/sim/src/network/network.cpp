// network.cpp: the simulated network's construction, its seeded draws,
// the socket table's look-up, and what the world reads of it (open
// sockets, dropping every waker at the end); network.hpp says what the
// other files of this folder hold.
#include "network.hpp"

namespace duet::sim::detail {

Network::Network(const WorldConfig& cfg) : cfg_(cfg), rng_(cfg.seed) {}

Network::~Network() = default;

bool Network::draw(double p) {
  if (p <= 0.0) return false;
  // The top 53 bits as a double in [0, 1): mt19937_64's output is fixed by
  // the standard, and this mapping is ours, so a seed draws the same on
  // every standard library (<random>'s distributions are each library's).
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p;
}

std::uint64_t Network::below(std::uint64_t n) {
  // A draw in [0, n) by the remainder: its bias (at most n / 2^64) is far
  // below anything a test observes, and like draw() it is the same on
  // every standard library.
  return rng_() % n;
}

Network::Socket* Network::find(int fd) noexcept {
  auto it = sockets_.find(fd);
  return it != sockets_.end() ? &it->second : nullptr;
}

std::size_t Network::open_sockets() const {
  std::lock_guard g(mu_);
  std::size_t n = 0;
  for (const auto& [fd, s] : sockets_) n += s.fd_open && s.accepted ? 1 : 0;
  return n;
}

void Network::drop_wakers() noexcept {
  WakeList dropped;  // dropped after the lock is let go
  {
    std::lock_guard g(mu_);
    take(dropped, pump_waker_);
    for (auto& [fd, s] : sockets_) {
      take(dropped, s.reader);
      take(dropped, s.writer);
      for (Waker& a : s.acceptors) take(dropped, a);
      s.acceptors.clear();
    }
  }
}

}  // namespace duet::sim::detail
