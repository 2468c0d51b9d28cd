// injector.hpp: the global injection queue: spawns and wakes from outside
// the runtime, and the overflow of full local queues.
//
// A mutex-protected FIFO of task pointers in a growable ring, with an atomic
// length so that workers skip the lock when it is empty. A worker takes from
// it once per tick (or when idle), in batches; a full local ring hands it
// half its tasks at once. Both are copies of pointers under the lock, never
// a walk over task headers: a walk under the lock over headers that another
// core wrote keeps the lock held while the other workers queue on it, so
// spawning from every worker would stop scaling with the workers
// (docs/performance-log.md, "The injector as a ring of pointers").
//
// The ring grows (doubling) under the lock, and goes back to its first size
// when a pop empties a ring grown shrink_factor times past it (a flood of
// spawns leaves no ring of its peak size behind; the old ring is freed
// after the lock). When it cannot grow (out of memory)
// the tasks go to an intrusive spill list through TaskHeader::next, which
// never allocates, so no task is ever lost. While the spill holds tasks,
// every push goes there too and pops take it after the ring: FIFO order is
// kept.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "duet/detail/task_header.hpp"
#include "held_run.hpp"

namespace duet::detail {

class DUET_API Injector {
 public:
  /// A ring of `slots` (a power of two) that grows up to `max_slots`; past
  /// that (or when memory runs out) tasks go to the spill list. The limit is
  /// a knob for tests of the spill.
  explicit Injector(std::size_t slots = 512, std::size_t max_slots = SIZE_MAX);

  void push(TaskHeader* t) {
    push_n(1, [t](std::size_t) { return t; });
  }
  /// Appends n tasks, at(0) first, under one lock. `at` must not block or
  /// touch the injector. Entries from a ring may be held runs (a yield:
  /// held_run.hpp): they give their run up here (one locked RMW each, only
  /// on the overflow of a ring that holds yielded tasks).
  template <class At>
  void push_n(std::size_t n, At&& at) {
    std::lock_guard g(mu_);
    if (spill_head_ == nullptr && reserve_locked(count_ + n)) {
      for (std::size_t i = 0; i < n; ++i) buf_[(head_ + count_ + i) & (cap_ - 1)] = unhold(at(i));
      count_ += n;
    } else {
      for (std::size_t i = 0; i < n; ++i) spill_locked(unhold(at(i)));
    }
    // Release, under the lock: an is_empty() reader that sees the new length
    // then takes the lock to get the tasks.
    len_.store(len_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  /// Pops one task, or null.
  TaskHeader* pop();
  /// Moves up to `max` tasks into out[0..), oldest first; returns how many.
  std::size_t pop_batch(TaskHeader** out, std::size_t max);

  [[nodiscard]] bool is_empty() const noexcept {
    // Acquire pairs with the release in push: a non-zero length means the
    // tasks are reachable under the lock.
    return len_.load(std::memory_order_acquire) == 0;
  }
  [[nodiscard]] std::size_t len() const noexcept { return len_.load(std::memory_order_acquire); }
  /// The ring's slots now (for tests of its growth and shrink).
  [[nodiscard]] std::size_t capacity() const;

  /// How far past its first size a ring must have grown for an emptying
  /// pop to shrink it: an injector that fills and empties at a steady
  /// size keeps its ring.
  static constexpr std::size_t shrink_factor = 16;

 private:
  /// Room for `need` tasks in the ring; false if it could not grow.
  bool reserve_locked(std::size_t need) noexcept;
  void spill_locked(TaskHeader* t) noexcept;
  /// Swaps in a ring of the first size; returns the old one (null if no
  /// memory for the new: the old stays).
  std::unique_ptr<TaskHeader*[]> shrink_locked() noexcept;

  mutable std::mutex mu_;
  std::unique_ptr<TaskHeader*[]> buf_;  // guarded by mu_; cap_ slots, a power of two
  std::size_t cap_ = 0;
  const std::size_t first_cap_;
  const std::size_t max_slots_;
  std::size_t head_ = 0;              // index of the oldest task in the ring
  std::size_t count_ = 0;             // tasks in the ring
  TaskHeader* spill_head_ = nullptr;  // after the ring, in order
  TaskHeader* spill_tail_ = nullptr;
  std::atomic<std::size_t> len_{0};  // ring + spill
};

}  // namespace duet::detail
