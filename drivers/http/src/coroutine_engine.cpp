// coroutine_engine.cpp: the coroutine engine (Engine::coroutine): a
// duet::Task per connection that does what the connection machine
// (conn.hpp) says, with a co_await at each wait.
//
// Every wait is one future, Step: the machine's step (a read, racing the
// drain while idle; a write; a handler's turn; a body from its source) in
// one slot, reported to the machine when it ends. A coroutine's frame
// keeps every co_await's operand and awaiter for the whole coroutine, side
// by side (GCC does not overlap those of different co_awaits), so a
// co_await per kind of wait would keep all of them in every frame; with
// one co_await the frame keeps the largest wait once. An idle connection
// is then the task's one block (the task's header, the frame: the machine
// with its first-read bytes, the stream, the drain's registration and the
// read in flight with its timer) and the driver's block for its socket;
// no heap.
#include <utility>

#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
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
