// ip.cpp: the simulated network's addresses (ip.hpp) to and from socket
// addresses, and as the trace writes them.
#include "ip.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace duet::sim::detail {

Ip ip_of(const net::SocketAddr& a) noexcept {
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.raw());
    return Ip::v4(ntohl(in->sin_addr.s_addr));
  }
  if (a.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.raw());
    Ip ip;
    std::memcpy(ip.bytes.data(), &in6->sin6_addr, sizeof in6->sin6_addr);
    return ip;
  }
  return Ip::any4();
}

net::SocketAddr socket_addr(const Ip& ip, std::uint16_t port, int family) noexcept {
  if (family == AF_INET) return net::SocketAddr::v4(ip.v4_bits(), port);
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  std::memcpy(&in6.sin6_addr, ip.bytes.data(), sizeof in6.sin6_addr);
  return net::SocketAddr::from_raw(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
}

std::string ip_text(const Ip& ip) {
  char b[INET6_ADDRSTRLEN];
  if (ip.is_v4()) {
    in_addr a{};
    a.s_addr = htonl(ip.v4_bits());
    ::inet_ntop(AF_INET, &a, b, sizeof b);
  } else {
    ::inet_ntop(AF_INET6, ip.bytes.data(), b, sizeof b);
  }
  return b;
}

std::string addr_text(const Ip& ip, std::uint16_t port) {
  const std::string p = std::to_string(port);
  return ip.is_v4() ? ip_text(ip) + ":" + p : "[" + ip_text(ip) + "]:" + p;
}

}  // namespace duet::sim::detail
