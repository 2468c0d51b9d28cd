// duet/http/body.hpp: bodies in pieces: a request's body read by the
// handler as it arrives, in both models, and a response's body produced
// piece by piece.
//
// A body up to Limits::buffered_body_bytes arrives whole in Request::body.
// A longer one (by its Content-Length, or a chunked one once it runs past
// the threshold) is streamed: the handler is called once the head is in,
// Request::body is empty and Request::body_streamed() true, and the body
// is read with these calls, each returning duet::Result: a count of bytes,
// 0 at the body's end. On a request whose body is not streamed they hand
// out Request::body's bytes (removing them), so one handler serves both.
//
// Rules:
// - Limits hold over the whole stream: a Content-Length past
//   max_body_bytes is answered 413 before any handler runs; a chunked body
//   that runs past it is the reader's error (std::errc::message_size), as
//   is a malformed chunk (bad_message), a peer that ends or resets the
//   connection mid-body (connection_reset, or the system's error), and a
//   read past Limits::io_timeout (timed_out). After an error the
//   connection closes once the handler's answer is written.
// - Backpressure: the engine reads the body only when the handler asks,
//   one read buffer at a time.
// - Expect: 100-continue on a streamed body is answered at the handler's
//   first read; a handler that answers without reading sends none.
// - A handler that returns without reading the body to its end: the
//   answer goes out with "Connection: close" and the connection closes
//   (the rest of the body is not read, only drained while closing).
// - Lifetime: the reader is the connection's, lent for the handler's turn:
//   read only inside the handler (or what it awaits or waits on), never
//   after its answer is returned; a build with DUET_CHECK_TRANSITIONS
//   aborts on a read after the turn while the connection lives.
//
// Example (coroutine):
//   duet::http::Request req;
//   std::array<std::byte, 16 * 1024> chunk;
//   std::size_t total = 0;
//   for (;;) {
//     duet::Result<std::size_t> n = co_await duet::http::read_body(req, chunk);
//     if (!n || *n == 0) break;
//     total += *n;
//   }
//   use(total);
//
// Example (fiber):
//   duet::http::Request req;
//   duet::Result<void> whole = duet::http::read_whole_body_now(req, 4 << 20);
//   if (whole) { /* req.body is the whole body */ }
// A response body from a source: streamed_response(status, next, length)
// makes a Response whose body `next` produces, one piece per call, an
// empty piece at the end. The server writes each piece as it comes (it
// holds one piece at a time), with Content-Length when `length` is given
// (the pieces must add up to it), else chunked (an HTTP/1.0 request: the
// body ends with the connection). HEAD, 1xx, 204 and 304 answers send no
// body (the producer is not called). An error from `next`, or pieces that
// disagree with `length`, end the response there and close the
// connection: the client sees the body cut short.
//
// Example (coroutine):
//   auto left = std::make_shared<int>(3);
//   duet::http::Response res = duet::http::streamed_response(
//       200, [left]() -> duet::Task<duet::Result<std::string>> {
//         if (*left == 0) co_return std::string();
//         --*left;
//         co_return std::string("piece\n");
//       });
//   use(res);
//
// A file as a response body, with its content type (coroutine):
//   duet::http::Response page = co_await duet::http::file_response("/srv/www/index.html",
//   "text/html"); use(page);
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "duet/http/message.hpp"
#include "duet/result.hpp"
#include "duet/stackless/task.hpp"

namespace duet::http {

/// Reads the next bytes of `req`'s body into `into` (coroutine): a count,
/// 0 at the body's end.
[[nodiscard]] DUET_API Task<duet::Result<std::size_t>> read_body(Request& req,
                                                                 std::span<std::byte> into);
/// The same as a plain call on the handler's fiber.
[[nodiscard]] DUET_API duet::Result<std::size_t> read_body_now(Request& req,
                                                               std::span<std::byte> into);
/// The next piece of `req`'s body as it arrived (coroutine): the bytes the
/// decoder holds, moved out rather than copied into a buffer of the
/// caller's; an empty piece at the body's end. On a body that is not
/// streamed, the whole of Request::body (then empty). What a proxy forwards
/// with (a BodyProducer over it).
[[nodiscard]] DUET_API Task<duet::Result<std::string>> read_body_piece(Request& req);
/// The same as a plain call on the handler's fiber.
[[nodiscard]] DUET_API duet::Result<std::string> read_body_piece_now(Request& req);
/// Reads the rest of `req`'s body into Request::body, at most `cap` bytes
/// in all (more: std::errc::message_size); afterwards the body is whole
/// there and no longer streamed.
[[nodiscard]] DUET_API Task<duet::Result<void>> read_whole_body(Request& req, std::size_t cap);
/// The same as a plain call on the handler's fiber.
[[nodiscard]] DUET_API duet::Result<void> read_whole_body_now(Request& req, std::size_t cap);

/// A response body's producer (coroutine): the next piece at each call,
/// an empty one at the body's end.
using BodyProducer = std::function<Task<duet::Result<std::string>>()>;

/// What Response::source holds.
struct BodySource {
  BodyProducer next;
  /// The body's length when known (sent as Content-Length).
  std::optional<std::size_t> length{};
};

/// A response with `status` whose body `next` produces (its length, when
/// known, `length`).
[[nodiscard]] DUET_API Response streamed_response(int status, BodyProducer next,
                                                  std::optional<std::size_t> length = {});

/// A 200 whose body is the file at `path`, with `content_type` (coroutine):
/// a streamed_response over the file (duet::fs::File, read piece by piece,
/// one piece held at a time) with its length as Content-Length. A file
/// that does not exist (or is no regular file) is 404, one not readable
/// 403, another failure to open it 500; a read that fails mid-body ends
/// the response there (streamed_response's rule). The path is used as
/// given: a handler that builds it from a request checks it first (no
/// "..").
[[nodiscard]] DUET_API Task<Response> file_response(std::string path, std::string content_type);
/// The same as a plain call on the handler's fiber.
[[nodiscard]] DUET_API Response file_response_now(std::string path, std::string content_type);

}  // namespace duet::http
