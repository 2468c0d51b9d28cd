// server.cpp: the listeners, the accept loops of both models, the
// per-connection tasks, and the program's run: signals, ready line, drain,
// and the memory line on SIGUSR1.
#include "server.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace http_server {

namespace detail {

using duet::net::TcpStream;
using duet::tls::TlsStream;

/// A connection's task body: a plain connection's Serve is the task's
/// future itself (stackless: no coroutine frame around it) or awaited by
/// a fiber; a TLS one first awaits the handshake.
duet::Task<void> serve_tls_coro(TcpStream tcp, Server* srv) {
  auto s = co_await srv->tls().accept(std::move(tcp), srv->options().limits.read_timeout);
  if (s) co_await Serve<TlsStream>(std::move(*s), srv->host());
}

void serve_fiber(TcpStream s, Server* srv) {
  duet::wait(Serve<TcpStream>(std::move(s), srv->host()));
}

void serve_tls_fiber(TcpStream tcp, Server* srv) {
  auto s = duet::wait(srv->tls().accept(std::move(tcp), srv->options().limits.read_timeout));
  if (s) duet::wait(Serve<TlsStream>(std::move(*s), srv->host()));
}

/// Spawns the task of one accepted connection (`tls`: handshake first).
void spawn_connection(TcpStream s, Server* srv, bool tls) {
  if (srv->options().model == Model::stackless) {
    if (tls) {
      duet::spawn(serve_tls_coro(std::move(s), srv)).detach();
    } else {
      duet::spawn(Serve<TcpStream>(std::move(s), srv->host())).detach();
    }
  } else {
    duet::spawn(duet::stackful, [s = std::move(s), srv, tls]() mutable {
      tls ? serve_tls_fiber(std::move(s), srv) : serve_fiber(std::move(s), srv);
    }).detach();
  }
}

/// One listener's accept loop, a poll future (both models run it): accepts
/// until the drain begins, then closes the listener. An accept error
/// (EMFILE, ENFILE, ENOBUFS) backs off a moment and tries again; the
/// server stays up.
class AcceptLoop {
 public:
  AcceptLoop(duet::net::TcpListener* l, Server* srv, bool tls) noexcept
      : l_(l), srv_(srv), tls_(tls) {}
  AcceptLoop(AcceptLoop&&) noexcept = default;

  duet::Poll<void> poll(duet::Context& cx) {
    for (;;) {
      if (draining(cx)) {
        accept_.reset();
        (void)l_->close();
        return duet::ready();
      }
      if (backoff_) {
        if (backoff_->poll(cx).is_pending()) return duet::pending;
        backoff_.reset();
      }
      if (!accept_) accept_.emplace(l_->accept());
      auto p = accept_->poll(cx);
      if (p.is_pending()) return duet::pending;
      accept_.reset();
      auto c = std::move(p).value();
      if (!c) {
        std::fprintf(stderr, "http_server: accept: %s\n", c.error().message().c_str());
        backoff_.emplace(duet::Clock::now() + std::chrono::milliseconds(10));
        continue;
      }
      (void)c->set_nodelay(true);
      try {
        spawn_connection(std::move(*c), srv_, tls_);
      } catch (const duet::SpawnRefused&) {
        // The runtime's drain began between our check and the spawn: the
        // connection closes unserved, as it would a moment later.
      }
    }
  }

 private:
  bool draining(duet::Context& cx) {
    if (!wait_) wait_.emplace(srv_->drain().notify.notified());
    // Acquire: pairs with begin_drain's release store. The Notified
    // (created before this load) completes on any notify_all after its
    // creation; one before it set the flag first.
    return srv_->drain().on.load(std::memory_order_acquire) || wait_->poll(cx).is_ready();
  }

  duet::net::TcpListener* l_;
  Server* srv_;
  bool tls_;
  std::optional<duet::net::AcceptFuture> accept_;
  std::optional<duet::Notify::Notified> wait_;
  std::optional<duet::Sleep> backoff_;
};

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
/// reads it with N idle connections open and without).
void print_memory(const duet::Runtime& rt) {
  const duet::MemoryStats m = rt.memory();
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

}  // namespace detail

Server::Server(const Options& o) : opts_(o) {
  host_.site.limits = o.limits;
  if (!o.root.empty()) {
    root_ = duet::io::Fd(::open(o.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_.valid()) throw std::runtime_error("--root: cannot open " + o.root);
    host_.site.root_fd = root_.get();
  }
  // http_parser's own header limit (80 KiB by default) must not cut in
  // before ours.
  if (o.limits.max_header_bytes > 80 * 1024) {
    http_parser_set_max_header_size(static_cast<std::uint32_t>(o.limits.max_header_bytes + 1024));
  }
  plain_ = detail::listen(o, o.port);
  port_ = plain_.local_addr()->port();
  if (o.tls_port) {
    duet::tls::ServerConfig sc;
    sc.cert_file = o.cert_file;
    sc.key_file = o.key_file;
    auto ctx = duet::tls::TlsContext::server(sc);
    if (!ctx) throw std::runtime_error("TLS: " + ctx.error().message());
    tls_.emplace(std::move(*ctx));
    secure_ = detail::listen(o, *o.tls_port);
    tls_port_ = secure_.local_addr()->port();
  }
}

void Server::start(duet::Runtime& rt) {
  auto start_one = [&](duet::net::TcpListener* l, bool tls) {
    if (opts_.model == Model::stackless) {
      rt.spawn(detail::AcceptLoop(l, this, tls)).detach();
    } else {
      rt.spawn(duet::stackful, [l, this, tls] {
          duet::wait(detail::AcceptLoop(l, this, tls));
        }).detach();
    }
  };
  start_one(&plain_, false);
  if (tls_) start_one(&secure_, true);
}

void Server::begin_drain() noexcept {
  // Release: pairs with the connections' and accept loops' acquire loads.
  host_.drain.on.store(true, std::memory_order_release);
  host_.drain.notify.notify_all();
}

int run(const Options& o) {
  Server srv(o);  // outlives the runtime: its tasks borrow it
  duet::RuntimeConfig cfg;
  cfg.workers = o.workers;
  cfg.placement = duet::Placement::none;  // pin the process from outside (taskset)
  duet::Runtime rt(cfg);                  // the backend: DUET_DRIVER, else the best one
  auto term = duet::signal::subscribe(SIGTERM);
  auto intr = duet::signal::subscribe(SIGINT);
  if (!term || !intr) throw std::runtime_error("cannot subscribe to SIGTERM/SIGINT");
  // The main thread waits on a condition variable, not a semaphore: a
  // process-directed signal may be delivered to it, and a sanitizer
  // (TSan) runs the handler only inside a call it intercepts, which a
  // semaphore's futex wait is not.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  auto on_signal = [&](duet::signal::Subscription& sub) -> duet::Task<void> {
    if (co_await sub.recv()) {
      srv.begin_drain();
      {
        std::lock_guard lk(mu);
        stopping = true;
      }
      cv.notify_one();
    }
  };
  auto watch_term = rt.spawn(on_signal(*term));
  auto watch_intr = rt.spawn(on_signal(*intr));
  auto usr1 = duet::signal::subscribe(SIGUSR1);
  if (!usr1) throw std::runtime_error("cannot subscribe to SIGUSR1");
  auto on_usr1 = [&rt](duet::signal::Subscription& sub) -> duet::Task<void> {
    while (co_await sub.recv()) detail::print_memory(rt);
  };
  auto watch_usr1 = rt.spawn(on_usr1(*usr1));
  srv.start(rt);
  std::printf("listening on %u\n", static_cast<unsigned>(srv.port()));
  if (o.tls_port) std::printf("listening on %u (tls)\n", static_cast<unsigned>(srv.tls_port()));
  std::fflush(stdout);
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return stopping; });
  }
  // The other signal's watcher never finishes on its own: cancel it.
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
