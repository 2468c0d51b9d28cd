// ports.hpp: a simulated host's ports in use for one protocol (TCP's and
// UDP's are apart, as the kernel's are), as data: each port held, with
// the local address it is held on (INADDR_ANY: every address of the host)
// and the descriptor that holds it. A port is free for an address when no
// holder's address overlaps it (the same address, or either one
// INADDR_ANY). The network (addresses.cpp) takes ports from it for binds
// and ephemeral ports, finds a listener or a datagram's receiver through
// it, and gives a port back at its socket's close or its host's crash.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <map>

namespace duet::sim::detail {

class PortTable {
 public:
  struct Holder {
    std::uint32_t ip = INADDR_ANY;  // host order
    int fd = -1;
  };

  /// Whether `port` is free on address `ip` (INADDR_ANY: on every one).
  [[nodiscard]] bool free(std::uint16_t port, std::uint32_t ip) const {
    auto [b, e] = held_.equal_range(port);
    for (auto it = b; it != e; ++it) {
      if (it->second.ip == INADDR_ANY || ip == INADDR_ANY || it->second.ip == ip) return false;
    }
    return true;
  }
  void hold(std::uint16_t port, std::uint32_t ip, int fd) { held_.emplace(port, Holder{ip, fd}); }
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
  /// The lowest descriptor holding `port` on an address that takes `ip`
  /// (its own, or INADDR_ANY) for which `ok(fd)` holds; -1 when none.
  template <class Ok>
  [[nodiscard]] int holder_for(std::uint16_t port, std::uint32_t ip, Ok ok) const {
    int best = -1;
    auto [b, e] = held_.equal_range(port);
    for (auto it = b; it != e; ++it) {
      const Holder& h = it->second;
      if ((h.ip == INADDR_ANY || h.ip == ip) && (best < 0 || h.fd < best) && ok(h.fd)) best = h.fd;
    }
    return best;
  }
  void clear() { held_.clear(); }

 private:
  std::multimap<std::uint16_t, Holder> held_;
};

}  // namespace duet::sim::detail
