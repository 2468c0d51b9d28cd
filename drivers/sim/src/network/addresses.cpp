// addresses.cpp: the simulated kernel's addresses and ports (network.hpp),
// as Linux has them:
//   - Families: a host has an IPv4 address, an IPv6 one or both
//     (WorldConfig::ip_version). An IPv4 socket names and reaches IPv4
//     addresses only; an IPv6 socket names IPv6 ones, and IPv4 ones
//     IPv4-mapped (::ffff:a.b.c.d) unless IPV6_V6ONLY is set when it binds
//     (then an IPv4 destination is ENETUNREACH, and :: takes no IPv4
//     traffic). A send or connect to a family its host has no address of
//     is ENETUNREACH.
//   - Loopback: a loopback address (127.0.0.0/8, ::1) names the sending
//     host itself and never leaves it. A socket bound to one is reached
//     from its own host only (another host's 127.0.0.1 is that host's
//     own), cannot send off its host (EINVAL), and a connection or a
//     datagram over the loopback carries the loopback address of its
//     family at both ends. A socket bound to a wildcard (0.0.0.0, ::) sends
//     from the loopback over the loopback and from its host's address of
//     the destination's family to the others.
//   - Ports: each host has its own, per protocol, each held by a binding
//     (ports.hpp, ip.hpp: 0.0.0.0 and :: share a port unless the latter is
//     IPv6-only). A bind to a port in use on an overlapping binding is
//     EADDRINUSE. A connect, a bind to port 0 and a datagram socket's first
//     send take an ephemeral port of WorldConfig::ephemeral_ports: the
//     first free one from where the last search ended, wrapping at the
//     range's end, so ports go round the range and a freed one is taken
//     again on the next round. With every port of the range in use, a
//     connect fails with EADDRNOTAVAIL, a bind with EADDRINUSE and a
//     datagram socket's first send or connect with EAGAIN (Linux's three
//     answers). A port is held from its bind (or its ephemeral choice)
//     until its descriptor is closed or its host crashes: there is no
//     TIME_WAIT, and an accepted connection holds no port of its own (its
//     listener does).
#include "network.hpp"

#include <netinet/in.h>

#include <cerrno>

namespace duet::sim::detail {

std::uint32_t Network::host_for(std::uint32_t from, const Ip& ip) const {
  return ip.is_loopback() ? from : topo_.host_by_ip(ip);
}

std::optional<Ip> Network::source_ip(std::uint32_t h, const Ip& to) const {
  if (to.is_loopback()) return to.is_v4() ? Ip::v4(INADDR_LOOPBACK) : Ip::loopback6();
  return to.is_v4() ? topo_.hosts[h].v4 : topo_.hosts[h].v6;
}

Ip Network::wildcard_local(std::uint32_t h, int family) const {
  const Host& x = topo_.hosts[h];
  if (family == AF_INET6 && x.v6) return *x.v6;
  if (x.v4) return *x.v4;
  return family == AF_INET6 ? Ip::any6() : Ip::any4();  // no address of the family
}

int Network::reach(const Socket& s, const net::SocketAddr& addr, Ip& to) const {
  const int f = addr.family();
  if (s.family == AF_INET && f != AF_INET) return -EAFNOSUPPORT;
  if (s.family == AF_INET6 && f != AF_INET6 && !(s.udp && f == AF_INET)) return -EAFNOSUPPORT;
  to = ip_of(addr);
  if (s.family == AF_INET6 && to.is_v4() && v6only(s)) return -ENETUNREACH;
  return 0;
}

PortTable& Network::ports_of(std::uint32_t h, bool udp) {
  return udp ? topo_.hosts[h].udp_ports : topo_.hosts[h].tcp_ports;
}

std::uint16_t Network::ephemeral_port(std::uint32_t h, bool udp, const Bound& b) {
  const PortRange r = cfg_.ephemeral_ports;
  const PortTable& t = ports_of(h, udp);
  std::uint16_t& next = topo_.hosts[h].next_port;
  std::uint32_t p = next < r.first || next > r.last ? r.first : next;
  for (std::uint32_t i = 0; i <= static_cast<std::uint32_t>(r.last - r.first); ++i) {
    if (t.free(static_cast<std::uint16_t>(p), b)) {
      next = static_cast<std::uint16_t>(p == r.last ? r.first : p + 1);
      return static_cast<std::uint16_t>(p);
    }
    p = p == r.last ? r.first : p + 1;
  }
  return 0;  // every port of the range in use
}

void Network::hold_port(Socket& s, int fd, const Bound& b, std::uint16_t port) {
  ports_of(s.host, s.udp).hold(port, b, fd);
  s.holds_port = true;
  s.bound = b;
  s.local_port = port;
}

void Network::release_port(Socket& s, int fd) {
  if (!s.holds_port) return;
  ports_of(s.host, s.udp).release(s.local_port, fd);
  s.holds_port = false;
}

int Network::autobind_dgram(Socket& s, int fd) {
  if (s.state != State::fresh) return 0;
  const Bound b = wildcard(s);
  const std::uint16_t port = ephemeral_port(s.host, true, b);
  if (port == 0) return -EAGAIN;
  hold_port(s, fd, b, port);
  s.local_ip = wildcard_local(s.host, s.family);
  s.state = State::bound;
  return 0;
}

Bound Network::wildcard(const Socket& s) const {
  if (s.family == AF_INET) return Bound{Ip::any4(), false};
  return Bound{Ip::any6(), v6only(s)};
}

bool Network::v6only(const Socket& s) const {
  auto it = s.options.find({IPPROTO_IPV6, IPV6_V6ONLY});
  return it != s.options.end() && it->second != 0;
}

}  // namespace duet::sim::detail
