// main.cpp: http_server's command line (docs/http_server.md).
//
//   http_server [--port N] [--engine coroutine|fiber|poll]
//               [--handlers coroutine|fiber] [--workers N]
//               [--bind ADDR] [--reuseport]
//               [--tls-port M --cert FILE --key FILE]
//               [--upstream ADDR:PORT] [--upstream-timeout-ms N]
//               [--fanout-deadline-ms N]
//               [--max-header-bytes N] [--max-body-bytes N]
//               [--io-timeout-ms N] [--max-connections N]
//               [--max-requests N] [--drain-ms N]
//               [--route-params] [--middleware]
//
// The I/O backend comes from DUET_DRIVER (io_uring, epoll; unset: the best
// one the kernel offers). Prints "listening on PORT" (and "listening on
// PORT (tls)") once ready; SIGTERM or SIGINT drains and exits 0.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "app.hpp"

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: http_server [--port N] [--engine coroutine|fiber|poll]\n"
               "                   [--handlers coroutine|fiber] [--workers N]\n"
               "                   [--bind ADDR] [--reuseport]\n"
               "                   [--tls-port M --cert FILE --key FILE]\n"
               "                   [--upstream ADDR:PORT] [--upstream-timeout-ms N]\n"
               "                   [--fanout-deadline-ms N]\n"
               "                   [--max-header-bytes N] [--max-body-bytes N]\n"
               "                   [--io-timeout-ms N] [--max-connections N]\n"
               "                   [--max-requests N] [--drain-ms N]\n"
               "                   [--route-params] [--middleware]\n");
  std::exit(2);
}

unsigned long number(const char* s, unsigned long max) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v > max) usage();
  return v;
}

std::chrono::milliseconds millis(const char* s) {
  return std::chrono::milliseconds(number(s, 86'400'000));
}

http_server::Options parse(int argc, char** argv) {
  http_server::Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--port") {
      o.port = static_cast<std::uint16_t>(number(next(), 65535));
    } else if (a == "--engine") {
      const std::string e = next();
      if (e == "coroutine" || e == "coro") {
        o.engine = duet::http::Engine::coroutine;
      } else if (e == "fiber") {
        o.engine = duet::http::Engine::fiber;
      } else if (e == "poll") {
        o.engine = duet::http::Engine::poll;
      } else {
        usage();
      }
    } else if (a == "--handlers") {
      const std::string h = next();
      if (h == "coroutine" || h == "coro") {
        o.handlers = http_server::Handlers::coroutine;
      } else if (h == "fiber") {
        o.handlers = http_server::Handlers::fiber;
      } else {
        usage();
      }
    } else if (a == "--workers") {
      o.workers = static_cast<unsigned>(number(next(), 1024));
      if (o.workers == 0) usage();
    } else if (a == "--bind") {
      o.bind = next();
    } else if (a == "--reuseport") {
      o.reuseport = true;
    } else if (a == "--tls-port") {
      o.tls_port = static_cast<std::uint16_t>(number(next(), 65535));
    } else if (a == "--cert") {
      o.cert_file = next();
    } else if (a == "--key") {
      o.key_file = next();
    } else if (a == "--upstream") {
      auto addr = duet::net::SocketAddr::parse(next());
      if (!addr) usage();
      o.upstream = *addr;
    } else if (a == "--upstream-timeout-ms") {
      o.upstream_timeout = millis(next());
    } else if (a == "--fanout-deadline-ms") {
      o.fanout_deadline = millis(next());
    } else if (a == "--max-header-bytes") {
      o.limits.max_header_bytes = number(next(), 1UL << 24);
    } else if (a == "--max-body-bytes") {
      o.limits.max_body_bytes = number(next(), 1UL << 40);
    } else if (a == "--io-timeout-ms" || a == "--read-timeout-ms") {  // the second: before 0.4
      o.limits.io_timeout = millis(next());
    } else if (a == "--max-connections") {
      o.max_connections = number(next(), 1UL << 30);
    } else if (a == "--max-requests") {
      o.max_requests_per_connection = number(next(), 1UL << 30);
    } else if (a == "--drain-ms") {
      o.drain = millis(next());
    } else if (a == "--route-params") {
      o.route_params = true;
    } else if (a == "--middleware") {
      o.middleware = true;
    } else {
      usage();
    }
  }
  if (o.tls_port && (o.cert_file.empty() || o.key_file.empty())) usage();
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const http_server::Options o = parse(argc, argv);
  try {
    return http_server::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_server: %s\n", e.what());
    return 1;
  }
}
