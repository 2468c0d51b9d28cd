// coroutine_engine.cpp: the coroutine engine (Engine::coroutine): a
// duet::Task per connection that does what the connection machine
// (conn.hpp) says, with a co_await at each wait.
//
// Every wait is one future, turn.hpp's StepWait: the step's read or write
// (within the machine's deadline), the handler's turn or a body from its
// source, in one union, reported to the machine when it ends; between
// requests the read races the drain. A coroutine's frame keeps each
// co_await's operand and awaiter for the coroutine's whole life, side by
// side (GCC does not overlap those of different co_awaits), so serve() has
// one co_await, of one type: its frame holds the largest wait once, where a
// co_await per kind of wait held every kind at once, idle or not. For the
// same reason nothing but what an idle wait needs is a local in scope at
// the co_await (the StreamRef is made at each use).
//
// An idle connection is the task's one block and the I/O driver's block
// for its socket, and no heap. The task's block: its header, then the
// frame: the coroutine's own words (resume and destroy, the promise), the
// parameters (the slot, and the stream before it moved), the drain's
// registration, the machine (the server's state, the request block's
// pointer, null while idle, the deadline, positions and flags, and the 64
// bytes the next request is read into), the stream, and the wait in
// flight (the read and its timer, in the StepWait) with its awaiter.
// tests/http_server/idle_memory_test.cpp bounds what it holds in the block
// cache.
#include <utility>

#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
#include "h2_session.hpp"
#include "turn.hpp"

namespace duet::http::detail {

namespace {

template <class S>
Task<void> serve(OpenSlot slot, S stream) {
  // The drain, watched by every idle read: one future for the connection
  // (re-polled by its task it takes no lock).
  CancelledFuture drain = slot->shutdown.cancelled();
  Conn m(std::move(slot), kLingers<S>, Conn::Plain::spawned);
  S s = std::move(stream);  // after m: closed before the slot is given back
  for (;;) {
    // The StreamRef made for each use, not kept: a local in scope at the
    // co_await would be a member of the frame.
    const Next n = m.next(stream_ref(s));
    if (n == Next::shutdown) {
      half_close(s);
      m.shut();
      continue;
    }
    if (n == Next::h2) {
      H2Start h2 = std::move(m).into_h2();
      start_h2(std::move(h2.slot), std::move(s), std::move(h2.input));
      co_return;
    }
    if (n == Next::close || n == Next::call) co_return;  // call: Plain::spawned, never asked
    // A named local, not a temporary of the co_await (GCC 12: server.cpp);
    // the one co_await of the frame.
    StepWait<S> step(n, m, s, stream_ref(s), drain);
    co_await step;
  }
}

void start_tls(OpenSlot slot, tls::TlsStream s) {
  spawn(serve(std::move(slot), std::move(s))).detach();
}

}  // namespace

void spawn_coroutine(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls) {
  if (tls != nullptr) {
    handshake_then(std::move(slot), std::move(s), tls, &start_tls);
  } else {
    spawn(serve(std::move(slot), std::move(s))).detach();
  }
}

}  // namespace duet::http::detail
