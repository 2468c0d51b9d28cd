// ip.hpp: an address in the simulated network, of either family, as a
// dual-stack kernel holds it: sixteen bytes in network order, an IPv4
// address IPv4-mapped (::ffff:a.b.c.d), so that one value names a host's
// IPv4 or IPv6 address, a wildcard or a loopback, and an IPv6 socket's
// view of an IPv4 peer is the same value as an IPv4 socket's. What a
// socket is bound to (Bound: an address, and for an IPv6 wildcard whether
// it takes IPv4 too) and which traffic a binding takes (covers) or shares
// a port with (overlaps) follow Linux's rules with net.ipv6.bindv6only=0.
// Conversions to and from net::SocketAddr, and the trace's text (ip.cpp).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>

#include "duet/net/address.hpp"

namespace duet::sim::detail {

struct Ip {
  std::array<std::uint8_t, 16> bytes{};

  /// `host_order`, IPv4-mapped.
  [[nodiscard]] static constexpr Ip v4(std::uint32_t host_order) noexcept {
    Ip ip;
    ip.bytes[10] = 0xff;
    ip.bytes[11] = 0xff;
    for (int k = 0; k < 4; ++k) {
      ip.bytes[12 + k] = static_cast<std::uint8_t>(host_order >> (24 - 8 * k));
    }
    return ip;
  }
  /// The IPv6 address whose low 64 bits are `low` under the 64-bit prefix
  /// `high` (both in host order).
  [[nodiscard]] static constexpr Ip v6(std::uint64_t high, std::uint64_t low) noexcept {
    Ip ip;
    for (int k = 0; k < 8; ++k) {
      ip.bytes[k] = static_cast<std::uint8_t>(high >> (56 - 8 * k));
      ip.bytes[8 + k] = static_cast<std::uint8_t>(low >> (56 - 8 * k));
    }
    return ip;
  }
  /// 0.0.0.0 (INADDR_ANY), IPv4-mapped.
  [[nodiscard]] static constexpr Ip any4() noexcept { return v4(0); }
  /// :: (in6addr_any).
  [[nodiscard]] static constexpr Ip any6() noexcept { return Ip{}; }
  /// ::1.
  [[nodiscard]] static constexpr Ip loopback6() noexcept { return v6(0, 1); }

  /// Whether it is an IPv4 address (held IPv4-mapped).
  [[nodiscard]] constexpr bool is_v4() const noexcept {
    for (int k = 0; k < 10; ++k) {
      if (bytes[k] != 0) return false;
    }
    return bytes[10] == 0xff && bytes[11] == 0xff;
  }
  /// The IPv4 address, in host order (is_v4() holds).
  [[nodiscard]] constexpr std::uint32_t v4_bits() const noexcept {
    return (std::uint32_t{bytes[12]} << 24) | (std::uint32_t{bytes[13]} << 16) |
           (std::uint32_t{bytes[14]} << 8) | bytes[15];
  }
  /// A wildcard: 0.0.0.0 or ::.
  [[nodiscard]] constexpr bool is_any() const noexcept {
    return *this == any4() || *this == any6();
  }
  /// A loopback address, the sending host's own: 127.0.0.0/8 or ::1.
  [[nodiscard]] constexpr bool is_loopback() const noexcept {
    return (is_v4() && (v4_bits() >> 24) == 127) || *this == loopback6();
  }

  friend constexpr auto operator<=>(const Ip&, const Ip&) = default;
};

/// What a socket is bound to: an address (a wildcard: every address of
/// its host of the wildcard's family), and, for the IPv6 wildcard, whether
/// it takes IPv6 only (IPV6_V6ONLY) or IPv4 too.
struct Bound {
  Ip ip = Ip::any4();
  bool v6only = false;
};

/// Whether a socket bound to `b` takes traffic sent to `to`: its own
/// address; under 0.0.0.0 every IPv4 address; under :: every IPv6 one, and
/// every IPv4 one unless v6only.
[[nodiscard]] constexpr bool covers(const Bound& b, const Ip& to) noexcept {
  if (b.ip == to) return true;
  if (b.ip == Ip::any4()) return to.is_v4();
  if (b.ip == Ip::any6()) return !to.is_v4() || !b.v6only;
  return false;
}

/// Whether two bindings of one port on one host conflict (EADDRINUSE):
/// an address and a wildcard that covers it, or two wildcards that share
/// a family (0.0.0.0 and :: unless the latter is v6only).
[[nodiscard]] constexpr bool overlaps(const Bound& a, const Bound& b) noexcept {
  if (!a.ip.is_any()) return covers(b, a.ip);
  if (!b.ip.is_any()) return covers(a, b.ip);
  const auto v4_of = [](const Bound& x) { return x.ip == Ip::any4() || !x.v6only; };
  const auto v6_of = [](const Bound& x) { return x.ip == Ip::any6(); };
  return (v4_of(a) && v4_of(b)) || (v6_of(a) && v6_of(b));
}

/// A socket address's address (an IPv4 one mapped); any4() for one of
/// another family.
[[nodiscard]] Ip ip_of(const net::SocketAddr& a) noexcept;
/// `ip` and `port` as a socket of `family` names them: AF_INET (ip is
/// IPv4), or AF_INET6 (an IPv4 address IPv4-mapped).
[[nodiscard]] net::SocketAddr socket_addr(const Ip& ip, std::uint16_t port, int family) noexcept;
/// The trace's text: "a.b.c.d:port" or "[v6]:port".
[[nodiscard]] std::string addr_text(const Ip& ip, std::uint16_t port);
/// The address alone: "a.b.c.d" or "v6" (inet_ntop's forms).
[[nodiscard]] std::string ip_text(const Ip& ip);

}  // namespace duet::sim::detail
