// duet/http/client.hpp: an HTTP/1.1 and HTTP/2 client with a keep-alive
// connection pool per origin (one multiplexed connection where the origin
// speaks HTTP/2), in both models: `send` is a coroutine, `send_now` the
// same request as plain calls on the calling fiber (or plain thread).
//
// Rules:
// - Where a request goes: a URL (Url, or its text: "https://host:port/p?q")
//   or a socket address (net::SocketAddr, plain HTTP). A URL sets the
//   request's target and its Host field (a Host the request has wins); a
//   name is resolved by duet::dns (ClientConfig::dns), its addresses tried
//   by Happy Eyeballs (dns::connect); an IP literal skips the resolver. A
//   malformed URL is an error, ClientErrc::bad_url, never a throw.
// - https: TLS by duet::tls with SNI, the certificate verified against the
//   system's CA store (ClientConfig::tls.ca_file: a CA file of the
//   caller's instead) and the URL's host name (a certificate for another
//   name fails the request, tls::is_verify_error: "certificate verify
//   failed: hostname mismatch"). ClientConfig::tls.verify = false accepts
//   any certificate (tests only). ALPN offers h2, then http/1.1
//   (ClientConfig::http2): an origin that picks h2 is sent every request
//   over one multiplexed HTTP/2 connection.
// - A Client is shared by every task of a runtime (any worker may send).
//   Each origin (scheme, host and port; for a SocketAddr, its address and
//   port) keeps up to ClientConfig::max_idle_per_origin idle connections;
//   a request takes one (or connects), and gives it back once its
//   response is read whole and the connection may carry another
//   (ResponseDecoder::reusable). ClientConfig::max_connections_per_origin
//   caps the connections open to one origin: a request past it waits for
//   one to come back (or close), within its deadline.
// - A request on a pooled connection that fails before any response byte
//   arrives (the upstream closed it while idle) is sent once more on a new
//   connection, if its method is idempotent (RFC 9110 section 9.2.2).
// - An upstream that answers before it has read the whole request (a 413
//   to a large body) and then closes or resets the connection: the write
//   fails, and the client still reads what the upstream answered; a whole
//   response is the result (the connection then closed, never pooled),
//   as curl's and Go's clients give it (RFC 9112 section 9.5).
// - Redirects are followed only when asked (ClientConfig::max_redirects or
//   SendConfig::max_redirects, by the URL forms): 301, 302 and 303 turn
//   into a GET without a body; 307 and 308 keep the method and the body
//   (a body from a source cannot be sent twice: the 307 or 308 is then the
//   result); a redirect to another origin drops Authorization (and
//   Cookie). More than the limit: ClientErrc::too_many_redirects.
// - Errors are duet::Result's: duet::TimeoutErrc::elapsed past the
//   request's deadline (SendConfig::timeout, else
//   ClientConfig::request_timeout: from the start to the response's last
//   byte, waits for a connection and redirects included), connection_refused,
//   connection_reset, bad_message (a malformed or over-limit response),
//   ClientErrc's, duet::dns's and duet::tls's, and the operating system's
//   others.
// - Bodies in pieces: a request with a body source (Request::source,
//   duet/http/body.hpp) is sent chunked, or with the source's length, each
//   piece written as the source gives it (such a request is never sent
//   twice: its source is spent); `open`/`open_now` give the response's head
//   and a ResponseStream to read its body from, as it arrives.
// - Cancellation: dropping `send`'s Task (or a timeout or select around
//   it) closes the connection it was using; the pool never gets back a
//   connection with a request half done.
// - On a plain thread (no runtime) a name's lookup and a TLS handshake
//   block the thread as blocking calls do: the request's deadline bounds
//   them on a worker only (the connect, the writes and the reads keep it
//   on a plain thread too).
//
// Example (coroutine):
//   duet::http::Client client;
//   auto r = co_await client.send("https://example.org/json",
//                                 duet::http::Request::make(duet::http::Method::get, "/"));
//   if (r && r->status == 200) { /* r->body */ }
//   auto a = co_await client.send(duet::net::SocketAddr::v4_loopback(8080),
//                                 duet::http::Request::make(duet::http::Method::get, "/json"),
//                                 {.timeout = std::chrono::milliseconds(500)});
//
// Example (fiber):
//   duet::http::ClientConfig cfg;
//   cfg.tls.ca_file = "ca.pem";   // the upstream's CA, not the system's
//   duet::http::Client client(cfg);
//   auto r = client.send_now("https://localhost:8443/json",
//                            duet::http::Request::make(duet::http::Method::get, "/"));
//   if (!r) use(r.error().message());
#pragma once

#include "duet/export.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "duet/dns/resolver.hpp"
#include "duet/http/codec.hpp"
#include "duet/http/message.hpp"
#include "duet/net/address.hpp"
#include "duet/result.hpp"
#include "duet/stackless/task.hpp"
#include "duet/tls/stream.hpp"

namespace duet::http {

/// The client's own errors (no syscall or peer reports them); category
/// "duet.http.client".
enum class ClientErrc {
  bad_url = 1,         // not http(s)://host[:port][/path][?query], or it has userinfo
  too_many_redirects,  // more redirects than the request may follow
};

/// The category of ClientErrc: one object across shared objects.
DUET_API const std::error_category& client_category() noexcept;

inline std::error_code make_error_code(ClientErrc e) noexcept {
  return {static_cast<int>(e), client_category()};
}

}  // namespace duet::http

// A specialization of the standard library's, not duet's API: hidden from the reference.
/// @cond
template <>
struct std::is_error_code_enum<duet::http::ClientErrc> : std::true_type {};
/// @endcond

namespace duet::http {

/// An absolute http or https URL, as the client uses it: where to connect
/// (scheme, host, port) and what to ask for (target).
struct DUET_API Url {
  enum class Scheme { http, https };

  Scheme scheme = Scheme::http;
  /// A name (lower case), or an IP literal (an IPv6 one without brackets).
  std::string host;
  /// The URL's port, or the scheme's (80, 443).
  std::uint16_t port = 80;
  /// Path and query ("/a?b=c"): "/" when the URL has no path; a fragment
  /// ("#...") is not part of it (it is never sent).
  std::string target = "/";

  /// "http://host[:port][/path][?query][#fragment]", or https; the
  /// scheme's and host's case ignored; an IPv6 literal in brackets
  /// ("[::1]:8443"). ClientErrc::bad_url for anything else: another
  /// scheme, userinfo ("user:pw@host"), an empty host, a port out of
  /// 1..65535, a space or control byte.
  static duet::Result<Url> parse(std::string_view text);
  [[nodiscard]] bool https() const noexcept { return scheme == Scheme::https; }
  /// host[:port], as the Host field gives it: an IPv6 literal in brackets,
  /// the scheme's default port left out.
  [[nodiscard]] std::string authority() const;
  /// scheme://authority and the target.
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const Url&, const Url&) = default;
};

constexpr std::array<Url::Scheme, 2> enum_values(Url::Scheme) noexcept {
  return {Url::Scheme::http, Url::Scheme::https};
}
/// "http", "https" (duet/names.hpp).
constexpr std::string_view to_string(Url::Scheme s) noexcept {
  return s == Url::Scheme::http ? "http" : "https";
}

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

/// HTTP/2 for the client (docs/http.md, "The client"): where an origin
/// speaks it, the requests to it share one connection, each a stream.
struct ClientHttp2 {
  /// https: ALPN offers "h2" before "http/1.1"; where the server picks it,
  /// the origin's requests go over one HTTP/2 connection.
  bool over_tls = true;
  /// http (URLs and socket addresses): HTTP/2 from the first byte (h2c by
  /// prior knowledge, RFC 9113 3.3), for upstreams known to speak it. Off:
  /// HTTP/1.1.
  bool prior_knowledge = false;
};

struct ClientConfig {
  /// Idle keep-alive connections kept per origin (an upstream's address
  /// and port: two ports of one host are two pools).
  std::size_t max_idle_per_origin = 64;
  /// The name before 0.4 (docs/CHANGELOG.md), which said per host:
  /// setting it warns, and the pool uses what was set in place of
  /// max_idle_per_origin. Gone in the release after.
  detail::OldMaxIdlePerHost max_idle_per_host{};
  /// Each connect (for a name, each address's attempt) and each TLS
  /// handshake.
  std::chrono::milliseconds connect_timeout{5'000};
  /// Each request's deadline (SendConfig::timeout overrides it), from its
  /// start (a wait for a connection, the lookup) to the response's last
  /// byte; past it: duet::TimeoutErrc::elapsed.
  std::chrono::milliseconds request_timeout{30'000};
  /// An idle pooled connection older than this is closed, not reused.
  std::chrono::milliseconds idle_timeout{60'000};
  /// Response head and body sizes (Limits::max_body_bytes is the largest
  /// response body accepted).
  Limits limits{.max_header_bytes = 64 * 1024, .max_body_bytes = 64 * 1024 * 1024};
  /// Connections open to one origin at once, idle ones included; a request
  /// past it waits for one to come back or close (within its deadline).
  /// 0: no cap.
  std::size_t max_connections_per_origin = 0;
  /// Redirects a URL request follows (SendConfig::max_redirects overrides
  /// it); 0: none, a 3xx is the result.
  int max_redirects = 0;
  /// TLS for https: the CA file (empty: the system's store), `verify`
  /// (false accepts any certificate: tests only), a client certificate,
  /// the ciphers. Its ALPN list is replaced (h2 and http/1.1, or http/1.1:
  /// ClientConfig::http2).
  duet::tls::ClientConfig tls{};
  /// Name resolution for URLs with a host name.
  duet::dns::ResolverConfig dns{};
  /// HTTP/2 (over TLS by ALPN, on by default; h2c by prior knowledge, off).
  /// It serves `send` and `send_now` on a worker with whole bodies; `open`,
  /// a request body from a source, a plain thread's `send_now` and a cap on
  /// connections per origin go by HTTP/1.1.
  ClientHttp2 http2{};
};

/// One request's own settings, over the Client's.
struct SendConfig {
  /// The request's deadline, from its start to the response's last byte
  /// (a ResponseStream's body included); unset: ClientConfig::request_timeout.
  std::optional<std::chrono::milliseconds> timeout{};
  /// Redirects followed (URL forms only); unset: ClientConfig::max_redirects.
  std::optional<int> max_redirects{};
};

/// A response whose body is read in pieces (Client::open, open_now): its
/// head at once, its body as it arrives, never buffered whole. It holds
/// its connection until the body's end, which gives the connection back to
/// the pool (when reusable); destroyed before the end, it closes it. Reads
/// keep the request's deadline (SendConfig::timeout, else
/// ClientConfig::request_timeout, from the request's start to the body's
/// last byte). It must not outlive its
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
  std::uint64_t waited = 0;    // requests that waited for a connection (max_connections_per_origin)
};

class DUET_API Client {
 public:
  explicit Client(ClientConfig options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Sends `req` to `upstream` and reads its response (coroutine).
  [[nodiscard]] Task<duet::Result<Response>> send(net::SocketAddr upstream, Request req,
                                                  SendConfig opt = {});
  /// Sends `req` to `url`'s origin, its target and Host the URL's.
  [[nodiscard]] Task<duet::Result<Response>> send(Url url, Request req, SendConfig opt = {});
  /// The same with the URL's text, parsed first (ClientErrc::bad_url).
  [[nodiscard]] Task<duet::Result<Response>> send(std::string_view url, Request req,
                                                  SendConfig opt = {});
  /// The same as plain calls on the calling fiber (or plain thread).
  [[nodiscard]] duet::Result<Response> send_now(net::SocketAddr upstream, Request req,
                                                SendConfig opt = {});
  [[nodiscard]] duet::Result<Response> send_now(const Url& url, Request req, SendConfig opt = {});
  [[nodiscard]] duet::Result<Response> send_now(std::string_view url, Request req,
                                                SendConfig opt = {});
  /// The name before 0.4 (docs/CHANGELOG.md): the plain-call form of a
  /// request is `_now`, as open_now.
  [[deprecated("use send_now")]] [[nodiscard]] duet::Result<Response> fetch(
      net::SocketAddr upstream, Request req) {
    return send_now(upstream, std::move(req));
  }
  /// Sends `req` and reads the response's head only: its body is read from
  /// the ResponseStream (coroutine). Redirects are not followed.
  [[nodiscard]] Task<duet::Result<ResponseStream>> open(net::SocketAddr upstream, Request req,
                                                        SendConfig opt = {});
  [[nodiscard]] Task<duet::Result<ResponseStream>> open(Url url, Request req, SendConfig opt = {});
  [[nodiscard]] Task<duet::Result<ResponseStream>> open(std::string_view url, Request req,
                                                        SendConfig opt = {});
  /// The same as plain calls on the calling fiber (or plain thread).
  [[nodiscard]] duet::Result<ResponseStream> open_now(net::SocketAddr upstream, Request req,
                                                      SendConfig opt = {});
  [[nodiscard]] duet::Result<ResponseStream> open_now(const Url& url, Request req,
                                                      SendConfig opt = {});
  [[nodiscard]] duet::Result<ResponseStream> open_now(std::string_view url, Request req,
                                                      SendConfig opt = {});

  [[nodiscard]] ClientStats stats() const noexcept;
  /// Closes every idle connection.
  void clear() noexcept;

  struct Pool;  // private: src/http/

 private:
  std::unique_ptr<Pool> pool_;
};

}  // namespace duet::http
