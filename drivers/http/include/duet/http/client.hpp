// duet/http/client.hpp: an HTTP/1.1 client with a keep-alive connection
// pool per upstream, in both models: `send` is a coroutine, `fetch` the
// same request as plain calls on the calling fiber.
//
// Rules:
// - A Client is shared by every task of a runtime (any worker may send).
//   Each upstream (address and port) keeps up to
//   ClientConfig::max_idle_per_origin idle connections; a request takes one
//   (or connects), and gives it back once its response is read whole and
//   the connection may carry another (ResponseDecoder::reusable).
// - A request on a pooled connection that fails before any response byte
//   arrives (the upstream closed it while idle) is sent once more on a new
//   connection, if its method is idempotent (RFC 9110 section 9.2.2).
// - An upstream that answers before it has read the whole request (a 413
//   to a large body) and then closes or resets the connection: the write
//   fails, and the client still reads what the upstream answered; a whole
//   response is the result (the connection then closed, never pooled),
//   as curl's and Go's clients give it (RFC 9112 section 9.5).
// - Errors are duet::Result's: std::errc::timed_out past
//   ClientConfig::request_timeout (connect to last response byte),
//   connection_refused, connection_reset, bad_message (a malformed or
//   over-limit response), and the operating system's others.
// - Bodies in pieces: a request with a body source (Request::source,
//   duet/http/body.hpp) is sent chunked, or with the source's length, each
//   piece written as the source gives it (such a request is never sent
//   twice: its source is spent); `open`/`open_now` give the response's head
//   and a ResponseStream to read its body from, as it arrives.
// - Cancellation: dropping `send`'s Task (or a timeout or select around
//   it) closes the connection it was using; the pool never gets back a
//   connection with a request half done.
//
// Example (coroutine):
//   duet::http::Client client;
//   auto addr = duet::net::SocketAddr::v4_loopback(8080);
//   auto r = co_await client.send(addr, duet::http::Request::make(duet::http::Method::get,
//   "/json")); if (r && r->status == 200) { /* r->body */ }
//
// Example (fiber):
//   duet::http::Client client;
//   auto r = client.fetch(duet::net::SocketAddr::v4_loopback(8080),
//                         duet::http::Request::make(duet::http::Method::get, "/json"));
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>

#include "duet/http/codec.hpp"
#include "duet/http/message.hpp"
#include "duet/net/address.hpp"
#include "duet/result.hpp"
#include "duet/stackless/task.hpp"

namespace duet::http {

namespace detail {
/// ClientConfig::max_idle_per_host, a field renamed in 0.4: assigning or
/// initializing it warns, and `set` keeps the value (as
/// Limits::read_timeout's detail::OldReadTimeout, duet/http/codec.hpp).
struct OldMaxIdlePerHost {
  OldMaxIdlePerHost() = default;
  [[deprecated(
      "use ClientConfig::max_idle_per_origin (it is per address and port)")]] OldMaxIdlePerHost(std::size_t
                                                                                                    n) noexcept
      : set(n) {}
  [[deprecated(
      "use ClientConfig::max_idle_per_origin (it is per address and port)")]] OldMaxIdlePerHost&
  operator=(std::size_t n) noexcept {
    set = n;
    return *this;
  }
  std::optional<std::size_t> set;  // what a program set, if it did
};
}  // namespace detail

struct ClientConfig {
  /// Idle keep-alive connections kept per origin (an upstream's address
  /// and port: two ports of one host are two pools).
  std::size_t max_idle_per_origin = 64;
  /// The name before 0.4 (docs/CHANGELOG.md), which said per host:
  /// setting it warns, and the pool uses what was set in place of
  /// max_idle_per_origin. Gone in the release after.
  detail::OldMaxIdlePerHost max_idle_per_host{};
  std::chrono::milliseconds connect_timeout{5'000};
  /// From taking a connection to the response's last byte.
  std::chrono::milliseconds request_timeout{30'000};
  /// An idle pooled connection older than this is closed, not reused.
  std::chrono::milliseconds idle_timeout{60'000};
  /// Response head and body sizes (Limits::max_body_bytes is the largest
  /// response body accepted).
  Limits limits{.max_header_bytes = 64 * 1024, .max_body_bytes = 64 * 1024 * 1024};
};

/// A response whose body is read in pieces (Client::open, open_now): its
/// head at once, its body as it arrives, never buffered whole. It holds
/// its connection until the body's end, which gives the connection back to
/// the pool (when reusable); destroyed before the end, it closes it. Reads
/// keep the request's deadline (ClientConfig::request_timeout, from the
/// request's start to the body's last byte). It must not outlive its
/// Client.
class DUET_API ResponseStream {
 public:
  ResponseStream() noexcept;
  ~ResponseStream();
  ResponseStream(ResponseStream&&) noexcept;
  ResponseStream& operator=(ResponseStream&&) noexcept;

  /// Status and fields (its body empty: read it).
  [[nodiscard]] Response& head() noexcept;
  /// The next bytes of the body into `into` (coroutine): a count, 0 at its
  /// end; errors as Client::send's (bad_message, connection_reset,
  /// timed_out, ...).
  [[nodiscard]] Task<duet::Result<std::size_t>> read(std::span<std::byte> into);
  /// The same as a plain call on the calling fiber (or plain thread).
  [[nodiscard]] duet::Result<std::size_t> read_now(std::span<std::byte> into);
  /// The next piece of the body as it arrived (coroutine), moved out of
  /// the decoder rather than copied: empty at its end; errors as read's.
  /// A BodyProducer over it forwards the body (a proxy's response).
  [[nodiscard]] Task<duet::Result<std::string>> read_piece();
  /// The same as a plain call on the calling fiber (or plain thread).
  [[nodiscard]] duet::Result<std::string> read_piece_now();

  struct Impl;  // private: src/http/
  explicit ResponseStream(std::unique_ptr<Impl> impl) noexcept;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Pool counters, for tests and metrics.
struct ClientStats {
  std::uint64_t connects = 0;  // new connections made
  std::uint64_t reused = 0;    // requests sent on a pooled connection
  std::uint64_t idle = 0;      // idle connections held now
};

class DUET_API Client {
 public:
  explicit Client(ClientConfig options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Sends `req` to `upstream` and reads its response (coroutine).
  [[nodiscard]] Task<duet::Result<Response>> send(net::SocketAddr upstream, Request req);
  /// The same as plain calls on the calling fiber (or plain thread).
  [[nodiscard]] duet::Result<Response> fetch(net::SocketAddr upstream, Request req);
  /// Sends `req` and reads the response's head only: its body is read from
  /// the ResponseStream (coroutine).
  [[nodiscard]] Task<duet::Result<ResponseStream>> open(net::SocketAddr upstream, Request req);
  /// The same as plain calls on the calling fiber (or plain thread).
  [[nodiscard]] duet::Result<ResponseStream> open_now(net::SocketAddr upstream, Request req);

  [[nodiscard]] ClientStats stats() const noexcept;
  /// Closes every idle connection.
  void clear() noexcept;

  struct Pool;  // private: src/http/

 private:
  std::unique_ptr<Pool> pool_;
};

}  // namespace duet::http
