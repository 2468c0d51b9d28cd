// delay_queue_test.cpp: duet::DelayQueue on a paused test clock: entries
// expire in deadline order at their deadlines, equal deadlines first in
// first out; remove, reset and stale keys; an earlier insert (or reset)
// re-arms a next() that already waits; an empty queue answers nullopt at
// once; next() as a select case beside a token and a channel, and under a
// timeout; both models (coroutine, fiber) and a plain thread; a seeded
// stress of random inserts, removes and resets checked against a model.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"
#include "time_control_util.hpp"

using namespace std::chrono_literals;

namespace dq_test {

// A multiple of the wheel's 1024 ns tick: every deadline below is a tick
// boundary, so the paused clock lands on it exactly.
constexpr duet::Clock::duration U = 1024us;

using Queue = duet::DelayQueue<int>;
using Taken = std::vector<std::pair<int, duet::Clock::duration>>;  // (value, clock when taken)

/// Fills `q` with values out of deadline order: value v is due at v units.
void fill_shuffled(Queue& q, duet::Instant t0) {
  for (int v : {5, 1, 4, 2, 3}) q.insert_at(v, t0 + v * U);
}

duet::Task<Taken> coro_drain(Queue& q, duet::Instant t0) {
  Taken out;
  while (auto e = co_await q.next()) out.emplace_back(e->value, duet::Clock::now() - t0);
  co_return out;
}

Taken fiber_drain(Queue& q, duet::Instant t0) {
  Taken out;
  while (auto e = duet::wait(q.next())) out.emplace_back(e->value, duet::Clock::now() - t0);
  return out;
}

bool taken_at_deadlines(const Taken& t, const std::vector<int>& order) {
  if (t.size() != order.size()) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i].first != order[i] || !duet::test::at_deadline(t[i].second, order[i] * U)) return false;
  }
  return true;
}

/// A hand-written poll future over poll_expired.
struct PollExpired {
  Queue* q;
  duet::Poll<std::optional<duet::Expired<int>>> poll(duet::Context& cx) {
    return q->poll_expired(cx);
  }
};

}  // namespace dq_test

using dq_test::Queue;
using dq_test::Taken;
using dq_test::U;

TEST_CASE("delay_queue expires entries in deadline order at their deadlines, in both models") {
  duet::test::Watchdog wd("delay_queue order");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const auto real0 = std::chrono::steady_clock::now();

  SECTION("coroutine") {
    const duet::Instant t0 = duet::Clock::now();
    Queue q;
    dq_test::fill_shuffled(q, t0);
    CHECK(q.size() == 5);
    CHECK(q.next_deadline() == t0 + U);
    auto taken = rt.block_on(dq_test::coro_drain(q, t0));
    CHECK(dq_test::taken_at_deadlines(taken, {1, 2, 3, 4, 5}));
    CHECK(q.empty());
  }
  SECTION("fiber") {
    const duet::Instant t0 = duet::Clock::now();
    Queue q;
    dq_test::fill_shuffled(q, t0);
    auto taken = rt.block_on(duet::stackful, [&] { return dq_test::fiber_drain(q, t0); });
    CHECK(dq_test::taken_at_deadlines(taken, {1, 2, 3, 4, 5}));
  }
  SECTION("plain thread") {
    const duet::Instant t0 = duet::Clock::now();
    Queue q;
    dq_test::fill_shuffled(q, t0);
    CHECK(dq_test::taken_at_deadlines(dq_test::fiber_drain(q, t0), {1, 2, 3, 4, 5}));
  }
  SECTION("spawned poll futures: next() and a hand-written one over poll_expired") {
    const duet::Instant t0 = duet::Clock::now();
    Queue q;
    q.insert_at(7, t0 + 2 * U);
    q.insert_at(8, t0 + 3 * U);
    auto a = rt.spawn(q.next()).join();
    REQUIRE(a.has_value());
    CHECK(a->value == 7);
    CHECK(a->deadline == t0 + 2 * U);
    CHECK_FALSE(q.contains(a->key));  // the expired entry's key is stale
    auto b = rt.spawn(dq_test::PollExpired{&q}).join();
    REQUIRE(b.has_value());
    CHECK(b->value == 8);
    CHECK(duet::Clock::now() == t0 + 3 * U);
    CHECK_FALSE(rt.spawn(q.next()).join().has_value());  // empty now
  }
  CHECK(std::chrono::steady_clock::now() - real0 < 60s);  // paused: a guard, not a timing
}

TEST_CASE("delay_queue equal deadlines expire in insertion order, a reset goes behind") {
  duet::test::Watchdog wd("delay_queue fifo");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const duet::Instant t0 = duet::Clock::now();
  Queue q;
  std::vector<Queue::Key> keys;
  for (int v = 0; v < 8; ++v) keys.push_back(q.insert_at(v, t0 + 2 * U));
  q.insert_at(100, t0 + U);  // earlier: first
  q.insert_at(200, t0 + U);
  CHECK(q.reset_at(keys[2], t0 + 2 * U));  // same deadline: now behind 7
  CHECK(q.reset_at(keys[5], t0 + 3 * U));  // later: last
  CHECK(q.reset_at(keys[6], t0 + U));      // earlier: behind 100 and 200
  auto taken = rt.block_on(dq_test::coro_drain(q, t0));
  std::vector<int> values;
  for (auto& t : taken) values.push_back(t.first);
  CHECK(values == std::vector<int>{100, 200, 6, 0, 1, 3, 4, 7, 2, 5});
  CHECK(duet::test::at_deadline(taken.front().second, U));
  CHECK(duet::test::at_deadline(taken.back().second, 3 * U));
}

TEST_CASE("delay_queue remove, reset and stale keys") {
  const duet::Instant t0 = duet::Clock::now();  // no runtime: nothing here waits
  Queue q;
  CHECK(q.empty());
  CHECK_FALSE(q.peek().has_value());
  CHECK_FALSE(q.next_deadline().has_value());
  CHECK_FALSE(q.contains(Queue::Key{}));  // a default key names no entry
  CHECK_FALSE(q.remove(Queue::Key{}).has_value());

  auto a = q.insert_at(1, t0 + 5s);
  auto b = q.insert(2, 10s);
  CHECK(q.size() == 2);
  CHECK(q.contains(a));
  CHECK(q.deadline(a) == t0 + 5s);
  CHECK(q.peek() == a);
  CHECK(q.next_deadline() == t0 + 5s);

  CHECK(q.reset_at(a, t0 + 20s));  // later than b now
  CHECK(q.peek() == b);
  CHECK(q.deadline(a) == t0 + 20s);

  CHECK(q.remove(a) == 1);
  CHECK_FALSE(q.contains(a));
  CHECK_FALSE(q.remove(a).has_value());  // taken already
  CHECK_FALSE(q.reset_at(a, t0));
  CHECK_FALSE(q.deadline(a).has_value());

  // The freed slot is reused: the old key must not name the new entry.
  auto c = q.insert_at(3, t0 + 1s);
  CHECK(c.index() == a.index());
  CHECK(c != a);
  CHECK_FALSE(q.contains(a));
  CHECK_FALSE(q.remove(a).has_value());
  CHECK(q.contains(c));
  CHECK(q.peek() == c);
  CHECK(std::hash<Queue::Key>{}(c) != std::hash<Queue::Key>{}(a));

  // Moving the queue moves its keys with it.
  Queue moved(std::move(q));
  CHECK(moved.contains(c));
  CHECK(moved.size() == 2);
  CHECK(q.empty());  // NOLINT: a moved-from queue is empty
  CHECK_FALSE(q.contains(c));

  moved.clear();
  CHECK(moved.empty());
  CHECK_FALSE(moved.contains(b));
  CHECK_FALSE(moved.contains(c));
  auto d = moved.insert_at(4, t0);
  CHECK_FALSE(moved.contains(b));
  CHECK_FALSE(moved.contains(c));
  CHECK(moved.remove(d) == 4);

  // Values that only move.
  duet::DelayQueue<std::unique_ptr<int>> owned;
  auto k = owned.insert(std::make_unique<int>(9), 1s);
  auto p = owned.remove(k);
  REQUIRE(p.has_value());
  CHECK(**p == 9);
}

namespace dq_test {

/// The waiter: takes two expiries and logs (value, clock when taken).
duet::Task<void> coro_waiter(Queue& q, duet::Instant t0, Taken& out) {
  for (int i = 0; i < 2; ++i) {
    auto e = co_await q.next();
    out.emplace_back(e ? e->value : -1, duet::Clock::now() - t0);
  }
}

void fiber_waiter(Queue& q, duet::Instant t0, Taken& out) {
  for (int i = 0; i < 2; ++i) {
    auto e = duet::wait(q.next());
    out.emplace_back(e ? e->value : -1, duet::Clock::now() - t0);
  }
}

enum class Earlier { insert, reset, refill };

/// One worker, so the waiter and this root task share a thread (the queue
/// is not thread-safe). The waiter waits for the entry due at 100 units;
/// at 10 units the root makes an entry due at 20 (an insert or a reset),
/// or, for `refill`, empties the queue then inserts one due at 30.
duet::Task<Taken> rearm_root(bool fiber, Earlier how) {
  const duet::Instant t0 = duet::Clock::now();
  Queue q;
  Taken out;
  auto late = q.insert_at(100, t0 + 100 * U);
  auto other = q.insert_at(50, t0 + 200 * U);
  duet::JoinHandle<void> h;
  if (fiber) {
    h = duet::spawn(duet::stackful, [&] { fiber_waiter(q, t0, out); });
  } else {
    h = duet::spawn(coro_waiter(q, t0, out));
  }
  // The clock cannot reach 10 units before the waiter parks: a runnable
  // task keeps the worker busy.
  co_await duet::sleep_until(t0 + 10 * U);
  switch (how) {
    case Earlier::insert:
      q.insert_at(20, t0 + 20 * U);
      break;
    case Earlier::reset:
      q.reset_at(other, t0 + 20 * U);
      break;
    case Earlier::refill:
      q.remove(late);
      q.remove(other);  // empty: the waiter stays pending (not woken to say so)
      co_await duet::sleep_until(t0 + 15 * U);
      q.insert_at(30, t0 + 30 * U);
      q.insert_at(40, t0 + 40 * U);
      break;
  }
  co_await h;
  co_return out;
}

}  // namespace dq_test

TEST_CASE("delay_queue an earlier insert or reset re-arms a next() that waits, in both models") {
  duet::test::Watchdog wd("delay_queue rearm");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  using dq_test::Earlier;
  for (bool fiber : {false, true}) {
    INFO("fiber waiter: " << fiber);
    auto t = rt.block_on(dq_test::rearm_root(fiber, Earlier::insert));
    REQUIRE(t.size() == 2);
    CHECK(t[0].first == 20);  // not 100: the waiter was woken and re-armed
    CHECK(duet::test::at_deadline(t[0].second, 20 * U));
    CHECK(t[1].first == 100);
    CHECK(duet::test::at_deadline(t[1].second, 100 * U));

    t = rt.block_on(dq_test::rearm_root(fiber, Earlier::reset));
    REQUIRE(t.size() == 2);
    CHECK(t[0].first == 50);  // reset from 200 to 20 units
    CHECK(duet::test::at_deadline(t[0].second, 20 * U));
    CHECK(t[1].first == 100);

    t = rt.block_on(dq_test::rearm_root(fiber, Earlier::refill));
    REQUIRE(t.size() == 2);
    CHECK(t[0].first == 30);  // not nullopt: emptied while it waited, it waited on
    CHECK(duet::test::at_deadline(t[0].second, 30 * U));
    CHECK(t[1].first == 40);
  }
}

TEST_CASE("delay_queue next on an empty queue is nullopt at once, in both models") {
  duet::test::Watchdog wd("delay_queue empty");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const duet::Instant t0 = duet::Clock::now();
  Queue q;
  CHECK_FALSE(rt.block_on([](Queue& q) -> duet::Task<bool> {
    auto e = co_await q.next();
    co_return e.has_value();
  }(q)));
  CHECK_FALSE(rt.block_on(duet::stackful, [&q] { return duet::wait(q.next()).has_value(); }));
  CHECK_FALSE(duet::wait(q.next()).has_value());
  // Emptied by remove and clear, then used again.
  auto k = q.insert_at(1, t0 + U);
  CHECK(q.remove(k) == 1);
  CHECK_FALSE(duet::wait(q.next()).has_value());
  q.insert_at(2, t0 + U);
  q.clear();
  CHECK_FALSE(duet::wait(q.next()).has_value());
  CHECK(duet::Clock::now() == t0);  // none of it waited
  // An entry already due is ready on the first poll, without a timer.
  q.insert_at(3, t0 - 1s);
  auto e = duet::wait(q.next());
  REQUIRE(e.has_value());
  CHECK(e->value == 3);
  CHECK(duet::Clock::now() == t0);
}

namespace dq_test {

enum SelCase { expired, stopped };

/// select(next, token): the entry wins at its deadline; a token cancelled
/// by another task at 5 units wins over an entry due at 100, which stays.
duet::Task<std::vector<std::string>> coro_select(duet::Instant t0) {
  std::vector<std::string> log;
  Queue q;
  duet::CancellationToken token;
  q.insert_at(1, t0 + 2 * U);
  auto r = co_await duet::select(q.next(), token.cancelled());
  if (r.is<expired>()) {
    log.push_back("expired " + std::to_string(r.get<expired>()->value));
  }
  auto k = q.insert_at(2, t0 + 100 * U);
  auto canceller = duet::spawn([](duet::CancellationToken t, duet::Instant at) -> duet::Task<void> {
    co_await duet::sleep_until(at);
    t.cancel();
  }(token, t0 + 5 * U));
  auto r2 = co_await duet::select(duet::biased, token.cancelled(), q.next());
  if (r2.index() == 0) log.push_back("stopped");
  co_await canceller;
  log.push_back(q.contains(k) ? "kept" : "lost");
  // The select that lost dropped its next(): a new one takes the entry.
  auto e = co_await q.next();
  if (e && e->value == 2 && duet::Clock::now() - t0 >= 100 * U) log.push_back("later");
  co_return log;
}

std::vector<std::string> fiber_select(duet::Instant t0) {
  std::vector<std::string> log;
  Queue q;
  duet::CancellationToken token;
  q.insert_at(1, t0 + 2 * U);
  auto r = duet::wait(duet::select(q.next(), token.cancelled()));
  if (r.is<expired>()) {
    log.push_back("expired " + std::to_string(r.get<expired>()->value));
  }
  auto k = q.insert_at(2, t0 + 100 * U);
  auto canceller = duet::spawn(duet::stackful, [token, t0] {
    duet::wait(duet::sleep_until(t0 + 5 * U));
    token.cancel();
  });
  auto r2 = duet::wait(duet::select(duet::biased, token.cancelled(), q.next()));
  if (r2.index() == 0) log.push_back("stopped");
  canceller.join();
  log.push_back(q.contains(k) ? "kept" : "lost");
  auto e = duet::wait(q.next());
  if (e && e->value == 2 && duet::Clock::now() - t0 >= 100 * U) log.push_back("later");
  return log;
}

/// The guarded loop of docs/time.md: new entries arrive on a channel; the
/// select includes next() only while the queue holds an entry (an empty
/// queue would answer at once, every round). Each message m is due m units
/// after it arrives; the channel closes after the last.
duet::Task<Taken> coro_guarded_loop(duet::Channel<int>& ch, duet::Instant t0) {
  Queue q;
  Taken out;
  bool open = true;
  while (open || !q.empty()) {
    if (q.empty()) {
      auto m = co_await ch.recv();
      if (!m) break;
      q.insert(*m, *m * U);
      continue;
    }
    if (!open) {
      auto e = co_await q.next();
      out.emplace_back(e->value, duet::Clock::now() - t0);
      continue;
    }
    auto r = co_await duet::select(q.next(), ch.recv());
    if (r.is<0>()) {
      auto e = r.get<0>();
      out.emplace_back(e->value, duet::Clock::now() - t0);
    } else if (auto m = r.get<1>()) {
      q.insert(*m, *m * U);
    } else {
      open = false;
    }
  }
  co_return out;
}

duet::Task<void> feed(duet::Channel<int>& ch, duet::Instant t0) {
  // At 0: 30 (due 30); at 5: 10 (due 15) and 1 (due 6); closed at 40.
  (void)co_await ch.send(30);
  co_await duet::sleep_until(t0 + 5 * U);
  (void)co_await ch.send(10);
  (void)co_await ch.send(1);
  co_await duet::sleep_until(t0 + 40 * U);
  ch.close();
}

}  // namespace dq_test

TEST_CASE("delay_queue next in select with a token, and in a guarded select loop") {
  duet::test::Watchdog wd("delay_queue select");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const std::vector<std::string> want{"expired 1", "stopped", "kept", "later"};
  {
    const duet::Instant t0 = duet::Clock::now();
    CHECK(rt.block_on(dq_test::coro_select(t0)) == want);
  }
  {
    const duet::Instant t0 = duet::Clock::now();
    CHECK(rt.block_on(duet::stackful, [t0] { return dq_test::fiber_select(t0); }) == want);
  }
  {
    const duet::Instant t0 = duet::Clock::now();
    auto ch = duet::Channel<int>::bounded(4);
    auto taken = rt.block_on([](duet::Channel<int>& ch, duet::Instant t0) -> duet::Task<Taken> {
      auto f = duet::spawn(dq_test::feed(ch, t0));
      auto out = co_await dq_test::coro_guarded_loop(ch, t0);
      co_await f;
      co_return out;
    }(ch, t0));
    REQUIRE(taken.size() == 3);
    CHECK(taken[0].first == 1);
    CHECK(duet::test::at_deadline(taken[0].second, 6 * U));
    CHECK(taken[1].first == 10);
    CHECK(duet::test::at_deadline(taken[1].second, 15 * U));
    CHECK(taken[2].first == 30);
    CHECK(duet::test::at_deadline(taken[2].second, 30 * U));
  }
}

TEST_CASE("delay_queue next under a timeout leaves the entry when the timeout wins") {
  duet::test::Watchdog wd("delay_queue timeout");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  const duet::Instant t0 = duet::Clock::now();
  Queue q;
  auto k = q.insert_at(1, t0 + 10 * U);
  auto r = rt.block_on([](Queue& q) -> duet::Task<duet::Result<std::optional<duet::Expired<int>>>> {
    co_return co_await duet::timeout(5 * U, q.next());
  }(q));
  REQUIRE_FALSE(r.has_value());
  CHECK(duet::is_elapsed(r.error()));
  CHECK(q.contains(k));
  auto r2 =
      rt.block_on(duet::stackful, [&q] { return duet::wait(duet::timeout(10 * U, q.next())); });
  REQUIRE(r2.has_value());
  REQUIRE(r2->has_value());
  CHECK((*r2)->value == 1);
  CHECK(duet::test::at_deadline(duet::Clock::now() - t0, 10 * U));
}

namespace dq_test {

/// A seeded random walk of inserts, removes, resets and expiries, each
/// checked against a plain model: an ordered map of (deadline, order set)
/// to (key, value). Mismatches are counted and the first one described
/// (the checks run on a worker; the test's thread reports them).
class StressModel {
 public:
  explicit StressModel(std::uint64_t seed) : rng_(seed) {}

  /// One mutation or query (nothing that waits).
  void step() {
    const unsigned op = pick(100);
    if (op < 40 || keys_.empty()) {
      insert();
    } else if (op < 60) {
      remove();
    } else if (op < 80) {
      reset();
    } else if (op < 99) {
      query();
    } else {
      q_.clear();
      order_.clear();
      live_.clear();
    }
    agree(q_.size() == order_.size(), "size");
    agree(q_.next_deadline() == (order_.empty() ? std::optional<duet::Instant>()
                                                : std::optional(order_.begin()->first.first)),
          "next_deadline");
    agree(q_.peek() == (order_.empty() ? std::optional<Queue::Key>()
                                       : std::optional(order_.begin()->second.first)),
          "peek");
  }
  [[nodiscard]] bool wants_expiry() { return !order_.empty() && pick(4) == 0; }
  [[nodiscard]] bool empty() const { return order_.empty(); }
  Queue& queue() { return q_; }

  /// Checks what next() returned against the model's earliest entry.
  void expired(const std::optional<duet::Expired<int>>& e) {
    if (!agree(e.has_value() && !order_.empty(), "expiry present")) return;
    auto it = order_.begin();
    agree(e->value == it->second.second, "expired value");
    agree(e->key == it->second.first, "expired key");
    agree(e->deadline == it->first.first, "expired deadline");
    agree(duet::Clock::now() >= e->deadline, "not early");
    agree(!q_.contains(e->key), "expired key stale");
    live_.erase(it->second.first);
    order_.erase(it);
  }

  int mismatches = 0;
  std::string first;
  int expiries = 0;

 private:
  using Order = std::pair<duet::Instant, std::uint64_t>;

  unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng_); }
  duet::Instant when() { return duet::Clock::now() + static_cast<int>(pick(30)) * U; }
  Queue::Key any_key() { return keys_[pick(static_cast<unsigned>(keys_.size()))]; }

  bool agree(bool ok, const char* what) {
    if (!ok && mismatches++ == 0) {
      std::ostringstream os;
      os << what << " at step " << steps_;
      first = os.str();
    }
    return ok;
  }

  void insert() {
    ++steps_;
    const duet::Instant d = when();
    const int v = next_value_++;
    const Queue::Key k = q_.insert_at(v, d);
    agree(live_.count(k) == 0, "fresh key");
    const Order o{d, seq_++};
    order_.emplace(o, std::pair(k, v));
    live_.emplace(k, o);
    keys_.push_back(k);
  }
  void remove() {
    ++steps_;
    const Queue::Key k = any_key();
    auto got = q_.remove(k);
    auto it = live_.find(k);
    if (it == live_.end()) {
      agree(!got.has_value(), "remove of a stale key");
      return;
    }
    auto o = order_.find(it->second);
    agree(got == o->second.second, "removed value");
    order_.erase(o);
    live_.erase(it);
  }
  void reset() {
    ++steps_;
    const Queue::Key k = any_key();
    const duet::Instant d = when();
    const bool ok = q_.reset_at(k, d);
    auto it = live_.find(k);
    agree(ok == (it != live_.end()), "reset result");
    if (it == live_.end()) return;
    auto node = order_.extract(it->second);
    const Order o{d, seq_++};
    node.key() = o;
    order_.insert(std::move(node));
    it->second = o;
  }
  void query() {
    ++steps_;
    const Queue::Key k = any_key();
    auto it = live_.find(k);
    agree(q_.contains(k) == (it != live_.end()), "contains");
    agree(q_.deadline(k) == (it == live_.end() ? std::optional<duet::Instant>()
                                               : std::optional(it->second.first)),
          "deadline");
  }

  std::mt19937_64 rng_;
  Queue q_;
  std::map<Order, std::pair<Queue::Key, int>> order_;
  std::unordered_map<Queue::Key, Order> live_;
  std::vector<Queue::Key> keys_;  // every key issued, live or stale
  std::uint64_t seq_ = 0;
  int next_value_ = 0;
  int steps_ = 0;
};

duet::Task<void> coro_stress(StressModel& m, int steps) {
  for (int i = 0; i < steps; ++i) {
    if (m.wants_expiry()) {
      auto e = co_await m.queue().next();
      m.expired(e);
      ++m.expiries;
    } else {
      m.step();
    }
  }
  while (!m.empty()) {
    auto e = co_await m.queue().next();
    m.expired(e);
    ++m.expiries;
  }
  auto none = co_await m.queue().next();
  if (none) ++m.mismatches;
}

void fiber_stress(StressModel& m, int steps) {
  for (int i = 0; i < steps; ++i) {
    if (m.wants_expiry()) {
      m.expired(duet::wait(m.queue().next()));
      ++m.expiries;
    } else {
      m.step();
    }
  }
  while (!m.empty()) {
    m.expired(duet::wait(m.queue().next()));
    ++m.expiries;
  }
  if (duet::wait(m.queue().next())) ++m.mismatches;
}

}  // namespace dq_test

TEST_CASE("delay_queue seeded random inserts, removes and resets agree with a model") {
  duet::test::Watchdog wd("delay_queue stress");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  for (std::uint64_t seed : {1u, 2u, 0x5eedu}) {
    INFO("seed " << seed);
    dq_test::StressModel coro(seed);
    rt.block_on(dq_test::coro_stress(coro, 6000));
    CHECK(coro.first == "");
    CHECK(coro.mismatches == 0);
    CHECK(coro.expiries > 500);

    dq_test::StressModel fib(seed + 100);
    rt.block_on(duet::stackful, [&fib] { dq_test::fiber_stress(fib, 3000); });
    CHECK(fib.first == "");
    CHECK(fib.mismatches == 0);
    CHECK(fib.expiries > 250);
  }
}

TEST_CASE("delay_queue on the real clock expires in order") {
  duet::test::Watchdog wd("delay_queue real clock");
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  auto taken = rt.block_on([]() -> duet::Task<std::vector<int>> {
    duet::DelayQueue<int> q;
    q.insert(3, 3ms);
    q.insert(1, 1ms);
    q.insert(2, 2ms);
    std::vector<int> v;
    while (auto e = co_await q.next()) {
      if (duet::Clock::now() < e->deadline) co_return std::vector<int>{};  // early
      v.push_back(e->value);
    }
    co_return v;
  }());
  CHECK(taken == std::vector<int>{1, 2, 3});
}

namespace dq_test {

/// Takes the next expiry, then asks again under a deadline already past:
/// (the value taken, whether a second one was ready at once).
duet::Task<std::pair<int, bool>> take_one_then_look(Queue& q) {
  auto e = co_await q.next();
  auto more = co_await duet::timeout(0ns, q.next());
  co_return std::pair<int, bool>(e ? e->value : -1, more.has_value());
}

}  // namespace dq_test

// Issue 72: now + d overflowed, and a huge delay expired at once.
TEST_CASE("delay_queue a huge delay never expires, in both models") {
  duet::test::Watchdog wd("delay_queue huge");
  duet::Runtime rt(duet::test::clocked(duet::ClockMode::paused));
  Queue q;
  const auto far = q.insert(1, std::chrono::nanoseconds::max());
  q.insert(2, std::chrono::hours::max());
  const auto reset = q.insert(3, U);
  CHECK(q.reset(reset, std::chrono::seconds::max()));
  CHECK(q.deadline(far) == duet::Instant::max());
  CHECK(q.deadline(reset) == duet::Instant::max());
  q.insert(4, U);
  CHECK(rt.block_on(dq_test::take_one_then_look(q)) == std::pair<int, bool>(4, false));
  q.insert(5, U);
  auto fiber = rt.block_on(duet::stackful, [&q] {
    auto e = duet::wait(q.next());
    auto more = duet::wait(duet::timeout(0ns, q.next()));
    return std::pair<int, bool>(e ? e->value : -1, more.has_value());
  });
  CHECK(fiber == std::pair<int, bool>(5, false));
  CHECK(q.size() == 3);  // the three that never expire
}
