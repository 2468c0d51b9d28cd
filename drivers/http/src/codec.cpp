// codec.cpp: the I/O-free HTTP/1.1 core (duet/http/codec.hpp) on Boost.Beast's
// basic_parser: the request decoder with the framing checks and
// request-smuggling defences RFC 9110/9112 ask of a server, the response
// writer, the client's response decoder and request writer.
//
// Beast parses a header only from one contiguous buffer and hands back the
// bytes it could not use yet; a decoder is fed in any pieces, so it keeps
// those bytes (and only those) in `pending` and joins the next piece to
// them. While nothing is pending the parser reads the caller's bytes in
// place: a request that arrives whole is copied nowhere but into its
// Request.
#include "duet/http/codec.hpp"

#include "duet/http/body.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>
#include "duet/time/clock.hpp"
#include "server_state.hpp"

namespace duet::http {

namespace detail {

namespace bhttp = boost::beast::http;
using boost::beast::error_code;
using BeastView = boost::beast::string_view;

inline std::string_view sv(BeastView v) noexcept {
  return {v.data(), v.size()};
}

inline char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// RFC 9110 5.6.2: tchar.
inline bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

inline bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

/// Calls `f(element)` for each non-empty element of a comma-separated list
/// (RFC 9110 5.6.1), trimmed of surrounding whitespace.
template <class F>
void for_each_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view e = trim(list.substr(0, comma));
    if (!e.empty()) f(e);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

/// The IMF-fixdate of the current second, formatted at most once a second
/// per thread (each thread its own copy: no lock, no sharing). On a thread
/// that reads a test clock (the paused or manual clock, duet/time/clock.hpp)
/// a fixed date,
/// 2000-01-01 00:00:00 GMT: the calendar is real time, which a simulated
/// run must not read (a seed replays its responses byte for byte).
class DateCache {
 public:
  std::string_view now() noexcept {
    timespec ts{};
    if (duet::detail::test_clocks_live.load(std::memory_order_relaxed) != 0 &&
        duet::detail::test_clock_now_ns() != 0) [[unlikely]] {
      ts.tv_sec = 946684800;
    } else {
      ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    }
    if (ts.tv_sec != sec_) {
      sec_ = ts.tv_sec;
      format(sec_);
    }
    return {text_.data(), text_.size()};
  }

 private:
  void format(time_t sec) noexcept {
    static constexpr std::string_view kDays = "SunMonTueWedThuFriSat";
    static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
    tm t{};
    ::gmtime_r(&sec, &t);
    char* p = text_.data();
    auto two = [&p](int v) {
      *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
    };
    std::memcpy(p, kDays.data() + 3 * t.tm_wday, 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    two(t.tm_mday);
    *p++ = ' ';
    std::memcpy(p, kMonths.data() + 3 * t.tm_mon, 3);
    p += 3;
    *p++ = ' ';
    const int year = t.tm_year + 1900;
    two(year / 100);
    two(year % 100);
    *p++ = ' ';
    two(t.tm_hour);
    *p++ = ':';
    two(t.tm_min);
    *p++ = ':';
    two(t.tm_sec);
    std::memcpy(p, " GMT", 4);
  }

  time_t sec_ = -1;
  std::array<char, 29> text_{};  // "Sun, 06 Nov 1994 08:49:37 GMT"
};

inline thread_local DateCache t_date;

inline void append_number(std::string& out, std::uint64_t v) {
  char num[24];
  out.append(num, std::to_chars(num, num + sizeof num, v).ptr);
}

/// What a feed loop reached.
enum class Outcome : unsigned char { more, done, error };

/// Bytes of a feed joined to the pending ones at a time: enough to end any
/// header soon, small enough that a body after it is mostly read in place.
constexpr std::size_t kJoinPiece = 4096;

/// Runs `d`'s parser over the stream `d.pending` + `in` until the message is
/// complete, the parser refuses it, or the input is used up. Returns what it
/// reached and how many bytes of `in` it used (all of them for `more`: the
/// ones the parser could not use yet are kept in `d.pending`). `D` has
/// `pending`, `put(data, size, ec)`, `done()` and `pending_ok()` (false:
/// the kept bytes are over a limit, d's error is set).
template <class D>
std::pair<Outcome, std::size_t> run(D& d, std::string_view in) {
  std::size_t taken = 0;
  for (;;) {
    error_code ec;
    if (d.pending.empty()) {
      if (taken == in.size()) return {Outcome::more, taken};
      const std::size_t c = d.put(in.data() + taken, in.size() - taken, ec);
      taken += c;
      if (ec == bhttp::error::need_more) {
        d.pending.assign(in.data() + taken, in.size() - taken);
        taken = in.size();
        if (!d.pending_ok()) return {Outcome::error, taken};
        return {Outcome::more, taken};
      }
      if (ec) return {Outcome::error, taken};
      if (d.done()) return {Outcome::done, taken};
      continue;  // eager: every byte given was used
    }
    if (taken == in.size()) return {Outcome::more, taken};
    const std::size_t piece = std::min(in.size() - taken, kJoinPiece);
    d.pending.append(in.data() + taken, piece);
    taken += piece;
    // Beast 1.74 resumes a last chunk ("0" CRLF, then trailers) assuming
    // at least five bytes (basic_parser.ipp asserts it); any chunk line
    // still to come is that long, so gather them first.
    if (d.parser->is_header_done() && d.pending.size() < 5) {
      if (taken == in.size()) return {Outcome::more, taken};
      continue;
    }
    const std::size_t c = d.put(d.pending.data(), d.pending.size(), ec);
    d.pending.erase(0, c);
    if (ec == bhttp::error::need_more) {
      if (!d.pending_ok()) return {Outcome::error, taken};
      continue;
    }
    if (ec) return {Outcome::error, taken};
    if (d.done()) {
      // The bytes after the message are the caller's again: those of this
      // piece go back, any older ones stay pending (the next feed reads them
      // first).
      const std::size_t rest = d.pending.size();
      if (rest <= piece) {
        taken -= rest;
        d.pending.clear();
      } else {
        d.pending.resize(rest - piece);
        taken -= piece;
      }
      return {Outcome::done, taken};
    }
  }
}

/// The status of a request the parser itself refused, by its error.
inline int status_for(const error_code& ec) noexcept {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  return 400;
}

/// Beast answers bad_version both for a malformed HTTP-version and for a
/// well-formed one other than 1.0/1.1. The latter is 505 (RFC 9110 15.6.6):
/// the version token is the eight bytes after the request line's second
/// space, which Beast has whenever it says bad_version.
inline int version_status(std::string_view line) noexcept {
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return 400;
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.size() < sp2 + 9) return 400;
  const std::string_view v = line.substr(sp2 + 1, 8);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!v.starts_with("HTTP/") || !digit(v[5]) || v[6] != '.' || !digit(v[7])) return 400;
  if (v[5] == '1' && (v[7] == '0' || v[7] == '1')) return 400;  // 1.x well-formed: bad line
  return 505;
}

}  // namespace detail

// ---------------------------------------------------------------------------
// RequestDecoder

struct RequestDecoder::Impl {
  struct Parser final : detail::bhttp::basic_parser<true> {
    explicit Parser(Impl& d) noexcept : d_(&d) {}
    Impl* d_;

    void on_request_impl(detail::bhttp::verb, detail::BeastView method, detail::BeastView target,
                         int version, detail::error_code& ec) override {
      d_->on_request(detail::sv(method), detail::sv(target), version, ec);
    }
    void on_response_impl(int, detail::BeastView, int, detail::error_code&) override {}
    void on_field_impl(detail::bhttp::field f, detail::BeastView name, detail::BeastView value,
                       detail::error_code& ec) override {
      d_->on_field(f, detail::sv(name), detail::sv(value), ec);
    }
    void on_header_impl(detail::error_code& ec) override { d_->on_header(ec); }
    void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                           detail::error_code&) override {
      d_->body_started = true;
      if (length && !d_->streaming) d_->req.body.reserve(static_cast<std::size_t>(*length));
    }
    std::size_t on_body_impl(detail::BeastView body, detail::error_code&) override {
      (d_->streaming ? d_->piece : d_->req.body).append(body.data(), body.size());
      return body.size();
    }
    void on_chunk_header_impl(std::uint64_t size, detail::BeastView ext,
                              detail::error_code& ec) override {
      d_->on_chunk_header(size, ext.size(), ec);
    }
    std::size_t on_chunk_body_impl(std::uint64_t, detail::BeastView body,
                                   detail::error_code&) override {
      d_->on_chunk_body(std::string_view(body.data(), body.size()));
      return body.size();
    }
    void on_finish_impl(detail::error_code&) override {}
  };

  explicit Impl(const Limits& l) : limits(l) { reset(); }

  Limits limits;
  std::optional<Parser> parser;
  Request req;
  std::string pending;  // bytes received, not yet used by the parser
  std::string piece;    // a streamed body's bytes, not yet used by the caller

  // The current put's buffer: callbacks locate their views in it.
  const char* put_begin = nullptr;
  const char* put_end = nullptr;

  // Per message, reset by reset().
  std::size_t msg_used = 0;    // bytes of this message the parser used before this put
  std::size_t header_end = 0;  // offset past the last header line parsed
  std::size_t trailer_bytes = 0;
  std::size_t crlf_checked = 0;     // offset up to which kept header bytes were checked
  std::uint64_t chunked_bytes = 0;  // sum of the chunk sizes announced
  std::size_t body_cap = SIZE_MAX;  // limit_body's, below limits.max_body_bytes
  int hosts = 0;
  int lengths = 0;
  int te_fields = 0;
  int te_chunked = 0;
  bool te_last_chunked = false;
  bool te_other = false;
  bool te_bad = false;
  bool has_upgrade = false;
  bool expect_continue = false;
  bool expect_other = false;
  bool absolute_host = false;  // the target's authority is the Host
  bool header_done = false;
  bool body_started = false;
  bool continue_decided = false;
  bool streaming = false;     // the body goes to `piece`, not req.body
  bool head_given = false;    // Event::head was returned for this message
  bool done_pending = false;  // the streamed message ended in the feed that gave its head
  int status = 0;             // a callback's refusal

  // Across messages.
  int error_status = 0;   // sticky after Event::error
  bool switched = false;  // an Upgrade or CONNECT was delivered: nothing after it is HTTP

  void reset() {
    parser.emplace(*this);
    parser->eager(true);
    // The header limit is this layer's own (counted over the whole header,
    // whatever the pieces); Beast's, counted from where it resumes, only
    // stops a header with no end in sight.
    parser->header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_bytes + 4, UINT32_MAX)));
    // This layer checks the body's size itself, in order with the other
    // checks (none would disable Beast's, but 1.74 compares a length with
    // an empty optional as over it).
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    msg_used = header_end = trailer_bytes = crlf_checked = 0;
    chunked_bytes = 0;
    body_cap = SIZE_MAX;
    hosts = lengths = te_fields = te_chunked = 0;
    te_last_chunked = te_other = te_bad = has_upgrade = false;
    expect_continue = expect_other = header_done = body_started = continue_decided = false;
    streaming = head_given = done_pending = false;
    status = 0;
    absolute_host = false;
  }

  std::size_t put(const char* data, std::size_t n, detail::error_code& ec) {
    put_begin = data;
    put_end = data + n;
    const std::size_t c = parser->put(boost::asio::const_buffer(data, n), ec);
    if (ec && ec != detail::bhttp::error::need_more && status == 0) {
      // A refusal of Beast's own (a callback's has its status already).
      status = ec == detail::bhttp::error::bad_version ? detail::version_status({data, n})
                                                       : detail::status_for(ec);
    }
    msg_used += c;
    return c;
  }
  [[nodiscard]] bool done() const noexcept { return parser->is_done(); }

  /// The kept bytes within bounds: a header's, with what the parser used of
  /// it, within max_header_bytes; a chunk line's or trailer section's within
  /// twice that.
  bool pending_ok() {
    if (!parser->is_header_done()) {
      if (msg_used + pending.size() > limits.max_header_bytes) return fail(431);
      // A bare CR or LF in a header is refused (RFC 9112 2.2 lets a server
      // reject them). Beast finds one at once in a whole header, but a
      // header in pieces it parses only once a CRLFCRLF has come: look
      // here, over the bytes not looked at yet, so that every cut of the
      // same bytes is answered alike. The kept bytes start a line.
      std::size_t i = crlf_checked > msg_used ? crlf_checked - msg_used : 0;
      for (; i < pending.size(); ++i) {
        const char c = pending[i];
        const char before = i == 0 ? '\n' : pending[i - 1];
        if ((c == '\n' && before != '\r') || (before == '\r' && c != '\n')) return fail(400);
      }
      crlf_checked = msg_used + pending.size();
      if (!pending.empty() && pending.back() == '\r') --crlf_checked;  // its pair is to come
    } else if (pending.size() > 2 * limits.max_header_bytes + 64) {
      return fail(431);
    }
    return true;
  }

  bool fail(int s) noexcept {
    if (status == 0) status = s;
    return false;
  }
  void refuse(int s, detail::error_code& ec) noexcept {
    fail(s);
    ec = detail::bhttp::error::bad_value;
  }

  /// Offset in this message of `p`, a pointer into the current put.
  [[nodiscard]] std::size_t offset(const char* p) const noexcept {
    return msg_used + static_cast<std::size_t>(p - put_begin);
  }

  void on_request(std::string_view method, std::string_view target, int version,
                  detail::error_code& ec) {
    // The line ends " HTTP/1.1\r\n" after the target (Beast checked it).
    header_end = offset(target.data() + target.size()) + 11;
    if (header_end > limits.max_header_bytes) return refuse(431, ec);
    const Method m = method_from(method);
    // RFC 9110 9.1: a method the server does not know is 501.
    if (m == Method::other) return refuse(501, ec);
    req.method = m;
    req.method_name.assign(method);
    req.version = version;
    // RFC 9112 3.2: origin-form; absolute-form (the authority becomes the
    // Host, 3.2.2); authority-form for CONNECT; asterisk-form for OPTIONS.
    if (target.front() == '/') {
      req.target.assign(target);
    } else if (m == Method::connect) {
      req.target.assign(target);
    } else if (target == "*") {
      if (m != Method::options) return refuse(400, ec);
      req.target.assign(target);
    } else {
      const auto scheme_end = target.find("://");
      if (scheme_end == std::string_view::npos ||
          !(detail::iequals(target.substr(0, scheme_end), "http") ||
            detail::iequals(target.substr(0, scheme_end), "https"))) {
        return refuse(400, ec);
      }
      std::string_view rest = target.substr(scheme_end + 3);
      const auto path_at = rest.find_first_of("/?");
      const std::string_view authority = rest.substr(0, path_at);
      if (authority.empty() || authority.find('@') != std::string_view::npos) {
        return refuse(400, ec);
      }
      rest.remove_prefix(std::min(path_at, rest.size()));
      req.target.clear();
      if (rest.empty() || rest.front() != '/') req.target.push_back('/');
      req.target.append(rest);
      req.headers.add("Host", authority);
      ++hosts;
      absolute_host = true;
    }
  }

  void on_field(detail::bhttp::field f, std::string_view name, std::string_view value,
                detail::error_code& ec) {
    using detail::bhttp::field;
    if (header_done) {  // a trailer: counted, not kept (RFC 9110 6.5)
      trailer_bytes += name.size() + value.size() + 4;
      if (trailer_bytes > limits.max_header_bytes) return refuse(431, ec);
      return;
    }
    // RFC 9112 5.2: obs-fold is refused (400). Beast unfolds into its own
    // buffer (the value is then outside the input), or, for a fold after an
    // empty first line, returns the continuation: a line end between the
    // name and the value.
    if (value.data() < put_begin || value.data() > put_end) return refuse(400, ec);
    for (const char* p = name.data() + name.size(); p < value.data(); ++p) {
      if (*p == '\n') return refuse(400, ec);
    }
    const char* eol = value.data() + value.size();
    while (eol < put_end && *eol != '\n') ++eol;
    header_end = offset(eol) + 1;
    if (header_end > limits.max_header_bytes) return refuse(431, ec);
    switch (f) {
      case field::host:
        // RFC 9112 3.2: exactly one Host (absolute-form supplies its own).
        if (absolute_host) return;
        if (++hosts > 1) return refuse(400, ec);
        break;
      case field::content_length:
        // RFC 9112 6.3: one Content-Length of digits; a repeat (even an equal
        // one) or a list is refused, as nginx does.
        if (++lengths > 1 || value.empty() ||
            !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            te_fields > 0) {
          return refuse(400, ec);
        }
        break;
      case field::transfer_encoding:
        if (lengths > 0) return refuse(400, ec);
        ++te_fields;
        detail::for_each_element(value, [this](std::string_view coding) {
          if (detail::iequals(coding, "chunked")) {
            ++te_chunked;
            te_last_chunked = true;
            return;
          }
          te_last_chunked = false;
          const std::string_view name_part = detail::trim(coding.substr(0, coding.find(';')));
          if (!detail::is_token(name_part)) te_bad = true;
          te_other = true;
        });
        break;
      case field::expect:
        detail::for_each_element(value, [this](std::string_view e) {
          (detail::iequals(e, "100-continue") ? expect_continue : expect_other) = true;
        });
        break;
      case field::upgrade:
        has_upgrade = true;
        break;
      default:
        break;
    }
    req.headers.add(name, value);
  }

  void on_header(detail::error_code& ec) {
    header_done = true;
    if (header_end + 2 > limits.max_header_bytes) return refuse(431, ec);
    if (te_fields > 0) {
      // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing
      // (nginx: 400). 6.3: chunked must be the final coding, once (7).
      if (req.version < 11 || te_bad || !te_last_chunked || te_chunked != 1) {
        return refuse(400, ec);
      }
    }
    if (req.version >= 11 && hosts == 0) return refuse(400, ec);
    // RFC 9112 6.1: a transfer coding the server does not know: 501.
    if (te_other) return refuse(501, ec);
    const auto length = parser->content_length();
    if (length && *length > limits.max_body_bytes) return refuse(413, ec);
    // RFC 9110 10.1.1: an expectation other than 100-continue: 417.
    if (expect_other) return refuse(417, ec);
    if (parser->upgrade() && has_upgrade) switched = true;
    if (req.method == Method::connect) switched = true;
    if (length && *length > limits.buffered_body_bytes) streaming = true;
  }

  /// A chunk's bytes: kept in the request while the body is within
  /// buffered_body_bytes; past it the body is streamed from here on, what
  /// was kept going first.
  void on_chunk_body(std::string_view body) {
    if (!streaming && req.body.size() + body.size() > limits.buffered_body_bytes) {
      streaming = true;
      piece.append(req.body);
      req.body = std::string();
    }
    (streaming ? piece : req.body).append(body);
  }

  void on_chunk_header(std::uint64_t size, std::size_t ext_size, detail::error_code& ec) {
    body_started = true;
    if (ext_size > limits.max_header_bytes) return refuse(400, ec);
    const std::size_t cap = std::min(limits.max_body_bytes, body_cap);
    if (size > cap - std::min<std::uint64_t>(chunked_bytes, cap)) {
      return refuse(413, ec);
    }
    chunked_bytes += size;
  }

  /// Whether 100 Continue is due: the head asked for it (HTTP/1.1), a body
  /// follows, and none of it has arrived.
  [[nodiscard]] bool continue_due() const noexcept {
    if (!header_done || continue_decided || body_started || !expect_continue) return false;
    if (req.version < 11) return false;
    if (parser->chunked()) return true;
    const auto length = parser->content_length();
    return length && *length > 0;
  }

  Step error_step(std::size_t consumed) {
    error_status = status;
    return Step{Event::error, consumed};
  }
};

RequestDecoder::RequestDecoder(const Limits& limits)
    : max_header_bytes_(limits.max_header_bytes),
      max_body_bytes_(limits.max_body_bytes),
      buffered_body_bytes_(limits.buffered_body_bytes) {}
RequestDecoder::~RequestDecoder() = default;
RequestDecoder::RequestDecoder(RequestDecoder&&) noexcept = default;
RequestDecoder& RequestDecoder::operator=(RequestDecoder&&) noexcept = default;

void RequestDecoder::limit_body(std::size_t max) noexcept {
  if (impl_) impl_->body_cap = max;
}

RequestDecoder::Impl& RequestDecoder::impl() {
  if (!impl_) {
    Limits l;
    l.max_header_bytes = max_header_bytes_;
    l.max_body_bytes = max_body_bytes_;
    l.buffered_body_bytes = buffered_body_bytes_;
    impl_ = std::make_unique<Impl>(l);
  }
  return *impl_;
}

RequestDecoder::Step RequestDecoder::feed(std::string_view in) {
  if (!impl_ && in.empty()) return Step{Event::need_more, 0};
  Impl& d = impl();
  if (d.error_status != 0) return Step{Event::error, 0};
  if (d.switched && !d.parser->got_some()) return Step{Event::need_more, in.size()};  // not HTTP
  std::size_t skipped = 0;
  if (!d.parser->got_some() && d.pending.empty()) {
    // RFC 9112 2.2: empty lines before a request-line are ignored.
    while (skipped < in.size() && (in[skipped] == '\r' || in[skipped] == '\n')) ++skipped;
    in.remove_prefix(skipped);
  }
  if (d.done_pending) {  // the head's feed ended the body too
    d.reset();
    return Step{Event::body_end, 0};
  }
  const auto [outcome, used] = detail::run(d, in);
  if (outcome == detail::Outcome::error) {
    if (d.status == 0) d.status = 400;
    return d.error_step(skipped + used);
  }
  if (d.streaming) {
    if (!d.head_given) {
      d.head_given = true;
      d.done_pending = outcome == detail::Outcome::done;
      return Step{Event::head, skipped + used};
    }
    if (outcome == detail::Outcome::done) {
      d.reset();
      return Step{Event::body_end, skipped + used};
    }
    return Step{d.piece.empty() ? Event::need_more : Event::body, skipped + used};
  }
  if (outcome == detail::Outcome::done) return Step{Event::request, skipped + used};
  if (d.continue_due()) {
    d.continue_decided = true;
    return Step{Event::continue_100, skipped + used};
  }
  if (d.header_done) d.continue_decided = true;
  return Step{Event::need_more, skipped + used};
}

Request RequestDecoder::take() {
  if (!impl_) return Request{};
  Impl& d = *impl_;
  Request r = std::move(d.req);
  d.req = Request{};
  if (!d.head_given) d.reset();  // a streamed body's message ends at its Event::body_end
  return r;
}

void RequestDecoder::reuse(Request&& done) noexcept {
  if (!impl_ || !idle() || impl_->head_given) return;
  Impl& d = *impl_;
  // Only the room is kept: every value is a fresh request's.
  d.req.target = std::move(done.target);
  d.req.target.assign(1, '/');
  d.req.headers = std::move(done.headers);
  d.req.headers.clear();
  if (done.body.capacity() <= d.limits.buffered_body_bytes) {
    d.req.body = std::move(done.body);
    d.req.body.clear();
  }
  // The decoder's own buffers, empty between messages, keep no more room
  // than that either (a long pipelined batch's, a streamed body's piece).
  for (std::string* own : {&d.pending, &d.piece}) {
    if (own->capacity() > d.limits.buffered_body_bytes) std::string().swap(*own);
  }
}

std::size_t RequestDecoder::room() const noexcept {
  if (!impl_) return 0;
  const Impl& d = *impl_;
  std::size_t n = sizeof(Impl) + d.req.method_name.capacity() + d.req.target.capacity() +
                  d.req.body.capacity() + d.pending.capacity() + d.piece.capacity() +
                  d.req.headers.capacity() * sizeof(Headers::Field);
  for (const Headers::Field& f : d.req.headers) n += f.name.capacity() + f.value.capacity();
  return n;
}

void RequestDecoder::release() noexcept {
  if (!impl_) return;
  const Impl& d = *impl_;
  const bool between = !d.parser->got_some() && d.pending.empty() && d.piece.empty();
  if (between && !d.head_given && d.error_status == 0 && !d.switched) impl_.reset();
}

std::string& RequestDecoder::body_piece() noexcept {
  // Only after Event::head, body or body_end, when the message's state lives.
  return impl_->piece;
}

bool RequestDecoder::take_continue() noexcept {
  if (!impl_) return false;
  Impl& d = *impl_;
  if (!d.head_given || d.done_pending || !d.continue_due()) return false;
  d.continue_decided = true;
  return true;
}

int RequestDecoder::error_status() const noexcept {
  return impl_ ? impl_->error_status : 0;
}

bool RequestDecoder::idle() const noexcept {
  return !impl_ || (!impl_->parser->got_some() && impl_->pending.empty());
}

bool RequestDecoder::closing() const noexcept {
  return impl_ && impl_->switched;
}

bool RequestDecoder::in_body() const noexcept {
  return impl_ && impl_->parser->is_header_done() && !impl_->parser->is_done();
}

// ---------------------------------------------------------------------------
// Writers

namespace {

/// Fields the writer sets itself; a handler's own are dropped.
bool reserved_response_field(std::string_view name) noexcept {
  switch (name.size()) {
    case 4:
      return detail::iequals(name, "date");
    case 6:
      return detail::iequals(name, "server");
    case 10:
      return detail::iequals(name, "connection");
    case 14:
      return detail::iequals(name, "content-length");
    case 17:
      return detail::iequals(name, "transfer-encoding");
    default:
      return false;
  }
}

/// A field that would break the message (a line end or NUL in it) is not
/// written: a handler cannot split the response.
bool writable(const Headers::Field& f) noexcept {
  // CR, LF and NUL are all below 14: eight bytes at a time, a word with no
  // byte below 14 (the printable rest, tab and obs-text) is passed whole,
  // and only a word that has one is looked at a byte at a time.
  constexpr std::uint32_t breaking = (1u << '\r') | (1u << '\n') | (1u << '\0');
  auto breaks = [](unsigned char u) { return u < 14 && ((breaking >> u) & 1u) != 0; };
  auto bad = [&](std::string_view v) {
    constexpr std::uint64_t ones = 0x0101010101010101u;
    constexpr std::uint64_t highs = 0x8080808080808080u;
    std::size_t i = 0;
    for (; i + 8 <= v.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, v.data() + i, 8);
      // A byte below 14 sets its high bit here (exact for bytes under 128;
      // a byte of 128 or more never sets it, since ~w clears it).
      if (((w - 14 * ones) & ~w & highs) == 0) continue;
      for (std::size_t k = i; k < i + 8; ++k) {
        if (breaks(static_cast<unsigned char>(v[k]))) return true;
      }
    }
    for (; i < v.size(); ++i) {
      if (breaks(static_cast<unsigned char>(v[i]))) return true;
    }
    return false;
  };
  return !f.name.empty() && !bad(f.name) && !bad(f.value);
}

/// Room for what write_response writes besides the handler's fields and
/// body: the status line, Server, Date, Content-Length or
/// Transfer-Encoding, Connection and the blank line.
inline constexpr std::size_t kHeadRoom = 192;

void status_line(std::string& out, int status) {
  out.append("HTTP/1.1 ");
  detail::append_number(out, static_cast<std::uint64_t>(status));
  out.push_back(' ');
  out.append(reason(status));
  out.append("\r\nServer: duet\r\nDate: ");
  out.append(detail::t_date.now());
  out.append("\r\n");
}

}  // namespace

void write_response(std::string& out, const Response& r, const Answering& a) {
  using namespace std::string_view_literals;  // appends of a known length, no strlen
  // One allocation at most for the whole answer: the head's own lines
  // (kHeadRoom), the handler's fields and a body held in the response.
  std::size_t want = out.size() + kHeadRoom + (r.source ? 0 : r.body.size());
  for (const auto& f : r.headers) want += f.name.size() + f.value.size() + 4;
  out.reserve(want);
  status_line(out, r.status);
  for (const auto& f : r.headers) {
    if (reserved_response_field(f.name) || !writable(f)) continue;
    out.append(f.name);
    out.append(": "sv);
    out.append(f.value);
    out.append("\r\n"sv);
  }
  // RFC 9110 8.6: no Content-Length in a 1xx or 204; a 304 omits it here
  // too. A HEAD answer keeps the length the GET would have.
  const bool bodiless = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  if (!bodiless) {
    // A body from a source of unknown length is chunked (HTTP/1.1) or ends
    // with the connection (HTTP/1.0: body_framing).
    const std::optional<std::size_t> length =
        r.source ? r.source->length : std::optional<std::size_t>(r.body.size());
    if (length) {
      out.append("Content-Length: "sv);
      detail::append_number(out, *length);
      out.append("\r\n"sv);
    } else if (a.version >= 11) {
      out.append("Transfer-Encoding: chunked\r\n"sv);
    }
  }
  if (a.close) {
    out.append("Connection: close\r\n"sv);
  } else if (a.version < 11) {
    out.append("Connection: keep-alive\r\n"sv);
  }
  out.append("\r\n"sv);
  if (!bodiless && !a.head && !r.source) out.append(r.body);
}

namespace detail {
std::string_view date_now() noexcept {
  return t_date.now();
}
bool kept_response_field(const Headers::Field& f) noexcept {
  return !reserved_response_field(f.name) && writable(f);
}
}  // namespace detail

BodyFraming body_framing(const Response& r, const Answering& a) noexcept {
  if (!r.source) return BodyFraming::none;
  const bool bodiless = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  if (bodiless || a.head) return BodyFraming::none;
  if (r.source->length) return BodyFraming::length;
  return a.version >= 11 ? BodyFraming::chunked : BodyFraming::close;
}

void write_error(std::string& out, int status, bool keep_open, std::string_view allow) {
  std::string_view text = reason(status);
  if (text.empty()) text = "Error";
  status_line(out, status);
  out.append("Content-Type: text/plain\r\nContent-Length: ");
  detail::append_number(out, text.size() + 1);
  out.append("\r\n");
  if (!allow.empty()) {
    out.append("Allow: ");
    out.append(allow);
    out.append("\r\n");
  }
  if (!keep_open) out.append("Connection: close\r\n");
  out.append("\r\n");
  out.append(text);
  out.push_back('\n');
}

std::string_view continue_response() noexcept {
  return "HTTP/1.1 100 Continue\r\n\r\n";
}

void write_request(std::string& out, const Request& r, std::string_view host) {
  out.append(r.method == Method::other ? std::string_view(r.method_name) : to_string(r.method));
  out.push_back(' ');
  out.append(r.target.empty() ? std::string_view("/") : std::string_view(r.target));
  out.append(r.version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  if (!r.headers.contains("Host")) {
    out.append("Host: ");
    out.append(host);
    out.append("\r\n");
  }
  for (const auto& f : r.headers) {
    if (!writable(f) || detail::iequals(f.name, "content-length") ||
        detail::iequals(f.name, "transfer-encoding")) {
      continue;
    }
    out.append(f.name);
    out.append(": ");
    out.append(f.value);
    out.append("\r\n");
  }
  if (r.source && !r.source->length) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (r.source) {
    out.append("Content-Length: ");
    detail::append_number(out, *r.source->length);
    out.append("\r\n");
  } else if (!r.body.empty() || r.method == Method::post || r.method == Method::put ||
             r.method == Method::patch) {
    out.append("Content-Length: ");
    detail::append_number(out, r.body.size());
    out.append("\r\n");
  }
  out.append("\r\n");
  if (!r.source) out.append(r.body);
}

// ---------------------------------------------------------------------------
// ResponseDecoder

struct ResponseDecoder::Impl {
  struct Parser final : detail::bhttp::basic_parser<false> {
    explicit Parser(Impl& d) noexcept : d_(&d) {}
    Impl* d_;

    void on_request_impl(detail::bhttp::verb, detail::BeastView, detail::BeastView, int,
                         detail::error_code&) override {}
    void on_response_impl(int code, detail::BeastView, int, detail::error_code&) override {
      d_->res.status = code;
    }
    void on_field_impl(detail::bhttp::field, detail::BeastView name, detail::BeastView value,
                       detail::error_code&) override {
      if (!is_header_done()) d_->res.headers.add(detail::sv(name), detail::sv(value));
    }
    void on_header_impl(detail::error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                           detail::error_code&) override {
      if (length && *length <= d_->limits.max_body_bytes && !d_->streaming) {
        d_->res.body.reserve(static_cast<std::size_t>(*length));
      }
    }
    std::size_t on_body_impl(detail::BeastView body, detail::error_code&) override {
      (d_->streaming ? d_->piece : d_->res.body).append(body.data(), body.size());
      return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, detail::BeastView, detail::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, detail::BeastView body,
                                   detail::error_code&) override {
      (d_->streaming ? d_->piece : d_->res.body).append(body.data(), body.size());
      return body.size();
    }
    void on_finish_impl(detail::error_code&) override {}
  };

  explicit Impl(const Limits& l) : limits(l) { reset(); }

  Limits limits;
  std::optional<Parser> parser;
  Response res;
  std::string pending;
  std::size_t msg_used = 0;
  std::string piece;          // a streamed body's bytes, not yet used by the caller
  bool streaming = false;     // bodies go to `piece` (stream_bodies)
  bool head_given = false;    // Event::head was returned for this response
  bool done_pending = false;  // the streamed response ended in the feed that gave its head
  bool head = false;          // the next response answers HEAD
  bool reusable = true;       // of the last response
  bool failed = false;
  std::string error;

  void reset() {
    parser.emplace(*this);
    parser->eager(true);
    parser->header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_bytes, UINT32_MAX)));
    parser->body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
    parser->skip(head);
    msg_used = 0;
    head_given = done_pending = false;
  }

  std::size_t put(const char* data, std::size_t n, detail::error_code& ec) {
    const std::size_t c = parser->put(boost::asio::const_buffer(data, n), ec);
    if (ec && ec != detail::bhttp::error::need_more) error = ec.message();
    msg_used += c;
    return c;
  }
  [[nodiscard]] bool done() const noexcept { return parser->is_done(); }
  bool pending_ok() {
    if (!parser->is_header_done()) {
      if (msg_used + pending.size() > limits.max_header_bytes) {
        error = "response header over the limit";
        return false;
      }
    } else if (pending.size() > 2 * limits.max_header_bytes + 64) {
      error = "chunk line or trailers over the limit";
      return false;
    }
    return true;
  }

  Step fail(std::size_t consumed) {
    failed = true;
    reusable = false;
    if (error.empty()) error = "malformed response";
    return Step{Event::error, consumed};
  }

  /// A complete 1xx other than 101 is interim (RFC 9110 15.2): dropped, and
  /// the final response to the same request read next.
  [[nodiscard]] bool interim() const noexcept {
    return res.status >= 100 && res.status < 200 && res.status != 101;
  }
};

ResponseDecoder::ResponseDecoder(const Limits& limits) : impl_(std::make_unique<Impl>(limits)) {}
ResponseDecoder::~ResponseDecoder() = default;
ResponseDecoder::ResponseDecoder(ResponseDecoder&&) noexcept = default;
ResponseDecoder& ResponseDecoder::operator=(ResponseDecoder&&) noexcept = default;

void ResponseDecoder::expect(Method m) noexcept {
  Impl& d = *impl_;
  d.head = m == Method::head;
  if (!d.parser->got_some() && d.pending.empty()) d.parser->skip(d.head);
}

ResponseDecoder::Step ResponseDecoder::feed(std::string_view in) {
  Impl& d = *impl_;
  if (d.failed) return Step{Event::error, 0};
  if (d.done_pending) {  // the head's feed ended the body too
    d.head = false;
    d.reset();
    return Step{Event::body_end, 0};
  }
  std::size_t consumed = 0;
  for (;;) {
    const auto [outcome, used] = detail::run(d, in.substr(consumed));
    consumed += used;
    if (outcome == detail::Outcome::error) return d.fail(consumed);
    if (outcome == detail::Outcome::done && d.interim()) {
      d.res = Response{};
      d.reset();
      continue;
    }
    if (d.streaming) {
      if (!d.head_given) {
        if (!d.parser->is_header_done() || d.interim()) return Step{Event::need_more, consumed};
        d.head_given = true;
        if (outcome == detail::Outcome::done) {
          d.done_pending = true;
          d.reusable = d.parser->keep_alive();
        }
        return Step{Event::head, consumed};
      }
      if (outcome == detail::Outcome::done) {
        d.reusable = d.parser->keep_alive();
        d.head = false;
        d.reset();
        return Step{Event::body_end, consumed};
      }
      return Step{d.piece.empty() ? Event::need_more : Event::body, consumed};
    }
    if (outcome == detail::Outcome::more) return Step{Event::need_more, consumed};
    d.reusable = d.parser->keep_alive();
    return Step{Event::response, consumed};
  }
}

ResponseDecoder::Step ResponseDecoder::finish() {
  Impl& d = *impl_;
  if (d.failed) return Step{Event::error, 0};
  if (!d.parser->got_some()) {
    d.error = d.pending.empty() ? "the peer closed before a response" : "response cut short";
    return d.fail(0);
  }
  if (d.done_pending) return feed({});
  detail::error_code ec;
  if (d.pending.empty()) d.parser->put_eof(ec);
  if (!d.pending.empty() || ec || !d.parser->is_done()) {
    d.error = "response cut short";
    return d.fail(0);
  }
  d.reusable = false;  // delimited by the close
  if (d.streaming) {
    if (!d.head_given) {  // the head and the close-delimited body at once
      d.head_given = true;
      d.done_pending = true;
      return Step{Event::head, 0};
    }
    d.head = false;
    d.reset();
    return Step{Event::body_end, 0};
  }
  return Step{Event::response, 0};
}

Response ResponseDecoder::take() {
  Impl& d = *impl_;
  Response r = std::move(d.res);
  d.res = Response{};
  if (d.head_given) return r;  // a streamed body's response ends at its Event::body_end
  d.head = false;
  d.reset();
  return r;
}

void ResponseDecoder::stream_bodies(bool on) noexcept {
  impl_->streaming = on;
}

std::string& ResponseDecoder::body_piece() noexcept {
  return impl_->piece;
}

bool ResponseDecoder::reusable() const noexcept {
  return impl_->reusable;
}

std::string_view ResponseDecoder::error_text() const noexcept {
  return impl_->error;
}

}  // namespace duet::http
