// The rule that a woken coroutine is re-polled before it resumes
// (docs/architecture.md, "A woken coroutine is re-polled before it
// resumes"): a wake that finds its operation still pending costs one poll
// and never resumes the coroutine; the coroutine resumes once, when the
// operation is ready. Checked for an operation awaited directly and one
// awaited two coroutines deep.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

/// An operation whose readiness and waker the test controls.
struct Controlled {
  std::atomic<int> polls{0};
  std::atomic<bool> ready{false};
  std::mutex mu;
  duet::Waker waker;  // guarded by mu

  void wake() {
    std::lock_guard g(mu);
    waker.wake_by_ref();
  }
};

struct ControlledOp {
  Controlled* c;
  duet::Poll<int> poll(duet::Context& cx) {
    std::lock_guard g(c->mu);
    c->polls.fetch_add(1);
    if (c->ready.load()) return 42;
    c->waker = cx.waker();
    return duet::pending;
  }
};

duet::Task<int> leaf(Controlled* c, std::atomic<int>* resumed) {
  const int v = co_await ControlledOp{c};
  resumed->fetch_add(1);
  co_return v;
}

duet::Task<int> outer(Controlled* c, std::atomic<int>* resumed) {
  co_return co_await leaf(c, resumed) + 1;
}

/// Wakes the parked task `spurious` times while its operation is pending;
/// each wake must be answered by exactly one poll and no resumption.
void wake_spuriously(Controlled& c, const std::atomic<int>& resumed, int spurious) {
  while (c.polls.load() < 1) std::this_thread::yield();  // parked on the op
  for (int k = 1; k <= spurious; ++k) {
    c.wake();
    while (c.polls.load() < k + 1) std::this_thread::yield();  // re-polled
    REQUIRE(resumed.load() == 0);
  }
}

}  // namespace

TEST_CASE("a woken coroutine is re-polled before it resumes, spurious wakes never resume it",
          "[task][repoll]") {
  duet::test::Watchdog wd("repoll");
  duet::Runtime rt({.workers = 2});
  for (bool nested : {false, true}) {
    INFO((nested ? "awaited two coroutines deep" : "awaited directly"));
    Controlled c;
    std::atomic<int> resumed{0};
    auto h = nested ? rt.spawn(outer(&c, &resumed)) : rt.spawn(leaf(&c, &resumed));
    wake_spuriously(c, resumed, 5);
    CHECK(c.polls.load() == 6);  // one poll per wake, plus the first
    c.ready.store(true);
    c.wake();
    CHECK(h.join() == (nested ? 43 : 42));
    CHECK(resumed.load() == 1);
    CHECK(c.polls.load() == 7);  // the ready poll; the coroutine did not poll again
  }
}

namespace {

/// A temporary operand of co_await that records where each poll found it
/// and whether it was still alive: the awaiter refers to it (no copy in
/// the frame), so every poll must see the same live object.
struct WatchedOp {
  static constexpr std::uint64_t live = 0x5eedf00d;
  Controlled* c;
  std::atomic<const void*>* first_at;
  std::atomic<int>* misplaced;  // polls that found another object or a dead one
  std::atomic<int>* moves;
  std::uint64_t magic = live;
  WatchedOp(Controlled* c_, std::atomic<const void*>* at, std::atomic<int>* bad,
            std::atomic<int>* mv)
      : c(c_), first_at(at), misplaced(bad), moves(mv) {}
  WatchedOp(WatchedOp&& o) noexcept
      : c(o.c), first_at(o.first_at), misplaced(o.misplaced), moves(o.moves) {
    moves->fetch_add(1);
  }
  ~WatchedOp() { magic = 0; }
  duet::Poll<int> poll(duet::Context& cx) {
    const void* expected = nullptr;
    first_at->compare_exchange_strong(expected, this);
    if (magic != live || first_at->load() != this) misplaced->fetch_add(1);
    return ControlledOp{c}.poll(cx);
  }
};

duet::Task<int> await_temporary(Controlled* c, std::atomic<const void*>* at, std::atomic<int>* bad,
                                std::atomic<int>* moves) {
  const int v = co_await WatchedOp(c, at, bad, moves);  // lives until this line ends
  co_return v + 1;
}

}  // namespace

TEST_CASE("an awaited temporary future stays where it is, alive, until its await resumes",
          "[task][repoll]") {
  duet::test::Watchdog wd("temporary");
  duet::Runtime rt({.workers = 2});
  Controlled c;
  std::atomic<const void*> at{nullptr};
  std::atomic<int> bad{0};
  std::atomic<int> moves{0};
  auto h = rt.spawn(await_temporary(&c, &at, &bad, &moves));
  while (c.polls.load() < 1) std::this_thread::yield();  // parked on it
  c.wake();                                              // a spurious wake: polled again
  while (c.polls.load() < 2) std::this_thread::yield();
  c.ready.store(true);
  c.wake();
  CHECK(h.join() == 43);
  CHECK(c.polls.load() == 3);
  CHECK(bad.load() == 0);
  CHECK(moves.load() == 0);  // the awaiter refers to the operand, never moves it
}

namespace {

/// A move-only output that counts its moves.
struct Counted {
  int v;
  std::atomic<int>* moves;
  Counted(int v_, std::atomic<int>* m) : v(v_), moves(m) {}
  Counted(Counted&& o) noexcept : v(o.v), moves(o.moves) { moves->fetch_add(1); }
  Counted& operator=(Counted&&) = delete;
};

/// A two-step future (duet/poll.hpp, TwoStepFuture) over a Controlled
/// operation; `fail_repoll` makes every poll after the first throw.
struct TwoStepOp {
  Controlled* c;
  std::atomic<int>* moves;
  bool fail_repoll = false;
  int got = 0;
  int takes = 0;
  int plain_polls = 0;

  bool poll_ready(duet::Context& cx) {
    if (fail_repoll && c->polls.load() > 0) {
      c->polls.fetch_add(1);
      throw std::runtime_error("the re-poll failed");
    }
    auto p = ControlledOp{c}.poll(cx);
    if (p.is_pending()) return false;
    got = p.value();
    return true;
  }
  Counted take_ready() {
    ++takes;
    return Counted(got, moves);
  }
  duet::Poll<Counted> poll(duet::Context& cx) {
    ++plain_polls;
    if (!poll_ready(cx)) return duet::pending;
    return take_ready();
  }
};
static_assert(duet::detail::TwoStepFuture<TwoStepOp>);

duet::Task<int> await_two_step(TwoStepOp* op) {
  try {
    Counted out = co_await *op;
    co_return out.v;
  } catch (const std::runtime_error&) {
    co_return -1;
  }
}

}  // namespace

TEST_CASE("a coroutine awaits a two-step future in its two steps: the output is built once",
          "[task][repoll]") {
  duet::test::Watchdog wd("two-step");
  duet::Runtime rt({.workers = 2});
  Controlled c;
  std::atomic<int> moves{0};
  TwoStepOp op{&c, &moves};
  auto h = rt.spawn(await_two_step(&op));
  while (c.polls.load() < 1) std::this_thread::yield();  // parked on it
  c.ready.store(true);
  c.wake();
  CHECK(h.join() == 42);
  CHECK(c.polls.load() == 2);
  CHECK(op.takes == 1);
  CHECK(op.plain_polls == 0);  // poll() is the other faces'
  CHECK(moves.load() == 0);    // from take_ready's return to the coroutine's variable

  // The other faces use poll().
  Controlled ready;
  ready.ready.store(true);
  TwoStepOp direct{&ready, &moves};
  CHECK(duet::wait(direct).v == 42);
  CHECK(direct.plain_polls == 1);
  CHECK(direct.takes == 1);
}

TEST_CASE("an exception thrown by a two-step future's re-poll reaches its co_await",
          "[task][repoll]") {
  duet::test::Watchdog wd("two-step-throw");
  duet::Runtime rt({.workers = 2});
  Controlled c;
  std::atomic<int> moves{0};
  TwoStepOp op{&c, &moves, /*fail_repoll=*/true};
  auto h = rt.spawn(await_two_step(&op));
  while (c.polls.load() < 1) std::this_thread::yield();  // parked on it
  c.wake();                                              // the re-poll throws
  CHECK(h.join() == -1);
  CHECK(c.polls.load() == 2);
  CHECK(op.takes == 0);
}
