// poll_engine.hpp (private): the poll engine's connection, PollConnection<S>:
// a hand-written poll future over a TcpStream or a TlsStream that does
// what the connection machine (conn.hpp) says. Its states are the one wait
// in flight (a read, a write, a handler's turn, a body from its source);
// each ends in a report to the machine, which names the next. A header of
// its own so that the tests can check the size of an idle connection's
// task.
//
// Over TCP the connection is itself the spawned task's future (no
// coroutine frame around it): an idle connection is the task's block
// (header, the machine with its first-read bytes, the wait in flight, the
// idle timer, the drain's registration) and the driver's block for its
// socket. Deadlines share one timer, re-armed lazily: one armed for an
// earlier deadline fires, finds the deadline moved, and re-arms (a busy
// connection does not touch the timer per request). The drain's future is
// polled until it is registered, then only the token's flag (one load).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>

#include "duet/cancel/token.hpp"
#include "duet/poll.hpp"
#include "duet/time/sleep.hpp"
#include "h2_session.hpp"
#include "turn.hpp"

namespace duet::http::detail::poll_engine {

/// The one wait in flight, which of them kept by the connection (in a byte
/// beside its flags: a std::variant would spend a word on it).
template <class R, class W>
union Wait {
  Wait() noexcept {}
  ~Wait() {}
  R read;
  W write;
  Conn::Turn turn;
  Task<bool> body;
};

template <class S>
class [[nodiscard]] PollConnection {
  using ReadFut = decltype(std::declval<S&>().read(std::declval<std::span<std::byte>>()));
  using WriteFut = decltype(std::declval<S&>().write(std::span<const std::byte>()));

 public:
  PollConnection(S stream, OpenSlot slot)
      : drain_wait_(slot->shutdown.cancelled()),
        m_(std::move(slot), kLingers<S>, Conn::Plain::spawned),
        stream_(std::move(stream)) {}
  /// Moved only before its first poll (into its task), with no wait in
  /// flight and the machine at its start: the machine is made anew.
  PollConnection(PollConnection&& o) noexcept
      : drain_wait_(std::move(o.drain_wait_)),
        m_(std::move(o.m_).release_slot(), kLingers<S>, Conn::Plain::spawned),
        stream_(std::move(o.stream_)) {}
  PollConnection& operator=(PollConnection&&) = delete;
  ~PollConnection() { end_wait(); }

  Poll<void> poll(Context& cx) {
    for (;;) {
      if (kind_ == Kind::none && !start(m_.next(stream_ref(stream_)))) return ready();
      if (!step(cx)) return pending;
    }
  }

 private:
  enum class Kind : std::uint8_t { none, read, write, turn, body };

  /// Puts the wait for `n` in flight: false when the connection is over.
  bool start(Next n) {
    switch (n) {
      case Next::read:
        std::construct_at(&wait_.read, stream_.read(m_.read_into()));
        kind_ = Kind::read;
        return true;
      case Next::write:
        std::construct_at(&wait_.write, stream_.write(m_.output()));
        kind_ = Kind::write;
        return true;
      case Next::handle:
        std::construct_at(&wait_.turn, m_, stream_ref(stream_));
        kind_ = Kind::turn;
        return true;
      case Next::write_body:
        std::construct_at(&wait_.body,
                          write_body(stream_, m_.out(), m_.body(), m_.write_timeout()));
        kind_ = Kind::body;
        return true;
      case Next::shutdown:
        half_close(stream_);
        m_.shut();
        return true;
      case Next::h2: {
        H2Start h2 = std::move(m_).into_h2();
        start_h2(std::move(h2.slot), std::move(stream_), std::move(h2.input));
        break;
      }
      case Next::call:  // Plain::spawned: never asked
      case Next::close:
        break;
    }
    return false;
  }

  /// Polls the wait in flight: true when it ended (reported to the
  /// machine), false when it is pending.
  bool step(Context& cx) {
    switch (kind_) {
      case Kind::none:
        return true;
      case Kind::read:
        return step_read(cx);
      case Kind::write:
        return step_write(cx);
      case Kind::turn:
        if (wait_.turn.poll(cx).is_pending()) return false;
        end_wait();
        return true;
      case Kind::body: {
        auto p = wait_.body.poll(cx);
        if (p.is_pending()) return false;
        const bool ok = std::move(p).value();
        end_wait();
        m_.body_written(ok);
        return true;
      }
    }
    return true;
  }

  bool step_read(Context& cx) {
    auto p = wait_.read.poll(cx);
    if (p.is_ready()) {
      const duet::Result<std::size_t> r = std::move(p).value();
      end_wait();
      m_.read_done(r);
      return true;
    }
    // The drain seen while waiting for a request: close at once.
    if (m_.idle() && watch_drain(cx)) {
      end_wait();
      m_.drained();
      return true;
    }
    if (!expired(cx)) return false;
    end_wait();
    m_.read_done(duet::Result<std::size_t>(make_error_code(TimeoutErrc::elapsed)));
    return true;
  }

  bool step_write(Context& cx) {
    auto p = wait_.write.poll(cx);
    if (p.is_ready()) {
      const duet::Result<std::size_t> r = std::move(p).value();
      end_wait();
      if (r) {
        m_.wrote(*r);
      } else {
        m_.written(false);
      }
      return true;
    }
    if (!expired(cx)) return false;
    end_wait();
    m_.written(false);
    return true;
  }

  /// Drops the wait in flight, if any.
  void end_wait() noexcept {
    switch (kind_) {
      case Kind::read:
        std::destroy_at(&wait_.read);
        break;
      case Kind::write:
        std::destroy_at(&wait_.write);
        break;
      case Kind::turn:
        std::destroy_at(&wait_.turn);
        break;
      case Kind::body:
        std::destroy_at(&wait_.body);
        break;
      case Kind::none:
        break;
    }
    kind_ = Kind::none;
  }

  /// Whether the machine's deadline passed.
  bool expired(Context& cx) {
    for (;;) {
      if (timer_.poll(cx).is_pending()) return false;
      if (timer_.deadline() >= m_.deadline()) return true;
      // It fired for a deadline since moved later (or for none: the first
      // timer is made for the epoch). A Sleep is not assignable once
      // polled: a new one in its place.
      std::destroy_at(&timer_);
      std::construct_at(&timer_, m_.deadline());
    }
  }

  /// True once the drain began (polled while idle).
  bool watch_drain(Context& cx) {
    // The future (made with the connection) first, then the flag: a cancel
    // after its creation completes it, and one before set the flag first.
    bool on = m_.state().shutdown.is_cancelled();
    if (!on && !drain_queued_) {
      // Poll the future until it is registered, then only the flag: its
      // poll takes the token's lock, and the one registration stays good
      // because a task's waker names the task (duet/waker.hpp), the same
      // at every poll.
      on = drain_wait_.poll(cx).is_ready();
      drain_queued_ = !on;
    }
    return on;
  }

  CancelledFuture drain_wait_;
  Sleep timer_{Instant{}};  // re-made lazily for the machine's deadline (expired())
  // The machine owns the connection's place: declared before the stream,
  // it gives the place back after the stream is closed. Its tail padding
  // holds the two bytes after it.
  [[no_unique_address]] Conn m_;
  Kind kind_ = Kind::none;
  bool drain_queued_ = false;     // drain_wait_ is registered with the token
  Wait<ReadFut, WriteFut> wait_;  // which one: kind_
  S stream_;
};

}  // namespace duet::http::detail::poll_engine
