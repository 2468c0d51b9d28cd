// duet/http/message.hpp: an HTTP/1.1 message as handlers and the client
// see it: Method, Headers, Request and Response. Plain values: no I/O, no
// parser (duet/http/codec.hpp turns bytes into them and back).
//
// Rules:
// - A status is a plain int (Response::status); `status::not_found` and
//   the rest name them, and reason(int) gives each its phrase.
// - A request's target is kept as sent. Its path parameters (a route's
//   "{name}", Router in duet/http/server.hpp) are percent-decoded after the
//   path is split, so a "%2F" stays inside its parameter; its query's names
//   and values are decoded with '+' as a space (form rules) by
//   query_params and the typed query_param<T>, and query_param(name) gives
//   the raw value. The server answers 400 to a request whose path or query
//   holds a malformed escape ('%' not followed by two hex digits), so a
//   handler's decoded reads never meet one.
//
// Example (file):
//   duet::http::Response hello(duet::http::Request& req) {
//     std::string name = req.query_param<std::string>("name").value_or("world");
//     return duet::http::Response::text(duet::http::status::ok, "hello " + name);
//   }
//   // At a route "/users/{id}": a missing or non-numeric id is 404.
//   duet::http::Response user(duet::http::Request& req) {
//     std::optional<std::uint64_t> id = req.param<std::uint64_t>("id");
//     if (!id) return duet::http::Response::empty(duet::http::status::not_found);
//     return duet::http::Response::text(duet::http::status::ok, std::to_string(*id));
//   }
#pragma once

#include "duet/export.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>
#include "duet/names.hpp"

namespace duet::http {

namespace detail {
class BodyPump;  // a streamed request body's source (src/http/body_pump.hpp)
}
struct BodySource;  // a response body produced piece by piece (duet/http/body.hpp)
class Router;       // routes requests, and fills their PathParams (duet/http/server.hpp)

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
/// Every method (duet/names.hpp: duet::from_string<Method>("GET")).
constexpr std::array<Method, 10> enum_values(Method) noexcept {
  return {Method::get,     Method::head,    Method::post,  Method::put,   Method::delete_,
          Method::connect, Method::options, Method::trace, Method::patch, Method::other};
}
/// The method named `token` (case-sensitive, RFC 9110 section 9.1), or
/// Method::other.
[[nodiscard]] DUET_API Method method_from(std::string_view token) noexcept;
/// The reason phrase of a status code ("Not Found"; "" for one unknown).
/// Every status named in `status` has one.
[[nodiscard]] DUET_API std::string_view reason(int status) noexcept;

/// Status codes by name (RFC 9110 section 15, RFC 6585): plain ints, as
/// Response::status and every status parameter are, so that
/// `r->status == status::not_found` and `Response::empty(status::no_content)`
/// need no conversion. A keyword gets a trailing underscore
/// (`continue_`), as Method::delete_ does.
namespace status {
inline constexpr int continue_ = 100;
inline constexpr int switching_protocols = 101;
inline constexpr int ok = 200;
inline constexpr int created = 201;
inline constexpr int accepted = 202;
inline constexpr int no_content = 204;
inline constexpr int partial_content = 206;
inline constexpr int moved_permanently = 301;
inline constexpr int found = 302;
inline constexpr int see_other = 303;
inline constexpr int not_modified = 304;
inline constexpr int temporary_redirect = 307;
inline constexpr int permanent_redirect = 308;
inline constexpr int bad_request = 400;
inline constexpr int unauthorized = 401;
inline constexpr int forbidden = 403;
inline constexpr int not_found = 404;
inline constexpr int method_not_allowed = 405;
inline constexpr int not_acceptable = 406;
inline constexpr int request_timeout = 408;
inline constexpr int conflict = 409;
inline constexpr int gone = 410;
inline constexpr int length_required = 411;
inline constexpr int precondition_failed = 412;
inline constexpr int content_too_large = 413;
inline constexpr int uri_too_long = 414;
inline constexpr int unsupported_media_type = 415;
inline constexpr int range_not_satisfiable = 416;
inline constexpr int expectation_failed = 417;
inline constexpr int unprocessable_content = 422;
inline constexpr int upgrade_required = 426;
inline constexpr int precondition_required = 428;
inline constexpr int too_many_requests = 429;
inline constexpr int request_header_fields_too_large = 431;
inline constexpr int internal_server_error = 500;
inline constexpr int not_implemented = 501;
inline constexpr int bad_gateway = 502;
inline constexpr int service_unavailable = 503;
inline constexpr int gateway_timeout = 504;
inline constexpr int http_version_not_supported = 505;
}  // namespace status

/// `s` with each %XX escape decoded (RFC 3986 section 2.1); '+' stays a
/// '+'. Empty optional: a malformed escape ('%' not followed by two hex
/// digits).
[[nodiscard]] DUET_API std::optional<std::string> percent_decode(std::string_view s);
/// The same with '+' as a space: a query's rule
/// (application/x-www-form-urlencoded).
[[nodiscard]] DUET_API std::optional<std::string> form_decode(std::string_view s);

namespace detail {
/// `s` as a whole T: the text itself for std::string and std::string_view,
/// else std::from_chars over all of it (an integer without a sign for an
/// unsigned type, no leading '+' or space; a floating-point number).
template <class T>
std::optional<T> parse_as(std::string_view s) {
  if constexpr (std::is_same_v<T, std::string_view> || std::is_same_v<T, std::string>) {
    return T(s);
  } else {
    static_assert(
        (std::is_integral_v<T> && !std::is_same_v<T, bool>) || std::is_floating_point_v<T>,
        "param<T> and query_param<T> parse an integer, a floating-point number, "
        "std::string or std::string_view");
    T v{};
    const char* end = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc() || ptr != end || s.empty()) return std::nullopt;
    return v;
  }
}
}  // namespace detail

/// The parameters a route's pattern captured from a request's path
/// ("/users/{id}/posts/{post}", Router in duet/http/server.hpp), in the
/// pattern's order. The server sets Request::params before the handler
/// runs; Request::param reads them. A value is held as a place in the
/// path (no copy), unless it held an escape: then decoded into the
/// parameters' own string (the only case that may allocate). The names
/// are the Router's: a PathParams is read while its Router lives.
class DUET_API PathParams {
 public:
  /// The most parameters a pattern may hold (Router refuses more).
  static constexpr std::size_t kMax = 8;

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  /// The i-th parameter's name (i < size()).
  [[nodiscard]] std::string_view name(std::size_t i) const noexcept;
  /// The i-th parameter's value, decoded; `path` is the path it was
  /// matched in (Request::path()), or any text that begins with it (the
  /// whole target: a value's place is an offset from the path's start).
  [[nodiscard]] std::string_view value(std::size_t i, std::string_view path) const noexcept;
  /// The value of the parameter `name`, decoded; empty when the pattern
  /// has none of that name.
  [[nodiscard]] std::optional<std::string_view> find(std::string_view name,
                                                     std::string_view path) const noexcept;
  void clear() noexcept {
    count_ = 0;
    names_ = nullptr;
    decoded_.clear();
  }

 private:
  friend class Router;  // fills them
  /// A value at [begin, begin + size) of `path`: kept as that place, or
  /// decoded into decoded_ when it holds an escape (the Router checked
  /// the escapes before; `escaped`: the path holds a '%' somewhere).
  void add(std::uint32_t begin, std::uint32_t size, std::string_view path, bool escaped) {
    if (escaped && path.substr(begin, size).find('%') != std::string_view::npos) {
      add_decoded(begin, size, path);
    } else {
      spans_[count_++] = Span{begin, size, 0};
    }
  }
  void add_decoded(std::uint32_t begin, std::uint32_t size, std::string_view path);

  struct Span {
    std::uint32_t begin;        // in the path, or in decoded_
    std::uint32_t size : 31;    // bytes
    std::uint32_t decoded : 1;  // in decoded_
  };
  const std::string* names_ = nullptr;
  std::array<Span, kMax> spans_{};  // [0, count_) in use
  std::uint8_t count_ = 0;
  std::string decoded_;
};

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
  /// Room for `n` fields in all (a builder that knows how many it adds).
  void reserve(std::size_t n) { fields_.reserve(n); }
  /// The fields there is room for without allocating.
  [[nodiscard]] std::size_t capacity() const noexcept { return fields_.capacity(); }
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
  /// Limits::max_body_bytes), unless it is streamed (body_streamed(): past
  /// Limits::buffered_body_bytes): then EMPTY, and read with read_body or
  /// read_whole_body (duet/http/body.hpp), which serve both cases.
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

  /// The path parameters of the route that matched (Router), set by the
  /// server before the handler runs; empty at a route without any.
  PathParams params;

  /// The target's path: up to '?' (not decoded).
  [[nodiscard]] std::string_view path() const noexcept;
  /// The path parameter `name` ("/kv/{key}": param("key")), decoded; ""
  /// when the route has no parameter of that name.
  [[nodiscard]] std::string_view param(std::string_view name) const noexcept;
  /// The path parameter `name` as a whole T (an integer, a floating-point
  /// number, std::string or std::string_view): empty when the route has
  /// none of that name, or its value is not a T ("12x", "-1" for an
  /// unsigned T, a value out of T's range).
  template <class T>
  [[nodiscard]] std::optional<T> param(std::string_view name) const {
    // The target begins with the path: no need to find the '?' first.
    const auto v = params.find(name, target);
    if (!v) return std::nullopt;
    return detail::parse_as<T>(*v);
  }
  /// The target's query: after '?' ("" when none), as sent.
  [[nodiscard]] std::string_view query() const noexcept;
  /// The raw value of the query's first `name=value` pair (not decoded,
  /// `name` compared as sent); an empty optional when absent.
  [[nodiscard]] std::optional<std::string_view> query_param(std::string_view name) const noexcept;
  /// The first value of `name` in the query, decoded (form rules: '+' is
  /// a space; names compared decoded), as a whole T (an integer, a
  /// floating-point number or std::string): empty when absent or not a T.
  /// A pair without '=' has the value "".
  template <class T>
  [[nodiscard]] std::optional<T> query_param(std::string_view name) const {
    static_assert(!std::is_same_v<T, std::string_view>,
                  "a decoded value needs storage: query_param<std::string>, or "
                  "query_param(name) for the raw view");
    std::optional<std::string> v = first_query_value(name);
    if (!v) return std::nullopt;
    return detail::parse_as<T>(*v);
  }
  /// Every value of `name` in the query, in order, decoded (form rules).
  /// A malformed escape (only a request the server did not check, such as
  /// one a client builds) is kept as sent.
  [[nodiscard]] std::vector<std::string> query_params(std::string_view name) const;
  /// Whether the connection stays open after the answer (RFC 9112 section
  /// 9.3: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
  /// "Connection: keep-alive").
  [[nodiscard]] bool keep_alive() const noexcept;

  /// A request for `method` and `target` (the client's shorthand).
  static Request make(Method method, std::string target, std::string body = {});

 private:
  [[nodiscard]] std::optional<std::string> first_query_value(std::string_view name) const;
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
  /// A redirect to `location` (sent as given in the Location field): 302
  /// Found by default; 307 or 308 keep the method and body, 301 and 303
  /// are the others a redirect may be. Throws std::invalid_argument for a
  /// status that is not 3xx or a location holding CR, LF or NUL (a field
  /// value cannot carry them).
  static Response redirect(std::string_view location, int status = status::found);
};

/// `s` as a JSON string, quotes included (RFC 8259 section 7): '"', '\\'
/// and the control characters escaped, every other byte as given (UTF-8
/// passes through). For Response::json bodies built by hand.
[[nodiscard]] DUET_API std::string json_quote(std::string_view s);

}  // namespace duet::http
