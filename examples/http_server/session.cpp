// session.cpp: the HTTP/1.1 protocol of one connection over http_parser:
// the parser callbacks, the request checks RFC 9110/9112 ask for (and
// nginx's answers where they leave a choice), the routes and the response
// heads.
#include "session.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>

namespace http_server {

namespace detail {

/// The Date header's value, formatted at most once per second per thread
/// (TechEmpower: computed no more often than once a second).
class DateCache {
 public:
  std::string_view now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != sec_) {
      sec_ = ts.tv_sec;
      tm t{};
      ::gmtime_r(&sec_, &t);
      len_ = std::strftime(text_, sizeof text_, "%a, %d %b %Y %H:%M:%S GMT", &t);
    }
    return {text_, len_};
  }

 private:
  time_t sec_ = -1;
  char text_[40] = {};
  std::size_t len_ = 0;
};

thread_local DateCache t_date;

std::string_view reason(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Internal Server Error";
  }
}

/// The answer to a request the parser itself refused.
int status_for(http_errno e) noexcept {
  switch (e) {
    case HPE_HEADER_OVERFLOW:
      return 431;
    case HPE_INVALID_TRANSFER_ENCODING:
      return 501;
    default:
      return 400;
  }
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// A static file name: letters, digits, '.', '_', '-', not starting with '.'.
bool plain_name(std::string_view n) noexcept {
  if (n.empty() || n.size() > 255 || n.front() == '.') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string_view content_type_of(std::string_view name) noexcept {
  auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html") || ends(".htm")) return "text/html";
  if (ends(".txt")) return "text/plain";
  if (ends(".css")) return "text/css";
  if (ends(".js")) return "application/javascript";
  if (ends(".json")) return "application/json";
  if (ends(".png")) return "image/png";
  if (ends(".jpg") || ends(".jpeg")) return "image/jpeg";
  return "application/octet-stream";
}

}  // namespace detail

/// http_parser's C callbacks, forwarding to the Session in parser.data.
struct SessionCallbacks {
  static Session& of(http_parser* p) noexcept { return *static_cast<Session*>(p->data); }
  static int message_begin(http_parser* p) {
    of(p).begin_message();
    return 0;
  }
  static int url(http_parser* p, const char* at, std::size_t n) { return of(p).on_url(at, n); }
  static int field(http_parser* p, const char* at, std::size_t n) { return of(p).on_field(at, n); }
  static int value(http_parser* p, const char* at, std::size_t n) { return of(p).on_value(at, n); }
  static int headers_complete(http_parser* p) { return of(p).on_headers_complete(); }
  static int body(http_parser* p, const char*, std::size_t n) { return of(p).on_body(n); }
  static int message_complete(http_parser* p) { return of(p).on_message_complete(); }

  static const http_parser_settings settings;
};

const http_parser_settings SessionCallbacks::settings = [] {
  http_parser_settings s{};
  s.on_message_begin = &SessionCallbacks::message_begin;
  s.on_url = &SessionCallbacks::url;
  s.on_header_field = &SessionCallbacks::field;
  s.on_header_value = &SessionCallbacks::value;
  s.on_headers_complete = &SessionCallbacks::headers_complete;
  s.on_body = &SessionCallbacks::body;
  s.on_message_complete = &SessionCallbacks::message_complete;
  return s;
}();

namespace {
// Output past this is written before more pipelined requests are parsed.
constexpr std::size_t kFlushAt = 64 * 1024;
constexpr std::size_t kOutReserve = 1024;        // the output's first allocation
constexpr std::uint64_t kNoLength = ULLONG_MAX;  // http_parser: no Content-Length
}  // namespace

Session::Session(const Site& site) : site_(&site) {
  http_parser_init(&parser_, HTTP_REQUEST);
}

std::size_t Session::feed(const char* data, std::size_t n) {
  if (closing_) return n;  // the rest is not read: the connection closes
  parser_.data = this;
  feed_begin_ = data;
  const std::size_t used = http_parser_execute(&parser_, &SessionCallbacks::settings, data, n);
  if (used > 0) last_byte_ = data[used - 1];
  const auto err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_PAUSED) {
    http_parser_pause(&parser_, 0);
    return closing_ ? n : used;
  }
  if (err != HPE_OK) {
    respond_error(status_ != 0 ? status_ : detail::status_for(err));
    return n;
  }
  // An Upgrade (or CONNECT) hands the rest of the bytes to another
  // protocol, which this server does not speak: answer and close.
  if (parser_.upgrade) closing_ = true;
  return closing_ ? n : used;
}

std::optional<FileBody> Session::take_file() noexcept {
  if (!file_) return std::nullopt;
  std::optional<FileBody> f(std::move(*file_));
  file_.reset();
  return f;
}

void Session::drain() noexcept {
  draining_ = true;
  if (!in_message_) closing_ = true;
}

void Session::begin_message() noexcept {
  rq_ = Request{};
  status_ = 0;
  in_message_ = true;
  in_body_ = false;
  keep_alive_10_ = false;
}

int Session::reject(int status) noexcept {
  status_ = status;
  return -1;  // stops the parser (HPE_CB_*); feed answers status_
}

bool Session::count_header_bytes(std::size_t n) noexcept {
  rq_.header_bytes += n;
  return rq_.header_bytes <= site_->limits.max_header_bytes;
}

int Session::on_url(const char* at, std::size_t n) noexcept {
  if (!count_header_bytes(n)) return reject(431);
  rq_.url.append(at, n);
  return 0;
}

int Session::on_field(const char* at, std::size_t n) noexcept {
  if (rq_.in_value) finish_value();
  if (rq_.field_len == 0 && !count_header_bytes(4)) return reject(431);  // ": " and CRLF
  if (!count_header_bytes(n)) return reject(431);
  // RFC 9112 5.1: no whitespace between the field name and the colon.
  if (std::memchr(at, ' ', n) != nullptr || std::memchr(at, '\t', n) != nullptr) {
    return reject(400);
  }
  const std::size_t room = sizeof rq_.field - std::min(rq_.field_len, sizeof rq_.field);
  std::memcpy(rq_.field + std::min(rq_.field_len, sizeof rq_.field), at, std::min(n, room));
  rq_.field_len += n;
  return 0;
}

int Session::on_value(const char* at, std::size_t n) noexcept {
  if (!count_header_bytes(n)) return reject(431);
  // RFC 9112 5.2: obs-fold (a line starting with whitespace continues the
  // previous value) is rejected with 400, as nginx does.
  const char before = at > feed_begin_ ? at[-1] : last_byte_;
  if (n > 0 && before == '\n' && (at[0] == ' ' || at[0] == '\t')) return reject(400);
  if (!rq_.in_value) {
    rq_.in_value = true;
    const std::string_view name(rq_.field, std::min(rq_.field_len, sizeof rq_.field));
    rq_.field_kind = rq_.field_len > sizeof rq_.field             ? Field::other
                     : detail::iequals(name, "host")              ? Field::host
                     : detail::iequals(name, "expect")            ? Field::expect
                     : detail::iequals(name, "transfer-encoding") ? Field::transfer_encoding
                                                                  : Field::other;
  }
  if (rq_.field_kind != Field::other) {
    const std::size_t room = sizeof rq_.value - std::min(rq_.value_len, sizeof rq_.value);
    std::memcpy(rq_.value + std::min(rq_.value_len, sizeof rq_.value), at, std::min(n, room));
    rq_.value_len += n;
  }
  return 0;
}

void Session::finish_value() noexcept {
  rq_.in_value = false;
  const bool fits = rq_.value_len <= sizeof rq_.value;
  const std::string_view v = detail::trim({rq_.value, std::min(rq_.value_len, sizeof rq_.value)});
  if (!in_body_) {  // trailers of a chunked body change nothing here
    switch (rq_.field_kind) {
      case Field::host:
        ++rq_.hosts;
        break;
      case Field::expect:
        (fits && detail::iequals(v, "100-continue") ? rq_.expect_continue : rq_.expect_other) =
            true;
        break;
      case Field::transfer_encoding:
        if (!fits || !detail::iequals(v, "chunked")) rq_.te_other = true;
        break;
      case Field::other:
        break;
    }
  }
  rq_.field_len = rq_.value_len = 0;
  rq_.field_kind = Field::other;
}

int Session::on_headers_complete() noexcept {
  if (rq_.in_value) finish_value();
  if (parser_.http_major != 1) return reject(505);
  // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host; more than one
  // is refused in any version.
  if (rq_.hosts > 1 || (parser_.http_minor >= 1 && rq_.hosts == 0)) return reject(400);
  // A transfer coding other than chunked: nginx answers 501.
  if (rq_.te_other) return reject(501);
  const bool chunked = (parser_.flags & F_CHUNKED) != 0;
  const std::uint64_t length = parser_.content_length;
  if (length != kNoLength && length > site_->limits.max_body_bytes) return reject(413);
  if (rq_.expect_other) return reject(417);
  // RFC 9110 10.1.1: 100 Continue before reading a body the client holds
  // back (only HTTP/1.1 clients wait for it).
  if (rq_.expect_continue && parser_.http_minor >= 1 &&
      (chunked || (length != kNoLength && length > 0))) {
    out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  }
  in_body_ = true;
  return 0;
}

int Session::on_body(std::size_t n) noexcept {
  rq_.body_bytes += n;
  if (rq_.body_bytes > site_->limits.max_body_bytes) return reject(413);
  return 0;
}

int Session::on_message_complete() noexcept {
  in_body_ = false;
  in_message_ = false;
  keep_alive_10_ = parser_.http_minor == 0 && http_should_keep_alive(&parser_) != 0;
  if (http_should_keep_alive(&parser_) == 0 || draining_) closing_ = true;
  respond();
  // Stop here to flush: when closing (the rest is never parsed), when a
  // file body must follow this response, or when the output is large.
  if (closing_ || file_ || out_.size() >= kFlushAt) http_parser_pause(&parser_, 1);
  return 0;
}

void Session::respond() {
  const auto method = static_cast<http_method>(parser_.method);
  const bool head = method == HTTP_HEAD;
  const bool get_or_head = method == HTTP_GET || head;
  std::string_view path = rq_.url;
  if (!path.starts_with('/')) {
    // absolute-form (RFC 9112 3.2.2): the path of the URL.
    http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(rq_.url.data(), rq_.url.size(), 0, &u) != 0)
      return respond_error(400);
    path =
        (u.field_set & (1 << UF_PATH)) != 0
            ? std::string_view(rq_.url).substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len)
            : std::string_view("/");
  }
  path = path.substr(0, path.find('?'));
  static constexpr std::string_view kHello = "Hello, World!";
  static constexpr std::string_view kJson = R"({"message":"Hello, World!"})";
  if (path == "/plaintext" || path == "/json") {
    if (!get_or_head) return write_head(405, "text/plain", 0, "Allow: GET, HEAD\r\n");
    const bool plain = path == "/plaintext";
    const std::string_view body = plain ? kHello : kJson;
    write_head(200, plain ? "text/plain" : "application/json", body.size());
    if (!head) out_.append(body);
    return;
  }
  if (path.starts_with("/static/")) {
    if (!get_or_head) return write_head(405, "text/plain", 0, "Allow: GET, HEAD\r\n");
    return respond_static(path.substr(8), head);
  }
  write_head(404, "text/plain", 0);
}

void Session::respond_static(std::string_view name, bool head) {
  // Traversal (a '/' or a ".." in the name, or an escape that may hide
  // one): 400, as nginx answers a path that climbs above its root.
  if (name.find('/') != std::string_view::npos || name.find("..") != std::string_view::npos ||
      name.find('%') != std::string_view::npos) {
    return respond_error(400);
  }
  if (site_->root_fd < 0 || !detail::plain_name(name)) return write_head(404, "text/plain", 0);
  char path[256];
  std::memcpy(path, name.data(), name.size());
  path[name.size()] = '\0';
  duet::io::Fd f(::openat(site_->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (!f.valid() || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return write_head(404, "text/plain", 0);
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  write_head(200, detail::content_type_of(name), size);
  if (!head && size > 0) file_ = std::make_unique<FileBody>(FileBody{std::move(f), size});
}

void Session::respond_error(int status) {
  closing_ = true;
  in_message_ = in_body_ = false;
  const std::string_view r = detail::reason(status);
  write_head(status, "text/plain", r.size() + 1);
  out_.append(r);
  out_.push_back('\n');
}

void Session::write_head(int status, std::string_view content_type, std::uint64_t length,
                         std::string_view extra) {
  // Room for several responses at the first (the string would otherwise
  // grow through 30, 60, 120... bytes); grows with pipelined responses, as
  // nginx's 1k buffers do.
  if (out_.capacity() < kOutReserve) out_.reserve(kOutReserve);
  char num[24];
  out_.append("HTTP/1.1 ");
  out_.append(num, std::to_chars(num, num + sizeof num, status).ptr);
  out_.push_back(' ');
  out_.append(detail::reason(status));
  out_.append("\r\nServer: duet\r\nDate: ");
  out_.append(detail::t_date.now());
  out_.append("\r\nContent-Type: ");
  out_.append(content_type);
  out_.append("\r\nContent-Length: ");
  out_.append(num, std::to_chars(num, num + sizeof num, length).ptr);
  out_.append("\r\n");
  out_.append(extra);
  if (closing_) {
    out_.append("Connection: close\r\n");
  } else if (keep_alive_10_) {
    out_.append("Connection: keep-alive\r\n");
  }
  out_.append("\r\n");
}

}  // namespace http_server
