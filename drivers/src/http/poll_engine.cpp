// poll_engine.cpp: the poll engine of duet::http (ServerOptions::engine =
// Engine::poll): one hand-written poll future per connection, the tuned
// ceiling the coroutine and fiber engines are measured against.
//
// The loop: read, feed the decoder, answer every whole request, write the
// output (every response of one read in one write), and again. Steps:
// parse (feed what was read, route, answer), read, handle (a handler
// pending), write, linger (a closing connection reading what the client
// still sends), done.
//
// Handlers run in place where they can: a coroutine handler's Task is a
// poll future, polled by this state machine inside the connection's own
// task (no spawn); a plain handler runs on a fiber spawned for the request,
// whose JoinHandle the state machine polls. While a handler is pending,
// the answers already made to earlier pipelined requests are written.
//
// The deadlines (Limits::read_timeout): the idle gap and the whole header
// of a request share one deadline, set when the connection starts waiting
// for the request (a slowloris client trickling bytes gains nothing); each
// read of a body and each write get their own. Past a deadline the
// connection closes without an answer. A handler has no deadline of the
// server's.
//
// An idle keep-alive connection holds no buffer and no request state: what
// a request needs (the decoder, the output, the read buffer, the request
// and its handler) is one heap block, Busy, taken at the request's first
// byte and given back when the connection goes idle, and the wait for the
// next request reads into a few bytes inside the connection (kFirstRead).
// A request that fits there is parsed from them and never takes a read
// buffer; one that fills them takes the buffer for the rest (the decoder
// keeps what it needs of a partial request, so every read starts on an
// empty buffer). Over TCP the connection is itself the spawned task's
// future (no coroutine frame around it): an idle connection is the task's
// block (header, this state machine, the drain's registration) and the
// driver's block for its socket.
//
// Drain: the runtime's shutdown token (State::shutdown). A connection
// registers its cancelled() future once, at its first wait for a request,
// and afterwards checks the token's flag (one load) at each step: an idle
// connection closes at once, a request in progress is answered with
// "Connection: close" (closes_after).
#include "poll_engine.hpp"

#include <atomic>
#include <utility>

#include "duet/drain.hpp"
#include "duet/stackless.hpp"
#include "duet/tls/stream.hpp"

namespace duet::http::detail {

namespace {

using poll_engine::PollConnection;

/// A TLS connection's task: the handshake (within read_timeout), then the
/// same state machine over the TLS stream.
Task<void> serve_tls(net::TcpStream tcp, OpenSlot slot, const tls::TlsContext* ctx) {
  auto s = co_await ctx->accept(std::move(tcp), slot->options.limits.read_timeout);
  if (s) co_await PollConnection<tls::TlsStream>(std::move(*s), std::move(slot));
}

}  // namespace

void spawn_poll(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls) {
  if (tls != nullptr) {
    duet::spawn(serve_tls(std::move(s), std::move(slot), tls)).detach();
  } else {
    duet::spawn(PollConnection<net::TcpStream>(std::move(s), std::move(slot))).detach();
  }
}

}  // namespace duet::http::detail
