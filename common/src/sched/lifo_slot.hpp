// lifo_slot.hpp: a worker's LIFO slot: the one task that runs next on that
// worker (the last one a running task spawned or woke there).
//
// The owner fills and empties it on every message-passing hand-off, so its
// side must stay plain loads and stores; another worker (the watcher, see
// Worker::park) takes its task only when the owner has been inside one poll
// for a while. Go's runqgrab does the same to `runnext` after a back-off,
// with a CAS on both sides. The owner's take makes no locked instruction
// (a locked exchange there showed in every ping-pong round trip: see
// docs/performance-log.md, "The LIFO watcher and the slot's handshake"), so
// the cost moves to the thief instead: an asymmetric Dekker handshake, as
// in liburcu and folly::asymmetricHeavyBarrier.
//
//   slot_   the task, written only by the owner (push: the task; take: null).
//   claim_  written by a thief: 0 (no claim), t (claiming task t, verdict
//           pending) or t|1 (won t); only the owner clears a won claim.
//
//   owner, take:  t = slot; slot = null; compiler barrier; c = claim.
//                 c is neither t nor t|1 -> the task is ours (the fast path:
//                 two loads and a store, no locked instruction). c == t|1 ->
//                 a thief has it: clear the claim, skip the task. c == t ->
//                 wait for the verdict.
//   thief:        claim = t (CAS from 0: one thief at a time); a process-wide
//                 barrier (membarrier(2): every running thread of the process
//                 executes a full fence); then if slot still holds t, it won:
//                 claim = t|1; else claim = 0.
//
// Why exactly one side runs each task: let P be the point where the owner's
// thread passes the thief's barrier. If the owner's `slot = null` (or the
// push that replaced t) came before P, the thief sees it and loses. If it
// came after P, so did the owner's read of the claim, which then sees t or
// the verdict. Pushing the same pointer again is a new entry; the argument
// holds per entry, since the owner's claim check of one entry precedes its
// next store to the slot. A thief never dereferences the task before it
// wins, and a stale task left in the slot after a thief won (the owner is
// still in its poll) is only compared, never touched, until the owner clears
// it. A thief whose claim is not yet cleared cannot claim again, so a won
// claim stays until the owner has seen it.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstdint>

#include "duet/detail/task_header.hpp"

namespace duet::detail {

class DUET_API LifoSlot {
 public:
  /// Whether thieves can use this process: registers for membarrier(2)
  /// once (Linux 4.14; a seccomp filter may forbid it). When false, nobody
  /// may call steal() and the slot stays the owner's alone.
  static bool stealing_supported() noexcept;

  /// Owner only. Puts `t` in the slot; returns the task it displaced, or
  /// null when the slot was empty or a thief won the old task.
  TaskHeader* push(TaskHeader* t) noexcept {
    // Relaxed: only the owner stores tasks here, so this reads our own value.
    TaskHeader* prev = slot_.load(std::memory_order_relaxed);
    // Release: a thief that reads `t` (acquire) sees the task as queued.
    slot_.store(t, std::memory_order_release);
    if (prev == nullptr) return nullptr;  // thieves only claim a full slot
    return check_claim(prev);
  }

  /// Owner only (or any thread once the workers have stopped). Takes the
  /// task, if there is one a thief did not win.
  TaskHeader* take() noexcept {
    // Relaxed: our own value, as in push().
    TaskHeader* t = slot_.load(std::memory_order_relaxed);
    if (t == nullptr) return nullptr;
    // Relaxed: the thief's barrier orders it (see the header comment).
    slot_.store(nullptr, std::memory_order_relaxed);
    return check_claim(t);
  }

  /// Any thread: what the slot holds now (a hint: a thief's won task may
  /// linger until the owner clears it).
  [[nodiscard]] TaskHeader* peek() const noexcept {
    // Relaxed: a hint; steal() re-reads with acquire.
    return slot_.load(std::memory_order_relaxed);
  }

  /// Any thread but the owner, when stealing_supported(): takes `seen` (read
  /// by peek()) if the owner has not taken it; null otherwise, or when
  /// another thief's claim is still open. Costs a membarrier system call.
  TaskHeader* steal(TaskHeader* seen) noexcept;

 private:
  /// The owner emptied or overwrote the slot that held `t`: is `t` still
  /// ours? The fast path is one load, with no claim on the slot.
  TaskHeader* check_claim(TaskHeader* t) noexcept {
    // Keeps the compiler from moving the claim read above the slot store;
    // the thief's membarrier supplies the fence the CPU would need.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // Relaxed: a verdict carries no data (a won task is never touched here;
    // a lost claim leaves the task as we queued it).
    const std::uintptr_t c = claim_.load(std::memory_order_relaxed);
    const auto bits = reinterpret_cast<std::uintptr_t>(t);
    if ((c & ~won) != bits) return t;  // no claim, or one on an older entry
    return settle_claim(t);
  }
  TaskHeader* settle_claim(TaskHeader* t) noexcept;

  static constexpr std::uintptr_t won = 1;  // task headers are 8-aligned
  // One line, written by the owner on every hand-off and read on each:
  // thieves write the claim rarely (at most once per watch interval).
  std::atomic<TaskHeader*> slot_{nullptr};
  std::atomic<std::uintptr_t> claim_{0};
};

}  // namespace duet::detail
