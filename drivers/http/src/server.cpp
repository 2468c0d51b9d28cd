// server.cpp: Server: the accept loop of each listener (a coroutine task on
// the serving runtime), the connection cap, the hand-off of each accepted
// connection to its engine, the server's own shutdown, and the statistics.
#include <chrono>
#include <utility>

#include "duet/channel/select.hpp"
#include "duet/drain.hpp"
#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
#include "duet/time/sleep.hpp"
#include "duet/time/timeout.hpp"
#include "duet/wait.hpp"
#include "server_state.hpp"

namespace duet::http {

std::string_view to_string(Engine e) noexcept {
  switch (e) {
    case Engine::coroutine:
      return "coroutine";
    case Engine::fiber:
      return "fiber";
    case Engine::poll:
      return "poll";
  }
  return "";
}

namespace {

/// Hands one accepted connection to its engine, or closes it at once when
/// max_connections are open. State::open counts it from here; the slot
/// handed to the engine takes it off.
void admit(detail::State& st, net::TcpStream s, const tls::TlsContext* tls) {
  // Relaxed: the count is the cap's only input and orders nothing else; two
  // listeners racing for the last place see distinct values of one counter.
  if (st.open.fetch_add(1, std::memory_order_relaxed) >= st.options.max_connections) {
    st.open.fetch_sub(1);  // seq_cst, then ended(): Server::shutdown's wait
    st.ended();
    st.refused.fetch_add(1, std::memory_order_relaxed);
    (void)s.close();
    return;
  }
  st.accepted.fetch_add(1, std::memory_order_relaxed);
  (void)s.set_nodelay(true);
  detail::OpenSlot slot(&st);
  try {
    switch (st.options.engine) {
      case Engine::coroutine:
        detail::spawn_coroutine(std::move(slot), std::move(s), tls);
        break;
      case Engine::fiber:
        detail::spawn_fiber(std::move(slot), std::move(s), tls);
        break;
      case Engine::poll:
        detail::spawn_poll(std::move(slot), std::move(s), tls);
        break;
    }
  } catch (const SpawnRefused&) {
    // The runtime shut down between the accept and the spawn: the refused
    // task was destroyed unstarted, closing the stream and giving the
    // slot back.
  }
}

enum AcceptCase { stopping, accepted };  // the select's cases, in the order written

/// One listener's accept loop: accepts until the server's shutdown token
/// is cancelled, then closes the listener. An accept error (EMFILE,
/// ENFILE, ENOBUFS: the listener stays usable) backs off a moment and
/// tries again; the server stays up.
Task<void> accept_loop(detail::LoopSlot slot, net::TcpListener l, const tls::TlsContext* tls) {
  detail::State& st = *slot;
  const CancellationToken stop = st.shutdown;
  for (;;) {
    // Biased: a drain wins over a busy listener.
    // The select is a named local, not a temporary of the co_await: GCC 12
    // mishandles this one as a temporary (the accept loop saw the stop case
    // complete with no cancellation).
    auto next = select(biased, stop.cancelled(), l.accept());
    auto m = co_await next;
    if (m.is<stopping>()) break;
    duet::Result<net::TcpStream> c = std::move(m.get<accepted>());
    if (!c) {
      st.accept_errors.fetch_add(1, std::memory_order_relaxed);  // a statistic (server_state.hpp)
      if (st.options.hooks.on_accept_error) st.options.hooks.on_accept_error(c.error());
      auto backoff = select(biased, stop.cancelled(), sleep(std::chrono::milliseconds(10)));
      co_await backoff;
      continue;
    }
    admit(st, std::move(*c), tls);
  }
  (void)l.close();
}

/// Makes the server's token, a child of rt's shutdown token, at the first
/// serve() (cancelled at once when the server was shut down before). Every
/// serve() must name the same runtime; a later one writes nothing, since
/// the connections of an earlier listener read the token as they run.
void bind_runtime(detail::State& st, Runtime& rt) {
  if (st.serving) return;
  st.shutdown = rt.shutdown_token().child();
  if (st.stopping.load()) st.shutdown.cancel();
  st.serving = true;
}

/// A place in State::loops for an accept loop about to be spawned.
detail::LoopSlot loop_slot(detail::State& st) {
  st.loops.fetch_add(1);
  return detail::LoopSlot(&st);
}

/// Waits for `st` to have nothing open, or for `deadline`.
Task<ShutdownReport> wait_quiet(detail::State& st, Instant deadline) {
  for (;;) {
    // Made before the check: a notify_all after the check completes it.
    Notify::Notified quiet = st.quiet.notified();
    if (st.idle()) co_return ShutdownReport{true, 0};
    const duet::Result<void> woken = co_await timeout_at(deadline, std::move(quiet));
    if (!woken) co_return ShutdownReport{st.idle(), st.open.load()};
  }
}

}  // namespace

ServerConfig Server::State::with_current_names(ServerConfig o) noexcept {
  if (o.limits.read_timeout.set) o.limits.io_timeout = *o.limits.read_timeout.set;
  o.limits.read_timeout.set.reset();
  return o;
}

Server::Server(Router routes, ServerConfig options)
    : state_(std::make_unique<State>(std::move(routes), std::move(options))) {}

Server::~Server() = default;

void Server::serve(Runtime& rt, net::TcpListener listener) {
  bind_runtime(*state_, rt);
  rt.spawn(accept_loop(loop_slot(*state_), std::move(listener), nullptr)).detach();
}

void Server::serve_tls(Runtime& rt, net::TcpListener listener, const tls::TlsContext& ctx) {
  bind_runtime(*state_, rt);
  rt.spawn(accept_loop(loop_slot(*state_), std::move(listener), &ctx)).detach();
}

Task<ShutdownReport> Server::shutdown(std::chrono::nanoseconds grace) {
  // Begun at the call: the deadline from now, the token cancelled (each
  // accept loop and idle connection wakes); the Task only waits.
  const Instant deadline = deadline_after(grace);
  State& st = *state_;
  st.stopping.store(true);
  st.shutdown.cancel();
  return wait_quiet(st, deadline);
}

ShutdownReport Server::shutdown_now(std::chrono::nanoseconds grace) {
  return duet::wait(shutdown(grace));
}

ServerStats Server::stats() const noexcept {
  // Relaxed: each counter is a statistic on its own (server_state.hpp).
  return ServerStats{.accepted = state_->accepted.load(std::memory_order_relaxed),
                     .refused_over_cap = state_->refused.load(std::memory_order_relaxed),
                     .open = state_->open.load(std::memory_order_relaxed),
                     .requests = state_->requests.load(std::memory_order_relaxed),
                     .accept_errors = state_->accept_errors.load(std::memory_order_relaxed)};
}

const ServerConfig& Server::options() const noexcept {
  return state_->options;
}

const Router& Server::routes() const noexcept {
  return state_->routes;
}

}  // namespace duet::http
