// One block per spawned coroutine (duet/stackless/coro_task.hpp): the task
// header is built in the room in front of the root frame, the outcome in
// the frame's memory once the root has ended, and the block goes back once,
// whole, at the last reference. Checked: a spawn takes no block of its own;
// every kind of ending (value, heap value, exception, cancellation while a
// chain is parked, a detached exception) leaves the right outcome and
// destroys every frame's locals exactly once; frames of awaited children go
// back on their own. ASan checks the blocks (each is a heap allocation
// there): a double release or a leak fails that build.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "test_util.hpp"

namespace {

struct DtorCounted {
  std::atomic<int>* dtors;
  explicit DtorCounted(std::atomic<int>* d) : dtors(d) {}
  DtorCounted(const DtorCounted&) = delete;
  DtorCounted& operator=(const DtorCounted&) = delete;
  ~DtorCounted() { dtors->fetch_add(1); }
};

duet::Task<std::string> long_string(int i) {
  co_await duet::yield_now();
  co_return std::string(100, static_cast<char>('a' + i % 26));
}

duet::Task<std::array<long, 40>> big_value(long v) {
  std::array<long, 40> a{};
  a.fill(v);
  co_return a;
}

duet::Task<int> parked_child(duet::Channel<int> ch, std::atomic<int>* dtors) {
  DtorCounted c(dtors);
  auto v = co_await ch.recv();
  co_return v.value_or(-1);
}

duet::Task<int> parked_root(duet::Channel<int> ch, std::atomic<int>* dtors) {
  DtorCounted c(dtors);
  co_return co_await parked_child(ch, dtors);
}

}  // namespace

TEST_CASE("a stackless spawn takes no block of its own: the header goes in front of the frame",
          "[task][block]") {
  if (duet::test::sanitized) {
    DUET_SKIP("under sanitizers every block comes from the heap, uncounted by the block cache");
  }
  duet::Runtime rt({.workers = 1});
  auto t = big_value(7);  // the frame: one block, from this thread
  const auto before = duet::detail::block_cache_stats();
  auto h = rt.spawn(std::move(t));
  const auto after = duet::detail::block_cache_stats();
  CHECK(after.hits + after.misses == before.hits + before.misses);
  CHECK(h.join()[39] == 7);
}

TEST_CASE("an ended root keeps its outcome in its frame's memory until joined", "[task][block]") {
  duet::test::Watchdog wd("ended outcome");
  duet::Runtime rt({.workers = 2});
  std::vector<duet::JoinHandle<std::string>> strings;
  std::vector<duet::JoinHandle<std::array<long, 40>>> arrays;
  for (int i = 0; i < 200; ++i) {
    strings.push_back(rt.spawn(long_string(i)));
    arrays.push_back(rt.spawn(big_value(i)));
  }
  // All of them end before any is joined; the blocks of the ones that
  // ended first are not reused while their handles live.
  for (int i = 0; i < 200; ++i) {
    while (!strings[static_cast<std::size_t>(i)].is_finished()) std::this_thread::yield();
  }
  for (int i = 0; i < 200; ++i) {
    CHECK(strings[static_cast<std::size_t>(i)].join() ==
          std::string(100, static_cast<char>('a' + i % 26)));
    CHECK(arrays[static_cast<std::size_t>(i)].join()[0] == i);
  }
  auto thrower = rt.spawn([]() -> duet::Task<std::string> {
    co_await duet::yield_now();
    throw std::runtime_error("from the root");
  }());
  CHECK_THROWS_WITH(thrower.join(), "from the root");
}

TEST_CASE("a root cancelled while its chain is parked destroys every frame once", "[task][block]") {
  duet::test::Watchdog wd("cancel parked chain");
  std::atomic<int> dtors{0};
  auto to_cancel = duet::Channel<int>::bounded(1), to_shut = duet::Channel<int>::bounded(1),
       to_done = duet::Channel<int>::bounded(1);
  duet::JoinHandle<int> cancelled, shut;
  {
    duet::Runtime rt({.workers = 1});
    cancelled = rt.spawn(parked_root(to_cancel, &dtors));
    shut = rt.spawn(parked_root(to_shut, &dtors));
    auto done = rt.spawn(parked_root(to_done, &dtors));
    (void)to_done.try_send(5);
    CHECK(done.join() == 5);
    CHECK(dtors.load() == 2);
    cancelled.cancel();
    CHECK_THROWS_AS(cancelled.join(), duet::Cancelled);
    CHECK(dtors.load() == 4);
  }  // shutdown cancels the last one, parked two frames deep
  CHECK(dtors.load() == 6);
  CHECK_THROWS_AS(shut.join(), duet::Cancelled);
}

TEST_CASE("a detached root that throws is reported once, and its block goes back",
          "[task][block]") {
  duet::test::Watchdog wd("detached throw");
  std::atomic<int> reported{0};
  {
    duet::Runtime rt(duet::RuntimeConfig{
        .workers = 1, .on_detached_exception = [&](std::exception_ptr) { reported.fetch_add(1); }});
    for (int i = 0; i < 50; ++i) {
      rt.spawn([]() -> duet::Task<void> {
          co_await duet::yield_now();
          throw std::logic_error("detached");
        }())
          .detach();
    }
    auto last = rt.spawn([]() -> duet::Task<int> { co_return 1; }());
    CHECK(last.join() == 1);
    while (reported.load() < 50) std::this_thread::yield();
  }
  CHECK(reported.load() == 50);
}

TEST_CASE("awaited children give their blocks back as they finish, spawned or not",
          "[task][block]") {
  duet::test::Watchdog wd("children blocks");
  duet::Runtime rt({.workers = 1});
  auto total = rt.spawn([]() -> duet::Task<long> {
    long sum = 0;
    for (int i = 0; i < 1000; ++i) {
      auto a = big_value(i);  // awaited as an lvalue
      sum += (co_await a)[0];
      sum += (co_await big_value(1))[0];
      { auto unused = big_value(2); }  // never started
    }
    co_return sum;
  }());
  CHECK(total.join() == 999L * 1000 / 2 + 1000);
}

TEST_CASE("a Task frame's block stays 64-aligned under the block cache's 16-byte classes",
          "[task][block]") {
  // The header in front of the frame is one cache line: the block is the
  // head and the frame in whole lines (frame_block_bytes), never a 16-byte
  // class whose blocks start 16 bytes apart from a line.
  for (std::size_t n = 1; n <= 400; ++n) {
    const std::size_t bytes = duet::detail::frame_block_bytes(n);
    REQUIRE(bytes % duet::detail::block_align == 0);
    REQUIRE(bytes >= duet::detail::frame_head + n);
    REQUIRE(bytes - (duet::detail::frame_head + n) < duet::detail::block_align);
  }
  for (std::size_t n : {8, 72, 136, 144, 200}) {
    std::vector<void*> frames;
    for (int i = 0; i < 2000; ++i) {
      void* f = duet::detail::frame_alloc(n);
      const auto head = reinterpret_cast<std::uintptr_t>(f) - duet::detail::frame_head;
      INFO("frame of " << n << " bytes");
      REQUIRE(head % duet::detail::block_align == 0);
      frames.push_back(f);
    }
    for (void* f : frames) duet::detail::frame_free(f, n);
  }
}
