// quota.hpp: a runtime's share of the blocking pool (pool.cpp).
//
// The pool's threads serve the whole process; each runtime has its own
// quota: at most RuntimeConfig::max_blocking_threads of its jobs run at
// once, the rest wait in its own queue, and a pool thread that ran one of
// its jobs last waits RuntimeConfig::blocking_keep_alive for another
// (capped by the process's keep-alive, configure_blocking_pool) before it
// exits. A job submitted off every worker (a plain thread, a fiber of no
// runtime) takes the process's quota, which configure_blocking_pool sets.
//
// The Scheduler owns its quota through a BlockingQuotaRef; a job holds a
// reference too, so a runtime destroyed while its jobs still run (the pool
// never waits for a running job) leaves the quota to them. The pool finds
// the calling worker's quota through current_blocking_quota, which the
// scheduler defines (sched/current.cpp): blocking/ includes nothing of
// sched/.
#pragma once

#include <chrono>
#include <cstddef>

#include "duet/blocking.hpp"
#include "duet/config.hpp"

namespace duet::detail {

struct BlockingQuota;

/// A runtime's quota, opened with its config's limits and closed (the
/// runtime's reference dropped) at its destruction.
class BlockingQuotaRef {
 public:
  explicit BlockingQuotaRef(const RuntimeConfig& cfg);
  ~BlockingQuotaRef();
  BlockingQuotaRef(const BlockingQuotaRef&) = delete;
  BlockingQuotaRef& operator=(const BlockingQuotaRef&) = delete;
  [[nodiscard]] BlockingQuota* get() const noexcept { return q_; }
  /// Its jobs running (each holding a pool thread) and waiting, its limit
  /// and its peak.
  [[nodiscard]] BlockingPoolStats stats() const;

 private:
  BlockingQuota* q_;
};

/// The quota of the calling worker's runtime, or null off every worker
/// (the process's quota then). Defined by the scheduler (sched/current.cpp).
[[nodiscard]] BlockingQuota* current_blocking_quota() noexcept;

}  // namespace duet::detail
