// server_state.hpp (private): what every connection of a Server shares,
// the entry point of each engine, and the request-level steps every engine
// takes the same way (answer, close-or-keep), written once here and in
// exchange.cpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "body_pump.hpp"
#include "duet/cancel/token.hpp"
#include "duet/export.hpp"
#include "duet/http/codec.hpp"
#include "duet/http/server.hpp"
#include "duet/net/tcp.hpp"
#include "duet/sync/notify.hpp"
#include "duet/time/clock.hpp"

namespace duet::tls {
class TlsContext;
}

namespace duet::http {

struct Server::State {
  State(Router r, ServerConfig o)
      : routes(std::move(r)),
        options(with_current_names(std::move(o))),
        decoder_limits(admitting_routes(options.limits, routes)) {}
  /// `o` with a field set under its name before 0.4 moved to its new name
  /// (Limits::io_timeout to io_timeout), so that every engine reads one.
  static ServerConfig with_current_names(ServerConfig o) noexcept;
  /// `l` with max_body_bytes raised to the largest route's own limit
  /// (RouteLimits): the decoder admits such a body, and the route checks
  /// it against its own limit (Conn::start_request).
  static Limits admitting_routes(Limits l, const Router& r) noexcept {
    l.max_body_bytes = std::max(l.max_body_bytes, r.max_route_body_bytes());
    return l;
  }
  Router routes;
  ServerConfig options;
  /// What each connection's decoder is made with.
  Limits decoder_limits;
  /// A child of the runtime's shutdown_token(), made by the first serve():
  /// cancelled (by the runtime's drain, or by Server::shutdown), the
  /// server drains.
  CancellationToken shutdown;
  /// Set by the first serve(): later ones (more listeners, on the same
  /// runtime) leave `shutdown` alone, which running connections read.
  bool serving = false;
  // Statistics (relaxed: each counter is read on its own, never to order
  // other memory).
  std::atomic<std::uint64_t> accepted{0}, refused{0}, open{0}, requests{0}, accept_errors{0};

  // Server::shutdown's wait: `stopping` is set before `shutdown` is
  // cancelled, and the last connection or accept loop to end after it
  // wakes `quiet` (ended()). `open`, `loops` and `stopping` are seq_cst
  // where ended() and the waiter meet (a store of one, then a load of the
  // others, on each side): either the waiter sees the count at zero, or
  // the one that brought it there sees `stopping` and wakes it.
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> loops{0};  // accept loops not yet ended
  Notify quiet;

  /// No connection open and no accept loop running.
  [[nodiscard]] bool idle() const noexcept { return open.load() == 0 && loops.load() == 0; }
  /// After a connection's place or an accept loop is given back: wakes a
  /// Server::shutdown waiting for the last.
  void ended() noexcept {
    if (stopping.load() && idle()) quiet.notify_all();
  }
};

namespace detail {

using State = Server::State;

/// A connection's place in State::open, taken by the accept loop and given
/// back when the slot is destroyed: by the connection's last task when it
/// ends, or with a task the runtime refused to start. Each engine moves it
/// along with the stream (from a handshake's task to the connection's).
struct OpenRelease {
  void operator()(State* st) const noexcept {
    // Seq_cst, then ended(): Server::shutdown's wait (State).
    st->open.fetch_sub(1);
    st->ended();
  }
};
using OpenSlot = std::unique_ptr<State, OpenRelease>;

/// An accept loop's place in State::loops, the loop's first parameter: its
/// frame gives it back last, after the listener is closed (or with a task
/// the runtime refused to start).
struct LoopRelease {
  void operator()(State* st) const noexcept {
    st->loops.fetch_sub(1);
    st->ended();
  }
};
using LoopSlot = std::unique_ptr<State, LoopRelease>;

/// Each engine's connection task, spawned on the calling worker by the
/// accept loop with the connection's slot. `tls`: handshake first, within
/// Limits::io_timeout. A refused spawn throws SpawnRefused, the stream
/// closed and the slot given back. Exported for the tests, which drive an
/// engine from an accept loop of their own.
DUET_API void spawn_coroutine(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls);
DUET_API void spawn_fiber(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls);
DUET_API void spawn_poll(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls);

/// Appends the answer to `req` to `out`: the response, "Connection: close"
/// when `close`, the hooks called and the request counted. `started` is
/// when the request's head was complete.
void answer(State& st, const Request& req, Response&& res, std::string& out, bool close,
            Instant started);
/// Appends the answer to a request refused before any handler ran (a
/// decoder error, or a route's 404/405/501) and counts it.
void answer_error(State& st, int status, std::string& out, bool close, std::string_view allow = {});
/// answer_error for a request that a route refused (404, 405, 501): the
/// hooks see it as they see any answered request.
void answer_error(State& st, const Request& req, int status, std::string& out, bool close,
                  std::string_view allow, Instant started);
/// The answer to a request refused before any handler ran (a route's
/// 404, 405 with `allow`, 501; 400, 413, 431): the status's reason as text.
[[nodiscard]] Response refusal(int status, std::string_view allow = {});
/// Counts one answered request and calls the response hook: `status`,
/// `body_bytes` of body, `started` when its head was complete.
void answered(State& st, const Request& req, int status, std::size_t body_bytes, Instant started);
/// The IMF-fixdate of the current second (codec.cpp's per-thread cache).
[[nodiscard]] std::string_view date_now() noexcept;
/// Whether a handler's response field is sent as given: not one the
/// server sets itself (Date, Server, Connection, Content-Length,
/// Transfer-Encoding), and holding no CR, LF or NUL.
[[nodiscard]] bool kept_response_field(const Headers::Field& f) noexcept;
/// The answer to a handler that threw: 500, and the connection goes on
/// (the request was read whole, so the framing is intact).
[[nodiscard]] Response handler_failed();
/// Whether the connection closes after answering `req`, its `served`-th
/// request (1-based): the request asked for it, the cap on requests per
/// connection is reached, the server drains, or the decoder reads no more
/// (an Upgrade or CONNECT was delivered: RequestDecoder::closing).
[[nodiscard]] bool closes_after(const State& st, const Request& req, std::size_t served,
                                const RequestDecoder& dec) noexcept;

/// Ends a request's turn with `pump` when its body was `streamed`: the
/// pump is closed to the handler, and the result says whether the
/// connection must close (the body was not read to its end, or it failed:
/// the framing of what follows is unknown).
[[nodiscard]] inline bool end_turn(DecoderPump& pump, bool streamed) noexcept {
  if (!streamed) return false;
  pump.close();
  return !pump.ended();
}

}  // namespace detail
}  // namespace duet::http
