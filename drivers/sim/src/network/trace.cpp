// trace.cpp: the network's trace (network.hpp): one line per delivery,
// fault and control, stamped with its offset from the clock's start and
// folded into a running hash (a seed's fingerprint); the lines themselves
// kept only when the world asks (WorldConfig::keep_trace).
#include "network.hpp"

#include <cstdio>
#include <string>

namespace duet::sim::detail {

void Network::trace(std::string line) {
  const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_).count();
  line = std::to_string(t) + " " + line;
  trace_hash_ = fnv1a(line.data(), line.size(), trace_hash_);
  trace_hash_ = fnv1a("\n", 1, trace_hash_);
  ++trace_events_;
  if (cfg_.keep_trace) trace_.push_back(std::move(line));
}

std::string Network::addr_text(std::uint32_t ip, std::uint16_t port) const {
  char b[32];
  std::snprintf(b, sizeof b, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
                ip & 255, port);
  return b;
}

std::string Network::conn_text(const Socket& s) const {
  return addr_text(s.local_ip, s.local_port) + ">" + addr_text(s.peer_ip, s.peer_port);
}

std::uint64_t Network::trace_hash() const {
  std::lock_guard g(mu_);
  return trace_hash_;
}

std::size_t Network::trace_events() const {
  std::lock_guard g(mu_);
  return trace_events_;
}

std::vector<std::string> Network::trace() const {
  std::lock_guard g(mu_);
  return trace_;
}

}  // namespace duet::sim::detail
