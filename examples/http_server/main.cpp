// main.cpp: http_server's command line (docs/http_server.md).
//
//   http_server [--port N] [--model stackless|fiber] [--workers N]
//               [--bind ADDR] [--reuseport] [--root DIR]
//               [--tls-port M --cert FILE --key FILE]
//               [--max-header-bytes N] [--max-body-bytes N]
//               [--read-timeout-ms N] [--drain-ms N]
//
// The I/O backend comes from DUET_DRIVER (io_uring, epoll; unset: the best
// one the kernel offers). Prints "listening on PORT" (and "listening on
// PORT (tls)") once ready; SIGTERM or SIGINT drains and exits 0.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "server.hpp"

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: http_server [--port N] [--model stackless|fiber] [--workers N]\n"
               "                   [--bind ADDR] [--reuseport] [--root DIR]\n"
               "                   [--tls-port M --cert FILE --key FILE]\n"
               "                   [--max-header-bytes N] [--max-body-bytes N]\n"
               "                   [--read-timeout-ms N] [--drain-ms N]\n");
  std::exit(2);
}

unsigned long number(const char* s, unsigned long max) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v > max) usage();
  return v;
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
    } else if (a == "--model") {
      const std::string m = next();
      if (m == "stackless") {
        o.model = http_server::Model::stackless;
      } else if (m == "fiber" || m == "stackful") {
        o.model = http_server::Model::fiber;
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
    } else if (a == "--root") {
      o.root = next();
    } else if (a == "--tls-port") {
      o.tls_port = static_cast<std::uint16_t>(number(next(), 65535));
    } else if (a == "--cert") {
      o.cert_file = next();
    } else if (a == "--key") {
      o.key_file = next();
    } else if (a == "--max-header-bytes") {
      o.limits.max_header_bytes = number(next(), 1UL << 24);
    } else if (a == "--max-body-bytes") {
      o.limits.max_body_bytes = number(next(), 1UL << 40);
    } else if (a == "--read-timeout-ms") {
      o.limits.read_timeout = std::chrono::milliseconds(number(next(), 86'400'000));
    } else if (a == "--drain-ms") {
      o.drain = std::chrono::milliseconds(number(next(), 86'400'000));
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
