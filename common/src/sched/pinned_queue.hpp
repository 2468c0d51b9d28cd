// pinned_queue.hpp: a worker's queue of the tasks pinned to it (PINNED in
// the state word, duet/detail/task/state.hpp: `rt.spawn(duet::pinned, ...)`).
//
// A pinned task enters no other queue: every route that queues a task (a
// spawn, a wake, a yield, a requeue after a park) sends a pinned one here,
// on its home worker, so no other worker can steal it, take it from a LIFO
// slot or the injector, or run it inline in a join. The queue has two
// lists, both intrusive through TaskHeader::next (free while a task is
// queued here: no injector link and no scheduling-delay stamp):
// - `here`, the home worker's own: its thread alone pushes and pops. An
//   entry may be a held run (a yield, held_run.hpp); the tag rides in the
//   low bit of the entry's own link, not in the pointer to it.
// - the inbox, which any other thread pushes to under a spin lock (a wake
//   from another worker or thread, a spawn from outside). The home takes
//   the whole inbox at once when its flag says it holds something; the
//   pusher then unparks the home (Scheduler::schedule_pinned).
// Order: FIFO within each list; the inbox is appended to `here` when
// `here` runs dry.
#pragma once

#include <atomic>
#include <cstdint>

#include "duet/detail/task_header.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "held_run.hpp"

namespace duet::detail {

class PinnedQueue {
 public:
  /// The home worker's thread: appends `e` (a task, or a held run).
  void push_here(TaskHeader* e) noexcept { here_.push(e); }

  /// Any other thread: appends `t` to the inbox (never a held run: only
  /// the home holds a run of its own task).
  void push_inbox(TaskHeader* t) noexcept {
    lock_.lock();
    inbox_.push(t);
    // Release, under the lock: the home's acquire load that sees it then
    // takes the lock and finds the task (also after the unpark that
    // follows, which the home's park handshake orders after this store).
    has_inbox_.store(true, std::memory_order_release);
    lock_.unlock();
  }

  /// Whether a pop may find something (the home's check before it parks
  /// or looks elsewhere).
  [[nodiscard]] bool maybe_nonempty() const noexcept {
    return here_.head != nullptr || has_inbox_.load(std::memory_order_acquire);
  }

  /// Any thread: whether the inbox holds a task (the test clock's check
  /// that the runtime is quiet: Scheduler::has_pending_work).
  [[nodiscard]] bool inbox_nonempty() const noexcept {
    return has_inbox_.load(std::memory_order_acquire);
  }

  /// The home worker's thread (or the shutdown drain, once the workers
  /// have stopped): the oldest entry, or null.
  [[nodiscard]] TaskHeader* pop() noexcept {
    if (here_.head == nullptr && has_inbox_.load(std::memory_order_acquire)) take_inbox();
    return here_.pop();
  }

 private:
  /// A FIFO through TaskHeader::next: each task's link is the next task,
  /// with the task's own held tag in bit 0.
  struct List {
    TaskHeader* head = nullptr;
    TaskHeader* tail = nullptr;

    void push(TaskHeader* e) noexcept {
      TaskHeader* t = held_task(e);
      t->next = is_held(e) ? held(nullptr) : nullptr;
      if (tail != nullptr) {
        tail->next = is_held(tail->next) ? held(t) : t;
      } else {
        head = t;
      }
      tail = t;
    }
    [[nodiscard]] TaskHeader* pop() noexcept {
      TaskHeader* t = head;
      if (t == nullptr) return nullptr;
      TaskHeader* link = t->next;
      head = held_task(link);
      if (head == nullptr) tail = nullptr;
      t->next = nullptr;
      return is_held(link) ? held(t) : t;
    }
    void append(List& o) noexcept {
      if (o.head == nullptr) return;
      if (tail != nullptr) {
        tail->next = is_held(tail->next) ? held(o.head) : o.head;
      } else {
        head = o.head;
      }
      tail = o.tail;
      o.head = o.tail = nullptr;
    }
  };

  void take_inbox() noexcept {
    lock_.lock();
    here_.append(inbox_);
    // Relaxed, under the lock: a pusher sets it again under the same lock.
    has_inbox_.store(false, std::memory_order_relaxed);
    lock_.unlock();
  }

  List here_;
  SpinLock lock_;
  List inbox_;  // guarded by lock_
  std::atomic<bool> has_inbox_{false};
};

}  // namespace duet::detail
