// coroutine_engine.cpp: the coroutine engine (Engine::coroutine): a
// duet::Task per connection that does what the connection machine
// (conn.hpp) says, with a co_await at each wait. An idle connection is this
// task's frame (the machine, with its first-read bytes, and the wait in
// progress) and no heap.
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
  const StreamRef io = stream_ref(s);
  for (;;) {
    switch (m.next(io)) {
      case Next::read:
        if (m.idle()) {
          // A named local, not a temporary of the co_await (GCC 12: server.cpp).
          auto wait = idle_read(m, s, drain);
          idle_read_done(m, co_await wait);
        } else {
          m.read_done(co_await timeout_at(m.deadline(), s.read(m.read_into())));
        }
        break;
      case Next::write: {
        const io::Transferred t = co_await timeout_at(m.deadline(), s.write_all(m.output()));
        m.written(t.ok());
        break;
      }
      case Next::handle:
        co_await Conn::Turn(m, io);
        break;
      case Next::write_body:
        m.body_written(co_await write_body(s, m.out(), m.body(), m.write_timeout()));
        break;
      case Next::shutdown:
        half_close(s);
        m.shut();
        break;
      case Next::call:  // Plain::spawned: never asked
      case Next::close:
        co_return;
    }
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
