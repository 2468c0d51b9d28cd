// scope/owner_lane.hpp: a task scope's owner lane (scope/task_scope.cpp):
// the one child its owner keeps with no slot, no waker and no lock, and the
// handshake by which anyone else closes the lane for good.
//
// The lane word, written by the owner only:
//   0          empty
//   t          the lane child t, unwatched (its handle reference is the scope's)
//   t | held   the owner took t out to run it in place (a window)
// The gate: none (the scope has no lane) or open -> closing -> closed,
// written by closers only, under the scope's lock, once for the scope's life.
//
// The owner's side is the light side of an asymmetric Dekker handshake
// (sync/asymmetric_fence.hpp): each write of the lane word is followed by a
// read of the gate with only a compiler barrier between. The closer's side
// is the heavy one: it writes the gate, makes every running thread fence
// (heavy_fence), then reads the lane word. So at least one side sees the
// other: the closer sees every lane write the owner made before its thread
// passed the fence, and the owner's reads after that point see the gate.
//
// What each side does with what it saw:
//   closer reads t         it watches t itself (the scope records it in
//                          `stolen`); the owner, which then sees the gate on
//                          its next lane write, leaves t alone
//   closer reads t | held  the owner runs t; it settles t under the lock
//                          after its window (it sees the gate at the
//                          window's end)
//   closer reads 0         no lane child
//   owner sees the gate    it takes the scope's lock, which the closer held
//                          through its whole handshake: under the lock the
//                          gate is open or closed, never closing, and the
//                          owner settles its lane child there (it watches it,
//                          unless the closer did)
// Every lane child is therefore settled exactly once: by the owner's own
// take, by the closer's watch, or by the owner under the lock
// (tests/scope/lane_explorer_test.cpp explores every interleaving).
#pragma once

#include <atomic>
#include <cstdint>

#include "duet/detail/task_header.hpp"
#include "sync/atomics_policy.hpp"

namespace duet::detail {

template <class Atomics>
class BasicOwnerLane {
  template <class T>
  using atomic = typename Atomics::template atomic<T>;

 public:
  static constexpr std::uintptr_t held = 1;  // task headers are 64-byte aligned
  enum Gate : unsigned char { gate_none, gate_open, gate_closing, gate_closed };

  explicit BasicOwnerLane(bool enabled) noexcept : gate_(enabled ? gate_open : gate_none) {}

  [[nodiscard]] static TaskHeader* task(std::uintptr_t w) noexcept {
    return reinterpret_cast<TaskHeader*>(w & ~held);
  }
  [[nodiscard]] static std::uintptr_t word_of(TaskHeader* t) noexcept {
    return reinterpret_cast<std::uintptr_t>(t);
  }

  // ---- the owner (the light side) -------------------------------------------
  /// The lane word. Relaxed: the owner's own (for anyone else under the
  /// lock, a snapshot: see held_child()).
  [[nodiscard]] std::uintptr_t word() const noexcept {
    return lane_.load(std::memory_order_relaxed);
  }
  /// The gate is open. Relaxed: a hint before a lane write, whose own
  /// re-check is the handshake's.
  [[nodiscard]] bool is_open() const noexcept {
    return gate_.load(std::memory_order_relaxed) == gate_open;
  }
  /// Puts `t` in the empty lane. False: a closer came, and the owner must
  /// settle the lane under the scope's lock.
  bool put(TaskHeader* t) noexcept {
    // Release: a closer that reads it watches `t`.
    lane_.store(word_of(t), std::memory_order_release);
    return gate_still_open();
  }
  /// Takes the lane child `w` out to run it in place. False: a closer came
  /// (the child is back in the lane); settle it under the scope's lock.
  bool hold(std::uintptr_t w) noexcept {
    // Relaxed: a closer reading it only learns that the owner runs it.
    lane_.store(w | held, std::memory_order_relaxed);
    if (gate_still_open()) return true;
    lane_.store(w, std::memory_order_relaxed);  // relaxed: the lock publishes it
    return false;
  }
  /// The held child completed and the owner takes it. False: a closer came
  /// during the window; the owner ends it under the scope's lock.
  bool release() noexcept {
    lane_.store(0, std::memory_order_relaxed);  // relaxed: as in hold()
    return gate_still_open();
  }
  /// Under the scope's lock: the owner empties the lane (it settled its
  /// child), puts a child back, or puts a new one while the gate is open.
  void set_locked(std::uintptr_t w) noexcept {
    // Release: a closer reads it under the lock, or after its fence.
    lane_.store(w, std::memory_order_release);
  }

  // ---- a closer (the heavy side), under the scope's lock ---------------------
  /// Closes the gate for good, with `fence` (heavy_fence) between the
  /// gate's write and the lane's read; returns the lane word read then (0
  /// when the gate was not open: closed before, or no lane).
  template <class Fence>
  std::uintptr_t close(Fence&& fence) noexcept {
    // Relaxed: only closers write the gate, under the scope's lock.
    if (gate_.load(std::memory_order_relaxed) != gate_open) return 0;
    // Relaxed: the fence orders it before our read of the lane, and the
    // owner's reads after its own fence point see it.
    gate_.store(gate_closing, std::memory_order_relaxed);
    fence();
    // Acquire: pairs with put(), whose child the closer may watch.
    const std::uintptr_t w = lane_.load(std::memory_order_acquire);
    // Relaxed: the owner reads it again only under the lock.
    gate_.store(gate_closed, std::memory_order_relaxed);
    return w;
  }
  /// The child the owner holds in a window, as anyone but the owner sees it
  /// under the lock with the gate closed (null: none). Relaxed: the fence
  /// ordered the owner's earlier writes; a later one only ends the window,
  /// after which the owner settles under the lock.
  [[nodiscard]] TaskHeader* held_child() const noexcept {
    const std::uintptr_t w = lane_.load(std::memory_order_relaxed);
    return (w & held) != 0 ? task(w) : nullptr;
  }

 private:
  bool gate_still_open() noexcept {
    // The light side: the closer's fence is the CPU's; this keeps the
    // compiler from hoisting the gate's read above the lane's write.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return is_open();
  }

  atomic<std::uintptr_t> lane_{0};
  atomic<unsigned char> gate_;
};

using OwnerLane = BasicOwnerLane<StdAtomics>;

}  // namespace duet::detail
