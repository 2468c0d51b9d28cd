// idle.hpp: who is searching for work, who is parked.
//
// One atomic word counts workers that are unparked and workers that are
// searching (stealing). A wake-up is needed only when nobody is searching and
// somebody is parked: that check is lock-free (a fence and a load) and is all
// a busy runtime pays per spawn. The parked set is a bitmap of 64-bit words,
// so finding a sleeper is a count-trailing-zeros; it changes only under a
// mutex, together with the counters, so "last searcher parks" and "notifier
// wakes a sleeper" cannot miss each other.
//
// No lost wake-up, in one sentence: work is made visible before the notifier's
// seq_cst fence and the counters read after it; a worker publishes that it
// stops searching before it re-checks every queue (the last searcher does so
// under the rule in Worker::park); so either the notifier sees a searcher or
// a free slot to wake, or the searcher sees the work.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace duet::detail {

class Idle {
 public:
  explicit Idle(unsigned num_workers);

  /// After new work became visible: which parked worker to wake (it is then
  /// counted as unparked and searching), or -1 when none is needed.
  int worker_to_notify();
  /// May this worker start searching? At most half of the workers search.
  bool transition_worker_to_searching();
  /// A searching worker found work; true when it was the last searcher (it
  /// must then wake another, since more work may be waiting).
  bool transition_worker_from_searching();
  /// The worker goes to sleep; true when it was the last searcher.
  bool transition_worker_to_parked(unsigned worker, bool is_searching);
  /// Still listed as parked (a wake-up was spurious)?
  bool is_parked(unsigned worker);
  /// Unlists a parked worker (shutdown); true if it was parked.
  bool unpark_worker_by_id(unsigned worker);

  [[nodiscard]] unsigned num_searching() const noexcept {
    return state_.load(std::memory_order_seq_cst) & mask;
  }

 private:
  static constexpr std::uint32_t unpark_shift = 16;
  static constexpr std::uint32_t mask = (1u << unpark_shift) - 1;
  bool notify_should_wakeup() const noexcept {
    auto s = state_.load(std::memory_order_seq_cst);
    return (s & mask) == 0 && (s >> unpark_shift) < num_workers_;
  }

  std::atomic<std::uint32_t> state_;
  const unsigned num_workers_;
  std::mutex mu_;
  std::vector<std::uint64_t> sleepers_;  // guarded by mu_
};

}  // namespace duet::detail
