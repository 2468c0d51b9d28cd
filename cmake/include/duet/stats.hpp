// duet/stats.hpp: every statistic duet keeps, and where to read it
// (docs/observability.md). One rule (docs/vocabulary.md): what an owner
// counts is read from it as a `*stats()` member, a snapshot; what the
// whole process counts is a free function `duet::<thing>_stats()`, a
// snapshot of type `duet::<Thing>Stats`. Each snapshot is a plain struct
// copied out, read while the runtime runs: a figure, not a cut.
//
// Read from their owner:
//   rt.stats()            std::vector<WorkerStats>   each worker's counters
//   rt.memory_stats()     MemoryStats                what duet's caches hold
//   rt.blocking_stats()   BlockingPoolStats          the runtime's share of the pool
//   server.stats()        http::ServerStats          (duet/http/server.hpp)
//   client.stats()        http::ClientStats          (duet/http/client.hpp)
// Process-wide, gathered here:
//   duet::blocking_pool_stats()   BlockingPoolStats  the blocking pool (duet/blocking.hpp)
//   duet::io_stats()              IoStats            the I/O drivers' system calls
//                                                    (duet/io/stats.hpp)
//
// Example (fiber):
//   const duet::IoStats before = duet::io_stats();
//   use(duet::blocking_pool_stats().threads, before.sqes);
//
// It lives beside duet/duet.hpp, outside the libraries, because it
// includes the core's (duet/blocking.hpp) and the I/O library's headers.
#pragma once

#include "duet/blocking.hpp"
#include "duet/io/stats.hpp"
#include "duet/memory.hpp"
#include "duet/runtime.hpp"
