// h2_common.hpp (private): what the server's HTTP/2 (h2_session.cpp) and
// the client's (h2_client.cpp) share over nghttp2: the HTTP/1.1 fields an
// HTTP/2 message does not carry (RFC 9113 section 8.2.2), and a session's
// frames sent into a buffer.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace duet::http::detail {

/// Whether `name` (any case) is one of `lower` (lower-case names).
inline bool names_one_of(std::string_view name, std::initializer_list<std::string_view> lower) {
  return std::any_of(lower.begin(), lower.end(), [name](std::string_view w) {
    return name.size() == w.size() &&
           std::equal(name.begin(), name.end(), w.begin(), [](char a, char b) {
             return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
           });
  });
}

/// A connection-specific field: meaningless, and malformed, in HTTP/2.
inline bool connection_specific(std::string_view name) {
  return names_one_of(
      name, {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"});
}

/// Appends the frames `ng` has to send to `out`, up to about `cap` bytes:
/// false on a session error.
inline bool send_into(nghttp2_session* ng, std::string& out, std::size_t cap) {
  while (out.size() < cap) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(ng, &data);
    if (n < 0) return false;
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace duet::http::detail
