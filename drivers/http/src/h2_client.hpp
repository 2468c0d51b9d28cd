// h2_client.hpp (private): the client's HTTP/2 (docs/http.md, "The
// client"): H2Client, one connection to an origin that every request to it
// shares, each request a stream of its own; its machine over nghttp2's
// client session, driven by h2_loop (h2_loop.hpp) in the connection's
// task.
//
// Rules:
// - A request (H2Call) is posted to the connection's mailbox and its
//   sender waits for it to end; the connection submits it, gathers the
//   response whole (up to the client's limits) and wakes the sender. A
//   sender that goes (its deadline, a cancellation) posts the drop, and
//   the stream is reset (RST_STREAM CANCEL).
// - A request the server took no part of (REFUSED_STREAM, a stream past a
//   GOAWAY's last one, a connection that ended before it was sent) says
//   so (H2Call::refused): the client sends it again once on a new
//   connection.
// - The connection ends once its streams are done when its last handle
//   goes (the pool's, and those of requests in flight), when its runtime
//   drains, or at a GOAWAY; after ClientConfig::idle_timeout with no
//   stream; or when the peer ends it. Requests still waiting then fail
//   with connection_reset.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "duet/cancel/token.hpp"
#include "duet/http/client.hpp"
#include "duet/http/message.hpp"
#include "duet/net/tcp.hpp"
#include "duet/stackless/task.hpp"
#include "duet/sync/notify.hpp"
#include "duet/tls/stream.hpp"

namespace duet::http::detail {

/// One request's stream: what its sender and the connection share.
struct H2Call {
  Request req;            // :method, :path, fields and a whole body
  std::string authority;  // :authority
  // The outcome, written by the connection before `done`.
  Response res;
  std::error_code error;
  bool refused = false;  // the server took no part of it: safe to send again
  /// Release by the connection after the outcome; acquire by the sender.
  std::atomic<bool> done{false};
  Notify finished;
  // The connection's own.
  std::int32_t id = -1;
  std::size_t sent = 0;          // of req.body
  std::size_t header_bytes = 0;  // of the response's head
  std::uint32_t slot = 0;        // its place among the connection's calls
};

/// The connection's mailbox.
struct H2ClientBox {
  std::mutex mu;
  std::vector<std::shared_ptr<H2Call>> submitted;  // new requests
  std::vector<std::shared_ptr<H2Call>> dropped;    // their senders gone first
  bool closed = false;  // no new stream: the connection ended, or a GOAWAY came
  Notify wake;
  /// Cancelled when the last H2Client handle goes, or by the runtime's
  /// drain (a child of its shutdown token): the connection drains.
  CancellationToken stop;
};

class H2Client {
 public:
  /// Starts the connection's task over `s` (TLS whose ALPN chose h2, or
  /// TCP spoken to as h2c by prior knowledge), on the calling worker.
  static std::shared_ptr<H2Client> start(net::TcpStream s, const ClientConfig& o);
  static std::shared_ptr<H2Client> start(tls::TlsStream s, const ClientConfig& o);
  ~H2Client();
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  /// Sends `call` on a new stream and waits for its end (coroutine): the
  /// outcome is in the call. Dropped before it, the stream is reset.
  Task<void> send(std::shared_ptr<H2Call> call);
  /// Whether it takes new streams.
  [[nodiscard]] bool usable();

  explicit H2Client(std::shared_ptr<H2ClientBox> box) noexcept : box_(std::move(box)) {}

 private:
  std::shared_ptr<H2ClientBox> box_;
};

}  // namespace duet::http::detail
