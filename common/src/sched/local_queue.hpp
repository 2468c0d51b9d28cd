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
// 4-slot ring and reach the overflow and steal edges quickly. The class is a
// template over its atomics (BasicLocalQueue<StdAtomics> is duet's
// LocalQueue) so that tests/common/local_queue_explorer_test.cpp can run the
// owner's push and pop against a thief's steal in every interleaving, with
// instrumented atomics; and over the injector an overflow goes to.
#pragma once

#include <atomic>
#include <bit>
#include <cassert>
#include <cstdint>
#include <memory>
#include <stdexcept>

#include "duet/detail/task_header.hpp"
#include "sync/atomics_policy.hpp"

namespace duet::detail {

template <class Atomics>
class BasicLocalQueue {
  template <class T>
  using atomic = typename Atomics::template atomic<T>;

 public:
  explicit BasicLocalQueue(std::uint32_t capacity) : mask_(capacity - 1) {
    if (capacity < 2 || !std::has_single_bit(capacity) || capacity > (1u << 30)) {
      throw std::invalid_argument("duet: local queue capacity must be a power of two in [2, 2^30]");
    }
    buf_ = std::make_unique<atomic<TaskHeader*>[]>(capacity);
  }

  /// Owner only. Pushes to the back; when full, moves half of the queue and
  /// `t` to the injector in one batch. Returns true when it overflowed.
  /// Inline: the push with room is three loads and two stores, and out of
  /// line it paid for the overflow path's saved registers in every yield
  /// and requeue (docs/performance-log.md, "A yield holds its run").
  template <class Inj>
  bool push_back_or_overflow(TaskHeader* t, Inj& inj) {
    // Acquire: a thief that finished copying released head_; we may reuse
    // the slots it copied from only after seeing that.
    const auto steal = steal_part(head_.load(std::memory_order_acquire));
    // Only the owner writes tail_: a relaxed read of our own value.
    const auto tail = tail_.load(std::memory_order_relaxed);
    if (tail - steal > mask_) return push_when_full(t, inj);
    buf_[tail & mask_].store(t, std::memory_order_relaxed);
    // Release: publishes the slot write to thieves that acquire tail_.
    tail_.store(tail + 1, std::memory_order_release);
    return false;
  }
  /// Owner only. Pops the front (FIFO).
  TaskHeader* pop();
  /// Any thread. Moves half of `this` into `dst` (which must be the caller's
  /// own, empty-enough queue) and returns one of the stolen tasks to run.
  TaskHeader* steal_into(BasicLocalQueue& dst, std::uint64_t& stolen);

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
  /// push_back_or_overflow when the ring looked full: a thief may have made
  /// room meanwhile; otherwise half goes to the injector.
  template <class Inj>
  [[gnu::noinline]] bool push_when_full(TaskHeader* t, Inj& inj);
  template <class Inj>
  bool push_overflow(TaskHeader* t, std::uint32_t head, std::uint32_t tail, Inj& inj);
  std::uint32_t steal_half_into(BasicLocalQueue& dst, std::uint32_t dst_tail);

  alignas(64) atomic<std::uint64_t> head_{0};
  alignas(64) atomic<std::uint32_t> tail_{0};
  std::uint32_t mask_;
  // Slots are atomics so that a racing read is defined behaviour; the head
  // protocol guarantees no slot is read while it is written, so relaxed
  // accesses suffice (ordering comes from head_/tail_).
  std::unique_ptr<atomic<TaskHeader*>[]> buf_;
};

using LocalQueue = BasicLocalQueue<StdAtomics>;

template <class A>
template <class Inj>
bool BasicLocalQueue<A>::push_when_full(TaskHeader* t, Inj& inj) {
  for (;;) {
    // Acquire: a thief that finished copying released head_; we may reuse
    // the slots it copied from only after seeing that.
    auto head = head_.load(std::memory_order_acquire);
    auto steal = steal_part(head);
    auto real = real_part(head);
    // Only the owner writes tail_: a relaxed read of our own value.
    auto tail = tail_.load(std::memory_order_relaxed);
    if (tail - steal <= mask_) {
      buf_[tail & mask_].store(t, std::memory_order_relaxed);
      // Release: publishes the slot write to thieves that acquire tail_.
      tail_.store(tail + 1, std::memory_order_release);
      return false;
    }
    if (steal != real) {
      // A thief is copying out; it will make room. Send this one to the
      // injector rather than wait for it.
      inj.push(t);
      return true;
    }
    if (push_overflow(t, real, tail, inj)) return true;
    // A thief moved head between our load and the claim: retry.
  }
}

template <class A>
template <class Inj>
bool BasicLocalQueue<A>::push_overflow(TaskHeader* t, std::uint32_t head,
                                       [[maybe_unused]] std::uint32_t tail, Inj& inj) {
  const std::uint32_t n = (mask_ + 1) / 2;
  assert(tail - head == mask_ + 1);
  // Claim the older half. AcqRel / Acquire: as for pop().
  auto expected = pack(head, head);
  if (!head_.compare_exchange_strong(expected, pack(head + n, head + n), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
    return false;
  }
  // Hand the claimed tasks and `t` over under one injector lock: pointers
  // copied straight from our ring (relaxed: we own the claimed slots now).
  inj.push_n(n + 1, [&](std::size_t i) {
    return i < n ? buf_[(head + i) & mask_].load(std::memory_order_relaxed) : t;
  });
  return true;
}

template <class A>
TaskHeader* BasicLocalQueue<A>::pop() {
  auto head = head_.load(std::memory_order_acquire);
  for (;;) {
    auto steal = steal_part(head);
    auto real = real_part(head);
    auto tail = tail_.load(std::memory_order_relaxed);  // owner's own value
    if (real == tail) return nullptr;
    auto next_real = real + 1;
    // If no thief is active, advance both halves together.
    auto next = steal == real ? pack(next_real, next_real) : pack(steal, next_real);
    // AcqRel on success: acquire the slot as published (the owner wrote it,
    // so this matters only for ordering against thieves); release so a
    // thief's later claim sees our advance. Acquire on failure: re-read.
    if (head_.compare_exchange_weak(head, next, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return buf_[real & mask_].load(std::memory_order_relaxed);
    }
  }
}

template <class A>
std::uint32_t BasicLocalQueue<A>::steal_half_into(BasicLocalQueue& dst, std::uint32_t dst_tail) {
  auto prev = head_.load(std::memory_order_acquire);
  std::uint32_t n = 0;
  std::uint32_t first = 0;
  std::uint64_t next = 0;
  for (;;) {
    auto steal = steal_part(prev);
    auto real = real_part(prev);
    if (steal != real) return 0;  // another thief is at work
    // Acquire: pairs with the owner's release store of tail_, making the
    // slot contents visible.
    auto tail = tail_.load(std::memory_order_acquire);
    n = tail - real;
    n -= n / 2;  // half, rounded up
    if (n == 0) return 0;
    first = real;
    next = pack(steal, real + n);  // claim [real, real+n): steal stays behind
    if (head_.compare_exchange_weak(prev, next, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      break;
    }
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    TaskHeader* x = buf_[(first + i) & mask_].load(std::memory_order_relaxed);
    dst.buf_[(dst_tail + i) & dst.mask_].store(x, std::memory_order_relaxed);
  }
  // Done copying: let steal catch up with real (the owner may have popped
  // meanwhile, so re-read real each time).
  prev = next;
  for (;;) {
    auto real = real_part(prev);
    auto done = pack(real, real);
    if (head_.compare_exchange_weak(prev, done, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return n;
    }
  }
}

template <class A>
TaskHeader* BasicLocalQueue<A>::steal_into(BasicLocalQueue& dst, std::uint64_t& stolen) {
  auto dst_tail = dst.tail_.load(std::memory_order_relaxed);  // dst is ours
  auto dst_steal = steal_part(dst.head_.load(std::memory_order_acquire));
  // Our own queue must have room for half of theirs; it is normally empty
  // when we steal.
  if (dst_tail - dst_steal > dst.mask_ / 2) return nullptr;
  auto n = steal_half_into(dst, dst_tail);
  if (n == 0) return nullptr;
  stolen += n;
  // Keep the last stolen task to run now; publish the rest.
  --n;
  TaskHeader* ret = dst.buf_[(dst_tail + n) & dst.mask_].load(std::memory_order_relaxed);
  if (n > 0) dst.tail_.store(dst_tail + n, std::memory_order_release);
  return ret;
}

}  // namespace duet::detail
