// sync/atomics_policy.hpp: the atomics a lock-free structure is built from,
// as a template parameter: std::atomic in duet, explored atomics in the
// interleaving explorer's cases (tests/support/explorer.hpp).
#pragma once

#include <atomic>

namespace duet::detail {

/// The atomics duet's lock-free structures are built from.
struct StdAtomics {
  template <class T>
  using atomic = std::atomic<T>;
};

}  // namespace duet::detail
