// choice.hpp: the backend choice (choice.cpp), as the factory asks it.
#pragma once

#include "duet/config.hpp"

namespace duet::io::detail {

/// The backend for a runtime that asks for `requested`: DUET_DRIVER first,
/// then `requested`, `automatic` resolved by the probe. Records it for
/// active_driver() and logs the first choice of each backend (DUET_LOG).
IoDriver resolve_driver(IoDriver requested);

}  // namespace duet::io::detail
