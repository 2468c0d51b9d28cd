// turn.hpp (private): what every engine shares around the connection
// machine (conn.hpp), besides the machine's own Conn::Turn:
// - stream_ref: the machine's StreamRef over a TcpStream or a TlsStream;
// - StepWait: the wait for one step of the machine (a read, racing the
//   drain between requests; a write; a handler's turn; a body from its
//   source) as one future that reports its end to the machine, which the
//   coroutine and fiber engines await at each step;
// - handshake_then: a TLS connection's handshake as a task of its own,
//   which hands the stream to the connection's task and ends (nothing of
//   the handshake stays beneath an idle connection).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "conn.hpp"
#include "duet/cancel/token.hpp"
#include "duet/net/tcp.hpp"
#include "duet/poll.hpp"
#include "duet/time/timeout.hpp"
#include "duet/tls/stream.hpp"

namespace duet::http::detail {

/// Whether S half-closes before closing (Conn's `lingers`).
template <class S>
inline constexpr bool kLingers = std::is_same_v<S, net::TcpStream>;

/// Next::shutdown: half-closes a TCP stream's write side (TLS, which does
/// not linger, is never asked).
template <class S>
void half_close(S& s) noexcept {
  if constexpr (kLingers<S>) (void)s.shutdown(net::Shutdown::write);
}

/// The machine's StreamRef over `s` (a TcpStream or a TlsStream).
template <class S>
StreamRef stream_ref(S& s) noexcept {
  static constexpr StreamRef::Ops ops{
      .read = [](void* p, std::span<std::byte> into,
                 Instant deadline) -> Task<duet::Result<std::size_t>> {
        co_return co_await timeout_at(deadline, static_cast<S*>(p)->read(into));
      },
      .write = [](void* p, std::span<const std::byte> out, Instant deadline) -> Task<bool> {
        const io::Transferred t = co_await timeout_at(deadline, static_cast<S*>(p)->write_all(out));
        co_return t.ok();
      }};
  return StreamRef{&s, &ops};
}

/// The wait for one step of the machine (Next::read, write, handle,
/// write_body), as one poll future: ready once its end is reported to the
/// machine (read_done or drained, written, the turn's own reports,
/// body_written). Reads and writes are bounded by the machine's deadline
/// (timeout_at). While the machine is idle() the read races the drain: the
/// connection's one CancelledFuture for the server's token, borrowed
/// (registered once per connection, re-polled by its task with no lock),
/// polled first, so that the drain wins a tie (a biased race).
///
/// An idle read may also give up at `give_up` (before the machine's own
/// deadline): then nothing is reported to the machine, which stays idle,
/// and gave_up() says so (the fiber engine's connection hands its idle
/// wait to a small task there: fiber_engine.cpp). A read cut at its
/// deadline loses no byte (docs/io.md), so the next read finds them.
///
/// One type for every kind of wait, the kinds in one union (which of them
/// kept in a byte): a coroutine's frame keeps each co_await's operand and
/// awaiter for the whole coroutine, side by side (GCC does not overlap
/// those of different co_awaits), so an engine that awaits one StepWait
/// keeps the largest wait once, not every kind of wait at once.
template <class S>
class [[nodiscard]] StepWait {
  using Read = decltype(timeout_at(Instant{}, std::declval<S&>().read(std::span<std::byte>())));
  using Write =
      decltype(timeout_at(Instant{}, std::declval<S&>().write_all(std::span<const std::byte>())));

 public:
  /// The wait for `n`, one of read, write, handle and write_body (any
  /// other is ready at once and reports nothing). `give_up`: an idle
  /// read's own end, when it comes before the machine's deadline.
  StepWait(Next n, Conn& m, S& s, StreamRef io, CancelledFuture& drain,
           Instant give_up = Instant::max())
      : m_(m), drain_(&drain) {
    switch (n) {
      case Next::read: {
        const bool gives_up = m.idle() && give_up < m.deadline();
        std::construct_at(&read_,
                          timeout_at(gives_up ? give_up : m.deadline(), s.read(m.read_into())));
        kind_ = gives_up ? Kind::idle_read_until : m.idle() ? Kind::idle_read : Kind::read;
        break;
      }
      case Next::write:
        std::construct_at(&write_, timeout_at(m.deadline(), s.write_all(m.output())));
        kind_ = Kind::write;
        break;
      case Next::handle:
        std::construct_at(&turn_, m, io);
        kind_ = Kind::turn;
        break;
      case Next::write_body:
        std::construct_at(&body_, write_body(s, m.out(), m.body(), m.write_timeout()));
        kind_ = Kind::body;
        break;
      case Next::call:
      case Next::shutdown:
      case Next::close:
      case Next::h2:
        break;
    }
  }
  StepWait(const StepWait&) = delete;
  StepWait& operator=(const StepWait&) = delete;
  ~StepWait() {
    switch (kind_) {
      case Kind::idle_read_until:
      case Kind::idle_read:
      case Kind::read:
        std::destroy_at(&read_);
        break;
      case Kind::write:
        std::destroy_at(&write_);
        break;
      case Kind::turn:
        std::destroy_at(&turn_);
        break;
      case Kind::body:
        std::destroy_at(&body_);
        break;
      case Kind::none:
        break;
    }
  }

  Poll<void> poll(Context& cx) {
    switch (kind_) {
      case Kind::idle_read_until:
      case Kind::idle_read:
        if (drain_->poll(cx).is_ready()) {
          m_.drained();
          break;
        }
        [[fallthrough]];
      case Kind::read: {
        auto p = read_.poll(cx);
        if (p.is_pending()) return pending;
        auto r = std::move(p).value();
        if (kind_ == Kind::idle_read_until && !r && is_elapsed(r.error())) {
          gave_up_ = true;  // the machine is told nothing: still idle
          break;
        }
        m_.read_done(r);
        break;
      }
      case Kind::write: {
        auto p = write_.poll(cx);
        if (p.is_pending()) return pending;
        m_.written(std::move(p).value().ok());
        break;
      }
      case Kind::turn:
        if (turn_.poll(cx).is_pending()) return pending;
        break;
      case Kind::body: {
        auto p = body_.poll(cx);
        if (p.is_pending()) return pending;
        m_.body_written(std::move(p).value());
        break;
      }
      case Kind::none:
        break;
    }
    return ready();
  }

  /// Ready because the idle read reached `give_up` (nothing reported).
  [[nodiscard]] bool gave_up() const noexcept { return gave_up_; }

 private:
  enum class Kind : std::uint8_t { none, idle_read_until, idle_read, read, write, turn, body };

  Conn& m_;
  CancelledFuture* drain_;
  Kind kind_ = Kind::none;
  bool gave_up_ = false;
  union {
    Read read_;  // idle_read, read
    Write write_;
    Conn::Turn turn_;
    Task<bool> body_;
  };
};

/// The connection's task over a TLS stream, started once the handshake
/// succeeded (each engine's own).
using StartTls = void (*)(OpenSlot slot, tls::TlsStream s);

/// A TLS connection's handshake (within Limits::io_timeout), as a task of
/// its own that starts the connection's task when it succeeds, and ends.
void handshake_then(OpenSlot slot, net::TcpStream tcp, const tls::TlsContext* tls, StartTls start);

}  // namespace duet::http::detail
