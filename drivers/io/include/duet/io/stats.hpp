// duet/io/stats.hpp: which I/O driver runs, and what it cost in syscalls
// (duet::io_stats(), one of the process-wide statistics duet/stats.hpp
// gathers).
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstdint>

#include "duet/config.hpp"

namespace duet {

/// The I/O drivers' system calls, summed over every driver this process
/// has run, live or gone: a snapshot (io_stats()).
struct IoStats {
  std::uint64_t enters = 0;             // io_uring_enter calls (io_uring)
  std::uint64_t sqes = 0;               // SQEs submitted (io_uring)
  std::uint64_t cqes = 0;               // CQEs reaped (io_uring)
  std::uint64_t epoll_waits = 0;        // epoll_wait calls (epoll)
  std::uint64_t io_syscalls = 0;        // direct socket syscalls (epoll; a starved read)
  std::uint64_t wake_writes = 0;        // eventfd writes by unpark (any thread)
  std::uint64_t recv_arms = 0;          // multishot recvs armed (io_uring)
  std::uint64_t recv_buffers = 0;       // buffers filled by multishot recvs
  std::uint64_t recv_starved = 0;       // multishot recvs ended for lack of buffers
  std::uint64_t recv_ring_growths = 0;  // buffer rings doubled (RuntimeConfig::io_recv_buffers_max)
};

/// Process-wide, like blocking_pool_stats() (duet/stats.hpp lists them):
/// the sum over every driver this process has run.
DUET_API IoStats io_stats() noexcept;

}  // namespace duet

namespace duet::io {

namespace detail {
/// One driver's counters (IoStats's fields, each written by its driver's
/// worker thread only), summed into io_stats() while the driver lives.
struct DriverCounters {
  std::atomic<std::uint64_t> enters{0};
  std::atomic<std::uint64_t> sqes{0};
  std::atomic<std::uint64_t> cqes{0};
  std::atomic<std::uint64_t> epoll_waits{0};
  std::atomic<std::uint64_t> io_syscalls{0};
  std::atomic<std::uint64_t> wake_writes{0};
  std::atomic<std::uint64_t> recv_arms{0};
  std::atomic<std::uint64_t> recv_buffers{0};
  std::atomic<std::uint64_t> recv_starved{0};
  std::atomic<std::uint64_t> recv_ring_growths{0};
  void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    // Relaxed: a statistic; single writer, so load+store is not a lost update.
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};
}  // namespace detail

/// The names before 0.4 (docs/CHANGELOG.md): the snapshot was
/// IoStatsSnapshot, read by io::io_stats(); io::IoStats named the drivers'
/// own counters.
using IoStatsSnapshot [[deprecated("use duet::IoStats")]] = duet::IoStats;
using IoStats [[deprecated("use duet::IoStats (read by duet::io_stats())")]] =
    detail::DriverCounters;
[[deprecated("use duet::io_stats()")]] inline duet::IoStats io_stats() noexcept {
  return duet::io_stats();
}

/// The driver this process uses (resolved once, on the first Runtime or
/// the first call here: DUET_DRIVER, then RuntimeConfig::io_driver, then
/// the probe). IoDriver::automatic before anything resolved it.
DUET_API IoDriver active_driver() noexcept;
/// Resolves `requested` the way a Runtime would, without starting one.
DUET_API IoDriver resolve(IoDriver requested);

/// io_uring features found by the probe (all false on epoll).
struct UringFeatures {
  bool available = false;
  bool coop_taskrun = false;
  bool multishot_accept = false;
  bool recv_multishot = false;
  bool buf_ring = false;
  bool msg_ring = false;
  bool ext_arg = false;
  bool defer_taskrun = false;  // SINGLE_ISSUER + DEFER_TASKRUN (+ R_DISABLED)
};
DUET_API const UringFeatures& uring_features();

}  // namespace duet::io
