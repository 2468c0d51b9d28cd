// h2_peer.hpp: HTTP/2 clients for the server's tests, independent of duet:
// - h2_test::Client: nghttp2's client session over a blocking loopback
//   socket (h2c with prior knowledge, or TLS through OpenSSL with ALPN),
//   many requests on one connection, each stream's reply kept;
// - h2_test::RawConn: hand-made frames (the preface, then whatever a test
//   writes: floods, a bomb), and the server's frames as read, their headers
//   decoded with nghttp2's HPACK inflater.
// Every wait is bounded: it ends when its condition holds, the server
// closes, or its limit passes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace h2_test {

using namespace std::chrono_literals;

/// A blocking loopback connection, plain or TLS.
class Wire {
 public:
  Wire(std::uint16_t port, bool tls, const std::string& ca, const std::vector<std::string>& alpn) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      error = "connect failed";
      return;
    }
    const int one = 1;
    (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!tls) return;
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    std::string wire;
    for (const auto& p : alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set1_host(ssl_, "localhost");
    if (SSL_connect(ssl_) != 1) error = "TLS handshake failed";
  }
  ~Wire() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
  [[nodiscard]] std::string alpn() const {
    if (ssl_ == nullptr) return {};
    const unsigned char* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  /// Writes all of `b`: false when the peer is gone.
  bool send(std::string_view b) {
    while (!b.empty()) {
      const long n = ssl_ != nullptr ? SSL_write(ssl_, b.data(), static_cast<int>(b.size()))
                                     : ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      b.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Writes all of `b` if the socket takes it now, without waiting (plain
  /// only): false when it did not (a part may have gone).
  bool try_send(std::string_view b) {
    while (!b.empty()) {
      const long n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) return false;
      b.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Reads what arrives within `wait`: bytes appended to `into`; false at
  /// the peer's end or an error (`into` unchanged then).
  bool receive(std::string& into, std::chrono::milliseconds wait) {
    if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(wait.count()));
      if (r == 0) return true;
      if (r < 0) return errno == EINTR;
    }
    char buf[16384];
    const long n =
        ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    into.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  std::string error;

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

/// One stream's reply.
struct Reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool closed = false;     // the stream closed (answered whole, or reset)
  std::uint32_t code = 0;  // its RST_STREAM error code (0: closed cleanly)
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return std::nullopt;
  }
};

struct ClientOptions {
  std::uint32_t window = 65'535;  // SETTINGS_INITIAL_WINDOW_SIZE
  bool auto_window = true;        // reopen the window as DATA arrives
  bool tls = false;
  std::string ca;
  std::vector<std::string> alpn{"h2"};
};

/// nghttp2's client session over a Wire.
class Client {
 public:
  explicit Client(std::uint16_t port, ClientOptions o = {})
      : o_(std::move(o)), wire_(port, o_.tls, o_.ca, o_.alpn) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    if (!o_.auto_window) nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_client_new2(&ng_, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    const nghttp2_settings_entry s[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, o_.window},
                                        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
    nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, s, 2);
    if (wire_.ok()) flush();
  }
  ~Client() { nghttp2_session_del(ng_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  [[nodiscard]] bool ok() const noexcept { return wire_.ok(); }
  [[nodiscard]] std::string alpn() const { return wire_.alpn(); }
  [[nodiscard]] nghttp2_session* session() noexcept { return ng_; }

  /// Starts a request; its stream id (negative: refused by nghttp2).
  std::int32_t request(std::string method, std::string path, std::string body = {},
                       std::vector<std::pair<std::string, std::string>> fields = {}) {
    std::vector<std::pair<std::string, std::string>> all{{":method", std::move(method)},
                                                         {":scheme", o_.tls ? "https" : "http"},
                                                         {":authority", "localhost"},
                                                         {":path", std::move(path)}};
    for (auto& f : fields) all.push_back(std::move(f));
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : all) {
      nv.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(n.data()),
                              reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                              NGHTTP2_NV_FLAG_NONE});
    }
    auto b = std::make_unique<Body>();
    b->data = std::move(body);
    nghttp2_data_provider prd{};
    prd.source.ptr = b.get();
    prd.read_callback = &read_body;
    const bool has_body = !b->data.empty();
    const std::int32_t id =
        nghttp2_submit_request(ng_, nullptr, nv.data(), nv.size(), has_body ? &prd : nullptr, this);
    if (id > 0) {
      bodies_[id] = std::move(b);
      replies_[id];
    }
    return id;
  }
  std::int32_t get(std::string path) { return request("GET", std::move(path)); }

  Reply& reply(std::int32_t id) { return replies_[id]; }
  /// Bytes of `id`'s request body handed to nghttp2 so far (the windows let them go).
  [[nodiscard]] std::size_t body_sent(std::int32_t id) const {
    auto it = bodies_.find(id);
    return it == bodies_.end() ? 0 : it->second->off;
  }

  /// Sends what the session has queued: false when the peer is gone.
  bool flush() {
    for (;;) {
      const std::uint8_t* d = nullptr;
      const auto n = nghttp2_session_mem_send(ng_, &d);
      if (n <= 0) return n == 0;
      if (!wire_.send(std::string_view(reinterpret_cast<const char*>(d), n))) return false;
    }
  }
  /// Exchanges bytes until `done()` holds (true), or the server closes or
  /// `limit` passes (false).
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (closed_ || std::chrono::steady_clock::now() > end) return false;
      if (!flush()) closed_ = true;
      std::string in;
      if (!wire_.receive(in, 20ms)) closed_ = true;
      if (!in.empty() &&
          nghttp2_session_mem_recv(ng_, reinterpret_cast<const std::uint8_t*>(in.data()),
                                   in.size()) < 0) {
        closed_ = true;
      }
    }
    return true;
  }
  bool wait(std::int32_t id) {
    return run_until([&] { return replies_[id].closed; });
  }
  /// Until the server closes the connection (true), or `limit` passes.
  bool wait_closed(std::chrono::milliseconds limit = 20s) {
    run_until([] { return false; }, limit);
    return closed_;
  }
  /// A round trip: PING, and its ACK back (every frame sent before it was read).
  bool ping() {
    const int before = pings_;
    nghttp2_submit_ping(ng_, NGHTTP2_FLAG_NONE, nullptr);
    return run_until([&] { return pings_ > before; });
  }
  /// Reopens `n` bytes of `id`'s window and the connection's (auto_window off).
  void consume(std::int32_t id, std::size_t n) { nghttp2_session_consume(ng_, id, n); }

  bool goaway = false;
  std::uint32_t goaway_code = 0;
  [[nodiscard]] bool closed() const noexcept { return closed_; }

 private:
  struct Body {
    std::string data;
    std::size_t off = 0;
  };
  static Client& of(void* u) { return *static_cast<Client*>(u); }
  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n,
                       std::size_t nl, const std::uint8_t* v, std::size_t vl, std::uint8_t,
                       void* u) {
    Reply& r = of(u).replies_[f->hd.stream_id];
    std::string name(reinterpret_cast<const char*>(n), nl),
        value(reinterpret_cast<const char*>(v), vl);
    if (name == ":status") {
      r.status = std::stoi(value);
    } else {
      r.headers.emplace_back(std::move(name), std::move(value));
    }
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* d,
                     std::size_t n, void* u) {
    of(u).replies_[id].body.append(reinterpret_cast<const char*>(d), n);
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* u) {
    Reply& r = of(u).replies_[id];
    r.closed = true;
    r.code = code;
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
    Client& c = of(u);
    if (f->hd.type == NGHTTP2_GOAWAY) {
      c.goaway = true;
      c.goaway_code = f->goaway.error_code;
    }
    if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK) != 0) ++c.pings_;
    return 0;
  }
  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                           std::uint32_t* flags, nghttp2_data_source* src, void*) {
    auto& b = *static_cast<Body*>(src->ptr);
    const std::size_t n = std::min(len, b.data.size() - b.off);
    std::memcpy(buf, b.data.data() + b.off, n);
    b.off += n;
    if (b.off == b.data.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  ClientOptions o_;
  Wire wire_;
  nghttp2_session* ng_ = nullptr;
  std::map<std::int32_t, Reply> replies_;
  std::map<std::int32_t, std::unique_ptr<Body>> bodies_;
  int pings_ = 0;
  bool closed_ = false;
};

// ---- hand-made frames ---------------------------------------------------

enum FrameType : std::uint8_t {
  kData = 0,
  kHeaders = 1,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9
};
enum FrameFlag : std::uint8_t { kEndStream = 1, kAck = 1, kEndHeaders = 4 };

/// A frame: its 9-byte header, then `payload`.
inline std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                         std::string_view payload) {
  std::string f;
  const auto n = static_cast<std::uint32_t>(payload.size());
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int s = 24; s >= 0; s -= 8) f.push_back(static_cast<char>((stream >> s) & 0xff));
  f.append(payload);
  return f;
}

/// An HPACK integer of `prefix` bits, the first byte's other bits `high`.
inline std::string hpack_int(std::uint64_t v, int prefix, std::uint8_t high) {
  std::string o;
  const std::uint64_t max = (1u << prefix) - 1;
  if (v < max) {
    o.push_back(static_cast<char>(high | v));
    return o;
  }
  o.push_back(static_cast<char>(high | max));
  v -= max;
  while (v >= 128) {
    o.push_back(static_cast<char>(0x80 | (v & 0x7f)));
    v >>= 7;
  }
  o.push_back(static_cast<char>(v));
  return o;
}
/// A literal field, not indexed (or, `indexed`, added to the dynamic table).
inline std::string hpack_literal(std::string_view name, std::string_view value,
                                 bool indexed = false) {
  std::string o = indexed ? std::string(1, '\x40') : std::string(1, '\x00');
  o += hpack_int(name.size(), 7, 0);
  o += name;
  o += hpack_int(value.size(), 7, 0);
  o += value;
  return o;
}
/// The header block of a GET of `path` (static-table names).
inline std::string hpack_get(std::string_view path) {
  std::string o;
  o.push_back(static_cast<char>(0x82));  // :method GET
  o.push_back(static_cast<char>(0x86));  // :scheme http
  o += hpack_literal(":authority", "localhost");
  o += hpack_literal(":path", path);
  return o;
}

/// A connection of hand-made frames: the preface and an empty SETTINGS
/// are sent at once; the server's frames are read as they come.
class RawConn {
 public:
  struct Frame {
    std::uint8_t type;
    std::uint8_t flags;
    std::uint32_t stream;
    std::string payload;
  };

  explicit RawConn(std::uint16_t port) : wire_(port, false, {}, {}) {
    nghttp2_hd_inflate_new(&inflater_);
    if (wire_.ok()) {
      (void)wire_.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      (void)wire_.send(frame(kSettings, 0, 0, {}));
    }
  }
  ~RawConn() { nghttp2_hd_inflate_del(inflater_); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  [[nodiscard]] bool ok() const noexcept { return wire_.ok(); }
  /// Writes `bytes`: false once the server is gone.
  bool send(std::string_view bytes) { return wire_.send(bytes); }
  /// Writes `bytes` if the socket takes them now: false when it did not.
  bool try_send(std::string_view bytes) { return wire_.try_send(bytes); }
  /// Reads frames until `done(frame)` holds for one (true), or the server
  /// closes or `limit` passes (false). SETTINGS are acknowledged.
  bool read_until(const std::function<bool(const Frame&)>& done,
                  std::chrono::milliseconds limit = 20s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      while (buf_.size() >= 9) {
        const auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(buf_[i]); };
        const std::size_t n = (std::size_t{b(0)} << 16) | (std::size_t{b(1)} << 8) | b(2);
        if (buf_.size() < 9 + n) break;
        Frame f{b(3), b(4),
                ((std::uint32_t{b(5)} << 24) | (std::uint32_t{b(6)} << 16) |
                 (std::uint32_t{b(7)} << 8) | b(8)) &
                    0x7fffffffu,
                buf_.substr(9, n)};
        buf_.erase(0, 9 + n);
        if (f.type == kSettings && (f.flags & kAck) == 0) (void)send(frame(kSettings, kAck, 0, {}));
        if (f.type == kHeaders) decode(f);
        if (f.type == kGoaway && f.payload.size() >= 8) {
          goaway = true;
          goaway_code = be32(f.payload, 4);
        }
        if (f.type == kRstStream && f.payload.size() >= 4) resets[f.stream] = be32(f.payload, 0);
        if (done(f)) return true;
      }
      if (closed || std::chrono::steady_clock::now() > end) return false;
      if (!wire_.receive(buf_, 20ms)) closed = true;
    }
  }
  /// Until the server closes (true), or `limit` passes.
  bool wait_closed(std::chrono::milliseconds limit = 20s) {
    read_until([](const Frame&) { return false; }, limit);
    return closed;
  }

  std::map<std::uint32_t, int> statuses;          // a stream's :status
  std::map<std::uint32_t, std::uint32_t> resets;  // a stream's RST_STREAM code
  bool goaway = false;
  std::uint32_t goaway_code = 0;
  bool closed = false;

 private:
  static std::uint32_t be32(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
    return v;
  }
  /// The :status of a HEADERS frame (a whole block: the server sends no
  /// CONTINUATION for a small head).
  void decode(const Frame& f) {
    std::string_view in = f.payload;
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      const auto n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags,
                                            reinterpret_cast<const std::uint8_t*>(in.data()),
                                            in.size(), (f.flags & kEndHeaders) != 0);
      if (n < 0) return;
      in.remove_prefix(static_cast<std::size_t>(n));
      if ((flags & NGHTTP2_HD_INFLATE_EMIT) != 0 &&
          std::string_view(reinterpret_cast<const char*>(nv.name), nv.namelen) == ":status") {
        statuses[f.stream] =
            std::stoi(std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
      }
      if ((flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
        nghttp2_hd_inflate_end_headers(inflater_);
        return;
      }
      if (n == 0 && (flags & NGHTTP2_HD_INFLATE_EMIT) == 0) return;
    }
  }

  Wire wire_;
  std::string buf_;
  nghttp2_hd_inflater* inflater_ = nullptr;
};

}  // namespace h2_test
