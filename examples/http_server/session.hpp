// session.hpp: one HTTP/1.1 connection's protocol, without I/O. Bytes read
// from the peer go in (feed), response bytes come out (output), and the
// session says what the connection does next: read more, send a file body,
// or close. Parsing is Debian's http_parser (libhttp-parser-dev, 2.9.4);
// this file adds what RFC 9110/9112 ask of a server on top of it (framing
// checks, smuggling defences, limits, HEAD, Expect, HTTP/1.0, the routes).
//
// Pipelined requests that arrive together are answered together: every
// response of one feed lands in the same output buffer, so the connection
// writes them with one send. The plaintext and json responses are copied
// into that buffer: its first response reserves room for several, so a
// busy connection grows it rarely. A session lives from a request's first
// byte until its connection goes idle (connection.hpp), so an idle
// connection holds neither the session nor its buffer.
#pragma once

#include <http_parser.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <duet/io/fd.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace http_server {

/// What a client may send, and how long it may take.
struct Limits {
  std::size_t max_header_bytes = 8 * 1024;   // request line + fields; more: 431
  std::size_t max_body_bytes = 1024 * 1024;  // a request body; more: 413
  /// The whole header of a request (or the idle gap before one) must
  /// arrive within this; so must each read of a body and each write.
  std::chrono::milliseconds read_timeout{10'000};
};

/// The routes' settings, shared read-only by every session.
struct Site {
  Limits limits;
  /// Directory of GET /static/<name>; -1: no static route (404).
  int root_fd = -1;
};

/// A static file body the connection sends after the output.
struct FileBody {
  duet::io::Fd file;
  std::uint64_t size = 0;
};

class Session {
 public:
  explicit Session(const Site& site);
  // Movable until fed (the parser finds its session through parser.data,
  // which feed sets).
  Session(Session&&) = default;
  Session& operator=(Session&&) = default;

  /// Parses `data`; returns how many bytes were used. Fewer than `n` only
  /// when the session paused to let the connection flush its output (a
  /// file body is due, or the output grew large): feed the rest after.
  std::size_t feed(const char* data, std::size_t n);

  /// Response bytes to write, in order.
  [[nodiscard]] std::string_view output() const noexcept { return out_; }
  void clear_output() noexcept { out_.clear(); }
  /// The file body due after the output, if any (taken once).
  std::optional<FileBody> take_file() noexcept;

  /// True once the connection must close after writing the output.
  [[nodiscard]] bool closing() const noexcept { return closing_; }
  /// True between requests: nothing of the next request has arrived.
  [[nodiscard]] bool idle() const noexcept { return !in_message_; }
  /// True while a request's body is being read (its header is complete).
  [[nodiscard]] bool in_body() const noexcept { return in_body_; }
  /// The server is draining: close after the current request (an idle
  /// session closes at once).
  void drain() noexcept;
  [[nodiscard]] const Site& site() const noexcept { return *site_; }

 private:
  friend struct SessionCallbacks;

  // Per-request state, reset at each message start.
  enum class Field : std::uint8_t { other, host, expect, transfer_encoding };
  void begin_message() noexcept;
  int on_url(const char* at, std::size_t n) noexcept;
  int on_field(const char* at, std::size_t n) noexcept;
  int on_value(const char* at, std::size_t n) noexcept;
  int on_headers_complete() noexcept;
  int on_body(std::size_t n) noexcept;
  int on_message_complete() noexcept;
  bool count_header_bytes(std::size_t n) noexcept;
  void finish_field() noexcept;
  int reject(int status) noexcept;
  void finish_value() noexcept;

  void respond();
  void respond_static(std::string_view name, bool head);
  void respond_error(int status);
  void write_head(int status, std::string_view content_type, std::uint64_t length,
                  std::string_view extra = {});

  const Site* site_;
  http_parser parser_{};
  std::string out_;
  std::unique_ptr<FileBody> file_;  // allocated only when a file is due

  // Input bookkeeping for the obs-fold check (a value line that starts
  // with whitespace right after a line end; last_byte_ is below, with the
  // flags).
  const char* feed_begin_ = nullptr;

  /// What the checks and the routes keep of the request being parsed,
  /// reset at each message start. A session lives while its connection
  /// has a request in progress (connection.hpp): an idle connection holds
  /// none of this.
  struct Request {
    std::string url;
    std::size_t header_bytes = 0;
    std::uint64_t body_bytes = 0;
    char field[24] = {};
    std::size_t field_len = 0;
    char value[32] = {};
    std::size_t value_len = 0;
    Field field_kind = Field::other;
    bool in_value = false;
    bool value_started = false;
    int hosts = 0;
    bool expect_continue = false;
    bool expect_other = false;
    bool te_other = false;
  };
  Request rq_;
  int status_ = 0;  // a callback's rejection, answered after the parser stops
  char last_byte_ = 0;

  bool in_message_ = false;
  bool in_body_ = false;
  bool closing_ = false;
  bool draining_ = false;
  bool keep_alive_10_ = false;  // an HTTP/1.0 request that asked for keep-alive
};

}  // namespace http_server
