// stackful_switch: the cost of a fiber switch through the scheduler with 1,
// 1K and 100K live fibers (claims S1, K1: as the live set outgrows the
// caches, each switch misses on the stack it resumes).
//
// One worker; N fibers each yield R times; time / (N * R) is one yield:
// switch out, the worker picks the next fiber, switch in (copy fibers add
// the copy out and in). The fibers are spawned and started before timing.
//
//   exp_stackful_switch [--strategy S|all] [--n 1,1000,100000] [--yields 2000000]
//                       [--raise-map-count]
#include <atomic>
#include <thread>

#include "stackful_common.hpp"

int main(int argc, char** argv) {
  sx::Args a(argc, argv);
  const auto ns = a.list("--n", "1,1000,100000");
  const long total_yields = std::atol(a.get("--yields", "2000000").c_str());
  const bool raise = a.has("--raise-map-count");
  for (duet::StackStrategy s : sx::strategies(a)) {
    const std::string impl = std::string("duet-") + sx::name(s);
    for (long long n : ns) {
      const bool mapped = s == duet::StackStrategy::pooled || s == duet::StackStrategy::lazy;
      if (mapped && !sx::ensure_map_count(2 * n + 70'000, raise, "stackful_switch")) {
        lab::emit("stackful_switch", impl, "skipped_needs_max_map_count", 2.0 * n + 70'000,
                  "mappings", n, "rerun with --raise-map-count (root)");
        continue;
      }
      long rounds = total_yields / n;
      if (rounds < 4) rounds = 4;
      duet::Runtime rt(sx::workers(1));
      std::atomic<long long> started{0};
      std::atomic<bool> go{false};
      std::vector<duet::JoinHandle<void>> hs;
      hs.reserve(static_cast<std::size_t>(n));
      for (long long i = 0; i < n; ++i) {
        hs.push_back(rt.spawn(duet::stackful({.strategy = s}), [&, rounds] {
          started.fetch_add(1, std::memory_order_relaxed);
          while (!go.load(std::memory_order_acquire)) duet::this_fiber::yield();
          for (long r = 0; r < rounds; ++r) duet::this_fiber::yield();
        }));
      }
      while (started.load() < n) std::this_thread::yield();
      auto t0 = lab::Clock::now();
      go.store(true, std::memory_order_release);
      for (auto& h : hs) h.join();
      const double per = lab::ns_since(t0) / (static_cast<double>(n) * static_cast<double>(rounds));
      lab::emit("stackful_switch", impl, "yield_switch", per, "ns", n,
                "1 worker; N live fibers each yield " + std::to_string(rounds) +
                    " times; wall time / yields (includes the start-up round)");
    }
  }
  return 0;
}
