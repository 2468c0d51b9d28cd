// duet/io/stats.hpp: which I/O driver runs, and what it cost in syscalls.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstdint>

#include "duet/config.hpp"

namespace duet::io {

/// Counters of one driver; summed over all live and past drivers by
/// io_stats(). Each is written by its driver's worker thread only.
struct IoStats {
  std::atomic<std::uint64_t> enters{0};        // io_uring_enter calls (io_uring)
  std::atomic<std::uint64_t> sqes{0};          // SQEs submitted (io_uring)
  std::atomic<std::uint64_t> cqes{0};          // CQEs reaped (io_uring)
  std::atomic<std::uint64_t> epoll_waits{0};   // epoll_wait calls (epoll)
  std::atomic<std::uint64_t> io_syscalls{0};   // direct socket syscalls (epoll; a starved read)
  std::atomic<std::uint64_t> wake_writes{0};   // eventfd writes by unpark (any thread)
  std::atomic<std::uint64_t> recv_arms{0};     // multishot recvs armed (io_uring)
  std::atomic<std::uint64_t> recv_buffers{0};  // buffers filled by multishot recvs
  std::atomic<std::uint64_t> recv_starved{0};  // multishot recvs ended for lack of buffers
  void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    // Relaxed: a statistic; single writer, so load+store is not a lost update.
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

struct IoStatsSnapshot {
  std::uint64_t enters = 0, sqes = 0, cqes = 0, epoll_waits = 0, io_syscalls = 0, wake_writes = 0;
  std::uint64_t recv_arms = 0, recv_buffers = 0, recv_starved = 0;
};

/// Sum over every driver this process has run.
DUET_API IoStatsSnapshot io_stats() noexcept;

/// The driver this process uses (resolved once, on the first Runtime or
/// the first call here: DUET_DRIVER, then RuntimeConfig::io_driver, then
/// the probe). IoDriver::automatic before anything resolved it.
DUET_API IoDriver active_driver() noexcept;
/// Resolves `requested` the way a Runtime would, without starting one.
DUET_API IoDriver resolve(IoDriver requested);
/// The name before 0.3 (docs/CHANGELOG.md): duet::to_string(IoDriver).
[[deprecated("use duet::to_string(IoDriver)")]] DUET_API const char* driver_name(
    IoDriver d) noexcept;

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
