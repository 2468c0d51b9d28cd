#include "duet/net/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace duet::net {

SocketAddr::SocketAddr() noexcept : storage_{}, len_(0) {}

SocketAddr SocketAddr::v4(std::uint32_t ip, std::uint16_t port) noexcept {
  SocketAddr a;
  auto* s = reinterpret_cast<sockaddr_in*>(&a.storage_);
  s->sin_family = AF_INET;
  s->sin_port = htons(port);
  s->sin_addr.s_addr = htonl(ip);
  a.len_ = sizeof(sockaddr_in);
  return a;
}

SocketAddr SocketAddr::v4_loopback(std::uint16_t port) noexcept {
  return v4(INADDR_LOOPBACK, port);
}

SocketAddr SocketAddr::v4_any(std::uint16_t port) noexcept {
  return v4(INADDR_ANY, port);
}

SocketAddr SocketAddr::v6_loopback(std::uint16_t port) noexcept {
  SocketAddr a;
  auto* s = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  s->sin6_addr = in6addr_loopback;
  a.len_ = sizeof(sockaddr_in6);
  return a;
}

std::optional<SocketAddr> SocketAddr::parse(std::string_view s) noexcept {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = s.substr(0, colon), port_s = s.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (ec != std::errc{} || p != port_s.data() + port_s.size() || port > 65535) return std::nullopt;
  char buf[64];
  SocketAddr a;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = 0;
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1) return std::nullopt;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<std::uint16_t>(port));
    a.len_ = sizeof(sockaddr_in6);
    return a;
  }
  if (host.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = 0;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  if (inet_pton(AF_INET, buf, &s4->sin_addr) != 1) return std::nullopt;
  s4->sin_family = AF_INET;
  s4->sin_port = htons(static_cast<std::uint16_t>(port));
  a.len_ = sizeof(sockaddr_in);
  return a;
}

SocketAddr SocketAddr::from_raw(const sockaddr* sa, socklen_t len) noexcept {
  SocketAddr a;
  if (len > sizeof(a.storage_)) len = sizeof(a.storage_);
  std::memcpy(&a.storage_, sa, len);
  a.len_ = len;
  return a;
}

std::uint16_t SocketAddr::port() const noexcept {
  if (storage_.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (storage_.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

std::string SocketAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (storage_.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (storage_.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  return "?";
}

bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

}  // namespace duet::net
