// main.cpp: the http_service example's program (service.hpp has its
// routes): one main for both models.
//
//   http_service [--port N] [--model coroutine|fiber] [--workers N]
//                [--upstream ADDR:PORT]... [--proxy-timeout-ms N]
//                [--fanout-deadline-ms N] [--fanout-path PATH]
//                [--drain-ms N] [--quiet]
//
// The engine is the model's own (coroutine handlers under the coroutine
// engine, plain ones under the fiber engine). Prints "listening on PORT"
// once ready, and a log line per request unless --quiet. SIGTERM or SIGINT:
// Server::shutdown_now stops accepting, closes idle connections and lets
// the requests in flight finish (answered with "Connection: close"), up to
// --drain-ms; then the runtime's drain ends what is left; exit 0.
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

#include "service.hpp"

namespace {

struct Options {
  std::uint16_t port = 8080;  // 0: any free port
  bool fibers = false;
  unsigned workers = 1;
  std::chrono::milliseconds drain{5'000};
  bool quiet = false;
  http_service::Config config;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: http_service [--port N] [--model coroutine|fiber] [--workers N]\n"
               "                    [--upstream ADDR:PORT]... [--proxy-timeout-ms N]\n"
               "                    [--fanout-deadline-ms N] [--fanout-path PATH]\n"
               "                    [--drain-ms N] [--quiet]\n");
  std::exit(2);
}

unsigned long number(const char* s, unsigned long max) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v > max) usage();
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--port") {
      o.port = static_cast<std::uint16_t>(number(next(), 65535));
    } else if (a == "--model") {
      const std::string m = next();
      if (m != "coroutine" && m != "fiber") usage();
      o.fibers = m == "fiber";
    } else if (a == "--workers") {
      o.workers = static_cast<unsigned>(number(next(), 1024));
      if (o.workers == 0) usage();
    } else if (a == "--upstream") {
      auto addr = duet::net::SocketAddr::parse(next());
      if (!addr) usage();
      o.config.upstreams.push_back(*addr);
    } else if (a == "--proxy-timeout-ms") {
      o.config.proxy_timeout = std::chrono::milliseconds(number(next(), 86'400'000));
    } else if (a == "--fanout-deadline-ms") {
      o.config.fanout_deadline = std::chrono::milliseconds(number(next(), 86'400'000));
    } else if (a == "--fanout-path") {
      o.config.fanout_path = next();
    } else if (a == "--drain-ms") {
      o.drain = std::chrono::milliseconds(number(next(), 86'400'000));
    } else if (a == "--quiet") {
      o.quiet = true;
    } else {
      usage();
    }
  }
  return o;
}

int run(Options o) {
  if (!o.quiet) {
    o.config.log_sink = [](std::string_view line) {
      std::printf("%.*s\n", static_cast<int>(line.size()), line.data());
      std::fflush(stdout);
    };
  }
  http_service::Service service(std::move(o.config));  // outlives the runtime
  duet::http::ServerConfig sc;
  sc.engine = o.fibers ? duet::http::Engine::fiber : duet::http::Engine::coroutine;
  duet::http::Server server(
      o.fibers ? http_service::fiber_service(service) : http_service::coroutine_service(service),
      sc);
  duet::RuntimeConfig cfg;
  cfg.workers = o.workers;
  duet::Runtime rt(cfg);
  auto listener = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(o.port));
  if (!listener) throw std::runtime_error("bind: " + listener.error().message());
  const auto port = listener->local_addr()->port();
  auto term = duet::signal::subscribe(SIGTERM);
  auto intr = duet::signal::subscribe(SIGINT);
  if (!term || !intr) throw std::runtime_error("cannot subscribe to SIGTERM/SIGINT");
  // The main thread waits on a condition variable (a process-directed
  // signal may be delivered to it; examples/http_server/app.cpp says why
  // not a semaphore).
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  auto on_signal = [&](duet::signal::Subscription& sub) -> duet::Task<void> {
    if (co_await sub.recv()) {
      {
        std::lock_guard lk(mu);
        stopping = true;
      }
      cv.notify_one();
    }
  };
  auto watch_term = rt.spawn(on_signal(*term));
  auto watch_intr = rt.spawn(on_signal(*intr));
  server.serve(rt, std::move(*listener));
  std::printf("listening on %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return stopping; });
  }
  watch_term.cancel();
  watch_intr.cancel();
  // This server first: requests in flight finish, within the grace; then
  // the runtime's drain cancels whatever is left (the fan-out's calls
  // past their deadline, a connection still open).
  const duet::http::ShutdownReport report = server.shutdown_now(o.drain);
  const duet::DrainReport drained = rt.drain(o.drain);
  std::printf("drained: %s, %zu cancelled\n", report.finished_in_time ? "in time" : "late",
              drained.cancelled.size());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_service: %s\n", e.what());
    return 1;
  }
}
