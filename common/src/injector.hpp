// injector.hpp: the global injection queue: spawns and wakes from outside
// the runtime, and the overflow of full local queues.
//
// A mutex-protected intrusive FIFO (through TaskHeader::next) with an atomic
// length so that workers can skip the lock when it is empty. It is off the
// hot path by construction: a worker takes from it once per tick (or when
// idle), in batches.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "duet/detail/task_header.hpp"

namespace duet::detail {

class Injector {
 public:
  void push(TaskHeader* t) { push_batch(t, t, 1); }
  /// Pushes a linked chain first..last (last->next ignored) of n tasks.
  void push_batch(TaskHeader* first, TaskHeader* last, std::size_t n);
  /// Pops one task, or null.
  TaskHeader* pop();
  /// Pops up to `max` tasks as a chain; returns its head and count.
  TaskHeader* pop_batch(std::size_t max, std::size_t& n);

  [[nodiscard]] bool is_empty() const noexcept {
    // Acquire pairs with the release in push: a non-zero length means the
    // tasks are reachable under the lock.
    return len_.load(std::memory_order_acquire) == 0;
  }
  [[nodiscard]] std::size_t len() const noexcept { return len_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  TaskHeader* head_ = nullptr;
  TaskHeader* tail_ = nullptr;
  std::atomic<std::size_t> len_{0};
};

}  // namespace duet::detail
