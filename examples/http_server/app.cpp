// app.cpp: what both route files share (the JSON and proxy helpers), and
// the program's run: runtime, listeners, server, signals, the memory line
// on SIGUSR1, and the drain on SIGTERM/SIGINT through rt.drain (the
// server's connections learn it from the runtime's shutdown token).
#include <malloc.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "app.hpp"

namespace http_server {

namespace {

duet::http::ClientConfig client_options(const Options& o) {
  duet::http::ClientConfig c;
  c.request_timeout = o.upstream_timeout;
  c.max_idle_per_origin = 1024;
  return c;
}

duet::net::TcpListener listen(const Options& o, std::uint16_t port) {
  auto addr = duet::net::SocketAddr::parse(o.bind.find(':') != std::string::npos
                                               ? "[" + o.bind + "]:" + std::to_string(port)
                                               : o.bind + ":" + std::to_string(port));
  if (!addr) throw std::runtime_error("bad --bind address: " + o.bind);
  auto sock = duet::net::TcpSocket::for_addr(*addr);
  if (!sock) throw std::runtime_error("socket: " + sock.error().message());
  (void)sock->options().set_reuseaddr(true);
  if (o.reuseport) (void)sock->options().set_reuseport(true);
  if (auto b = sock->bind(*addr); !b) throw std::runtime_error("bind: " + b.error().message());
  auto l = std::move(*sock).listen();
  if (!l) throw std::runtime_error("listen: " + l.error().message());
  return std::move(*l);
}

/// The memory line (SIGUSR1): what duet's caches and the C heap hold now,
/// one JSON object on one line, so that a benchmark can split a process's
/// resident memory between them (experiments/http/idle_conns.py's caller
/// reads it with N connections open and without).
void print_memory(const duet::Runtime& rt) {
  const duet::MemoryStats m = rt.memory_stats();
  const struct mallinfo2 mi = ::mallinfo2();
  std::string classes;
  for (const auto& c : m.blocks.classes) {
    if (!classes.empty()) classes += ',';
    classes += '"' + std::to_string(c.block_bytes) + "\":" + std::to_string(c.slabs);
  }
  std::size_t ring = 0;
  for (const auto& d : m.drivers) ring += d.ring_bytes + d.buffer_ring_bytes;
  // uordblks: the bytes of the heap's chunks in use, their headers and
  // rounding included; hblkhd: blocks malloc mapped on their own.
  std::printf(
      "memory {\"blocks_carved\":%zu,\"blocks_depot\":%zu,\"block_slabs\":{%s},"
      "\"malloc_in_use\":%zu,\"malloc_mapped\":%zu,\"stacks_in_use\":%zu,"
      "\"stacks_resident\":%zu,\"driver_bytes\":%zu}\n",
      m.blocks.carved_bytes, m.blocks.depot_bytes, classes.c_str(), mi.uordblks, mi.hblkhd,
      m.stacks.in_use, m.stacks.resident_bytes, ring);
  std::fflush(stdout);
}

}  // namespace

App::App(const Options& o) : options(o), upstream(client_options(o)) {}

std::string json_message(std::string_view message) {
  std::string out = R"({"message":")";
  out += message;
  out += R"("})";
  return out;
}

std::string proxied_target(std::string_view target) {
  constexpr std::string_view prefix = "/proxy";
  return std::string(target.substr(target.starts_with(prefix) ? prefix.size() : 0));
}

duet::http::Response relay(duet::http::Response&& r) {
  for (std::string_view hop : {"Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer",
                               "Upgrade", "Proxy-Connection"}) {
    r.headers.erase(hop);
  }
  return std::move(r);
}

duet::http::Request proxied_request(duet::http::Request& req) {
  duet::http::Request up = duet::http::Request::make(req.method, proxied_target(req.target));
  up.method_name = req.method_name;
  if (auto type = req.headers.get("Content-Type")) up.headers.add("Content-Type", *type);
  if (!req.body_streamed()) {
    up.body = std::move(req.body);
    return up;
  }
  auto src = std::make_shared<duet::http::BodySource>();
  duet::http::Request* from = &req;
  src->next = [from] { return duet::http::read_body_piece(*from); };
  if (auto len = req.headers.get("Content-Length")) src->length = std::stoull(std::string(*len));
  up.source = std::move(src);
  return up;
}

duet::http::Response relay_stream(duet::http::ResponseStream&& s) {
  auto stream = std::make_shared<duet::http::ResponseStream>(std::move(s));
  duet::http::Response& head = stream->head();
  std::optional<std::size_t> length;
  if (auto len = head.headers.get("Content-Length")) length = std::stoull(std::string(*len));
  duet::http::Response r = duet::http::streamed_response(
      head.status, [stream] { return stream->read_piece(); }, length);
  r.headers = std::move(head.headers);
  return relay(std::move(r));
}

duet::http::Response upstream_failed(std::error_code e) {
  if (e == std::errc::timed_out) return duet::http::Response::text(504, "upstream timed out");
  return duet::http::Response::text(502, "upstream: " + e.message());
}

std::chrono::milliseconds delay_of(const duet::http::Request& req) {
  const std::optional<std::uint32_t> ms = req.query_param<std::uint32_t>("ms");
  return std::chrono::milliseconds(ms && *ms <= 600'000 ? *ms : 0);
}

std::string_view request_id(const duet::http::Request& req) {
  return req.headers.get("X-Request-Id").value_or("-");
}

std::optional<std::size_t> fanout_count(const duet::http::Request& req) {
  if (!req.query_param("n")) return 4;
  // The first n, decoded and parsed whole: "", "x", "-1" and "+2" are empty.
  const std::optional<std::size_t> n = req.query_param<std::size_t>("n");
  if (!n || *n < 1 || *n > kMaxFanout) return std::nullopt;
  return n;
}

duet::http::Response merged(std::vector<duet::Result<duet::http::Response>>& results) {
  std::string out = R"({"results":[)";
  for (std::size_t i = 0; i < results.size(); ++i) {
    auto& r = results[i];
    if (!r) return upstream_failed(r.error());
    if (r->status != 200) {
      return duet::http::Response::text(502, "upstream answered " + std::to_string(r->status));
    }
    if (i > 0) out += ',';
    out += r->body;
  }
  out += "]}";
  return duet::http::Response::json(200, std::move(out));
}

int run(const Options& o) {
  App app(o);  // outlives the runtime: the handlers borrow it
  const Handlers model = o.handlers.value_or(
      o.engine == duet::http::Engine::fiber ? Handlers::fiber : Handlers::coroutine);
  duet::http::ServerConfig so;
  so.engine = o.engine;
  so.limits = o.limits;
  so.max_connections = o.max_connections;
  so.max_requests_per_connection = o.max_requests_per_connection;
  so.hooks.on_accept_error = [](std::error_code e) {
    std::fprintf(stderr, "http_server: accept: %s\n", e.message().c_str());
  };
  duet::http::Server server(model == Handlers::fiber ? fiber_routes(app) : coroutine_routes(app),
                            std::move(so));
  std::optional<duet::tls::TlsContext> tls;
  if (o.tls_port) {
    duet::tls::ServerConfig sc;
    sc.cert_file = o.cert_file;
    sc.key_file = o.key_file;
    sc.alpn = {"h2", "http/1.1"};
    auto ctx = duet::tls::TlsContext::server(sc);
    if (!ctx) throw std::runtime_error("TLS: " + ctx.error().message());
    tls.emplace(std::move(*ctx));
  }
  duet::net::TcpListener plain = listen(o, o.port);
  const auto port = plain.local_addr()->port();
  std::optional<duet::net::TcpListener> secure;
  if (o.tls_port) secure.emplace(listen(o, *o.tls_port));
  const std::uint16_t tls_port = secure ? secure->local_addr()->port() : 0;

  duet::RuntimeConfig cfg;
  cfg.workers = o.workers;
  cfg.placement = duet::Placement::none;  // pin the process from outside (taskset)
  duet::Runtime rt(cfg);                  // the backend: DUET_DRIVER, else the best one
  auto term = duet::signal::subscribe(SIGTERM);
  auto intr = duet::signal::subscribe(SIGINT);
  auto usr1 = duet::signal::subscribe(SIGUSR1);
  if (!term || !intr || !usr1)
    throw std::runtime_error("cannot subscribe to SIGTERM/SIGINT/SIGUSR1");
  // The main thread waits on a condition variable, not a semaphore: a
  // process-directed signal may be delivered to it, and a sanitizer
  // (TSan) runs the handler only inside a call it intercepts, which a
  // semaphore's futex wait is not.
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
  auto on_usr1 = [&rt](duet::signal::Subscription& sub) -> duet::Task<void> {
    while (co_await sub.recv()) print_memory(rt);
  };
  auto watch_usr1 = rt.spawn(on_usr1(*usr1));
  server.serve(rt, std::move(plain));
  if (secure) server.serve_tls(rt, std::move(*secure), *tls);
  std::printf("listening on %u\n", static_cast<unsigned>(port));
  if (o.tls_port) std::printf("listening on %u (tls)\n", static_cast<unsigned>(tls_port));
  std::fflush(stdout);
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return stopping; });
  }
  // The watchers never finish on their own: cancel them, then drain (the
  // runtime's shutdown token tells the server).
  watch_term.cancel();
  watch_intr.cancel();
  watch_usr1.cancel();
  const duet::DrainReport r = rt.drain(o.drain);
  if (!r.finished_in_time) {
    std::fprintf(stderr, "http_server: drain deadline passed, %zu connections cut\n",
                 r.cancelled.size());
  }
  return 0;
}

}  // namespace http_server
