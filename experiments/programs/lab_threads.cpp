// lab_threads: what an OS thread costs (claim M7): RSS and address space per
// parked thread, the time to create and join one, and how many can be
// created before the first failure (and which limit failed).
//
//   exp_lab_threads rss N        N threads parked on one futex; growth per thread
//   exp_lab_threads ceiling CAP  create parked threads until failure or CAP
#include <linux/futex.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "lab.hpp"

namespace {

std::atomic<int> gate{0};
std::atomic<long> parked{0};

void* body(void*) {
  parked.fetch_add(1);
  while (gate.load() == 0)
    syscall(SYS_futex, reinterpret_cast<int*>(&gate), FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  return nullptr;
}

void release(std::vector<pthread_t>& ts) {
  gate.store(1);
  syscall(SYS_futex, reinterpret_cast<int*>(&gate), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr,
          0);
  for (auto t : ts) pthread_join(t, nullptr);
}

std::string stack_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_STACK, &rl);
  return rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(rl.rlim_cur / 1024) + " KiB";
}

int rss(long n) {
  std::vector<pthread_t> ts(n);
  long long rss0 = lab::rss_bytes(), vm0 = lab::vm_bytes();
  auto t0 = lab::Clock::now();
  for (long i = 0; i < n; ++i)
    if (pthread_create(&ts[i], nullptr, body, nullptr) != 0) return 3;
  while (parked.load() < n) usleep(200);
  double create_ns = lab::ns_since(t0) / double(n);
  long long rss1 = lab::rss_bytes(), vm1 = lab::vm_bytes();
  auto t1 = lab::Clock::now();
  release(ts);
  double join_ns = lab::ns_since(t1) / double(n);
  std::string m = "pthread_create with the default attributes (stack rlimit " + stack_limit() +
                  "), all parked on a futex; /proc/self/statm";
  lab::emit("threads", "os-thread", "rss_per_thread", double(rss1 - rss0) / double(n), "B", n, m);
  lab::emit("threads", "os-thread", "vm_per_thread", double(vm1 - vm0) / double(n), "B", n, m);
  lab::emit("threads", "os-thread", "create_time", create_ns, "ns", n,
            "time to create N threads and see them parked, per thread");
  lab::emit("threads", "os-thread", "wake_join_time", join_ns, "ns", n,
            "time to wake and join, per thread");
  return 0;
}

int ceiling(long cap) {
  std::vector<pthread_t> ts;
  ts.reserve(cap);
  int err = 0;
  auto t0 = lab::Clock::now();
  while (static_cast<long>(ts.size()) < cap) {
    pthread_t t;
    err = pthread_create(&t, nullptr, body, nullptr);
    if (err != 0) break;
    ts.push_back(t);
  }
  while (parked.load() < static_cast<long>(ts.size())) usleep(500);
  double secs = lab::ns_since(t0) / 1e9;
  long long rss1 = lab::rss_bytes();
  long made = static_cast<long>(ts.size());
  release(ts);
  std::string why =
      err == 0 ? "reached the cap" : std::string("pthread_create failed: ") + std::strerror(err);
  lab::emit("threads", "os-thread", "threads_created", double(made), "threads", cap,
            "create parked threads until failure or the cap (" + why + ")");
  lab::emit("threads", "os-thread", "hit_limit", err == 0 ? 0 : 1, "bool", cap, why);
  lab::emit("threads", "os-thread", "ceiling_time", secs, "s", cap, "time to create them all");
  lab::emit("threads", "os-thread", "ceiling_rss", double(rss1), "B", cap,
            "process RSS with all threads parked");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  if (args.pos.size() < 2) {
    std::fprintf(stderr, "usage: %s rss|ceiling N\n", argv[0]);
    return 2;
  }
  long n = std::atol(args.pos[1].c_str());
  return args.pos[0] == "rss" ? rss(n) : ceiling(n);
}
