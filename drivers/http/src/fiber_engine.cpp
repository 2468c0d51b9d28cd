// fiber_engine.cpp: the fiber engine (Engine::fiber): a fiber per
// connection (duet::spawn(duet::stackful, ...)) that does what the
// connection machine (conn.hpp) says, with a blocking call (duet::wait) at
// each wait (turn.hpp's StepWait, as the coroutine engine's). A plain
// handler runs on the connection's own fiber (Next::call); the answers
// made before it are written when it first waits (the fiber's before_park
// step). A TLS connection's handshake runs before its fiber exists, as a
// task on the worker's stack (handshake_then): OpenSSL's depth would
// otherwise stay resident in every idle connection's stack.
//
// An idle connection is its fiber's stack (the machine, with its
// first-read bytes) and no heap, for at most the runtime's
// fiber_stack_trim_after (0: for as long as it is idle): an idle read
// still waiting then gives up, and the connection's machine and stream
// move into a small task (wait_idle) that waits for the read in one
// coroutine frame, as the coroutine engine's connection does; the fiber
// ends, and its stack goes back to the pool. The next bytes start a fresh
// fiber that goes on from the machine's next step. A connection's fiber
// thus lasts while its client keeps it busy, and a connection idle past
// the threshold holds one small block where it held a stack page (the
// deep pages a parked fiber gives back at the same threshold go with it).
#include <chrono>
#include <utility>

#include "duet/drain.hpp"
#include "duet/runtime.hpp"
#include "duet/stackful.hpp"
#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
#include "duet/wait.hpp"
#include "h2_session.hpp"
#include "turn.hpp"

namespace duet::http::detail {

namespace {

/// What a connection's fiber serves, where its before_park step finds it.
struct Serving {
  Conn& m;
  StreamRef io;
};

/// How long an idle connection keeps its fiber: the runtime's
/// fiber_stack_trim_after (0: always).
std::chrono::nanoseconds fiber_kept_idle() noexcept {
  const Runtime* rt = Runtime::current();
  return rt != nullptr ? rt->config().fiber_stack_trim_after : std::chrono::nanoseconds{0};
}

/// Where an idle read of `m` gives up its fiber: `kept_idle` after the
/// idle gap began, when that comes before the gap's own deadline (armed
/// io_timeout after it began, so no clock is read here); never when
/// `kept_idle` is 0.
Instant give_up_at(const Conn& m, std::chrono::nanoseconds kept_idle) noexcept {
  const Clock::duration io = saturating_duration(m.state().options.limits.io_timeout);
  if (kept_idle.count() <= 0 || io <= kept_idle) return Instant::max();
  if (m.deadline() == Instant::max()) return deadline_after(kept_idle);  // saturated
  return m.deadline() - (io - kept_idle);
}

template <class S>
void hand_off_idle(Conn& m, S& stream);

template <class S>
void serve(Conn& m, S& stream, const Serving*& serving) {
  // The drain, watched by every idle read: one future for the connection.
  CancelledFuture drain = m.state().shutdown.cancelled();
  const StreamRef io = stream_ref(stream);
  const Serving here{m, io};
  serving = &here;
  const std::chrono::nanoseconds kept_idle = fiber_kept_idle();
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
      case Next::h2: {
        H2Start h2 = std::move(m).into_h2();
        start_h2(std::move(h2.slot), std::move(stream), std::move(h2.input));
        return;
      }
      case Next::read:
      case Next::write:
      case Next::handle:
      case Next::write_body: {
        const Instant give_up =
            n == Next::read && m.idle() ? give_up_at(m, kept_idle) : Instant::max();
        bool gave_up = false;
        {
          StepWait<S> step(n, m, stream, io, drain, give_up);  // an lvalue: waited in place
          wait(step);
          gave_up = step.gave_up();
        }  // the step's futures gone before the stream moves on
        if (gave_up) {
          hand_off_idle(m, stream);
          return;
        }
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
  void before_park() { write_before_park(*serving); }

  static void write_before_park(const Serving& s) {
    bool ok = false;
    try {
      ok = wait(s.m.write_pending(s.io));
    } catch (const duet::detail::FiberUnwind&) {
      throw;
    } catch (...) {
    }
    s.m.written(ok);
  }
};

/// A connection's fiber again, after its idle wait ended in wait_idle: the
/// machine goes on from its next step.
template <class S>
struct Resumed {
  Conn m;
  S stream;  // after m: closed before the slot is given back
  const Serving* serving = nullptr;

  void operator()() { serve(m, stream, serving); }
  void before_park() { Connection<S>::write_before_park(*serving); }
};

/// An idle connection's wait without its fiber: the idle read (racing the
/// drain, by the machine's deadline) in one frame; whatever ends it (bytes,
/// the peer's end, the deadline, the drain), a fresh fiber goes on from the
/// machine's next step (a refused spawn closes the connection).
template <class S>
Task<void> wait_idle(Conn m, S stream) {
  {
    CancelledFuture drain = m.state().shutdown.cancelled();
    StepWait<S> step(Next::read, m, stream, stream_ref(stream), drain);
    co_await step;
  }  // the wait's futures gone before the stream moves on
  try {
    spawn(stackful, Resumed<S>{std::move(m), std::move(stream)}).detach();
  } catch (const SpawnRefused&) {  // the runtime drains: the connection closes
  }
}

/// The connection's idle read gave up: the machine (idle, nothing in
/// flight) and the stream move into wait_idle's task, and the fiber ends,
/// its stack's pages given back with the pool's next batch (no burst waits
/// for the stack of a connection that went idle: kept hot, thousands of
/// them would hold what the hand-off gave up). A refused spawn (the
/// runtime drains) closes the connection.
template <class S>
void hand_off_idle(Conn& m, S& stream) {
  duet::detail::release_stack_cold();
  try {
    spawn(wait_idle<S>(std::move(m), std::move(stream))).detach();
  } catch (const SpawnRefused&) {
  }
}

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
