// explorer_test.cpp: the races of the task life cycle, run in every
// interleaving (tests/support/explorer.hpp) over the real transitions and
// the real harness (common/src/task/harness.hpp), on a model task whose
// state word and join-waker cell are instrumented (model_task.hpp).
//
// Each case ends with the invariants that matter: a wake is never lost and
// never queues a task twice (queue entries == NOTIFIED and not RUNNING), the
// reference count equals its holders, the outcome is dropped exactly once,
// the task is freed exactly once and never touched after, and a joiner that
// waits is woken with the waker it published last.
#include <catch2/catch.hpp>

#include <memory>

#include "explored.hpp"
#include "model_task.hpp"
#include "task/harness.hpp"

using duet::detail::drop_join_handle;
using duet::detail::poll_join;
using duet::detail::publish_completion;
using duet::detail::publish_completion_joined;
using duet::detail::publish_completion_releasing;
using duet::test::ExploredAtomic;
using duet::test::Explorer;
using duet::test::ModelTask;
using duet::test::require_explored;
using duet::test::S;

namespace {

/// A worker pops the task and marks it running. Returns the word before.
S pop_and_run(ModelTask& m) {
  Explorer::expect(m.queued > 0, "ran a task that was not queued");
  --m.queued;
  return m.st.to_running();
}

/// The run ended pending: list it on its first park, idle it, requeue it
/// when it was woken meanwhile.
void park(ModelTask& m) {
  const bool list = !m.listed;
  m.listed = true;
  if (m.st.to_idle(list)) ++m.queued;
}

/// The run finished it (or cancelled it), as Worker::run_ended does (harness.hpp, complete_run): a
/// listed task publishes, unlists and releases the run's references; one
/// that never parked publishes and releases in one step when it can
/// (publish_completion_releasing), else releases after.
void finish(ModelTask& m) {
  if (!m.listed) {
    if (publish_completion_releasing(m)) return;
  } else {
    publish_completion(m);
  }
  const bool was_listed = m.listed;
  m.listed = false;
  if (m.st.release_after_completion(was_listed)) m.destroy();
}

/// What a worker does with a popped task: cancel it if asked, else run it
/// once to `pending` or to completion.
void run_once(ModelTask& m, bool completes) {
  S prev = pop_and_run(m);
  if (prev.is_cancelled() || completes) {
    finish(m);
  } else {
    park(m);
  }
}

/// After the threads: queue entries agree with the word, and the count
/// equals `holders` (handle, waker clones) plus queue and list.
void expect_consistent(ModelTask& m, std::uint64_t holders) {
  if (!m.alive) return;
  S s(m.st.load());
  const std::string at =
      ": queued " + std::to_string(m.queued) + ", word " + std::to_string(s.bits());
  // NOTIFIED may outlive a completion (a wake during the run that finished
  // it): it means "queued" only on a task that is neither running nor done.
  if (m.queued != ((s.is_notified() && !s.is_running() && !s.is_complete()) ? 1 : 0)) {
    Explorer::fail("queue entries disagree with NOTIFIED (a lost or doubled wake)" + at);
  }
  if (s.refs() != holders + static_cast<std::uint64_t>(m.queued) + (m.listed ? 1 : 0)) {
    Explorer::fail("the reference count differs from its holders" + at);
  }
  Explorer::expect(s.is_listed() == m.listed, "LISTED differs from the list");
}

/// Runs the task until nothing queues it, completing it at its next run,
/// then drops the handle if it is still held: everything must be freed.
void settle(ModelTask& m, bool handle_held) {
  while (m.alive && m.queued > 0) run_once(m, true);
  if (m.alive && !m.st.load().is_complete()) {
    // Parked with nobody to wake it: shutdown takes it off the list, cancels
    // it and drops the list's reference (Scheduler::cancel_everything).
    Explorer::expect(m.listed, "a parked task is not listed: shutdown cannot find it");
    m.listed = false;
    (void)m.st.to_running_for_cancel();
    publish_completion(m);
    if (m.st.unref()) m.destroy();
  }
  if (handle_held) drop_join_handle(m);
  Explorer::expect(m.destroys == 1, "the task was not freed exactly once");
  Explorer::expect(m.outcome_drops == 1, "the outcome was not dropped exactly once");
}

}  // namespace

TEST_CASE("explored: a wake racing a run that parks is never lost", "[task][explorer]") {
  for (bool by_ref : {false, true}) {
    auto r = Explorer::explore([by_ref] {
      // The task runs and has registered its waker (a clone) when the race
      // starts. (A wake before the pop just meets the queued entry: the run
      // that follows sees what the waker published.)
      auto m = std::make_shared<ModelTask>();
      (void)pop_and_run(*m);
      m->st.ref();
      return Explorer::Case{
          {[m] { park(*m); },
           [m, by_ref] { m->apply(by_ref ? m->st.wake_by_ref() : m->st.wake_by_val()); }},
          [m, by_ref] {
            Explorer::expect(m->queued == 1, "the woken task is not queued exactly once");
            expect_consistent(*m, by_ref ? 2 : 1);
            if (by_ref) (void)m->st.unref();
            settle(*m, true);
          }};
    });
    require_explored(r, 3);
  }
}

TEST_CASE("explored: a wake, the completing run and the handle drop", "[task][explorer]") {
  auto r = Explorer::explore([] {
    auto m = std::make_shared<ModelTask>();
    m->st.ref();
    return Explorer::Case{{[m] { run_once(*m, true); }, [m] { m->apply(m->st.wake_by_val()); },
                           [m] { drop_join_handle(*m); }},
                          [m] {
                            Explorer::expect(m->queued == 0, "a wake queued a completed task");
                            settle(*m, false);
                          }};
  });
  require_explored(r, 1000);
}

TEST_CASE("explored: a join racing completion is woken or sees it complete", "[task][explorer]") {
  auto r = Explorer::explore([] {
    auto m = std::make_shared<ModelTask>();
    auto ready = std::make_shared<bool>(false);
    return Explorer::Case{{[m] { run_once(*m, true); }, [m, ready] { *ready = poll_join(*m, 7); }},
                          [m, ready] {
                            if (!*ready) {
                              Explorer::expect(m->joiner_wakes == 1 && m->woken_with == 7,
                                               "a waiting joiner was not woken");
                              Explorer::expect(poll_join(*m, 7), "woken, but not complete");
                            }
                            settle(*m, true);
                          }};
  });
  require_explored(r, 10);
}

TEST_CASE("explored: a joiner that polls again with a new waker is woken with it",
          "[task][explorer]") {
  auto r = Explorer::explore([] {
    auto m = std::make_shared<ModelTask>();
    Explorer::expect(!poll_join(*m, 1), "a queued task joined at once");
    auto ready = std::make_shared<bool>(false);
    return Explorer::Case{{[m] { run_once(*m, true); }, [m, ready] { *ready = poll_join(*m, 2); }},
                          [m, ready] {
                            if (!*ready) {
                              Explorer::expect(m->joiner_wakes == 1 && m->woken_with == 2,
                                               "the joiner's new waker was not the one woken");
                            }
                            Explorer::expect(m->joiner_wakes <= 1, "the joiner was woken twice");
                            settle(*m, true);
                          }};
  });
  require_explored(r, 250);
}

TEST_CASE("explored: dropping a handle with a published waker racing completion",
          "[task][explorer]") {
  auto r = Explorer::explore([] {
    auto m = std::make_shared<ModelTask>();
    Explorer::expect(!poll_join(*m, 1), "a queued task joined at once");
    return Explorer::Case{{[m] { run_once(*m, true); }, [m] { drop_join_handle(*m); }},
                          [m] { settle(*m, false); }};
  });
  require_explored(r, 20);
}

TEST_CASE("explored: the explorer finds the handle drop that freed the task under its own write",
          "[task][explorer]") {
  // duet's drop before the task module: clear interest and waker and drop
  // the handle's reference, then clear the waker cell. The task can
  // complete and be freed between the two.
  auto r = Explorer::explore([] {
    auto m = std::make_shared<ModelTask>();
    Explorer::expect(!poll_join(*m, 1), "a queued task joined at once");
    auto old_drop = [m] {
      const auto d = m->st.drop_join_interest();  // keeps the reference (a published waker)
      if (m->st.unref()) m->destroy();            // ...which the old order dropped first
      if (!d.complete) m->clear_join_waker();
    };
    return Explorer::Case{{[m] { run_once(*m, true); }, old_drop}, [] {}};
  });
  REQUIRE_FALSE(r.failure.empty());
  CHECK(r.failure.find("after the owner was freed") != std::string::npos);
}

TEST_CASE("explored: cancel racing a run and a wake", "[task][explorer]") {
  auto r = Explorer::explore([] {
    auto m = std::make_shared<ModelTask>();
    m->st.ref();
    return Explorer::Case{{[m] { run_once(*m, false); }, [m] { m->apply(m->st.cancel()); },
                           [m] { m->apply(m->st.wake_by_val()); }},
                          [m] {
                            S s(m->st.load());
                            Explorer::expect(s.is_cancelled(), "the cancel was lost");
                            // Cancelled before its run: completed then; after it: queued again.
                            Explorer::expect(s.is_complete() || m->queued == 1,
                                             "a cancelled task is neither done nor queued");
                            expect_consistent(*m, 1);
                            settle(*m, true);
                          }};
  });
  require_explored(r, 1000);
}

TEST_CASE("explored: a handle drop racing a park and a wake by reference", "[task][explorer]") {
  auto r = Explorer::explore([] {
    auto m = std::make_shared<ModelTask>();
    (void)pop_and_run(*m);
    m->st.ref();
    return Explorer::Case{
        {[m] { park(*m); }, [m] { drop_join_handle(*m); }, [m] { m->apply(m->st.wake_by_ref()); }},
        [m] {
          Explorer::expect(!m->st.load().has_join_interest(),
                           "the handle's interest survived its drop");
          expect_consistent(*m, 1);
          (void)m->st.unref();  // the waker clone
          settle(*m, false);
        }};
  });
  require_explored(r, 50);
}

TEST_CASE("explored: a yield racing a wake keeps one queue entry", "[task][explorer]") {
  auto r = Explorer::explore([] {
    auto m = std::make_shared<ModelTask>();
    m->st.ref();
    return Explorer::Case{{[m] {
                             (void)pop_and_run(*m);
                             m->st.to_yielded();
                             ++m->queued;
                           },
                           [m] { m->apply(m->st.wake_by_val()); }},
                          [m] {
                            Explorer::expect(m->queued == 1, "a yield and a wake queued it twice");
                            expect_consistent(*m, 1);
                            settle(*m, true);
                          }};
  });
  require_explored(r, 3);
}

namespace {
/// The join hand-off on the joiner's thread, as Worker::run_child_inline
/// and the handle do it: the child taken from the LIFO slot
/// (to_running_joined), run to completion (publish_completion_joined; the
/// run's reference released after when it was kept), found complete by the
/// handle's poll, which takes the outcome, and the handle dropped as a
/// joined one (drop_joined_handle: nothing left to drop). With `handed`, the run first
/// clones its waker and hands the clone to another thread.
void join_inline(ModelTask& m, ExploredAtomic<int>* handed) {
  Explorer::expect(m.queued > 0, "ran a task that was not queued");
  --m.queued;
  (void)m.st.to_running_joined();
  if (handed != nullptr) {
    m.st.ref();
    handed->store(1);  // as a channel would hand it over
  }
  if (!publish_completion_joined(m) && m.st.release_after_completion(false)) m.destroy();
  Explorer::expect(poll_join(m, 7), "the joiner did not find its child complete");
  m.take_outcome();
  drop_join_handle(m, /*joined=*/true);
}
}  // namespace

TEST_CASE(
    "explored: the join hand-off's plain stores against a waker clone woken or dropped on "
    "another thread",
    "[task][explorer]") {
  // The hand-off's transitions skip the locked instruction only when the
  // references prove that nobody else can reach the word. A clone of the
  // child's waker, handed to another thread during the run, must send them
  // to the locked path whenever it is still out: then its wake or drop
  // cannot be lost, and the task is freed exactly once, by whoever holds
  // the last reference.
  for (int variant = 0; variant < 3; ++variant) {
    INFO(variant);
    auto r = Explorer::explore([variant] {
      auto m = std::make_shared<ModelTask>();
      auto handed = std::make_shared<ExploredAtomic<int>>(0);
      auto took = std::make_shared<bool>(false);
      auto joiner = [m, handed, variant] {
        join_inline(*m, variant == 0 ? nullptr : handed.get());
      };
      auto other = [m, handed, took, variant] {
        if (variant == 0 || handed->load() != 1) return;
        *took = true;
        if (variant == 1) {
          m->apply(m->st.wake_by_val());
        } else if (m->st.unref()) {
          m->destroy();
        }
      };
      return Explorer::Case{
          {joiner, other}, [m, took, variant] {
            if (variant != 0 && !*took && m->st.unref()) m->destroy();  // never taken
            Explorer::expect(m->queued == 0, "a completed task was queued");
            Explorer::expect(m->destroys == 1, "the task was not freed exactly once");
            Explorer::expect(m->outcome_takes == 1 && m->outcome_drops == 0,
                             "the joiner's outcome was not taken exactly once, or dropped too");
          }};
    });
    require_explored(r, variant == 0 ? 1 : 5);
  }
}

TEST_CASE("explored: a dump holding a parked task against a wake, a cancel and the handle drop",
          "[task][explorer][slow]") {
  // dump_tasks holds a parked coroutine task while it reads its chain of
  // awaits (hold_parked, then park_run(t, false)); a wake or a cancel
  // meanwhile must queue it exactly once, when the dump lets go, and no
  // reference may be lost or doubled.
  for (int other = 0; other < 2; ++other) {
    INFO(other);
    auto r = Explorer::explore([other] {
      auto m = std::make_shared<ModelTask>();
      (void)pop_and_run(*m);
      m->st.ref();  // a waker clone, registered by the run
      park(*m);     // parked and listed
      auto held = std::make_shared<bool>(false);
      auto dump = [m, held] {
        if (!m->st.to_running_for_inspection()) return;
        *held = true;
        if (m->st.to_idle(false)) ++m->queued;
      };
      auto wake = [m] { m->apply(m->st.wake_by_val()); };
      auto third = [m, other] {
        if (other == 0) {
          m->apply(m->st.cancel());
        } else {
          drop_join_handle(*m);
        }
      };
      return Explorer::Case{{dump, wake, third}, [m, other] {
                              Explorer::expect(m->queued == 1,
                                               "the woken task is not queued exactly once");
                              expect_consistent(*m, other == 0 ? 1 : 0);
                              settle(*m, other == 0);
                            }};
    });
    require_explored(r, 20);
  }
}
