// poll_engine.cpp: the poll engine of duet::http (Engine::poll): one
// hand-written poll future per connection (poll_engine.hpp), spawned as the
// connection's task itself; over TLS, after the shared handshake task
// (handshake_then).
#include "poll_engine.hpp"

#include <utility>

#include "duet/stackless.hpp"

namespace duet::http::detail {

namespace {

using poll_engine::PollConnection;

void start_tls(OpenSlot slot, tls::TlsStream s) {
  duet::spawn(PollConnection<tls::TlsStream>(std::move(s), std::move(slot))).detach();
}

}  // namespace

void spawn_poll(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls) {
  if (tls != nullptr) {
    handshake_then(std::move(slot), std::move(s), tls, &start_tls);
  } else {
    duet::spawn(PollConnection<net::TcpStream>(std::move(s), std::move(slot))).detach();
  }
}

}  // namespace duet::http::detail
