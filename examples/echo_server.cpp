// echo_server: a TCP echo server, the same code path in both models.
//
//   echo_server --model stackless|stackful --driver io_uring|epoll|auto
//               --port P [--workers N] [--seconds S] [--stats]
//
// Prints "listening on PORT" once ready. Runs until SIGINT/SIGTERM (or S
// seconds), then, with --stats, prints one line with the messages echoed
// and the I/O syscalls the drivers made per message (io_uring_enter calls,
// epoll_waits, direct socket calls, eventfd wake writes).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <string>

using duet::net::SocketAddr;
using duet::net::TcpListener;
using duet::net::TcpStream;

namespace {

std::atomic<std::uint64_t> g_messages{0};

// Each handler counts its reads locally and adds them once at the end, so
// the count costs no shared cache line per message.
duet::Task<void> serve_coro(TcpStream s) {
  char buf[16384];
  std::uint64_t n_msgs = 0;
  for (;;) {
    auto n = co_await s.read(buf, sizeof buf);
    if (!n || *n == 0) break;
    ++n_msgs;
    if (!co_await s.write_all(buf, *n)) break;
  }
  g_messages.fetch_add(n_msgs, std::memory_order_relaxed);  // a statistic
}

void serve_fiber(TcpStream s) {
  char buf[16384];
  std::uint64_t n_msgs = 0;
  for (;;) {
    auto n = duet::wait(s.read(buf, sizeof buf));
    if (!n || *n == 0) break;
    ++n_msgs;
    if (!duet::wait(s.write_all(buf, *n))) break;
  }
  g_messages.fetch_add(n_msgs, std::memory_order_relaxed);  // a statistic
}

duet::Task<void> accept_coro(TcpListener* l) {
  for (;;) {
    auto c = co_await l->accept();
    if (!c) {
      // EMFILE/ENFILE and friends: the server stays up; back off a little.
      std::fprintf(stderr, "accept: %s\n", c.error().message().c_str());
      co_await duet::sleep(std::chrono::milliseconds(10));
      continue;
    }
    (void)c->set_nodelay(true);
    duet::spawn(serve_coro(std::move(*c))).detach();
  }
}

void accept_fiber(TcpListener* l) {
  for (;;) {
    auto c = duet::wait(l->accept());
    if (!c) {
      std::fprintf(stderr, "accept: %s\n", c.error().message().c_str());
      duet::wait(duet::sleep(std::chrono::milliseconds(10)));
      continue;
    }
    (void)c->set_nodelay(true);
    duet::spawn(duet::stackful, [s = std::move(*c)]() mutable {
      serve_fiber(std::move(s));
    }).detach();
  }
}

[[noreturn]] void usage() {
  std::fprintf(
      stderr,
      "usage: echo_server --model stackless|stackful --driver io_uring|epoll|auto "
      "--port P [--workers N] [--seconds S] [--recv-buffers N] [--idle-poll-us U] [--stats]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "stackless", driver = "auto";
  int port = 0, seconds = 0;
  unsigned workers = 1;
  bool stats = false;
  long recv_buffers = -1;  // -1: the RuntimeConfig default
  long idle_poll_us = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--model") {
      model = next();
    } else if (a == "--driver") {
      driver = next();
    } else if (a == "--port") {
      port = std::atoi(next().c_str());
    } else if (a == "--workers") {
      workers = static_cast<unsigned>(std::atoi(next().c_str()));
    } else if (a == "--seconds") {
      seconds = std::atoi(next().c_str());
    } else if (a == "--idle-poll-us") {
      idle_poll_us = std::atol(next().c_str());
    } else if (a == "--recv-buffers") {
      recv_buffers = std::atol(next().c_str());
    } else if (a == "--stats") {
      stats = true;
    } else {
      usage();
    }
  }
  if (model != "stackless" && model != "stackful") usage();

  // Block the stop signals before the workers start (they inherit the
  // mask); this thread takes them with sigtimedwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  duet::RuntimeConfig cfg;
  cfg.workers = workers;
  cfg.placement = duet::Placement::none;  // pin the process from outside (taskset)
  cfg.io_driver = driver == "io_uring" ? duet::IoDriver::io_uring
                  : driver == "epoll"  ? duet::IoDriver::epoll
                                       : duet::IoDriver::automatic;
  // io_uring multishot recv buffers per worker; 0: one recv SQE per read.
  if (recv_buffers >= 0) {
    cfg.io_recv_buffers = static_cast<std::uint32_t>(recv_buffers);
    // The ring starts there; it grows to the larger of the two.
    cfg.io_recv_buffers_max = std::max(cfg.io_recv_buffers_max, cfg.io_recv_buffers);
  }
  // Poll the driver this long before sleeping (RuntimeConfig::idle_poll).
  cfg.idle_poll = std::chrono::microseconds(idle_poll_us);
  // DUET_DRIVER overrides the config; --driver is the one knob here.
  ::unsetenv("DUET_DRIVER");
  auto l = TcpListener::bind(SocketAddr::v4_loopback(static_cast<std::uint16_t>(port)));
  if (!l) {
    std::fprintf(stderr, "bind: %s\n", l.error().message().c_str());
    return 1;
  }
  {
    duet::Runtime rt(cfg);
    if (model == "stackless") {
      rt.spawn(accept_coro(&*l)).detach();
    } else {
      rt.spawn(duet::stackful, [&l] { accept_fiber(&*l); }).detach();
    }
    std::printf("listening on %u (driver %s, model %s, workers %u)\n", l->local_addr()->port(),
                duet::to_string(duet::io::active_driver()).data(), model.c_str(), workers);
    std::fflush(stdout);
    // Wait for a stop signal or the deadline. EINTR happens (io_uring task
    // work can interrupt this thread's wait): wait again.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(seconds > 0 ? seconds : 1'000'000);
    for (;;) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds(0)) break;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      if (sigtimedwait(&set, nullptr, &ts) >= 0 || errno == EAGAIN) break;
    }
    if (stats) {
      // The scheduler's side of the run: a ring overflowing into the
      // injector, or a worker parking between bursts, shows up here.
      for (const duet::WorkerStats& w : rt.stats()) {
        std::printf(
            "worker: polls %llu lifo_hits %llu injector_pops %llu overflows %llu parks %llu\n",
            static_cast<unsigned long long>(w.polls), static_cast<unsigned long long>(w.lifo_hits),
            static_cast<unsigned long long>(w.injector_pops),
            static_cast<unsigned long long>(w.overflows), static_cast<unsigned long long>(w.parks));
      }
    }
    rt.shutdown();
  }
  if (stats) {
    auto s = duet::io_stats();
    const double m = static_cast<double>(g_messages.load());
    const double sys =
        static_cast<double>(s.enters + s.epoll_waits + s.io_syscalls + s.wake_writes);
    std::printf(
        "stats: messages %.0f io_uring_enter %llu sqes %llu epoll_wait %llu socket_calls %llu "
        "wake_writes %llu recv_arms %llu recv_buffers %llu recv_starved %llu ring_growths %llu "
        "syscalls_per_message "
        "%.3f "
        "sqes_per_enter %.2f\n",
        m, static_cast<unsigned long long>(s.enters), static_cast<unsigned long long>(s.sqes),
        static_cast<unsigned long long>(s.epoll_waits),
        static_cast<unsigned long long>(s.io_syscalls),
        static_cast<unsigned long long>(s.wake_writes),
        static_cast<unsigned long long>(s.recv_arms),
        static_cast<unsigned long long>(s.recv_buffers),
        static_cast<unsigned long long>(s.recv_starved),
        static_cast<unsigned long long>(s.recv_ring_growths), m > 0 ? sys / m : 0.0,
        s.enters > 0 ? static_cast<double>(s.sqes) / static_cast<double>(s.enters) : 0.0);
  }
  return 0;
}
