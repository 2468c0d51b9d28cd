// handshake.cpp: a TLS connection's handshake (turn.hpp's handshake_then),
// one task for every engine: it accepts the TLS session within
// Limits::io_timeout, starts the connection's task of the engine, and
// ends, so that nothing of the handshake (OpenSSL's depth, its frame) stays
// beneath an idle connection.
#include <utility>

#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
#include "h2_session.hpp"
#include "turn.hpp"

namespace duet::http::detail {

namespace {

Task<void> handshake(OpenSlot slot, net::TcpStream tcp, const tls::TlsContext* tls,
                     StartTls start) {
  duet::Result<tls::TlsStream> s =
      co_await tls->accept(std::move(tcp), slot->options.limits.io_timeout);
  if (!s) co_return;
  try {
    if (slot->options.http2.enabled && chose_h2(*s)) {
      start_h2(std::move(slot), std::move(*s), {});
      co_return;
    }
    start(std::move(slot), std::move(*s));
  } catch (const SpawnRefused&) {
    // The runtime is shutting down: the refused task closed the stream and
    // gave the slot back.
  }
}

}  // namespace

void handshake_then(OpenSlot slot, net::TcpStream tcp, const tls::TlsContext* tls, StartTls start) {
  spawn(handshake(std::move(slot), std::move(tcp), tls, start)).detach();
}

}  // namespace duet::http::detail
