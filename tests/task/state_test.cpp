// state_test.cpp: every transition of the task state word, from each state
// it may start in, and the precondition checks that catch the rest
// (duet/detail/task/state.hpp). Single-threaded; the races are in
// explorer_test.cpp.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>

#include "model_task.hpp"

using duet::detail::JoinDrop;
using duet::detail::WakeAction;
using duet::test::S;
using duet::test::TransitionError;
using State = duet::test::CheckedState<std::atomic<std::uint64_t>>;

namespace {
constexpr std::uint64_t refs(std::uint64_t n) {
  return n * S::ref_one;
}
/// Parked after its first run: listed, handle, list reference.
constexpr std::uint64_t parked = S::join_interest | S::listed | refs(2);
/// Popped and running: handle and queue references.
constexpr std::uint64_t running = S::running | S::join_interest | refs(2);

/// Read-modify-writes (each a locked instruction on x86) made by
/// CountingAtomic since the last reset: the join hand-off's transitions must
/// make none when nobody else can reach the word, and one otherwise.
int g_rmws = 0;

struct CountingAtomic {
  std::atomic<std::uint64_t> v;
  explicit CountingAtomic(std::uint64_t x) : v(x) {}
  std::uint64_t load(std::memory_order o = std::memory_order_seq_cst) const { return v.load(o); }
  void store(std::uint64_t x, std::memory_order o = std::memory_order_seq_cst) { v.store(x, o); }
  std::uint64_t fetch_add(std::uint64_t d, std::memory_order o = std::memory_order_seq_cst) {
    ++g_rmws;
    return v.fetch_add(d, o);
  }
  std::uint64_t fetch_sub(std::uint64_t d, std::memory_order o = std::memory_order_seq_cst) {
    ++g_rmws;
    return v.fetch_sub(d, o);
  }
  std::uint64_t fetch_or(std::uint64_t d, std::memory_order o = std::memory_order_seq_cst) {
    ++g_rmws;
    return v.fetch_or(d, o);
  }
  bool compare_exchange_weak(std::uint64_t& e, std::uint64_t d, std::memory_order s,
                             std::memory_order f) {
    ++g_rmws;
    return v.compare_exchange_weak(e, d, s, f);
  }
};
using CountedState = duet::test::CheckedState<CountingAtomic>;

/// The locked instructions `f` made.
template <class F>
int rmws_of(F&& f) {
  g_rmws = 0;
  f();
  return g_rmws;
}
}  // namespace

TEST_CASE("a spawned task is queued, joinable, and holds two references", "[task][state]") {
  State st;
  S s = st.load();
  CHECK(s.is_notified());
  CHECK_FALSE(s.is_running());
  CHECK(s.has_join_interest());
  CHECK_FALSE(s.has_join_waker());
  CHECK_FALSE(s.is_listed());
  CHECK(s.refs() == 2);
}

TEST_CASE("to_running takes a queued task and refuses any other", "[task][state]") {
  State st;
  S prev = st.to_running();
  CHECK(prev.is_notified());
  CHECK(st.load().is_running());
  CHECK_FALSE(st.load().is_notified());
  CHECK_THROWS_AS(st.to_running(), TransitionError);  // running, not notified
  State parked_st(parked);
  CHECK_THROWS_AS(parked_st.to_running(), TransitionError);
}

TEST_CASE("to_idle lists on the first park and drops the queue reference", "[task][state]") {
  State st(running);
  CHECK_FALSE(st.to_idle(true));
  S s = st.load();
  CHECK(s.is_idle());
  CHECK(s.is_listed());
  CHECK(s.refs() == 2);  // handle + list; the queue's became the list's
  State again(running | S::listed | refs(1));
  CHECK_FALSE(again.to_idle(false));
  CHECK(again.load().refs() == 2);
  State listed_twice(running | S::listed | refs(1));
  CHECK_THROWS_AS(listed_twice.to_idle(true), TransitionError);
}

TEST_CASE("to_idle of a task woken while it ran asks for a requeue and keeps the reference",
          "[task][state]") {
  State st(running | S::notified);
  CHECK(st.to_idle(true));
  S s = st.load();
  CHECK(s.is_notified());
  CHECK_FALSE(s.is_running());
  CHECK(s.refs() == 3);  // handle + queue + list
}

TEST_CASE("wake_by_val from each state", "[task][state]") {
  SECTION("parked: queued, the waker's reference becomes the queue's") {
    State st(parked | refs(1));
    CHECK(st.wake_by_val() == WakeAction::submit);
    CHECK(st.load().is_notified());
    CHECK(st.load().refs() == 3);
  }
  SECTION("running: marked, the runner requeues") {
    State st(running | refs(1));
    CHECK(st.wake_by_val() == WakeAction::none);
    CHECK(st.load().is_notified());
    CHECK(st.load().is_running());
    CHECK(st.load().refs() == 2);
  }
  SECTION("already queued: the reference is dropped") {
    State st(S::notified | S::join_interest | refs(3));
    CHECK(st.wake_by_val() == WakeAction::none);
    CHECK(st.load().refs() == 2);
  }
  SECTION("complete with the last reference: destroy") {
    State st(S::complete | refs(1));
    CHECK(st.wake_by_val() == WakeAction::destroy);
    CHECK(st.load().refs() == 0);
  }
  SECTION("no reference to consume is a violation") {
    State st(S::complete);
    CHECK_THROWS_AS(st.wake_by_val(), TransitionError);
  }
}

TEST_CASE("wake_by_ref from each state", "[task][state]") {
  State idle(parked | refs(1));
  CHECK(idle.wake_by_ref() == WakeAction::submit);
  CHECK(idle.load().refs() == 4);  // the queue took one of its own
  State run(running | refs(1));
  CHECK(run.wake_by_ref() == WakeAction::none);
  CHECK(run.load().is_notified());
  CHECK(run.load().refs() == 3);
  State queued(S::notified | refs(2));
  CHECK(queued.wake_by_ref() == WakeAction::none);
  CHECK(queued.load().bits() == (S::notified | refs(2)));
  State done(S::complete | refs(1));
  CHECK(done.wake_by_ref() == WakeAction::none);
  CHECK(done.load().bits() == (S::complete | refs(1)));
}

TEST_CASE("a pinned task keeps its home through its life and its wakes say submit_pinned",
          "[task][state]") {
  State st;  // spawned: NOTIFIED, a handle, two references
  st.pin_at_spawn(513);
  CHECK(st.load().is_pinned());
  CHECK(st.load().home() == 513);
  CHECK(st.load().refs() == 2);  // the home is not counted as references
  CHECK(st.load().is_notified());
  // Run, park, and be woken three ways: each wake queues it on its home.
  (void)st.to_running();
  CHECK_FALSE(st.to_idle(true));  // the first park lists it
  CHECK(st.wake_by_ref() == WakeAction::submit_pinned);
  CHECK(st.load().home() == 513);
  (void)st.to_running();
  CHECK_FALSE(st.to_idle(false));
  st.ref();  // a waker's clone, consumed by the wake below
  CHECK(st.wake_by_val() == WakeAction::submit_pinned);
  (void)st.to_running();
  CHECK_FALSE(st.to_idle(false));
  CHECK(st.cancel() == WakeAction::submit_pinned);
  CHECK(st.load().is_pinned());
  CHECK(st.load().home() == 513);
  CHECK(st.load().is_cancelled());
  CHECK(st.load().refs() == 3);  // the handle's, the list's, the queue's
  // An unpinned task's wakes still say submit.
  State plain(parked);
  CHECK(plain.wake_by_ref() == WakeAction::submit);
  CHECK_FALSE(plain.load().is_pinned());
}

TEST_CASE("pin_at_spawn: only once, only before the first run, only a home in range",
          "[task][state]") {
  SECTION("twice") {
    State st;
    st.pin_at_spawn(1);
    CHECK_THROWS_AS(st.pin_at_spawn(2), TransitionError);
  }
  SECTION("after the first run") {
    State st;
    (void)st.to_running();
    CHECK_THROWS_AS(st.pin_at_spawn(0), TransitionError);
  }
  SECTION("a home past the field") {
    State st;
    CHECK_THROWS_AS(st.pin_at_spawn(S::max_home + 1), TransitionError);
  }
}

TEST_CASE("cancel from each state, and only once", "[task][state]") {
  State idle(parked);
  CHECK(idle.cancel() == WakeAction::submit);
  CHECK(idle.load().is_cancelled());
  CHECK(idle.load().is_notified());
  CHECK(idle.load().refs() == 3);
  CHECK(idle.cancel() == WakeAction::none);
  CHECK(idle.load().refs() == 3);
  State run(running);
  CHECK(run.cancel() == WakeAction::none);
  CHECK(run.load().is_cancelled());
  CHECK(run.load().is_notified());  // requeued by the runner, then cancelled
  State queued(S::notified | refs(2));
  CHECK(queued.cancel() == WakeAction::none);
  CHECK(queued.load().bits() == (S::notified | S::cancelled | refs(2)));
  State done(S::complete | refs(1));
  CHECK(done.cancel() == WakeAction::none);
  CHECK_FALSE(done.load().is_cancelled());
}

TEST_CASE("resume_held reads a held run's word and changes nothing", "[task][state]") {
  // A yield holds its run (common/src/sched/held_run.hpp): the task stays
  // RUNNING in the ring, and its next runner only reads the word.
  State st(running | S::notified | S::cancelled);
  S s = st.resume_held();
  CHECK(s.is_running());
  CHECK(s.is_cancelled());  // the runner cancels rather than runs it
  CHECK(st.load().bits() == (running | S::notified | S::cancelled));
  State queued(S::notified | refs(2));
  CHECK_THROWS_AS((void)queued.resume_held(), TransitionError);
  State done(S::complete | refs(1));
  CHECK_THROWS_AS((void)done.resume_held(), TransitionError);
}

TEST_CASE("to_yielded requeues a running task", "[task][state]") {
  State st(running);
  st.to_yielded();
  CHECK(st.load().bits() == (S::notified | S::join_interest | refs(2)));
  CHECK_THROWS_AS(st.to_yielded(), TransitionError);
}

TEST_CASE("to_complete and the release of the run's references", "[task][state]") {
  State st(running | S::listed | refs(1));
  S prev = st.to_complete();
  CHECK(prev.is_running());
  CHECK(st.load().is_complete());
  CHECK_FALSE(st.load().is_running());
  CHECK_FALSE(st.release_after_completion(true));  // the handle still holds one
  CHECK(st.load().bits() == (S::complete | S::join_interest | refs(1)));
  State alone(S::running | refs(1));
  (void)alone.to_complete();
  CHECK(alone.release_after_completion(false));
  State twice(S::complete | refs(1));
  CHECK_THROWS_AS(twice.to_complete(), TransitionError);
  State wrong(S::complete | refs(1));
  CHECK_THROWS_AS(wrong.release_after_completion(true), TransitionError);  // not listed
}

TEST_CASE("to_complete_releasing drops the queue reference only with nothing left to do",
          "[task][state]") {
  // A handle without a waker: completed and the run's reference dropped in
  // one step (the handle's remains).
  State plain(S::running | S::join_interest | refs(2));
  auto done = plain.to_complete_releasing();
  CHECK(done.released);
  CHECK(done.prev.is_running());
  CHECK(plain.load().bits() == (S::complete | S::join_interest | refs(1)));
  // A published join waker: completed, reference kept (the completer wakes).
  State waited(S::running | S::join_interest | S::join_waker | refs(2));
  done = waited.to_complete_releasing();
  CHECK_FALSE(done.released);
  CHECK(done.prev.has_join_waker());
  CHECK(waited.load().bits() == (S::complete | S::join_interest | S::join_waker | refs(2)));
  // No handle: completed, reference kept (the completer drops the outcome).
  State detached(S::running | refs(1));
  done = detached.to_complete_releasing();
  CHECK_FALSE(done.released);
  CHECK(detached.load().bits() == (S::complete | refs(1)));
  CHECK(detached.release_after_completion(false));
  // Preconditions: running, not complete, not listed.
  State listed(running | S::listed);
  CHECK_THROWS_AS(listed.to_complete_releasing(), TransitionError);
  State idle(S::join_interest | refs(1));
  CHECK_THROWS_AS(idle.to_complete_releasing(), TransitionError);
}

TEST_CASE("to_running_joined stores when only the queue entry and the polled handle hold it",
          "[task][state]") {
  using Spawned = duet::detail::BasicTaskState<std::atomic<std::uint64_t>>;
  constexpr std::uint64_t spawned = Spawned::spawned;
  // As spawned: a plain store, no locked instruction.
  CountedState alone(spawned);
  S prev;
  CHECK(rmws_of([&] { prev = alone.to_running_joined(); }) == 0);
  CHECK(prev.bits() == spawned);
  CHECK(alone.load().bits() == running);
  // Anything else takes to_running's locked add, with its result and checks:
  // a waker clone (another holder), a cancel, a published join waker.
  for (std::uint64_t other : {spawned + refs(1), spawned | S::cancelled, spawned | S::join_waker}) {
    INFO("word " << other);
    CountedState st(other);
    CHECK(rmws_of([&] { prev = st.to_running_joined(); }) == 1);
    CHECK(prev.bits() == other);
    CHECK(st.load().bits() == other - S::notified + S::running);
  }
  CountedState taken(running);
  CHECK_THROWS_AS(taken.to_running_joined(), TransitionError);  // not NOTIFIED
}

TEST_CASE("to_complete_joined stores when only the run and the polled handle hold it",
          "[task][state]") {
  // The run's and the handle's references alone: a plain store, and the
  // run's reference goes with it.
  CountedState alone(running);
  duet::detail::BasicTaskState<CountingAtomic, duet::test::ThrowingTransitionChecks>::Completed
      done{};
  CHECK(rmws_of([&] { done = alone.to_complete_joined(); }) == 0);
  CHECK(done.released);
  CHECK(done.prev.bits() == running);
  CHECK(alone.load().bits() == (S::complete | S::join_interest | refs(1)));
  // A waker clone still out (it may wake or drop on another thread): the
  // locked path, which still drops the run's reference.
  CountedState cloned(running + refs(1));
  CHECK(rmws_of([&] { done = cloned.to_complete_joined(); }) == 1);
  CHECK(done.released);
  CHECK(cloned.load().bits() == (S::complete | S::join_interest | refs(2)));
  // Woken while it ran, or cancelled: locked, and as to_complete_releasing.
  for (std::uint64_t other : {running | S::notified, running | S::cancelled}) {
    INFO("word " << other);
    CountedState st(other);
    CHECK(rmws_of([&] { done = st.to_complete_joined(); }) == 1);
    CHECK(st.load().is_complete());
  }
  // A published join waker: not released (the completer wakes it).
  CountedState waited(running | S::join_waker);
  CHECK(rmws_of([&] { done = waited.to_complete_joined(); }) == 1);
  CHECK_FALSE(done.released);
  CountedState listed(running | S::listed);
  CHECK_THROWS_AS(listed.to_complete_joined(), TransitionError);
}

TEST_CASE("to_running_for_cancel marks a queued or parked task", "[task][state]") {
  State st(parked);
  CHECK(st.to_running_for_cancel().is_idle());
  CHECK(st.load().is_running());
  CHECK_THROWS_AS(st.to_running_for_cancel(), TransitionError);
}

TEST_CASE("the join waker: set, unset, and frozen by completion", "[task][state]") {
  State st(parked);
  CHECK(st.set_join_waker());
  CHECK(st.load().has_join_waker());
  CHECK_THROWS_AS(st.set_join_waker(), TransitionError);
  CHECK(st.unset_join_waker());
  CHECK_FALSE(st.load().has_join_waker());
  CHECK_THROWS_AS(st.unset_join_waker(), TransitionError);
  State done(S::complete | S::join_interest | S::join_waker | refs(1));
  CHECK_FALSE(done.unset_join_waker());
  CHECK(done.load().has_join_waker());
  State done2(S::complete | S::join_interest | refs(1));
  CHECK_FALSE(done2.set_join_waker());
  CHECK_FALSE(done2.load().has_join_waker());
  State orphan(S::notified | refs(1));
  CHECK_THROWS_AS(orphan.set_join_waker(), TransitionError);  // no join interest
}

TEST_CASE("dropping the handle before and after completion", "[task][state]") {
  SECTION("before, no waker: interest and reference go in one step") {
    State st(parked);
    JoinDrop d = st.drop_join_interest();
    CHECK_FALSE(d.complete);
    CHECK_FALSE(d.kept_reference);
    CHECK(st.load().bits() == (S::listed | refs(1)));
  }
  SECTION("before, with a published waker: the reference is kept until it is cleared") {
    State st(parked | S::join_waker);
    JoinDrop d = st.drop_join_interest();
    CHECK_FALSE(d.complete);
    CHECK(d.kept_reference);
    CHECK(st.load().bits() == (S::listed | refs(2)));
    CHECK_FALSE(st.unref());
  }
  SECTION("after: nothing changes until release_join_interest") {
    State st(S::complete | S::join_interest | S::join_waker | refs(2));
    JoinDrop d = st.drop_join_interest();
    CHECK(d.complete);
    CHECK_FALSE(d.kept_reference);
    CHECK_FALSE(d.last_reference);  // a waker clone holds one too
    CHECK(st.load().refs() == 2);
    CHECK_FALSE(st.release_join_interest());
    CHECK(st.unref());
  }
  SECTION("after, with the last reference: no locked instruction, nothing changes") {
    CountedState st(S::complete | S::join_interest | S::join_waker | refs(1));
    JoinDrop d{};
    CHECK(rmws_of([&] { d = st.drop_join_interest(); }) == 0);
    CHECK(d.complete);
    CHECK(d.last_reference);  // the handle frees the task without release_join_interest
    CHECK(st.load().bits() == (S::complete | S::join_interest | S::join_waker | refs(1)));
  }
  SECTION("twice is a violation") {
    State st(parked);
    (void)st.drop_join_interest();
    CHECK_THROWS_AS(st.drop_join_interest(), TransitionError);
  }
}

TEST_CASE("references: unref reports the last, underflow and overflow are caught",
          "[task][state]") {
  State st(S::complete | refs(2));
  st.ref();
  CHECK_FALSE(st.unref(2));
  CHECK(st.unref());
  CHECK_THROWS_AS(st.unref(), TransitionError);
  State full(S::notified | refs(S::max_refs));
  CHECK_THROWS_AS(full.ref(), TransitionError);
}

TEST_CASE("duet's own checks print the transition and the word, then abort", "[task][state]") {
  constexpr std::uint64_t word = S::running | S::complete | refs(1);
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(word));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 2);
    std::signal(SIGABRT, SIG_DFL);  // Catch's handler would report it as a failure
    duet::detail::AbortingTransitionChecks::violated("to_running", "NOTIFIED", word);
  }
  close(fds[1]);
  std::string err;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find(std::string("duet: task state: to_running needs NOTIFIED, but the word was ") +
                 hex) != std::string::npos);
  CHECK(err.find("1 references") != std::string::npos);
}

TEST_CASE("to_running_for_inspection holds only a parked task, and to_idle ends the hold",
          "[task][state]") {
  // Queued (spawned), running, complete: no hold, no change.
  for (std::uint64_t w : {State::spawned, running, S::complete | S::join_interest | refs(1)}) {
    State st(w);
    CHECK_FALSE(st.to_running_for_inspection());
    CHECK(st.load().bits() == w);
  }
  State st(parked);
  REQUIRE(st.to_running_for_inspection());
  CHECK(st.load().bits() == (parked | S::running) + S::ref_one);
  CHECK_FALSE(st.to_running_for_inspection());  // held already
  // Nothing happened meanwhile: parked again, the hold's reference gone.
  CHECK_FALSE(st.to_idle(false));
  CHECK(st.load().bits() == parked);
  // A wake during the hold: the hold's reference becomes the queue's.
  REQUIRE(st.to_running_for_inspection());
  CHECK(st.wake_by_ref() == WakeAction::none);
  CHECK(st.to_idle(false));
  CHECK(st.load().bits() == (parked | S::notified) + S::ref_one);
}
