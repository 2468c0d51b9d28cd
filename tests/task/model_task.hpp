// model_task.hpp: a task for the state-machine tests. Its state word is a
// BasicTaskState over an explored atomic, with checks that throw; its join
// waker is an explored cell holding the joiner's id (0: none). It counts
// what the harness does to it, so a case can assert that the outcome was
// dropped or taken once, the task freed once, and the joiner woken with the waker it
// published last.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "duet/detail/task/state.hpp"
#include "explorer.hpp"

namespace duet::test {

struct TransitionError : std::logic_error {
  using std::logic_error::logic_error;
};

/// Checks on in every build, reported as exceptions (the explorer records
/// them as failures; unit tests REQUIRE_THROWS them).
struct ThrowingTransitionChecks {
  static constexpr bool enabled = true;
  static constexpr bool nothrow = false;
  [[noreturn]] static void violated(const char* transition, const char* needs, std::uint64_t bits) {
    throw TransitionError(std::string(transition) + " needs " + needs + " (word " +
                          std::to_string(bits) + ")");
  }
  [[noreturn]] static void overflow(std::uint64_t bits) {
    throw TransitionError("reference overflow (word " + std::to_string(bits) + ")");
  }
};

template <class Word>
using CheckedState = detail::BasicTaskState<Word, ThrowingTransitionChecks>;
using ModelState = CheckedState<ExploredAtomic<std::uint64_t>>;
using S = detail::TaskSnapshot;

struct ModelTask {
  using waker_type = int;

  explicit ModelTask(std::uint64_t initial = ModelState::spawned) : st(initial) {}

  ModelState& state() { return st; }
  bool join_waker_is(const int& w) { return waker.read() == w; }
  void store_join_waker(const int& w) { waker.write(w); }
  void clear_join_waker() { waker.write(0); }
  void wake_joiner() {
    int w = waker.read();
    Explorer::expect(w != 0, "woke an empty join waker");
    woken_with = w;
    ++joiner_wakes;
  }
  void drop_outcome() {
    Explorer::expect(alive, "dropped the outcome of a freed task");
    ++outcome_drops;
  }
  /// The handle's poll took the outcome (JoinHandle::poll, Outcome::take).
  void take_outcome() {
    Explorer::expect(alive, "took the outcome of a freed task");
    Explorer::expect(st.load().is_complete(), "took the outcome before completion");
    ++outcome_takes;
  }
  void destroy() {
    Explorer::expect(alive, "freed a task twice");
    alive = false;
    ++destroys;
  }
  /// A WakeAction carried out: submit queues it, destroy frees it.
  void apply(detail::WakeAction a) {
    if (a == detail::WakeAction::submit || a == detail::WakeAction::submit_pinned) ++queued;
    if (a == detail::WakeAction::destroy) destroy();
  }

  bool alive = true;
  ModelState st;
  ExploredCell<int> waker{&alive};
  int queued = 1;       // run-queue entries: a spawned task is queued once
  bool listed = false;  // in the (modelled) OwnedTasks list; the runner's to change
  int joiner_wakes = 0;
  int woken_with = 0;
  int outcome_drops = 0;
  int outcome_takes = 0;
  int destroys = 0;
};

}  // namespace duet::test
