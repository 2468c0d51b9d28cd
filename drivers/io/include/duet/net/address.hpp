// duet/net/address.hpp: a socket address (IPv4 or IPv6, with port).
//
// Example (fiber):
//   auto a = duet::net::SocketAddr::parse("127.0.0.1:8080");   // optional
//   auto b = duet::net::SocketAddr::v4_loopback(0);            // port 0: any
#pragma once

#include "duet/export.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duet::net {

class SocketAddr;
/// Same family, address and port (the friend below; declared here first,
/// where the export attribute can apply).
DUET_API bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept;

class DUET_API SocketAddr {
 public:
  SocketAddr() noexcept;
  /// 127.0.0.1:port.
  static SocketAddr v4_loopback(std::uint16_t port) noexcept;
  /// 0.0.0.0:port.
  static SocketAddr v4_any(std::uint16_t port) noexcept;
  /// An IPv4 address, `ip` in host byte order (0x7f000001: 127.0.0.1).
  static SocketAddr v4(std::uint32_t ip, std::uint16_t port) noexcept;
  /// [::1]:port.
  static SocketAddr v6_loopback(std::uint16_t port) noexcept;
  /// "a.b.c.d:port" or "[v6]:port"; nullopt when malformed.
  static std::optional<SocketAddr> parse(std::string_view s) noexcept;
  /// From raw storage (as accept or recvfrom fill it).
  static SocketAddr from_raw(const sockaddr* sa, socklen_t len) noexcept;

  [[nodiscard]] std::uint16_t port() const noexcept;
  [[nodiscard]] int family() const noexcept { return storage_.ss_family; }
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] const sockaddr* raw() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  [[nodiscard]] sockaddr* raw() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  [[nodiscard]] socklen_t len() const noexcept { return len_; }
  void set_len(socklen_t l) noexcept { len_ = l; }
  friend bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t len_;
};

}  // namespace duet::net
