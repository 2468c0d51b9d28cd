// turn.hpp (private): what every engine shares around the connection
// machine (conn.hpp), besides the machine's own Conn::Turn:
// - stream_ref: the machine's StreamRef over a TcpStream or a TlsStream;
// - idle_read/idle_read_done: the read between requests, raced with the
//   drain;
// - handshake_then: a TLS connection's handshake as a task of its own,
//   which hands the stream to the connection's task and ends (nothing of
//   the handshake stays beneath an idle connection).
#pragma once

#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "conn.hpp"
#include "duet/cancel/token.hpp"
#include "duet/channel/select.hpp"
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

enum IdleCase { drain_began, read_ended };  // idle_read's select cases, in the order written

/// The read between requests (Conn::idle()), raced with the drain in a
/// biased select. `drain` is the connection's one CancelledFuture for the
/// server's token, borrowed (registered once per connection).
template <class S>
auto idle_read(Conn& m, S& s, CancelledFuture& drain) {
  return select(biased, drain, timeout_at(m.deadline(), s.read(m.read_into())));
}
template <class R>
void idle_read_done(Conn& m, R&& r) {
  if (r.template is<drain_began>()) {
    m.drained();
  } else {
    m.read_done(r.template get<read_ended>());
  }
}

/// The connection's task over a TLS stream, started once the handshake
/// succeeded (each engine's own).
using StartTls = void (*)(OpenSlot slot, tls::TlsStream s);

/// A TLS connection's handshake (within Limits::io_timeout), as a task of
/// its own that starts the connection's task when it succeeds, and ends.
void handshake_then(OpenSlot slot, net::TcpStream tcp, const tls::TlsContext* tls, StartTls start);

}  // namespace duet::http::detail
