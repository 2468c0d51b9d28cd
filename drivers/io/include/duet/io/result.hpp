// duet/io/result.hpp: the error code of an errno value, and the I/O
// namespace's Result, which 0.4 retired for duet::Result (duet/result.hpp;
// kept one release, deprecated: docs/CHANGELOG.md, 0.4.0).
#pragma once

#include <system_error>

#include "duet/result.hpp"

namespace duet::io {

/// The name before 0.4 (docs/CHANGELOG.md).
template <class T>
using Result [[deprecated("use duet::Result (duet/result.hpp)")]] = duet::Result<T>;

/// The error code of an errno value (a negative io_uring result negated).
inline std::error_code errno_code(int e) noexcept {
  return {e, std::generic_category()};
}

}  // namespace duet::io
