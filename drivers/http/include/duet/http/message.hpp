// duet/http/message.hpp: an HTTP/1.1 message as handlers and the client
// see it: Method, Headers, Request and Response. Plain values: no I/O, no
// parser (duet/http/codec.hpp turns bytes into them and back).
//
// Example (file):
//   duet::http::Response hello(duet::http::Request& req) {
//     if (auto n = req.query_param("name")) return duet::http::Response::text(200,
//     std::string(*n)); return duet::http::Response::text(200, "hello");
//   }
#pragma once

#include "duet/export.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duet::http {

namespace detail {
class BodyPump;  // a streamed request body's source (src/http/body_pump.hpp)
}
struct BodySource;  // a response body produced piece by piece (duet/http/body.hpp)

/// The request methods RFC 9110 section 9 defines, and `other` for any
/// other token (Request::method_name has it; a server answers 501 unless a
/// route names it).
enum class Method : std::uint8_t {
  get,
  head,
  post,
  put,
  delete_,
  connect,
  options,
  trace,
  patch,
  other
};

/// The method's name as sent on the wire ("GET"; "" for Method::other).
[[nodiscard]] DUET_API std::string_view to_string(Method m) noexcept;
/// The method named `token` (case-sensitive, RFC 9110 section 9.1), or
/// Method::other.
[[nodiscard]] DUET_API Method method_from(std::string_view token) noexcept;
/// The reason phrase of a status code ("Not Found"; "" for one unknown).
[[nodiscard]] DUET_API std::string_view reason(int status) noexcept;

/// Header fields in arrival order. Names compare case-insensitively;
/// values are kept as received, without surrounding whitespace.
class DUET_API Headers {
 public:
  struct Field {
    std::string name;
    std::string value;
  };

  /// Appends a field (a repeated name keeps every value, in order).
  void add(std::string_view name, std::string_view value);
  /// Replaces every field named `name` with one.
  void set(std::string_view name, std::string_view value);
  /// Removes every field named `name`; returns how many.
  std::size_t erase(std::string_view name) noexcept;
  /// The first value of `name`.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
  [[nodiscard]] bool contains(std::string_view name) const noexcept {
    return get(name).has_value();
  }
  /// True when `name`'s values, as a comma-separated list, hold `token`
  /// (case-insensitive): `has_token("Connection", "close")`.
  [[nodiscard]] bool has_token(std::string_view name, std::string_view token) const noexcept;

  [[nodiscard]] std::size_t size() const noexcept { return fields_.size(); }
  [[nodiscard]] bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }
  [[nodiscard]] auto begin() const noexcept { return fields_.begin(); }
  [[nodiscard]] auto end() const noexcept { return fields_.end(); }

 private:
  static constexpr std::size_t kFirstFields = 8;
  std::vector<Field> fields_;
};

/// A request: what the server's handlers get, and what the client sends.
struct DUET_API Request {
  Method method = Method::get;
  /// The method token as sent (set for every method; the one source for
  /// Method::other).
  std::string method_name = "GET";
  /// The request target as sent: "/path?query" (origin form).
  std::string target = "/";
  /// 11 for HTTP/1.1, 10 for HTTP/1.0.
  int version = 11;
  Headers headers;
  /// The whole body (the codec reassembles a chunked one; at most
  /// Limits::max_body_bytes), unless it is streamed: then empty, and read
  /// with read_body (duet/http/body.hpp).
  std::string body;
  /// Set by the server while a handler runs, when the request's body is
  /// streamed (past Limits::buffered_body_bytes); null otherwise. It is
  /// the connection's, valid for the handler's turn only.
  detail::BodyPump* body_stream = nullptr;
  /// The client's: a body produced piece by piece (duet/http/body.hpp),
  /// sent chunked or with the source's length; `body` is then not sent.
  std::shared_ptr<BodySource> source;

  /// Whether the body is streamed: still to be read (read_body).
  [[nodiscard]] bool body_streamed() const noexcept { return body_stream != nullptr; }

  /// The target's path: up to '?' (not decoded).
  [[nodiscard]] std::string_view path() const noexcept;
  /// The target's query: after '?' ("" when none).
  [[nodiscard]] std::string_view query() const noexcept;
  /// The value of the query's first `name=value` pair (not decoded); an
  /// empty optional when absent.
  [[nodiscard]] std::optional<std::string_view> query_param(std::string_view name) const noexcept;
  /// Whether the connection stays open after the answer (RFC 9112 section
  /// 9.3: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
  /// "Connection: keep-alive").
  [[nodiscard]] bool keep_alive() const noexcept;

  /// A request for `method` and `target` (the client's shorthand).
  static Request make(Method method, std::string target, std::string body = {});
};

/// A response: what a handler returns, and what the client receives.
struct DUET_API Response {
  int status = 200;
  /// Fields the handler sets. The server adds Date, Server, Content-Length
  /// and Connection itself (a handler's own values of those are replaced).
  Headers headers;
  std::string body;
  /// Set (duet::http::streamed_response): the body is produced piece by
  /// piece from here, and `body` is not sent.
  std::shared_ptr<BodySource> source;

  /// `status` with a text/plain body.
  static Response text(int status, std::string body);
  /// `status` with an application/json body (the caller's JSON).
  static Response json(int status, std::string body);
  /// `status` with no body (204, 304, or an empty 200).
  static Response empty(int status);
};

}  // namespace duet::http
