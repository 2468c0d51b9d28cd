// h2_fields.hpp (private): the HTTP/1.1 fields an HTTP/2 message does not
// carry (RFC 9113 section 8.2.2), for the server's answers (h2_session.cpp)
// and the client's requests (h2_client.cpp).
#pragma once

#include <algorithm>
#include <initializer_list>
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

}  // namespace duet::http::detail
