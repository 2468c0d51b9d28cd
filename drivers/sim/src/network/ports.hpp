// ports.hpp: a simulated host's ports in use for one protocol (TCP's and
// UDP's are apart, as the kernel's are), as data: each port held, with
// what it is bound to (ip.hpp's Bound: an address, or a wildcard of one
// family or of both) and the descriptor that holds it. A port is free for
// a binding when no holder's binding overlaps it (ip.hpp: an address and
// a wildcard that covers it, or two wildcards of a family). The network
// (addresses.cpp) takes ports from it for binds and ephemeral ports, finds
// a listener or a datagram's receiver through it, and gives a port back at
// its socket's close or its host's crash.
#pragma once

#include <cstdint>
#include <map>

#include "ip.hpp"

namespace duet::sim::detail {

class PortTable {
 public:
  struct Holder {
    Bound bound;
    int fd = -1;
  };

  /// Whether `port` is free for a socket bound to `b`.
  [[nodiscard]] bool free(std::uint16_t port, const Bound& b) const {
    auto [first, last] = held_.equal_range(port);
    for (auto it = first; it != last; ++it) {
      if (overlaps(it->second.bound, b)) return false;
    }
    return true;
  }
  void hold(std::uint16_t port, const Bound& b, int fd) { held_.emplace(port, Holder{b, fd}); }
  /// Gives back `fd`'s hold on `port`.
  void release(std::uint16_t port, int fd) {
    auto [b, e] = held_.equal_range(port);
    for (auto it = b; it != e; ++it) {
      if (it->second.fd == fd) {
        held_.erase(it);
        return;
      }
    }
  }
  /// The lowest descriptor holding `port` with a binding that covers
  /// traffic to `to` (ip.hpp) for which `ok(fd)` holds; -1 when none.
  template <class Ok>
  [[nodiscard]] int holder_for(std::uint16_t port, const Ip& to, Ok ok) const {
    int best = -1;
    auto [b, e] = held_.equal_range(port);
    for (auto it = b; it != e; ++it) {
      const Holder& h = it->second;
      if (covers(h.bound, to) && (best < 0 || h.fd < best) && ok(h.fd)) best = h.fd;
    }
    return best;
  }
  void clear() { held_.clear(); }

 private:
  std::multimap<std::uint16_t, Holder> held_;
};

}  // namespace duet::sim::detail
