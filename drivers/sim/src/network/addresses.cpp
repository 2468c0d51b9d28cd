// addresses.cpp: the simulated kernel's addresses and ports (network.hpp),
// as Linux has them:
//   - Loopback: a loopback address (127.0.0.0/8) names the sending host
//     itself and never leaves it. A socket bound to one is reached from its
//     own host only (another host's 127.0.0.1 is that host's own), cannot
//     send off its host (EINVAL), and a connection or a datagram over the
//     loopback carries 127.0.0.1 at both ends. A socket bound to every
//     address (INADDR_ANY) sends from 127.0.0.1 over the loopback and from
//     its host's address to the others.
//   - Ports: each host has its own, per protocol, each held on a local
//     address (ports.hpp). A bind to a port in use on an overlapping
//     address is EADDRINUSE. A connect, a bind to port 0 and a datagram
//     socket's first send take an ephemeral port of
//     WorldConfig::ephemeral_ports: the first free one from where the last
//     search ended, wrapping at the range's end, so ports go round the
//     range and a freed one is taken again on the next round. With every
//     port of the range in use, a connect fails with EADDRNOTAVAIL, a bind
//     with EADDRINUSE and a datagram socket's first send or connect with
//     EAGAIN (Linux's three answers). A port is held from its bind (or its
//     ephemeral choice) until its descriptor is closed or its host
//     crashes: there is no TIME_WAIT, and an accepted connection holds no
//     port of its own (its listener does).
#include "network.hpp"

#include <netinet/in.h>

#include <cerrno>

namespace duet::sim::detail {

std::uint32_t Network::host_for(std::uint32_t from, std::uint32_t ip) const {
  return is_loopback(ip) ? from : topo_.host_by_ip(ip);
}

std::uint32_t Network::source_ip(std::uint32_t h, std::uint32_t to_ip) const {
  return is_loopback(to_ip) ? INADDR_LOOPBACK : topo_.hosts[h].ip;
}

PortTable& Network::ports_of(std::uint32_t h, bool udp) {
  return udp ? topo_.hosts[h].udp_ports : topo_.hosts[h].tcp_ports;
}

std::uint16_t Network::ephemeral_port(std::uint32_t h, bool udp, std::uint32_t ip) {
  const PortRange r = cfg_.ephemeral_ports;
  const PortTable& t = ports_of(h, udp);
  std::uint16_t& next = topo_.hosts[h].next_port;
  std::uint32_t p = next < r.first || next > r.last ? r.first : next;
  for (std::uint32_t i = 0; i <= static_cast<std::uint32_t>(r.last - r.first); ++i) {
    if (t.free(static_cast<std::uint16_t>(p), ip)) {
      next = static_cast<std::uint16_t>(p == r.last ? r.first : p + 1);
      return static_cast<std::uint16_t>(p);
    }
    p = p == r.last ? r.first : p + 1;
  }
  return 0;  // every port of the range in use
}

void Network::hold_port(Socket& s, int fd, std::uint32_t ip, std::uint16_t port) {
  ports_of(s.host, s.udp).hold(port, ip, fd);
  s.holds_port = true;
  s.bind_ip = ip;
  s.local_port = port;
}

void Network::release_port(Socket& s, int fd) {
  if (!s.holds_port) return;
  ports_of(s.host, s.udp).release(s.local_port, fd);
  s.holds_port = false;
}

int Network::autobind_dgram(Socket& s, int fd) {
  if (s.state != State::fresh) return 0;
  const std::uint16_t port = ephemeral_port(s.host, true, INADDR_ANY);
  if (port == 0) return -EAGAIN;
  hold_port(s, fd, INADDR_ANY, port);
  s.local_ip = topo_.hosts[s.host].ip;
  s.state = State::bound;
  return 0;
}

}  // namespace duet::sim::detail
