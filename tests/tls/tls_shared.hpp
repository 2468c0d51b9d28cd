// tls_shared.hpp: what tls_scenarios.inc needs from the file that includes
// it (namespace shared): what one side of a connection observed, the
// pattern of the bytes sent, and an error's text. tests/tls and tests/sim
// both run the scenarios.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace shared {
/// What one side of a connection observed.
struct Seen {
  std::string alpn, sni, version;
  bool reused = false;
  std::uint32_t handshake_sends = 0;
  std::error_code error;
};
inline std::byte pattern(std::size_t i) {
  return static_cast<std::byte>((i * 7 + 3) % 251);
}
inline std::string err(const char* what, std::error_code e) {
  return std::string(what) + ": " + e.message();
}
}  // namespace shared
