// duet/http/codec.hpp: the I/O-free core every engine and the client share:
// HTTP/1.1 bytes in, messages out, and messages back to bytes. The parser
// is Boost.Beast's (basic_parser, from the Boost duet already depends on;
// docs/http.md says why); this layer adds what RFC 9110/9112 ask of a
// server on top of it: the framing checks and the request-smuggling
// defences, the limits, Expect: 100-continue, HTTP/1.0 keep-alive, 501
// for an unknown method or transfer coding.
//
// A decoder is fed the bytes as they arrive, in any pieces. It stops at
// each event (a whole request, a 100-continue due, an error), saying how
// many bytes it used: the caller answers, then feeds the rest. Pipelined
// requests in one read are thus answered in order, into one output.
//
// Example (file):
//   std::string answer(std::string_view in) {
//     duet::http::RequestDecoder d(duet::http::Limits{});
//     std::string out;
//     for (;;) {
//       auto step = d.feed(in);
//       in.remove_prefix(step.consumed);
//       using Event = duet::http::RequestDecoder::Event;
//       if (step.event == Event::request) {
//         duet::http::Request req = d.take();
//         duet::http::write_response(out, duet::http::Response::text(200, "Hello, World!"),
//                                    duet::http::Answering::to(req));
//       } else if (step.event == Event::error) {
//         duet::http::write_error(out, d.error_status());
//         return out;
//       } else if (step.event == Event::need_more) {
//         return out;  // every byte used: read more, feed on
//       }
//     }
//   }
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <array>
#include "duet/http/message.hpp"
#include "duet/names.hpp"

namespace duet::http {

namespace detail {
/// Limits::read_timeout, a field renamed in 0.4: assigning or initializing
/// it warns, and `set` keeps the value. Not a [[deprecated]] data member,
/// which would warn in every copy of a Limits (the implicit copy reads it).
struct OldReadTimeout {
  OldReadTimeout() = default;
  template <class Rep, class Period>
  [[deprecated("use Limits::io_timeout (it bounds writes too)")]] OldReadTimeout(
      std::chrono::duration<Rep, Period> d) noexcept
      : set(std::chrono::milliseconds(d)) {}
  template <class Rep, class Period>
  [[deprecated("use Limits::io_timeout (it bounds writes too)")]] OldReadTimeout& operator=(
      std::chrono::duration<Rep, Period> d) noexcept {
    set = std::chrono::milliseconds(d);
    return *this;
  }
  std::optional<std::chrono::milliseconds> set;  // what a program set, if it did
};
}  // namespace detail

/// What a peer may send, and how long it may take.
struct Limits {
  std::size_t max_header_bytes = 8 * 1024;   // request line + fields; more: 431
  std::size_t max_body_bytes = 1024 * 1024;  // a request body; more: 413
  /// A request body up to this many bytes arrives whole in Request::body;
  /// a longer one (by its Content-Length, or a chunked one once it runs
  /// past it) is streamed: the handler reads it in pieces (duet/http/body.hpp).
  std::size_t buffered_body_bytes = 64 * 1024;
  /// Every wait on the peer (server): the idle gap before a request and its
  /// whole header must arrive within this; so must each read of a body,
  /// each write, a TLS handshake and a closing connection's wait for the
  /// peer's close. One deadline per wait, reads and writes alike.
  std::chrono::milliseconds io_timeout{10'000};
  /// The name before 0.4 (docs/CHANGELOG.md), which said reads only:
  /// setting it warns, and a server uses what was set in place of
  /// io_timeout. Gone in the release after.
  detail::OldReadTimeout read_timeout{};
};

/// Server side: request bytes in, Requests out.
class DUET_API RequestDecoder {
 public:
  enum class Event : unsigned char {
    need_more,     // every byte given was used; feed more
    request,       // a whole request (head and body): take() it
    continue_100,  // a head asked for 100-continue: write continue_response(), feed on
    error,         // the input is refused: answer error_status() and close
    // A streamed body (Limits::buffered_body_bytes):
    head,      // a request whose body is streamed: take() its head, then feed its body
    body,      // bytes of the streamed body are in body_piece(): use them, clear it, feed on
    body_end,  // the streamed body is whole (its last bytes in body_piece()); the
               // decoder is ready for the next request
  };
  struct Step {
    Event event;
    std::size_t consumed;  // bytes of the input used up to the event
  };

  explicit RequestDecoder(const Limits& limits);
  ~RequestDecoder();
  RequestDecoder(RequestDecoder&&) noexcept;
  RequestDecoder& operator=(RequestDecoder&&) noexcept;

  /// Parses from the start of `in` up to the next event.
  Step feed(std::string_view in);
  /// The request of the last Event::request (the decoder is ready for the
  /// next one), or the head of the last Event::head (with an empty body:
  /// feed on for it).
  [[nodiscard]] Request take();
  /// Gives a handled request back, between messages: the next request is
  /// decoded into its storage, cleared, so that the room its target, its
  /// fields and its body grew to is used again rather than allocated (a
  /// body's only up to Limits::buffered_body_bytes). Within a message, or
  /// before the first feed(), it is dropped.
  void reuse(Request&& done) noexcept;
  /// Lowers the body limit for the request whose head was just taken (a
  /// route's own, RouteLimits): a chunked body that runs past `max` is
  /// refused as one past Limits::max_body_bytes is (413). The next request
  /// has the Limits' again.
  void limit_body(std::size_t max) noexcept;
  /// A streamed body's bytes decoded and not yet used by the caller (who
  /// clears it after using them). Appended to by each feed while a body is
  /// streamed: at most what that feed was given.
  [[nodiscard]] std::string& body_piece() noexcept;
  /// True once, when a streamed body's head asked for 100-continue and no
  /// byte of the body has come: the caller writes continue_response()
  /// before it waits for the body. (A request whose body arrives whole
  /// gets Event::continue_100 instead.)
  [[nodiscard]] bool take_continue() noexcept;
  /// The status of the last Event::error: 400, 413, 431, 501 or 505.
  [[nodiscard]] int error_status() const noexcept;
  /// True between requests: no byte of the next request has arrived.
  [[nodiscard]] bool idle() const noexcept;
  /// True while a request's body is read (its head is complete).
  [[nodiscard]] bool in_body() const noexcept;
  /// True once a request that switches protocols (Upgrade, CONNECT) was
  /// delivered: the bytes after it are not HTTP/1.1, so the connection
  /// closes after its answer (feed() reads no further).
  [[nodiscard]] bool closing() const noexcept;
  /// Frees the parser's state when the decoder is between messages with
  /// nothing held (no byte of the next request, no streamed body's piece,
  /// no error or protocol switch, which must last); otherwise does nothing.
  /// A connection calls it when it starts waiting for its next request, so
  /// that an idle one holds no heap memory; the next feed() makes the state
  /// again. (Freed at every request instead, pipelined requests would pay
  /// for it once each.)
  void release() noexcept;
  /// The heap bytes the decoder holds at most (its state, and the room of
  /// the request it decodes into and of its buffers; a short string's
  /// inline room counted as if it were not): 0 when it holds none (before
  /// the first feed(), after release()).
  [[nodiscard]] std::size_t room() const noexcept;

 private:
  struct Impl;
  Impl& impl();

  // The parser's state lives on the heap from the first feed() until
  // release() finds the decoder between messages. It keeps the limits
  // that parsing reads (not io_timeout, the caller's), so that its own
  // size stays small: it lives in every connection's frame.
  std::size_t max_header_bytes_;
  std::size_t max_body_bytes_;
  std::size_t buffered_body_bytes_;
  std::unique_ptr<Impl> impl_;
};

/// How a response answers its request: what the writer must know of it.
struct Answering {
  bool head = false;   // HEAD: the head alone, with the body's length
  int version = 11;    // the request's version (an HTTP/1.0 answer says so)
  bool close = false;  // the connection closes after: "Connection: close"

  /// For `req`, closing unless it keeps the connection alive.
  [[nodiscard]] static Answering to(const Request& req) noexcept {
    return Answering{
        .head = req.method == Method::head, .version = req.version, .close = !req.keep_alive()};
  }
};

/// Appends `r` to `out`: status line, the handler's fields, Date, Server,
/// Content-Length (none for 1xx, 204 and 304), Connection, and the body
/// (none for HEAD). A response with a body source (Response::source) gets
/// its head only, with its length, or "Transfer-Encoding: chunked"
/// (HTTP/1.1), or neither (HTTP/1.0: the close ends it): the caller writes
/// the body as body_framing says.
DUET_API void write_response(std::string& out, const Response& r, const Answering& a);

/// How the body of a response with a source follows its head.
enum class BodyFraming : unsigned char {
  none,     // no body is sent (no source, HEAD, 1xx, 204, 304)
  length,   // the pieces as they are, adding up to the source's length
  chunked,  // each piece a chunk, then the last chunk
  close,    // the pieces as they are; the connection's close ends the body
};
constexpr std::array<BodyFraming, 4> enum_values(BodyFraming) noexcept {
  return {BodyFraming::none, BodyFraming::length, BodyFraming::chunked, BodyFraming::close};
}
/// "none", "length", "chunked", "close" (duet/names.hpp).
constexpr std::string_view to_string(BodyFraming f) noexcept {
  switch (f) {
    case BodyFraming::none:
      return "none";
    case BodyFraming::length:
      return "length";
    case BodyFraming::chunked:
      return "chunked";
    case BodyFraming::close:
      return "close";
  }
  return "?";
}
[[nodiscard]] DUET_API BodyFraming body_framing(const Response& r, const Answering& a) noexcept;
/// Appends the answer to a refused request (Event::error, or a route's
/// 404/405): a short text body, "Connection: close" unless `keep_open`;
/// `allow` adds an Allow field (405).
DUET_API void write_error(std::string& out, int status, bool keep_open = false,
                          std::string_view allow = {});
/// "HTTP/1.1 100 Continue\r\n\r\n".
[[nodiscard]] DUET_API std::string_view continue_response() noexcept;

/// Client side: response bytes in, Responses out.
class DUET_API ResponseDecoder {
 public:
  enum class Event : unsigned char {
    need_more,  // feed more (or finish() at the peer's end of stream)
    response,   // a whole response: take() it
    error,      // malformed or over the limits: the connection is unusable
    // With stream_bodies(true):
    head,      // a response's head: take() it (empty body), then feed its body
    body,      // bytes of its body are in body_piece(): use them, clear it, feed on
    body_end,  // the body is whole (its last bytes in body_piece())
  };
  struct Step {
    Event event;
    std::size_t consumed;
  };

  explicit ResponseDecoder(const Limits& limits);
  ~ResponseDecoder();
  ResponseDecoder(ResponseDecoder&&) noexcept;
  ResponseDecoder& operator=(ResponseDecoder&&) noexcept;

  /// The next response answers a request of `m` (HEAD: no body follows).
  void expect(Method m) noexcept;
  Step feed(std::string_view in);
  /// The peer ended the stream: a body delimited by the close is whole
  /// (Event::response), anything else cut short is Event::error.
  Step finish();
  [[nodiscard]] Response take();
  /// Streams every response's body from now on: Event::head, then the
  /// body through body_piece(), instead of Event::response.
  void stream_bodies(bool on) noexcept;
  /// A streamed body's bytes decoded and not yet used (the caller clears
  /// it); each feed appends at most what it was given.
  [[nodiscard]] std::string& body_piece() noexcept;
  /// Whether the connection may carry another request after the last
  /// response (no "Connection: close", not delimited by the close).
  [[nodiscard]] bool reusable() const noexcept;
  /// What was wrong, after Event::error.
  [[nodiscard]] std::string_view error_text() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Appends `r` as a request to `out`: its request line, Host (`host`,
/// unless the request has one), its fields, Content-Length when it has a
/// body (or its method expects one), and the body. A request with a body
/// source (Request::source) gets its head only, with the source's length
/// or "Transfer-Encoding: chunked": the caller writes the body.
DUET_API void write_request(std::string& out, const Request& r, std::string_view host);

}  // namespace duet::http
