// local_queue.hpp: a worker's run queue: a fixed ring, one producer (the
// owning worker), many consumers (the owner pops; thieves steal half).
//
// The algorithm is Tokio's (tokio/src/runtime/scheduler/multi_thread/queue.rs),
// written anew:
//
//   head = (steal: u32 | real: u32) packed in one atomic u64
//   tail = u32, written only by the owner
//
// `real` is the next slot to pop. `steal` trails `real` while a thief is
// copying slots [steal, real) out: the owner must not overwrite them, so the
// owner's capacity check uses `steal`, not `real`. At most one thief at a time
// (a second one sees steal != real and backs off). Indices are free-running
// u32 and wrap; slot = index & mask.
//
// Capacity is a runtime knob (power of two) so stress tests can run with a
// 4-slot ring and reach the overflow and steal edges quickly.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "duet/detail/task_header.hpp"

namespace duet::detail {

class Injector;

class LocalQueue {
 public:
  explicit LocalQueue(std::uint32_t capacity);

  /// Owner only. Pushes to the back; when full, moves half of the queue and
  /// `t` to the injector in one batch. Returns true when it overflowed.
  bool push_back_or_overflow(TaskHeader* t, Injector& inj);
  /// Owner only. Pops the front (FIFO).
  TaskHeader* pop();
  /// Any thread. Moves half of `this` into `dst` (which must be the caller's
  /// own, empty-enough queue) and returns one of the stolen tasks to run.
  TaskHeader* steal_into(LocalQueue& dst, std::uint64_t& stolen);

  /// Approximate length (exact for the owner).
  [[nodiscard]] std::uint32_t len() const noexcept {
    auto head = head_.load(std::memory_order_acquire);
    auto tail = tail_.load(std::memory_order_acquire);
    return tail - real_part(head);
  }
  [[nodiscard]] bool is_empty() const noexcept { return len() == 0; }
  [[nodiscard]] std::uint32_t capacity() const noexcept { return mask_ + 1; }

 private:
  static std::uint64_t pack(std::uint32_t steal, std::uint32_t real) noexcept {
    return (static_cast<std::uint64_t>(steal) << 32) | real;
  }
  static std::uint32_t steal_part(std::uint64_t h) noexcept {
    return static_cast<std::uint32_t>(h >> 32);
  }
  static std::uint32_t real_part(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h); }
  bool push_overflow(TaskHeader* t, std::uint32_t head, std::uint32_t tail, Injector& inj);
  std::uint32_t steal_half_into(LocalQueue& dst, std::uint32_t dst_tail);

  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  std::uint32_t mask_;
  // Slots are atomics so that a racing read is defined behaviour; the head
  // protocol guarantees no slot is read while it is written, so relaxed
  // accesses suffice (ordering comes from head_/tail_).
  std::unique_ptr<std::atomic<TaskHeader*>[]> buf_;
};

}  // namespace duet::detail
