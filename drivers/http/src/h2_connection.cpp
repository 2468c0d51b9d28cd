// h2_connection.cpp: a server's HTTP/2 connection's task (h2_session.hpp):
// one coroutine under every engine, the session driven by h2_loop.
#include <memory>
#include <utility>

#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
#include "h2_loop.hpp"
#include "h2_session.hpp"

namespace duet::http::detail {

namespace {

template <class S>
Task<void> serve_h2(OpenSlot slot, S stream, std::string input) {
  State& st = *slot;
  S s = std::move(stream);  // after slot: closed before the slot is given back
  auto inbox = std::make_shared<H2Inbox>();
  H2Session h(st, inbox);
  co_await h2_loop(s, h, inbox->wake, st.shutdown, st.options.limits.io_timeout, std::move(input));
}

template <class S>
void spawn_h2(OpenSlot slot, S s, std::string input) {
  try {
    spawn(serve_h2(std::move(slot), std::move(s), std::move(input))).detach();
  } catch (const SpawnRefused&) {
    // The runtime shuts down: the refused task closed the stream and gave
    // the slot back.
  }
}

}  // namespace

void start_h2(OpenSlot slot, net::TcpStream s, std::string input) {
  spawn_h2(std::move(slot), std::move(s), std::move(input));
}

void start_h2(OpenSlot slot, tls::TlsStream s, std::string input) {
  spawn_h2(std::move(slot), std::move(s), std::move(input));
}

}  // namespace duet::http::detail
