// stackful_rss: memory per parked fiber, per stack strategy (claims M1, M3,
// M4), as the slope of RSS over the number of parked fibers.
//
// For each strategy and each N (a fresh child process each, so every stack
// is a new mapping: cold): start a runtime (2 workers), warm it with 1000
// spawn+join, read RSS, spawn N fibers that park on a gate (each keeps a
// 16-byte waker in the gate and its 8-byte JoinHandle in a vector: both are
// counted), wait until all N are parked, read RSS again. Records per N:
// bytes of RSS per parked fiber, page-table bytes (VmPTE: kernel memory
// outside RSS) per fiber, mappings per fiber; then the least-squares slope
// of RSS over N.
//
//   exp_stackful_rss [--strategy pooled|lazy|copy|unguarded_unsafe|all]
//                    [--n 10000,100000[,1000000]] [--raise-map-count]
//
// Pooled and lazy stacks take two mappings each: past ~32K fibers this needs
// vm.max_map_count raised (--raise-map-count, root; the output says so and
// the value is restored at exit). Without it those points are skipped.
#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>

#include "stackful_common.hpp"

namespace {

class Gate {
 public:
  struct Wait {
    Gate* g;
    duet::Poll<void> poll(duet::Context& cx) {
      std::lock_guard lk(g->mu);
      if (g->open) return duet::ready();
      g->wakers.push_back(cx.waker());
      g->parked.fetch_add(1, std::memory_order_relaxed);
      return duet::pending;
    }
  };
  void release() {
    std::vector<duet::Waker> ws;
    {
      std::lock_guard lk(mu);
      open = true;
      ws.swap(wakers);
    }
    for (auto& w : ws) w.wake_by_ref();
  }
  std::mutex mu;
  bool open = false;
  std::vector<duet::Waker> wakers;
  std::atomic<long long> parked{0};
};

struct Point {
  long long n = 0;
  double rss = 0, pte = 0, maps = 0;
  double task_block = 0, in_use = 0;
  bool ok = false;
};

void measure(duet::StackStrategy s, long long n, Point* out) {
  duet::Runtime rt(sx::workers(2));
  for (int i = 0; i < 1000; ++i) rt.spawn(duet::stackful({.strategy = s}), [] {}).join();
  Gate gate;
  gate.wakers.reserve(static_cast<std::size_t>(n));
  std::vector<duet::JoinHandle<void>> hs;
  hs.reserve(static_cast<std::size_t>(n));
  const long long rss0 = lab::rss_bytes(), pte0 = sx::pte_bytes(), maps0 = sx::map_count();
  auto park = [&gate] { duet::wait(Gate::Wait{&gate}); };
  for (long long i = 0; i < n; ++i) hs.push_back(rt.spawn(duet::stackful({.strategy = s}), park));
  out->task_block = sizeof(duet::detail::FiberTask<decltype(park), void>);
  while (gate.parked.load(std::memory_order_relaxed) < n)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  out->n = n;
  out->rss = static_cast<double>(lab::rss_bytes() - rss0);
  out->pte = static_cast<double>(sx::pte_bytes() - pte0);
  out->maps = static_cast<double>(sx::map_count() - maps0);
  out->ok = true;
  // The stack a parked fiber uses (what a copy fiber saves): from the dump.
  std::ostringstream dump;
  duet::dump_tasks(rt, dump);
  const std::string d = dump.str();
  const auto at = d.find("in_use=");
  if (at != std::string::npos) out->in_use = std::atof(d.c_str() + at + 7);
  gate.release();
  for (auto& h : hs) h.join();
}

}  // namespace

int main(int argc, char** argv) {
  sx::Args a(argc, argv);
  const auto ns = a.list("--n", "10000,100000");
  const bool raise = a.has("--raise-map-count");
  const std::string method =
      "fresh child process per point (cold stacks), 2 workers, fibers parked on a gate "
      "(counts the 16 B waker and 8 B JoinHandle per fiber); RSS from /proc/self/status VmRSS";
  for (duet::StackStrategy s : sx::strategies(a)) {
    const std::string impl = std::string("duet-") + sx::name(s);
    std::vector<Point> pts;
    for (long long n : ns) {
      const bool mapped = s == duet::StackStrategy::pooled || s == duet::StackStrategy::lazy;
      if (mapped && !sx::ensure_map_count(2 * n + 70'000, raise, "stackful_rss")) {
        lab::emit("stackful_rss", impl, "skipped_needs_max_map_count",
                  static_cast<double>(2 * n + 70'000), "mappings", n,
                  "rerun with --raise-map-count (root)");
        continue;
      }
      Point* slot = sx::shared_slots<Point>(1);
      *slot = Point{};
      int st = sx::in_child([&] { measure(s, n, slot); });
      if (!slot->ok || !WIFEXITED(st)) {
        lab::emit("stackful_rss", impl, "failed", 1, "bool", n,
                  "child status " + std::to_string(st));
        continue;
      }
      pts.push_back(*slot);
      const double nn = static_cast<double>(n);
      lab::emit("stackful_rss", impl, "rss_per_parked_fiber", slot->rss / nn, "bytes", n, method);
      lab::emit("stackful_rss", impl, "page_tables_per_parked_fiber", slot->pte / nn, "bytes", n,
                "VmPTE delta / N (kernel memory, not in RSS)");
      lab::emit("stackful_rss", impl, "mappings_per_parked_fiber", slot->maps / nn, "mappings", n,
                "/proc/self/maps lines delta / N");
      lab::emit("stackful_rss", impl, "task_block_bytes", slot->task_block, "bytes", n,
                "sizeof(FiberTask) of the parked fiber (header, switch state, function, outcome)");
      lab::emit(
          "stackful_rss", impl, "stack_in_use_when_parked", slot->in_use, "bytes", n,
          "bytes between the top of its frames and its saved stack pointer (duet::dump_tasks)");
      munmap(slot, sizeof(Point));
    }
    if (pts.size() >= 2) {
      double sx_ = 0, sy = 0, sxx = 0, sxy = 0;
      for (auto& p : pts) {
        const double x = static_cast<double>(p.n);
        sx_ += x;
        sy += p.rss;
        sxx += x * x;
        sxy += x * p.rss;
      }
      const double k = static_cast<double>(pts.size());
      const double slope = (k * sxy - sx_ * sy) / (k * sxx - sx_ * sx_);
      lab::emit("stackful_rss", impl, "rss_slope_per_parked_fiber", slope, "bytes", pts.back().n,
                "least-squares slope of RSS delta over N across the points above; " + method);
    }
  }
  return 0;
}
