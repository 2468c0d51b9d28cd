// main.cpp: kv_cache, a TCP key-value cache with TTLs, MGET fan-out and
// WATCH streams, written twice from duet's public API (docs/examples.md,
// docs/writing-a-server.md): as coroutines (coroutines.cpp) and as fibers
// (fibers.cpp), picked at run time; kv.hpp holds the protocol and the store.
//
//   kv_cache --model coro|fiber --driver io_uring|epoll|auto [--port P]
//            [--workers N] [--shards N] [--idle-ms MS] [--drain-ms MS]
//
// Prints "listening on PORT (driver D, model M)" once ready. SIGTERM drains: the accept loop stops,
// WATCH streams end, requests in flight finish, idle connections close; then it prints the drain
// report
// ("drain: finished in time, 0 tasks cancelled") and exits 0 (1 when the
// drain had to cancel tasks at its deadline).
//
// The protocol: one request per line (words separated by spaces, "\n" or
// "\r\n" at the end; keys and values are single words), one reply each:
//
//   SET key value [ttl_ms]  -> OK              (with ttl_ms: expires then)
//   GET key                 -> VALUE value | NOT_FOUND
//   DEL key                 -> DELETED | NOT_FOUND
//   MGET k1 k2 ...          -> VALUES n, then n lines: VALUE value | NOT_FOUND
//   WATCH key               -> WATCHING, then a line per change of the key:
//                              SET key value | DEL key | EXPIRED key
//                              (LAGGED n: n changes of its shard were lost),
//                              until the client closes or sends anything,
//                              or END when the server drains
//   QUIT                    -> BYE, and the server closes
//   anything else           -> ERROR why
//
// Every request has 1 s from its line being read to its reply being written
// (TIMEOUT when it ran out, for example an MGET whose lookups were slow;
// a reply that cannot be written in time closes the connection). A
// connection without a request for --idle-ms (30 s) is closed.
#include <cstdio>
#include <cstdlib>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <exception>
#include <string>

#include "kv.hpp"

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: kv_cache --model coro|fiber --driver io_uring|epoll|auto [--port P]\n"
               "                [--workers N] [--shards N] [--idle-ms MS] [--drain-ms MS]\n");
  std::exit(2);
}

unsigned long number(const char* s, unsigned long min, unsigned long max) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v < min || v > max) usage();
  return v;
}

kv::Options parse_args(int argc, char** argv) {
  kv::Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--model") {
      const std::string m = next();
      if (m != "coro" && m != "fiber") usage();
      o.fibers = m == "fiber";
    } else if (a == "--driver") {
      o.driver = next();
      if (o.driver != "io_uring" && o.driver != "epoll" && o.driver != "auto") usage();
    } else if (a == "--port") {
      o.port = static_cast<std::uint16_t>(number(next(), 0, 65535));
    } else if (a == "--workers") {
      o.workers = static_cast<unsigned>(number(next(), 1, 1024));
    } else if (a == "--shards") {
      o.shards = number(next(), 1, 1024);
    } else if (a == "--idle-ms") {
      o.idle = std::chrono::milliseconds(number(next(), 1, 86'400'000));
    } else if (a == "--drain-ms") {
      o.drain = std::chrono::milliseconds(number(next(), 0, 86'400'000));
    } else {
      usage();
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const kv::Options o = parse_args(argc, argv);
  auto listener = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(o.port));
  if (!listener) {
    std::fprintf(stderr, "kv_cache: bind: %s\n", listener.error().message().c_str());
    return 1;
  }
  // Before the runtime's threads exist, so that no thread takes a signal
  // with its default action (termination) first.
  auto sigterm = duet::signal::subscribe(SIGTERM);
  if (!sigterm) {
    std::fprintf(stderr, "kv_cache: SIGTERM: %s\n", sigterm.error().message().c_str());
    return 1;
  }

  duet::RuntimeConfig cfg;
  cfg.workers = o.workers;
  cfg.io_driver = o.driver == "io_uring" ? duet::IoDriver::io_uring
                  : o.driver == "epoll"  ? duet::IoDriver::epoll
                                         : duet::IoDriver::automatic;
  ::unsetenv("DUET_DRIVER");  // it would override --driver
  duet::Runtime rt(cfg);
  // The server learns of the drain through the runtime's shutdown token.
  duet::JoinHandle<void> server;
  if (o.fibers) {
    server = rt.spawn(duet::stackful({.name = "kv_cache server"}),
                      [&] { kv::serve_fibers(*listener, o, rt.shutdown_token()); });
  } else {
    server = rt.spawn(kv::serve_coroutines(*listener, o, rt.shutdown_token()));
  }
  std::printf("listening on %u (driver %s, model %s)\n", listener->local_addr()->port(),
              duet::to_string(duet::io::active_driver()).data(), o.fibers ? "fiber" : "coro");
  std::fflush(stdout);

  // This thread sleeps until SIGTERM (duet::wait parks a plain thread).
  (void)duet::wait(sigterm->recv());
  // Cancels rt.shutdown_token(), waits for the tasks to finish, cancels
  // what is left at the deadline and names it.
  const duet::DrainReport report = rt.drain(o.drain);
  std::printf("drain: %s, %zu tasks cancelled\n",
              report.finished_in_time ? "finished in time" : "deadline reached",
              report.cancelled.size());
  for (const duet::CancelledTask& t : report.cancelled) {
    std::printf("  cancelled: %s (%s:%u)\n", t.function.c_str(), t.file ? t.file : "?",
                static_cast<unsigned>(t.line));
  }
  std::fflush(stdout);
  try {
    server.join();  // what the server threw, if anything
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kv_cache: the server ended with: %s\n", e.what());
    return 1;
  }
  return report.finished_in_time ? 0 : 1;
}
