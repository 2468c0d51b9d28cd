// links.cpp: the link model (network.hpp): whether a transmission gets
// through (hosts up, no partition, the loss draw), a crossing's delay (its
// latency and jitter draw), and when a segment arrives after the link's
// queue (its bandwidth, FIFO per direction) and its late draw (reordering).
#include "network.hpp"

#include <algorithm>

namespace duet::sim::detail {

bool Network::transmits(std::uint32_t a, std::uint32_t b) {
  if (a == b) return topo_.hosts[a].up;  // a host's own loopback loses nothing
  if (!topo_.hosts[a].up || !topo_.hosts[b].up) return false;
  if (topo_.partitions.count({a, b}) != 0) return false;
  return !draws_.draw(topo_.link(a, b).loss);
}

bool Network::cut(std::uint32_t a, std::uint32_t b) const {
  return a != b && topo_.partitions.count({a, b}) != 0;
}

Duration Network::delay(std::uint32_t a, std::uint32_t b) {
  if (a == b) return Duration{0};
  return link_delay(topo_.link(a, b));
}

Duration Network::link_delay(const LinkConfig& l) {
  Duration d = l.latency;
  if (l.jitter.count() > 0) {
    d += Duration(
        static_cast<std::int64_t>(draws_.below(static_cast<std::uint64_t>(l.jitter.count()) + 1)));
  }
  return d;
}

Instant Network::arrival(const Socket& s, std::uint32_t to, std::size_t n) {
  const Instant now = Clock::now();
  if (to == kNoHost) return now;
  if (to == s.host) return now + delay(s.host, to);  // loopback: no link
  const Instant at = link_sent(s.host, to, n) + delay(s.host, to);
  // Late by up to one more trip: later segments of other connections
  // overtake it; its own connection's later ones wait for it (TCP's
  // order).
  return at + late_by(topo_.link(s.host, to), n, [&] { return conn_text(s); });
}

Instant Network::link_sent(std::uint32_t from, std::uint32_t to, std::size_t n) {
  const Instant now = Clock::now();
  const LinkConfig& l = topo_.link(from, to);
  if (l.bandwidth == 0) return now;
  // FIFO per direction: the segment is serialized after the link's
  // earlier ones, in ceil(n / bandwidth) seconds (exact in nanoseconds).
  __extension__ using Wide = unsigned __int128;  // n * 10^9 without overflow
  Instant& free_at = topo_.link_free[{from, to}];
  const Instant start = std::max(now, free_at);
  const auto ns = static_cast<std::int64_t>(
      (static_cast<Wide>(n) * 1'000'000'000u + l.bandwidth - 1) / l.bandwidth);
  free_at = start + Duration(ns);
  return free_at;
}

}  // namespace duet::sim::detail
