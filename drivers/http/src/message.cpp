// message.cpp: Method names, reason phrases, percent-decoding, and the
// small accessors of Headers, PathParams, Request and Response
// (duet/http/message.hpp).
#include "duet/http/message.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <utility>

namespace duet::http {

namespace {

constexpr std::array<std::pair<Method, std::string_view>, 9> kMethods{{
    {Method::get, "GET"},
    {Method::head, "HEAD"},
    {Method::post, "POST"},
    {Method::put, "PUT"},
    {Method::delete_, "DELETE"},
    {Method::connect, "CONNECT"},
    {Method::options, "OPTIONS"},
    {Method::trace, "TRACE"},
    {Method::patch, "PATCH"},
}};

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Appends `s` decoded to `out`: each %XX as its byte, '+' as a space when
/// `plus_space`. A malformed escape: false, or kept as sent when `lenient`.
bool decode_into(std::string_view s, bool plus_space, bool lenient, std::string& out) {
  out.reserve(out.size() + s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      const int hi = i + 1 < s.size() ? hex_digit(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
      if (!lenient) return false;
    }
    out.push_back(plus_space && c == '+' ? ' ' : c);
  }
  return true;
}

/// Calls `f(name, value)` for each raw `name=value` pair of `query` (a
/// pair without '=' has the value ""; empty pairs are skipped) until it
/// returns true.
template <class F>
void each_pair(std::string_view query, F f) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      if (f(pair.substr(0, eq), value)) return;
    }
    if (amp == std::string_view::npos) return;
    query.remove_prefix(amp + 1);
  }
}

/// Whether the raw `name` of a query pair decodes to `want`.
bool name_is(std::string_view raw, std::string_view want, std::string& scratch) {
  if (raw.find_first_of("%+") == std::string_view::npos) return raw == want;
  scratch.clear();
  decode_into(raw, true, true, scratch);
  return scratch == want;
}

}  // namespace

std::string_view to_string(Method m) noexcept {
  for (const auto& [method, name] : kMethods) {
    if (method == m) return name;
  }
  return {};
}

Method method_from(std::string_view token) noexcept {
  for (const auto& [method, name] : kMethods) {
    if (name == token) return method;
  }
  return Method::other;
}

std::string_view reason(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return {};
  }
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  if (!decode_into(s, false, false, out)) return std::nullopt;
  return out;
}

std::optional<std::string> form_decode(std::string_view s) {
  std::string out;
  if (!decode_into(s, true, false, out)) return std::nullopt;
  return out;
}

std::string_view PathParams::name(std::size_t i) const noexcept {
  return i < count_ ? std::string_view(names_[i]) : std::string_view();
}

std::string_view PathParams::value(std::size_t i, std::string_view path) const noexcept {
  if (i >= count_) return {};
  const Span& sp = spans_[i];
  const std::string_view from = sp.decoded ? std::string_view(decoded_) : path;
  return from.substr(sp.begin, sp.size);
}

std::optional<std::string_view> PathParams::find(std::string_view name,
                                                 std::string_view path) const noexcept {
  for (std::size_t i = 0; i < count_; ++i) {
    if (names_[i] == name) return value(i, path);
  }
  return std::nullopt;
}

void PathParams::add_decoded(std::uint32_t begin, std::uint32_t size, std::string_view path) {
  const std::string_view raw = path.substr(begin, size);
  Span& sp = spans_[count_++];
  const auto at = static_cast<std::uint32_t>(decoded_.size());
  decode_into(raw, false, true, decoded_);
  sp = Span{at, static_cast<std::uint32_t>(decoded_.size() - at), 1};
}

void Headers::add(std::string_view name, std::string_view value) {
  // A message carries a handful of fields: the first takes room for
  // several, so that a request's header costs one allocation, not one per
  // doubling.
  if (fields_.capacity() == 0) fields_.reserve(kFirstFields);
  fields_.push_back(Field{std::string(name), std::string(value)});
}

void Headers::set(std::string_view name, std::string_view value) {
  erase(name);
  add(name, value);
}

std::size_t Headers::erase(std::string_view name) noexcept {
  return std::erase_if(fields_, [name](const Field& f) { return iequal(f.name, name); });
}

std::optional<std::string_view> Headers::get(std::string_view name) const noexcept {
  for (const Field& f : fields_) {
    if (iequal(f.name, name)) return std::string_view(f.value);
  }
  return std::nullopt;
}

bool Headers::has_token(std::string_view name, std::string_view token) const noexcept {
  for (const Field& f : fields_) {
    if (!iequal(f.name, name)) continue;
    std::string_view rest = f.value;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (iequal(trim(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

std::string_view Request::path() const noexcept {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const noexcept {
  const std::string_view t = target;
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::optional<std::string_view> Request::query_param(std::string_view name) const noexcept {
  std::string_view rest = query();
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string_view Request::param(std::string_view name) const noexcept {
  // The target begins with the path: no need to find the '?' first.
  return params.find(name, target).value_or(std::string_view());
}

std::optional<std::string> Request::first_query_value(std::string_view name) const {
  std::optional<std::string> got;
  std::string scratch;
  each_pair(query(), [&](std::string_view n, std::string_view v) {
    if (!name_is(n, name, scratch)) return false;
    got.emplace();
    decode_into(v, true, true, *got);
    return true;
  });
  return got;
}

std::vector<std::string> Request::query_params(std::string_view name) const {
  std::vector<std::string> out;
  std::string scratch;
  each_pair(query(), [&](std::string_view n, std::string_view v) {
    if (name_is(n, name, scratch)) decode_into(v, true, true, out.emplace_back());
    return false;
  });
  return out;
}

bool Request::keep_alive() const noexcept {
  if (headers.has_token("Connection", "close")) return false;
  if (version >= 11) return true;
  return headers.has_token("Connection", "keep-alive");
}

Request Request::make(Method method, std::string target, std::string body) {
  Request r;
  r.method = method;
  r.method_name = std::string(to_string(method));
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "text/plain");
  r.body = std::move(body);
  return r;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

Response Response::empty(int status) {
  Response r;
  r.status = status;
  return r;
}

Response Response::redirect(std::string_view location, int status) {
  if (status < 300 || status > 399) {
    throw std::invalid_argument("duet::http::Response::redirect: a redirect's status is 3xx");
  }
  if (location.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    throw std::invalid_argument("duet::http::Response::redirect: CR, LF or NUL in the location");
  }
  Response r;
  r.status = status;
  r.headers.add("Location", location);
  return r;
}

std::string json_quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace duet::http
