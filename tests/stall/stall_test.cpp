// The stall detector (RuntimeConfig::stall_threshold, duet/stall.hpp): a
// task that spins in one run is reported once, while it runs, with its kind,
// its spawn site (fibers) and a backtrace naming its function; a normal
// workload reports nothing; off, nothing is counted.
#include "duet/stall.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "duet/duet.hpp"
#include "duet/stackful.hpp"
#include "test_util.hpp"

namespace {
/// The reports a runtime made, collected from the monitor thread.
struct Sink {
  std::mutex mu;
  std::vector<duet::StallReport> reports;
  std::function<void(const duet::StallReport&)> fn() {
    return [this](const duet::StallReport& r) {
      std::lock_guard g(mu);
      reports.push_back(r);
    };
  }
  std::size_t size() {
    std::lock_guard g(mu);
    return reports.size();
  }
};

std::uint64_t stalls(duet::Runtime& rt) {
  std::uint64_t n = 0;
  for (const auto& s : rt.stats()) n += s.stalls;
  return n;
}

bool names(const duet::StallReport& r, const std::string& fn) {
  for (const auto& f : r.backtrace) {
    if (f.find(fn) != std::string::npos) return true;
  }
  return false;
}
}  // namespace

// Not inlined, so that the backtrace has its frame; a static function, so
// that only the full symbol table names it (the executable is not linked
// -rdynamic: dladdr could not). Spins until released, sleeping a little in each
// turn (a real blocking call; under TSan a signal is delivered at such calls).
[[gnu::noinline]] static void duet_test_stalling_spin(const std::atomic<bool>& release) {
  while (!release.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  asm volatile("" ::: "memory");  // not a tail call: this frame stays
}

/// A stackless task that stalls its worker until released (parameters, not
/// lambda captures: the frame outlives the lambda object).
duet::Task<void> stalling_task(const std::atomic<bool>* release, std::atomic<bool>* running) {
  running->store(true);
  duet_test_stalling_spin(*release);
  co_return;
}

TEST_CASE("stall detector: a spinning stackless task is reported once with a backtrace naming it",
          "[stall]") {
  duet::test::Watchdog wd("stall poll");
  Sink sink;
  duet::Runtime rt(
      {.workers = 2, .stall_threshold = std::chrono::milliseconds(20), .on_stall = sink.fn()});
  std::atomic<bool> release{false}, running{false};
  auto h = rt.spawn(stalling_task(&release, &running));
  while (sink.size() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Still running when reported; let it spin a few more periods: no second
  // report for the same run.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
  release = true;
  h.join();
  std::lock_guard g(sink.mu);
  REQUIRE(sink.reports.size() == 1);
  const auto& r = sink.reports[0];
  std::string text = r.text();
  INFO(text);
  CHECK(std::string(r.kind) == "coroutine");
  CHECK(r.running_for >= std::chrono::milliseconds(20));
  CHECK(names(r, "duet_test_stalling_spin"));
  CHECK(text.find("duet: stall: worker ") == 0);
  CHECK(stalls(rt) == 1);
}

TEST_CASE("stall detector: a spinning fiber is reported with its spawn site", "[stall]") {
  duet::test::Watchdog wd("stall fiber");
  Sink sink;
  // Under a sanitizer on a loaded machine, the fiber's first entry on the
  // worker (its signal set-up) took over 20 ms once, and the report showed
  // that instead of the spin: the threshold there is 200 ms.
  const auto threshold = std::chrono::milliseconds(duet::test::sanitized ? 200 : 20);
  duet::Runtime rt({.workers = 1, .stall_threshold = threshold, .on_stall = sink.fn()});
  std::atomic<bool> release{false};
  const unsigned line = __LINE__ + 1;
  auto h = rt.spawn(duet::stackful({.name = "spinner"}), [&] { duet_test_stalling_spin(release); });
  while (sink.size() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  release = true;
  h.join();
  std::lock_guard g(sink.mu);
  REQUIRE(sink.reports.size() == 1);
  const auto& r = sink.reports[0];
  INFO(r.text());
  CHECK(std::string(r.kind) == "fiber");
  REQUIRE(r.file != nullptr);
  CHECK(std::string(r.file).find("stall_test.cpp") != std::string::npos);
  CHECK(r.line == line);
  REQUIRE(r.name != nullptr);
  CHECK(std::string(r.name) == "spinner");
  CHECK(names(r, "duet_test_stalling_spin"));
}

TEST_CASE("stall detector: a normal workload reports nothing", "[stall]") {
  duet::test::Watchdog wd("stall normal");
  Sink sink;
  // A threshold far above any run here, even preempted on a loaded machine.
  duet::Runtime rt(
      {.workers = 2, .stall_threshold = std::chrono::milliseconds(500), .on_stall = sink.fn()});
  for (int round = 0; round < 20; ++round) {
    rt.block_on([](duet::Runtime&) -> duet::Task<void> {
      std::vector<duet::JoinHandle<int>> hs;
      for (int i = 0; i < 200; ++i)
        hs.push_back(duet::spawn([](int v) -> duet::Task<int> {
          co_await duet::yield_now();
          co_return v;
        }(i)));
      for (auto& h : hs) (void)co_await h;
    }(rt));
  }
  // Idle workers (parked) are not stalls either: wait out two thresholds.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  CHECK(sink.size() == 0);
  CHECK(stalls(rt) == 0);
}

TEST_CASE("stall detector: off by default, and a negative threshold is refused", "[stall]") {
  duet::test::Watchdog wd("stall off");
  {
    duet::Runtime rt({.workers = 1});
    std::atomic<bool> release{false}, running{false};
    auto h = rt.spawn(stalling_task(&release, &running));
    while (!running.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
    h.join();
    CHECK(stalls(rt) == 0);
  }
  CHECK_THROWS_AS(duet::Runtime({.stall_threshold = std::chrono::milliseconds(-1)}),
                  std::invalid_argument);
}
