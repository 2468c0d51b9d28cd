// task/harness.hpp: the task life cycle's protocols, each written once:
// the completion half and the handle half of the join handshake, and the
// wake and cancel entry points. They are templates over the task they
// drive (HarnessTask): duet instantiates them with HeaderTask (a real
// TaskHeader, harness.cpp); tests/task/explorer_test.cpp with a
// model task whose state word and join-waker cell are instrumented, and
// runs every interleaving of them.
//
// The join waker cell is owned by one side at a time, and the state word
// says which (task/state.hpp): the handle writes it only while JOIN_WAKER is
// clear, the task side reads it only after it saw JOIN_WAKER, and COMPLETE
// freezes it. A reference keeps the cell alive: whoever touches it holds
// one until it is done (the handle's drop keeps its reference until it has
// cleared a published waker: dropping it first let the task complete and be
// freed under the write, which the explorer found).
#pragma once

#include "duet/export.hpp"

#include <concepts>
#include <cstdint>

#include "duet/detail/task/state.hpp"
#include "duet/detail/task_header.hpp"

namespace duet::detail {

template <class T>
concept HarnessTask = requires(T& t, const typename T::waker_type& w) {
  { t.state().load() } -> std::same_as<TaskSnapshot>;
  { t.join_waker_is(w) } -> std::same_as<bool>;
  t.store_join_waker(w);
  t.clear_join_waker();
  t.wake_joiner();
  t.drop_outcome();
  t.destroy();
};

/// The handle's poll: true when the task is complete (its outcome may be
/// taken); false when `w` is published and will be woken at completion.
template <HarnessTask T>
bool poll_join(T& t, const typename T::waker_type& w) {
  TaskSnapshot s = t.state().load();
  if (s.is_complete()) return true;
  if (s.has_join_waker()) {
    // Reading the cell while JOIN_WAKER is set is safe: the task side only
    // reads it too until COMPLETE, after which nobody writes it.
    if (t.join_waker_is(w)) return false;
    if (!t.state().unset_join_waker()) return true;  // completed meanwhile
  }
  t.store_join_waker(w);
  if (t.state().set_join_waker()) return false;
  t.clear_join_waker();  // completed first: the cell is still ours
  return true;
}

/// The task side, after the run that finished it (outcome stored, future
/// destroyed): COMPLETE set; the joiner woken, or the outcome dropped when
/// nobody will join. The run's references are released by the caller.
template <HarnessTask T>
void publish_completion(T& t) {
  TaskSnapshot prev = t.state().to_complete();
  if (!prev.has_join_interest()) {
    t.drop_outcome();
  } else if (prev.has_join_waker()) {
    t.wake_joiner();
  }
}

/// The rest of a publish after its transition: true when the run's
/// reference went with it.
template <HarnessTask T, class Completed>
bool publish_completed(T& t, Completed c) {
  const auto [prev, released] = c;
  if (released) return true;
  if (!prev.has_join_interest()) {
    t.drop_outcome();
  } else if (prev.has_join_waker()) {
    t.wake_joiner();
  }
  return false;
}

/// publish_completion for a task that is not LISTED, on the thread that ran
/// it, releasing the run's reference in the same locked instruction when
/// that leaves nothing to do (state.hpp, to_complete_releasing). True when
/// it did: the caller must not touch the task again. False: the caller
/// releases, as after publish_completion.
template <HarnessTask T>
bool publish_completion_releasing(T& t) {
  return publish_completed(t, t.state().to_complete_releasing());
}

/// publish_completion_releasing for a task run by the join hand-off,
/// inside the poll of its handle on this thread (to_complete_joined).
template <HarnessTask T>
bool publish_completion_joined(T& t) {
  return publish_completed(t, t.state().to_complete_joined());
}

/// The handle goes away. Before completion the task side will drop the
/// outcome; after it, the handle does, unless it took the outcome already
/// (`joined`: its poll returned the result, and Outcome::take left nothing
/// to drop or report). The handle's reference goes last.
template <HarnessTask T>
void drop_join_handle(T& t, bool joined = false) {
  const JoinDrop d = t.state().drop_join_interest();
  if (!d.complete) {
    if (!d.kept_reference) return;
    t.clear_join_waker();  // ours again, and alive: we still hold a reference
    if (t.state().unref()) t.destroy();
    return;
  }
  if (!joined) t.drop_outcome();
  // The handle's reference alone: nobody else can reach the task.
  if (d.last_reference || t.state().release_join_interest()) t.destroy();
}

}  // namespace duet::detail

namespace duet::detail {

// ---- a real task's run: the scheduler's only way to its state word --------
//
// The worker loop, the join hand-off, the shutdown drain and the blocking
// pool start and end runs through these, and nothing outside the harness
// calls a transition of state.hpp (Tokio's rule for task/harness.rs). Each
// choice between transitions is made here, once: which start a run takes
// (start_run), which completion a finished run publishes (complete_run).

/// How a run begins.
enum class RunStart : std::uint8_t {
  queued,      ///< taken from a queue: NOTIFIED -> RUNNING (to_running)
  held,        ///< a ring entry whose yield held its run: the word only read (resume_held)
  joined,      ///< the join hand-off's child, inside its only handle's poll (to_running_joined)
  for_cancel,  ///< shutdown cancels a task that is not queued (to_running_for_cancel)
};

/// Begins a run of `t`: the word it starts from (CANCELLED in it: cancel the
/// task rather than run it). The start is a template argument, so each call
/// site compiles to its one transition.
template <RunStart How>
[[nodiscard]] inline TaskSnapshot start_run(TaskHeader* t) noexcept {
  if constexpr (How == RunStart::queued) {
    return t->state.to_running();
  } else if constexpr (How == RunStart::held) {
    return t->state.resume_held();
  } else if constexpr (How == RunStart::joined) {
    return t->state.to_running_joined();
  } else {
    return t->state.to_running_for_cancel();
  }
}

/// A spawned task listed before its first queue push
/// (RuntimeConfig::list_all_tasks): LISTED, with the list's reference.
inline void list_at_spawn(TaskHeader* t) noexcept {
  t->state.to_listed_at_spawn();
}

/// A spawned task pinned to worker `home`, before its first queue push
/// (Scheduler::submit_pinned): PINNED, for life.
inline void pin_at_spawn(TaskHeader* t, unsigned home) noexcept {
  t->state.pin_at_spawn(home);
}

/// A held run leaves the rings for a queue that starts runs with
/// RunStart::queued (held_run.hpp): RUNNING -> NOTIFIED.
inline void give_up_held_run(TaskHeader* t) noexcept {
  t->state.to_yielded();
}

/// A run ended pending: RUNNING -> idle, LISTED set with it when `list`.
/// True when it was woken or cancelled while it ran: queue it again.
[[nodiscard]] inline bool park_run(TaskHeader* t, bool list) noexcept {
  return t->state.to_idle(list);
}

/// A dump takes a parked task to read its frames, as if it ran it: true
/// when `t` was parked and is now held (RUNNING, with the hold's
/// reference). The hold ends with park_run(t, false); when that returns
/// true the task was woken or cancelled meanwhile and the holder queues it
/// (Scheduler::schedule), the hold's reference becoming the queue's.
[[nodiscard]] inline bool hold_parked(TaskHeader* t) noexcept {
  return t->state.to_running_for_inspection();
}

/// The harness's publishes for a real task (harness.cpp). publish_completion
/// is also called by a fiber before its last switch (hand_off.hpp), the
/// shutdown drain and the blocking pool; the other two only by complete_run.
DUET_API void publish_completion(TaskHeader* t) noexcept;
DUET_API bool publish_completion_releasing(TaskHeader* t) noexcept;
DUET_API bool publish_completion_joined(TaskHeader* t) noexcept;

/// A run ended complete, on the thread that ran it, and its completion is
/// not published yet (`s`, the word as the run left it, lacks COMPLETE).
/// Publishes it with the one transition that fits: a listed task's plain
/// publish; otherwise one that also releases the run's reference when that
/// leaves nothing to do, the join hand-off's own form for the child run
/// inside its handle's poll (`joined_inline`). True when the reference went
/// with it (the caller must not touch `t` again); false: the caller calls
/// release_run.
[[nodiscard]] inline bool complete_run(TaskHeader* t, TaskSnapshot s, bool joined_inline) noexcept {
  if (s.is_listed()) {
    publish_completion(t);
    return false;
  }
  return joined_inline ? publish_completion_joined(t) : publish_completion_releasing(t);
}

/// The run's references after a published completion (the queue's and the
/// run's; LISTED's with `listed`, the caller having unlisted it). True when
/// they were the last: the caller frees the task.
[[nodiscard]] inline bool release_run(TaskHeader* t, bool listed) noexcept {
  return t->state.release_after_completion(listed);
}

}  // namespace duet::detail
