// duet/detail/tls.hpp: the old name of duet/detail/thread_local.hpp (duet's
// thread-locals and their TLS model), kept for 0.4.0 only beside
// duet/tls.hpp (Transport Layer Security): include
// duet/detail/thread_local.hpp. Not API; docs/adopting.md lists it as
// deprecated.
#pragma once

#include "duet/detail/thread_local.hpp"
