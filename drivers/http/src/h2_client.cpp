// h2_client.cpp: the client's HTTP/2 connection (h2_client.hpp): its
// machine over nghttp2's client session, its task, and a request's wait.
#include "h2_client.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "duet/runtime.hpp"
#include "duet/stackless/coro_task.hpp"
#include "h2_common.hpp"
#include "h2_loop.hpp"

namespace duet::http::detail {

namespace {

/// Fields an HTTP/2 request does not carry: the connection-specific ones,
/// Host (:authority replaces it) and Content-Length (the client sets it).
bool h2_dropped_field(std::string_view name) {
  return connection_specific(name) || names_one_of(name, {"host", "content-length"});
}

/// The machine of one client connection (an H2Machine).
class H2ClientSession {
 public:
  H2ClientSession(H2ClientBox& box, const ClientConfig& o) : box_(box), o_(o) {
    nghttp2_session_callbacks* cb = nullptr;
    if (nghttp2_session_callbacks_new(&cb) != 0) throw std::bad_alloc();
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame);
    const int rc = nghttp2_session_client_new(&ng_, cb, this);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) throw std::bad_alloc();
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kWindow},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
         static_cast<std::uint32_t>(std::min<std::size_t>(o.limits.max_header_bytes, UINT32_MAX))},
    };
    (void)nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    (void)nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, kWindow);
    idle_deadline_ = saturating_add(Clock::now(), o_.idle_timeout);
  }
  ~H2ClientSession() {
    // Whatever is left fails: the connection is gone.
    std::vector<std::shared_ptr<H2Call>> waiting;
    {
      std::lock_guard lk(box_.mu);
      box_.closed = true;
      waiting.swap(box_.submitted);
      box_.dropped.clear();
    }
    for (auto& c : waiting) finish(*c, std::make_error_code(std::errc::connection_reset), true);
    for (auto& c : calls_) finish(*c, std::make_error_code(std::errc::connection_reset), false);
    nghttp2_session_del(ng_);
  }
  H2ClientSession(const H2ClientSession&) = delete;
  H2ClientSession& operator=(const H2ClientSession&) = delete;

  bool feed(std::span<const std::byte> in) {
    const auto n =
        nghttp2_session_mem_recv(ng_, reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
    return n >= 0;
  }
  void take_events() {
    std::vector<std::shared_ptr<H2Call>> fresh, gone;
    {
      std::lock_guard lk(box_.mu);
      fresh.swap(box_.submitted);
      gone.swap(box_.dropped);
    }
    for (auto& c : gone) {
      if (c->id > 0 && !c->done.load(std::memory_order_relaxed)) {
        (void)nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, c->id, NGHTTP2_CANCEL);
      }
    }
    for (auto& c : fresh) submit(std::move(c));
  }
  bool produce(std::string& out, std::size_t cap) { return send_into(ng_, out, cap); }
  [[nodiscard]] bool over() const noexcept {
    if ((draining_ || goaway_) && calls_.empty()) return true;
    return nghttp2_session_want_read(ng_) == 0 && nghttp2_session_want_write(ng_) == 0;
  }
  [[nodiscard]] bool draining() const noexcept { return draining_; }
  [[nodiscard]] bool idle() const noexcept { return calls_.empty(); }
  void drain() {
    draining_ = true;
    std::lock_guard lk(box_.mu);
    box_.closed = true;
  }
  [[nodiscard]] Instant next_deadline() const noexcept {
    return calls_.empty() ? idle_deadline_ : Instant::max();
  }
  bool expire(Instant now) {
    if (!calls_.empty() || now < idle_deadline_) return true;
    (void)nghttp2_session_terminate_session(ng_, NGHTTP2_NO_ERROR);
    drain();
    return false;
  }
  void touched(Instant now) noexcept {
    if (calls_.empty()) idle_deadline_ = saturating_add(now, o_.idle_timeout);
  }

 private:
  /// Stream windows of 1 MiB for responses, and as much for the
  /// connection: a whole response is kept anyway (Limits::max_body_bytes).
  static constexpr std::int32_t kWindow = 1 << 20;

  static H2ClientSession& of(void* u) noexcept { return *static_cast<H2ClientSession*>(u); }
  H2Call* find(std::int32_t id) noexcept {
    return static_cast<H2Call*>(nghttp2_session_get_stream_user_data(ng_, id));
  }

  void submit(std::shared_ptr<H2Call> c) {
    const Request& r = c->req;
    const char* scheme = secure_scheme_ ? "https" : "http";
    std::string lower;
    std::size_t name_bytes = 0;
    for (const auto& f : r.headers) name_bytes += f.name.size();
    lower.reserve(name_bytes);
    std::vector<nghttp2_nv> nv;
    nv.reserve(r.headers.size() + 5);
    auto add = [&nv](std::string_view n, std::string_view v) {
      nv.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                              reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())),
                              n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    };
    add(":method", r.method_name.empty() ? to_string(r.method) : std::string_view(r.method_name));
    add(":scheme", scheme);
    add(":authority", c->authority);
    add(":path", r.target);
    char length_text[24];
    if (!r.body.empty()) {
      const auto end = std::to_chars(length_text, length_text + 24, r.body.size()).ptr;
      add("content-length", std::string_view(length_text, end - length_text));
    }
    for (const auto& f : r.headers) {
      if (h2_dropped_field(f.name)) continue;
      const std::size_t at = lower.size();
      for (const char ch : f.name) {
        lower.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch);
      }
      add(std::string_view(lower).substr(at), f.value);
    }
    nghttp2_data_provider body{};
    body.source.ptr = c.get();
    body.read_callback = &read_body;
    const std::int32_t id = nghttp2_submit_request(ng_, nullptr, nv.data(), nv.size(),
                                                   r.body.empty() ? nullptr : &body, c.get());
    if (id < 0) {  // out of stream ids, or the session is closing: not sent
      finish(*c, std::make_error_code(std::errc::connection_reset), true);
      return;
    }
    c->id = id;
    c->slot = static_cast<std::uint32_t>(calls_.size());
    calls_.push_back(std::move(c));
  }

  /// Ends `c` with `e` (or its response when `e` is none) and wakes its sender.
  static void finish(H2Call& c, std::error_code e, bool refused) {
    c.error = e;
    c.refused = refused;
    c.done.store(true, std::memory_order_release);
    c.finished.notify_one();
  }
  void forget(H2Call& c) {
    const std::uint32_t at = c.slot;
    std::shared_ptr<H2Call> mine = std::move(calls_[at]);
    if (at + 1 != calls_.size()) {
      calls_[at] = std::move(calls_.back());
      calls_[at]->slot = at;
    }
    calls_.pop_back();
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* u) {
    H2ClientSession& h = of(u);
    H2Call* c = h.find(f->hd.stream_id);
    if (c == nullptr) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    c->header_bytes += namelen + valuelen + 32;
    if (c->header_bytes > h.o_.limits.max_header_bytes) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the stream is reset
    }
    if (n == ":status") {
      int s = 0;
      std::from_chars(v.data(), v.data() + v.size(), s);
      if (s >= 100 && s < 200) {  // an interim answer: the final one follows
        c->res.headers.clear();
        return 0;
      }
      c->res.status = s;
      return 0;
    }
    if (c->res.status == 0) return 0;  // an interim answer's fields
    c->res.headers.add(n, v);
    return 0;
  }
  static int on_data(nghttp2_session* ng, std::uint8_t, std::int32_t id, const std::uint8_t* d,
                     std::size_t len, void* u) {
    H2ClientSession& h = of(u);
    H2Call* c = h.find(id);
    if (c == nullptr) return 0;
    if (c->res.body.size() + len > h.o_.limits.max_body_bytes) {
      c->error = std::make_error_code(std::errc::bad_message);
      (void)nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      return 0;
    }
    c->res.body.append(reinterpret_cast<const char*>(d), len);
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* u) {
    H2ClientSession& h = of(u);
    H2Call* c = h.find(id);
    if (c == nullptr) return 0;
    std::shared_ptr<H2Call> keep = h.calls_[c->slot];
    h.forget(*c);
    if (c->error) {
      finish(*c, c->error, false);
    } else if (code == NGHTTP2_NO_ERROR && c->res.status != 0) {
      finish(*c, {}, false);
    } else if (code == NGHTTP2_REFUSED_STREAM) {
      finish(*c, std::make_error_code(std::errc::connection_reset), true);
    } else {
      finish(*c,
             c->header_bytes > h.o_.limits.max_header_bytes
                 ? std::make_error_code(std::errc::bad_message)
                 : std::make_error_code(std::errc::connection_reset),
             false);
    }
    if (h.calls_.empty()) h.idle_deadline_ = saturating_add(Clock::now(), h.o_.idle_timeout);
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
    if (f->hd.type != NGHTTP2_GOAWAY) return 0;
    H2ClientSession& h = of(u);
    h.goaway_ = true;  // no new stream; those past its last one are refused (on_close)
    std::lock_guard lk(h.box_.mu);
    h.box_.closed = true;
    return 0;
  }
  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                           std::uint32_t* flags, nghttp2_data_source* src, void*) {
    auto& c = *static_cast<H2Call*>(src->ptr);
    const std::size_t n = std::min(len, c.req.body.size() - c.sent);
    std::memcpy(buf, c.req.body.data() + c.sent, n);
    c.sent += n;
    if (c.sent == c.req.body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

 public:
  bool secure_scheme_ = false;

 private:
  H2ClientBox& box_;
  const ClientConfig& o_;
  nghttp2_session* ng_ = nullptr;
  std::vector<std::shared_ptr<H2Call>> calls_;  // submitted, not closed (H2Call::slot)
  Instant idle_deadline_{};
  bool draining_ = false;
  bool goaway_ = false;
};

template <class S>
Task<void> run_client(std::shared_ptr<H2ClientBox> box, S stream, ClientConfig o, bool secure) {
  S s = std::move(stream);
  H2ClientSession m(*box, o);
  m.secure_scheme_ = secure;
  co_await h2_loop(s, m, box->wake, box->stop, o.request_timeout, {});
}

template <class S>
std::shared_ptr<H2Client> start_client(S s, const ClientConfig& o, bool secure) {
  auto box = std::make_shared<H2ClientBox>();
  // The runtime's drain drains the connection too (its streams finish, then
  // it closes), so that a drain need not wait out the idle timeout.
  if (Runtime* rt = Runtime::current()) box->stop = rt->shutdown_token().child();
  spawn(run_client(box, std::move(s), o, secure)).detach();
  return std::make_shared<H2Client>(std::move(box));
}

}  // namespace

std::shared_ptr<H2Client> H2Client::start(net::TcpStream s, const ClientConfig& o) {
  return start_client(std::move(s), o, false);
}

std::shared_ptr<H2Client> H2Client::start(tls::TlsStream s, const ClientConfig& o) {
  return start_client(std::move(s), o, true);
}

H2Client::~H2Client() {
  box_->stop.cancel();
}

bool H2Client::usable() {
  std::lock_guard lk(box_->mu);
  return !box_->closed;
}

Task<void> H2Client::send(std::shared_ptr<H2Call> call) {
  {
    std::lock_guard lk(box_->mu);
    if (box_->closed) {
      call->error = std::make_error_code(std::errc::connection_reset);
      call->refused = true;
      call->done.store(true, std::memory_order_relaxed);  // this task's own
      co_return;
    }
    box_->submitted.push_back(call);
  }
  box_->wake.notify_one();
  /// Posts the drop when the wait is cut before the end (a deadline, a
  /// cancellation): the stream is reset.
  struct Drop {
    H2ClientBox& box;
    std::shared_ptr<H2Call> call;
    ~Drop() {
      if (call->done.load(std::memory_order_acquire)) return;
      {
        std::lock_guard lk(box.mu);
        box.dropped.push_back(std::move(call));
      }
      box.wake.notify_one();
    }
  } drop{*box_, call};
  for (;;) {
    Notify::Notified fin = call->finished.notified();
    if (call->done.load(std::memory_order_acquire)) break;
    co_await fin;
  }
}

}  // namespace duet::http::detail
