// duet/names.hpp: the names of values (docs/vocabulary.md, "Names of
// values"). Every public enum of a setting or a status, E, has a
// to_string(E), beside E, that gives its value's name (a string_view) as
// the docs and the configuration spell it; duet::from_string<E> gives the
// value so named back, or empty, through enum_values(E), the list of E's
// values, also beside E.
//
// Example (fiber):
//   auto d = duet::from_string<duet::IoDriver>("epoll");  // IoDriver::epoll
//   if (d) use(duet::to_string(*d));                      // "epoll"
//   use(duet::from_string<duet::IoDriver>("kqueue").has_value());  // false
#pragma once

#include <optional>
#include <string_view>
#include <type_traits>

namespace duet {

/// The value of E whose to_string is `s` (exactly), or empty.
template <class E>
requires std::is_enum_v<E>
[[nodiscard]] constexpr std::optional<E> from_string(std::string_view s) noexcept {
  for (E e : enum_values(E{})) {
    if (to_string(e) == s) return e;
  }
  return std::nullopt;
}

}  // namespace duet
