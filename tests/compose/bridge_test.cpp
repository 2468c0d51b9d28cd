// The bridges of duet/bridge.hpp (issue 50, item 6): from_awaitable makes a
// poll future of a foreign C++20 awaitable, callback_future of a callback
// API. Each await_suspend shape (void, bool, a handle), a resume inside
// await_suspend or later on a foreign thread, void, move-only and throwing
// results, an adapter dropped while the foreign operation is pending (the
// foreign side still writes into its awaiter and resumes afterwards: ASan
// checks that this touches no freed memory), select against a token, and a
// callback called on another thread, dropped uncalled, or called twice; in
// both models.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include <duet/duet.hpp>

#include "../sync/sync_util.hpp"
#include "test_util.hpp"

namespace duet_bridge_test {

using duet::synctest::CountingWaker;
using duet::synctest::eventually;

/// A foreign library's completion thread: runs the jobs posted to it, in
/// order, on a std::thread of its own (never a duet worker).
class ForeignLoop {
 public:
  ForeignLoop() : t_([this] { run(); }) {}
  ForeignLoop(const ForeignLoop&) = delete;
  ForeignLoop& operator=(const ForeignLoop&) = delete;
  ~ForeignLoop() {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    t_.join();
  }
  void post(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> g(m_);
      q_.push_back(std::move(f));
    }
    cv_.notify_all();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [this] { return stop_ || !q_.empty(); });
        if (q_.empty()) return;
        f = std::move(q_.front());
        q_.pop_front();
      }
      f();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::thread t_;  // last: started after the members it uses
};

/// A gate a foreign job waits at: the test sees the job arrive (the
/// operation is pending), then lets it go on.
class Gate {
 public:
  void arrive_and_wait() {
    std::unique_lock<std::mutex> l(m_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(l, [this] { return open_; });
  }
  void wait_arrived() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [this] { return arrived_ > 0; });
  }
  void open() {
    {
      std::lock_guard<std::mutex> g(m_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int arrived_ = 0;
  bool open_ = false;
};

// ---- foreign awaitables, one per shape --------------------------------------

/// Ready at once: await_suspend is never called.
struct ReadyAwaitable {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) { TCHECK(false); }
  int await_resume() { return 7; }
};

/// Not ready, but await_suspend declines to suspend (returns false).
struct DecliningAwaitable {
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) noexcept { return false; }
  std::string await_resume() { return "declined"; }
};

/// Resumes its handle inside await_suspend, then returns void (or true).
template <class R>
struct InlineAwaitable {
  int value = 0;
  bool await_ready() const noexcept { return false; }
  R await_suspend(std::coroutine_handle<> h) {
    value = 11;
    h.resume();
    if constexpr (std::is_same_v<R, bool>) return true;
  }
  int await_resume() const { return value; }
};

/// The usual foreign operation: the result is computed on the loop's
/// thread, written into the awaiter, and the handle resumed there.
struct LoopAwaitable {
  ForeignLoop* loop;
  int in;
  int out = 0;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    loop->post([this, h] {
      out = in * 2;
      h.resume();
    });
  }
  int await_resume() const { return out; }
};

/// As LoopAwaitable, with a void result.
struct VoidAwaitable {
  ForeignLoop* loop;
  std::atomic<int>* ran;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    loop->post([this, h] {
      ran->fetch_add(1);
      h.resume();
    });
  }
  void await_resume() const noexcept {}
};

/// A move-only result, moved out of the awaiter.
struct MoveOnlyAwaitable {
  ForeignLoop* loop;
  std::unique_ptr<int> out;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    loop->post([this, h] {
      out = std::make_unique<int>(99);
      h.resume();
    });
  }
  std::unique_ptr<int> await_resume() { return std::move(out); }
};

/// await_resume throws.
struct ThrowingAwaitable {
  ForeignLoop* loop;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    loop->post([h] { h.resume(); });
  }
  int await_resume() { throw std::runtime_error("foreign boom"); }
};

/// await_suspend returns std::noop_coroutine() (nothing to run now); the
/// loop resumes the handle later.
struct NoopHandleAwaitable {
  ForeignLoop* loop;
  int out = 0;
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
    loop->post([this, h] {
      out = 5;
      h.resume();
    });
    return std::noop_coroutine();
  }
  int await_resume() const { return out; }
};

/// await_suspend returns the handle it was given: resume me now.
struct SelfHandleAwaitable {
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept { return h; }
  int await_resume() const noexcept { return 6; }
};

/// A foreign coroutine that records it ran and resumes `target`: what a
/// symmetric transfer to another coroutine runs.
class Relay {
 public:
  struct promise_type {
    Relay get_return_object() noexcept {
      return Relay(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  Relay(Relay&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Relay& operator=(Relay&&) = delete;
  ~Relay() {
    if (h_) h_.destroy();
  }
  [[nodiscard]] std::coroutine_handle<> handle() const noexcept { return h_; }

 private:
  explicit Relay(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};
Relay relay_to(std::coroutine_handle<> target, int* ran) {
  ++*ran;
  target.resume();
  co_return;
}

/// await_suspend returns another coroutine's handle, which must be resumed
/// (and which resumes the awaiting handle). The awaiter cannot be moved: it
/// is built in place from operator co_await's result.
struct RelayAwaiter {
  int ran = 0;
  std::optional<Relay> relay;
  RelayAwaiter() = default;
  RelayAwaiter(const RelayAwaiter&) = delete;
  RelayAwaiter& operator=(const RelayAwaiter&) = delete;
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
    relay.emplace(relay_to(h, &ran));
    return relay->handle();
  }
  int await_resume() const noexcept { return 100 + ran; }
};
/// An awaitable whose awaiter comes from a member operator co_await.
struct RelayAwaitable {
  RelayAwaiter operator co_await() && { return {}; }
};

/// An awaitable whose awaiter comes from a free operator co_await.
struct FreeCoAwait {
  ForeignLoop* loop;
  int in;
};
LoopAwaitable operator co_await(FreeCoAwait a) {
  return LoopAwaitable{a.loop, a.in};
}

/// The foreign side destroys the handle instead of resuming it.
struct DestroyingAwaitable {
  ForeignLoop* loop;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    loop->post([h] { h.destroy(); });
  }
  int await_resume() const noexcept { return 0; }
};

/// Waits at a gate on the loop, then writes its result into itself and
/// resumes: the operation of the dropped-adapter cases. Counts the
/// destruction of the live awaiter (moved-from ones do not count), and the
/// foreign side's completions.
struct GatedAwaitable {
  ForeignLoop* loop;
  Gate* gate;
  std::atomic<int>* destroyed;
  std::atomic<int>* completed;
  int out = 0;
  GatedAwaitable(ForeignLoop* l, Gate* g, std::atomic<int>* d, std::atomic<int>* c)
      : loop(l), gate(g), destroyed(d), completed(c) {}
  GatedAwaitable(GatedAwaitable&& o) noexcept
      : loop(o.loop),
        gate(o.gate),
        destroyed(std::exchange(o.destroyed, nullptr)),
        completed(o.completed),
        out(o.out) {}
  GatedAwaitable& operator=(GatedAwaitable&&) = delete;
  ~GatedAwaitable() {
    if (destroyed != nullptr) destroyed->fetch_add(1);
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    loop->post([this, h] {
      gate->arrive_and_wait();
      out = 42;  // into the awaiter, after its adapter may be gone
      completed->fetch_add(1);
      h.resume();
    });
  }
  int await_resume() const noexcept { return out; }
};

// ---- the battery, in each model ---------------------------------------------

/// What every battery returns when each case behaved.
const char* const expected_log =
    "ready=7|declined|inline-void=11|inline-true=11|loop=42|lvalue=8|void=1|move-only=99|"
    "threw:foreign boom|noop-handle=5|self-handle=6|relay=101|free=22|destroyed";

duet::Task<std::string> coroutine_battery(ForeignLoop* loop) {
  std::string log;
  log += "ready=" + std::to_string(co_await duet::from_awaitable(ReadyAwaitable{}));
  log += "|" + co_await duet::from_awaitable(DecliningAwaitable{});
  const int iv = co_await duet::from_awaitable(InlineAwaitable<void>{});
  log += "|inline-void=" + std::to_string(iv);
  const int ib = co_await duet::from_awaitable(InlineAwaitable<bool>{});
  log += "|inline-true=" + std::to_string(ib);
  log += "|loop=" + std::to_string(co_await duet::from_awaitable(LoopAwaitable{loop, 21}));
  LoopAwaitable lv{loop, 4};  // an lvalue: referred to, its result read from it
  co_await duet::from_awaitable(lv);
  log += "|lvalue=" + std::to_string(lv.out);
  std::atomic<int> ran{0};
  co_await duet::from_awaitable(VoidAwaitable{loop, &ran});
  log += "|void=" + std::to_string(ran.load());
  std::unique_ptr<int> p = co_await duet::from_awaitable(MoveOnlyAwaitable{loop, nullptr});
  log += "|move-only=" + std::to_string(*p);
  try {
    co_await duet::from_awaitable(ThrowingAwaitable{loop});
    log += "|no throw";
  } catch (const std::runtime_error& e) {
    log += std::string("|threw:") + e.what();
  }
  log += "|noop-handle=" + std::to_string(co_await duet::from_awaitable(NoopHandleAwaitable{loop}));
  log += "|self-handle=" + std::to_string(co_await duet::from_awaitable(SelfHandleAwaitable{}));
  log += "|relay=" + std::to_string(co_await duet::from_awaitable(RelayAwaitable{}));
  log += "|free=" + std::to_string(co_await duet::from_awaitable(FreeCoAwait{loop, 11}));
  try {
    co_await duet::from_awaitable(DestroyingAwaitable{loop});
    log += "|not destroyed";
  } catch (const std::runtime_error&) {
    log += "|destroyed";
  }
  co_return log;
}

std::string fiber_battery(ForeignLoop* loop) {
  std::string log;
  log += "ready=" + std::to_string(duet::wait(duet::from_awaitable(ReadyAwaitable{})));
  log += "|" + duet::wait(duet::from_awaitable(DecliningAwaitable{}));
  log +=
      "|inline-void=" + std::to_string(duet::wait(duet::from_awaitable(InlineAwaitable<void>{})));
  log +=
      "|inline-true=" + std::to_string(duet::wait(duet::from_awaitable(InlineAwaitable<bool>{})));
  log += "|loop=" + std::to_string(duet::wait(duet::from_awaitable(LoopAwaitable{loop, 21})));
  LoopAwaitable lv{loop, 4};
  duet::wait(duet::from_awaitable(lv));
  log += "|lvalue=" + std::to_string(lv.out);
  std::atomic<int> ran{0};
  duet::wait(duet::from_awaitable(VoidAwaitable{loop, &ran}));
  log += "|void=" + std::to_string(ran.load());
  std::unique_ptr<int> p = duet::wait(duet::from_awaitable(MoveOnlyAwaitable{loop, nullptr}));
  log += "|move-only=" + std::to_string(*p);
  try {
    duet::wait(duet::from_awaitable(ThrowingAwaitable{loop}));
    log += "|no throw";
  } catch (const std::runtime_error& e) {
    log += std::string("|threw:") + e.what();
  }
  log +=
      "|noop-handle=" + std::to_string(duet::wait(duet::from_awaitable(NoopHandleAwaitable{loop})));
  log += "|self-handle=" + std::to_string(duet::wait(duet::from_awaitable(SelfHandleAwaitable{})));
  log += "|relay=" + std::to_string(duet::wait(duet::from_awaitable(RelayAwaitable{})));
  log += "|free=" + std::to_string(duet::wait(duet::from_awaitable(FreeCoAwait{loop, 11})));
  try {
    duet::wait(duet::from_awaitable(DestroyingAwaitable{loop}));
    log += "|not destroyed";
  } catch (const std::runtime_error&) {
    log += "|destroyed";
  }
  return log;
}

/// select(from_awaitable(op), token.cancelled()): `index` is the case that
/// won the second select (the first is checked in the task).
struct SelectSeen {
  std::size_t index = 9;
};

duet::Task<SelectSeen> coroutine_select(ForeignLoop* loop, GatedAwaitable* gated,
                                        duet::CancellationToken* token) {
  SelectSeen seen;
  // The foreign operation wins against a token nobody cancels.
  duet::CancellationToken idle;
  auto won = co_await duet::select(duet::from_awaitable(LoopAwaitable{loop, 3}), idle.cancelled());
  TCHECK(won.index() == 0 && won.get<0>() == 6);
  // The token wins; the adapter is dropped while the operation waits at
  // its gate.
  auto lost = co_await duet::select(duet::from_awaitable(std::move(*gated)), token->cancelled());
  seen.index = lost.index();
  co_return seen;
}

SelectSeen fiber_select(ForeignLoop* loop, GatedAwaitable* gated, duet::CancellationToken* token) {
  SelectSeen seen;
  duet::CancellationToken idle;
  auto won =
      duet::wait(duet::select(duet::from_awaitable(LoopAwaitable{loop, 3}), idle.cancelled()));
  TCHECK(won.index() == 0 && won.get<0>() == 6);
  auto lost = duet::wait(duet::select(duet::from_awaitable(std::move(*gated)), token->cancelled()));
  seen.index = lost.index();
  return seen;
}

/// After the select dropped the adapter: the awaiter is still alive, and
/// when the foreign side completes (writing into it and resuming) it is
/// destroyed on that side's thread.
void check_dropped_adapter(Gate& gate, std::atomic<int>& destroyed, std::atomic<int>& completed) {
  CHECK(destroyed.load() == 0);
  CHECK(completed.load() == 0);
  gate.open();
  CHECK(eventually([&] { return destroyed.load() == 1; }));
  CHECK(completed.load() == 1);
}

// ---- the callback bridge ------------------------------------------------------

/// A callback API: calls `done` on its loop's thread with an error code and
/// a payload, as a library's completion would.
void legacy_fetch(ForeignLoop* loop, std::string key,
                  std::function<void(std::error_code, std::string)> done) {
  loop->post([key = std::move(key), done = std::move(done)] { done({}, "value of " + key); });
}

/// Results of the callback cases: the values seen, and what each call of
/// the twice-called callback returned.
struct CallbackSeen {
  std::string fetched;
  bool dropped_empty = false;
  int twice_value = 0;
};

duet::Task<CallbackSeen> coroutine_callbacks(ForeignLoop* loop, std::atomic<int>* first,
                                             std::atomic<int>* second) {
  CallbackSeen seen;
  {
    auto [done, fut] = duet::callback_future<std::error_code, std::string>();
    legacy_fetch(loop, "k", done);
    auto v = co_await fut;
    TCHECK(v.has_value() && !std::get<0>(*v));
    seen.fetched = std::get<1>(*v);
  }
  {
    auto [done, fut] = duet::callback_future<int>();
    loop->post([d = std::move(done)] { (void)d; });  // destroyed there, uncalled
    std::optional<int> v = co_await fut;
    seen.dropped_empty = !v.has_value();
  }
  {
    auto [done, fut] = duet::callback_future<int>();
    loop->post([d = std::move(done), first, second] {
      first->store(d(1) ? 1 : 0);
      auto copy = d;  // a copy shares the one call
      second->store(copy(2) ? 1 : 0);
    });
    std::optional<int> v = co_await fut;
    seen.twice_value = v.value_or(-1);
  }
  co_return seen;
}

CallbackSeen fiber_callbacks(ForeignLoop* loop, std::atomic<int>* first, std::atomic<int>* second) {
  CallbackSeen seen;
  {
    auto [done, fut] = duet::callback_future<std::error_code, std::string>();
    legacy_fetch(loop, "k", done);
    auto v = duet::wait(std::move(fut));
    TCHECK(v.has_value() && !std::get<0>(*v));
    seen.fetched = std::get<1>(*v);
  }
  {
    auto [done, fut] = duet::callback_future<int>();
    loop->post([d = std::move(done)] { (void)d; });
    seen.dropped_empty = !duet::wait(std::move(fut)).has_value();
  }
  {
    auto [done, fut] = duet::callback_future<int>();
    loop->post([d = std::move(done), first, second] {
      first->store(d(1) ? 1 : 0);
      auto copy = d;
      second->store(copy(2) ? 1 : 0);
    });
    seen.twice_value = duet::wait(std::move(fut)).value_or(-1);
  }
  return seen;
}

/// The twice-called callback's results are stored on the loop's thread
/// after each call returns, so possibly after the task saw the value.
void check_callbacks(const CallbackSeen& seen, std::atomic<int>& first, std::atomic<int>& second) {
  CHECK(seen.fetched == "value of k");
  CHECK(seen.dropped_empty);
  CHECK(seen.twice_value == 1);
  REQUIRE(eventually([&] { return second.load() != -1; }));
  CHECK(first.load() == 1);   // the first call delivered
  CHECK(second.load() == 0);  // the second, through a copy, was refused
}

}  // namespace duet_bridge_test

using namespace duet_bridge_test;

TEST_CASE("bridge: from_awaitable drives every awaitable shape (coroutine)", "[bridge]") {
  duet::test::Watchdog wd("bridge coroutine battery");
  ForeignLoop loop;
  duet::Runtime rt(duet::test::cpu_only_config(2));
  CHECK(rt.spawn(coroutine_battery(&loop)).join() == expected_log);
}

TEST_CASE("bridge: from_awaitable drives every awaitable shape (fiber)", "[bridge]") {
  duet::test::Watchdog wd("bridge fiber battery");
  ForeignLoop loop;
  duet::Runtime rt(duet::test::cpu_only_config(2));
  CHECK(rt.spawn(duet::stackful, [&loop] { return fiber_battery(&loop); }).join() == expected_log);
}

TEST_CASE("bridge: from_awaitable on a plain thread, and polled by hand", "[bridge]") {
  duet::test::Watchdog wd("bridge plain thread");
  ForeignLoop loop;
  CHECK(duet::wait(duet::from_awaitable(LoopAwaitable{&loop, 5})) == 10);
  // Polled by hand: a ready awaitable is ready at the first poll, and a
  // poll after the end is an error.
  CountingWaker cw;
  auto f = duet::from_awaitable(ReadyAwaitable{});
  auto p = duet::synctest::poll_once(f, cw);
  REQUIRE(p.is_ready());
  CHECK(p.value() == 7);
  CHECK_THROWS_AS(duet::synctest::poll_once(f, cw), std::logic_error);
  CHECK(cw.refs.load() == 0);
}

TEST_CASE("bridge: select drops a pending adapter, the foreign side completes later (coroutine)",
          "[bridge]") {
  duet::test::Watchdog wd("bridge select coroutine");
  ForeignLoop loop;
  Gate gate;
  std::atomic<int> destroyed{0};
  std::atomic<int> completed{0};
  duet::CancellationToken token;
  {
    duet::Runtime rt(duet::test::cpu_only_config(2));
    GatedAwaitable gated(&loop, &gate, &destroyed, &completed);
    auto h = rt.spawn(coroutine_select(&loop, &gated, &token));
    gate.wait_arrived();  // the operation is pending: cancel the token
    token.cancel();
    CHECK(h.join().index == 1);
  }
  check_dropped_adapter(gate, destroyed, completed);  // after the runtime is gone, too
}

TEST_CASE("bridge: select drops a pending adapter, the foreign side completes later (fiber)",
          "[bridge]") {
  duet::test::Watchdog wd("bridge select fiber");
  ForeignLoop loop;
  Gate gate;
  std::atomic<int> destroyed{0};
  std::atomic<int> completed{0};
  duet::CancellationToken token;
  duet::Runtime rt(duet::test::cpu_only_config(2));
  GatedAwaitable gated(&loop, &gate, &destroyed, &completed);
  auto h = rt.spawn(duet::stackful, [&] { return fiber_select(&loop, &gated, &token); });
  gate.wait_arrived();
  token.cancel();
  CHECK(h.join().index == 1);
  check_dropped_adapter(gate, destroyed, completed);
}

TEST_CASE("bridge: a re-poll by another task replaces the waker", "[bridge]") {
  duet::test::Watchdog wd("bridge waker update");
  ForeignLoop loop;
  Gate gate;
  std::atomic<int> destroyed{0};
  std::atomic<int> completed{0};
  CountingWaker first;
  auto f = duet::from_awaitable(GatedAwaitable(&loop, &gate, &destroyed, &completed));
  CHECK(duet::synctest::poll_once(f, first).is_pending());  // the first poller's waker
  CHECK(first.refs.load() == 1);
  gate.wait_arrived();
  duet::Runtime rt(duet::test::cpu_only_config(2));
  std::atomic<int> parked{0};
  // A task of its own polls it now, with its own waker.
  auto h = rt.spawn(duet::test::note_pending(std::move(f), &parked));
  CHECK(eventually([&] { return parked.load() == 1; }));
  CHECK(first.refs.load() == 0);  // the first waker was dropped, not kept
  gate.open();
  CHECK(h.join() == 42);  // the task's waker was woken
  CHECK(first.wakes.load() == 0);
  CHECK(eventually([&] { return destroyed.load() == 1; }));
}

TEST_CASE("bridge: a dropped adapter forgets its waker at once", "[bridge]") {
  duet::test::Watchdog wd("bridge drop waker");
  ForeignLoop loop;
  Gate gate;
  std::atomic<int> destroyed{0};
  std::atomic<int> completed{0};
  CountingWaker cw;
  {
    auto f = duet::from_awaitable(GatedAwaitable(&loop, &gate, &destroyed, &completed));
    CHECK(duet::synctest::poll_once(f, cw).is_pending());
    CHECK(cw.refs.load() == 1);
  }
  CHECK(cw.refs.load() == 0);  // no reference held until the foreign side resumes
  gate.open();
  CHECK(eventually([&] { return destroyed.load() == 1; }));
  CHECK(completed.load() == 1);
  CHECK(cw.wakes.load() == 0);
}

TEST_CASE("bridge: callback_future from another thread, dropped, called twice (coroutine)",
          "[bridge]") {
  duet::test::Watchdog wd("bridge callbacks coroutine");
  ForeignLoop loop;
  duet::Runtime rt(duet::test::cpu_only_config(2));
  std::atomic<int> first{-1};
  std::atomic<int> second{-1};
  const CallbackSeen seen = rt.spawn(coroutine_callbacks(&loop, &first, &second)).join();
  check_callbacks(seen, first, second);
}

TEST_CASE("bridge: callback_future from another thread, dropped, called twice (fiber)",
          "[bridge]") {
  duet::test::Watchdog wd("bridge callbacks fiber");
  ForeignLoop loop;
  duet::Runtime rt(duet::test::cpu_only_config(2));
  std::atomic<int> first{-1};
  std::atomic<int> second{-1};
  const CallbackSeen seen =
      rt.spawn(duet::stackful, [&] { return fiber_callbacks(&loop, &first, &second); }).join();
  check_callbacks(seen, first, second);
}

TEST_CASE("bridge: a callback whose future is gone returns false", "[bridge]") {
  auto [done, fut] = duet::callback_future<>();
  std::function<void()> as_function = done;  // copyable into a std::function
  { auto gone = std::move(fut); }
  CHECK_FALSE(done());
  as_function();  // a second call through a copy: refused, quietly
  auto [done2, fut2] = duet::callback_future<>();
  CHECK(done2());
  CHECK_FALSE(done2());
  CHECK(duet::wait(std::move(fut2)) == std::optional<std::tuple<>>(std::tuple<>()));
}
