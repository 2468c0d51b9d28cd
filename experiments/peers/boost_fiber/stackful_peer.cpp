// stackful_peer (Boost.Fiber): the peer side of exp_stackful_rss / _spawn /
// _switch, same record format, one thread (Boost.Fiber's default
// round-robin scheduler), stacks from fixedsize_stack (its default: malloc,
// no guard page) at the default size and at 16 KiB.
//
//   build: experiments/peers/boost_fiber/stackful_build.sh  (-> stackful_peer)
//   run:   stackful_peer [--n 10000,100000] [--spawn 200000] [--yields 2000000]
#include <sys/wait.h>
#include <unistd.h>
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace bf = boost::fibers;

namespace {

void emit(const std::string& exp, const std::string& impl, const std::string& metric, double v,
          const std::string& unit, long long n, const std::string& method) {
  std::printf(
      "{\"experiment\":\"%s\",\"impl\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\","
      "\"n\":%lld,\"method\":\"%s\"}\n",
      exp.c_str(), impl.c_str(), metric.c_str(), v, unit.c_str(), n, method.c_str());
  std::fflush(stdout);
}

long long rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  }
  return 0;
}

std::string arg(int argc, char** argv, const char* k, const char* d) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], k) == 0) return argv[i + 1];
  }
  return d;
}

std::vector<long long> list(const std::string& s) {
  std::vector<long long> v;
  std::stringstream ss(s);
  std::string it;
  while (std::getline(ss, it, ',')) v.push_back(std::atoll(it.c_str()));
  return v;
}

using Clock = std::chrono::steady_clock;
double ns_since(Clock::time_point t) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t).count();
}

/// Parks n fibers on a condition variable; returns the RSS delta.
long long parked_rss(long long n, std::size_t stack) {
  for (int i = 0; i < 1000; ++i)
    bf::fiber(std::allocator_arg, bf::fixedsize_stack(stack), [] {}).join();
  bf::mutex mu;
  bf::condition_variable cv;
  bool open = false;
  long long parked = 0;
  std::vector<bf::fiber> fs;
  fs.reserve(static_cast<std::size_t>(n));
  const long long r0 = rss();
  for (long long i = 0; i < n; ++i) {
    fs.emplace_back(std::allocator_arg, bf::fixedsize_stack(stack), [&] {
      std::unique_lock lk(mu);
      ++parked;
      cv.wait(lk, [&] { return open; });
    });
  }
  while (parked < n) boost::this_fiber::yield();
  const long long delta = rss() - r0;
  {
    std::unique_lock lk(mu);
    open = true;
  }
  cv.notify_all();
  for (auto& f : fs) f.join();
  return delta;
}

}  // namespace

int main(int argc, char** argv) {
  const auto ns = list(arg(argc, argv, "--n", "10000,100000"));
  const long spawn_n = std::atol(arg(argc, argv, "--spawn", "200000").c_str());
  const long yields = std::atol(arg(argc, argv, "--yields", "2000000").c_str());
  const std::size_t dflt = boost::context::stack_traits::default_size();
  for (std::size_t stack : {dflt, std::size_t{16} << 10}) {
    const std::string impl = "boost.fiber-" + std::to_string(stack / 1024) + "k";
    for (long long n : ns) {
      long long* slot = static_cast<long long*>(
          mmap(nullptr, 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
      *slot = -1;
      std::fflush(nullptr);
      pid_t pid = fork();
      if (pid == 0) {
        *slot = parked_rss(n, stack);
        _exit(0);
      }
      int st = 0;
      waitpid(pid, &st, 0);
      if (*slot >= 0) {
        emit("stackful_rss", impl, "rss_per_parked_fiber", static_cast<double>(*slot) / n, "bytes",
             n,
             "fresh child per point; 1 thread; fibers parked on a fibers::condition_variable; "
             "fixedsize_stack (malloc, no guard)");
      }
      munmap(slot, 8);
    }
    for (int i = 0; i < 1000; ++i)
      bf::fiber(std::allocator_arg, bf::fixedsize_stack(stack), [] {}).join();
    auto t0 = Clock::now();
    for (long i = 0; i < spawn_n; ++i) {
      bf::fiber(std::allocator_arg, bf::fixedsize_stack(stack), [] {}).join();
    }
    emit("stackful_spawn", impl, "spawn_join", ns_since(t0) / spawn_n, "ns", spawn_n,
         "1 thread; fiber(empty fn).join() in a loop (stack malloc'd per fiber)");
    for (long long n : {1LL, 1000LL, 100000LL}) {
      long rounds = yields / n;
      if (rounds < 4) rounds = 4;
      std::vector<bf::fiber> fs;
      fs.reserve(static_cast<std::size_t>(n));
      auto t1 = Clock::now();
      for (long long i = 0; i < n; ++i) {
        fs.emplace_back(std::allocator_arg, bf::fixedsize_stack(stack), [rounds] {
          for (long r = 0; r < rounds; ++r) boost::this_fiber::yield();
        });
      }
      for (auto& f : fs) f.join();
      emit("stackful_switch", impl, "yield_switch",
           ns_since(t1) / (static_cast<double>(n) * rounds), "ns", n,
           "1 thread; N fibers each yield " + std::to_string(rounds) + " times; includes spawn");
    }
  }
  return 0;
}
