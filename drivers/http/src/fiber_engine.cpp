// fiber_engine.cpp: the fiber engine (Engine::fiber): a fiber per
// connection (duet::spawn(duet::stackful, ...)) that does what the
// connection machine (conn.hpp) says, with a blocking call (duet::wait) at
// each wait (turn.hpp's StepWait, as the coroutine engine's). A plain
// handler runs on the connection's own fiber (Next::call); the answers
// made before it are written when it first waits (the fiber's before_park
// step). A TLS connection's handshake runs before its fiber exists, as a
// task on the worker's stack (handshake_then): OpenSSL's depth would
// otherwise stay resident in every idle connection's stack. An idle
// connection is its fiber's stack (the machine, with its first-read bytes)
// and no heap.
#include <utility>

#include "duet/stackful.hpp"
#include "duet/wait.hpp"
#include "turn.hpp"

namespace duet::http::detail {

namespace {

/// What a connection's fiber serves, where its before_park step finds it.
struct Serving {
  Conn& m;
  StreamRef io;
};

template <class S>
void serve(Conn& m, S& stream, const Serving*& serving) {
  // The drain, watched by every idle read: one future for the connection.
  CancelledFuture drain = m.state().shutdown.cancelled();
  const StreamRef io = stream_ref(stream);
  const Serving here{m, io};
  serving = &here;
  for (;;) {
    const Next n = m.next(io);
    switch (n) {
      case Next::call: {
        // Answers made before the handler go out when it first waits.
        const duet::detail::ArmedBeforePark armed(m.writes_while_pending());
        m.call_plain();
        break;
      }
      case Next::shutdown:
        half_close(stream);
        m.shut();
        break;
      case Next::close:
        return;
      case Next::read:
      case Next::write:
      case Next::handle:
      case Next::write_body: {
        StepWait<S> step(n, m, stream, io, drain);  // an lvalue: waited in place
        wait(step);
        break;
      }
    }
  }
}

/// A connection's fiber: its function holds the slot and the stream until
/// the fiber starts, and then only the link its before_park step reads.
template <class S>
struct Connection {
  OpenSlot slot;
  S stream;
  const Serving* serving = nullptr;

  void operator()() {
    Conn m(std::move(slot), kLingers<S>, Conn::Plain::in_place);
    S owned = std::move(stream);  // after m: closed before the slot is given back
    serve(m, owned, serving);
  }
  /// Armed by Next::call: the handler on this fiber waits, and the answers
  /// made before it are written first (a write that fails closes the
  /// connection once the handler returns).
  void before_park() {
    Conn& m = serving->m;
    bool ok = false;
    try {
      ok = wait(m.write_pending(serving->io));
    } catch (const duet::detail::FiberUnwind&) {
      throw;
    } catch (...) {
    }
    m.written(ok);
  }
};

/// Spawns the connection's fiber over an open stream; the slot goes with
/// it (or, refused, with the destroyed fiber's closure).
template <class S>
void spawn_connection(OpenSlot slot, S stream) {
  spawn(stackful, Connection<S>{std::move(slot), std::move(stream)}).detach();
}

void start_tls(OpenSlot slot, tls::TlsStream s) {
  spawn_connection(std::move(slot), std::move(s));
}

}  // namespace

void spawn_fiber(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls) {
  if (tls != nullptr) {
    handshake_then(std::move(slot), std::move(s), tls, &start_tls);
  } else {
    spawn_connection(std::move(slot), std::move(s));
  }
}

}  // namespace duet::http::detail
