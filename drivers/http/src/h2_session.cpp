// h2_session.cpp: H2Session (h2_session.hpp): nghttp2's server session,
// its callbacks, the streams' tasks and their answers.
#include "h2_session.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "duet/http/body.hpp"
#include "duet/outcome.hpp"
#include "duet/stackful.hpp"
#include "duet/stackless/coro_task.hpp"
#include "duet/wait.hpp"
#include "h2_common.hpp"

namespace duet::http::detail {

/// A stream, from its HEADERS until nghttp2 closes it.
struct H2Session::Stream {
  std::int32_t id = 0;
  std::uint32_t slot = 0;        // its place in live_
  Method method = Method::get;   // the request's (cell->req is its task's while it runs)
  std::size_t header_bytes = 0;  // the decoded list, as SETTINGS_MAX_HEADER_LIST_SIZE counts it
  int refused = 0;               // a status the session answers itself (431)
  const Handler* handler = nullptr;
  std::size_t body_cap = 0;
  std::size_t body_bytes = 0;  // of the request body, received so far
  bool discarding = false;     // answered before its body ended: DATA dropped
  bool streaming = false;      // the body goes to the handler's reads (cell->body)
  bool started = false;        // the handler's task began (or the session answered)
  bool answered = false;       // HEADERS of the answer submitted
  bool head_only = false;      // the answer's body is not sent (HEAD, 1xx, 204, 304)
  Instant begun{};             // the request's head was complete
  Instant deadline = Instant::max();
  std::optional<JoinHandle<void>> task;
  std::shared_ptr<H2StreamCell> cell;
  // The answer's body going out: a buffered body, or a streamed one's
  // current piece.
  std::string body;
  std::size_t sent = 0;
  bool streamed = false;    // pieces come from the task
  bool ended = false;       // streamed: the last piece came
  bool waiting = false;     // deferred in nghttp2: resumed when a piece comes
  bool progressed = false;  // DATA went out since the stall deadline was set

  /// Cleared for the next stream.
  void recycle() noexcept { *this = Stream{}; }
};

/// What the hook sees of a request the session answers while its task may
/// still hold it (a route's deadline): nothing of it.
const Request kNoRequest{};

/// An answer's fields as nghttp2 takes them, and their lower-cased names
/// (kept between answers: their room is reused).
struct H2Session::Fields {
  std::vector<nghttp2_nv> nv;
  std::string lower;
};

namespace {

bool bodiless(int status) noexcept {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/// The answer's producer, run by the stream's task after its handler:
/// posts the answer, then each piece of a streamed body once nghttp2 took
/// the one before.
Task<void> deliver(std::shared_ptr<H2StreamCell> cell, std::optional<Response> res,
                   Failure failure) {
  std::shared_ptr<BodySource> src;
  if (res && res->source && !bodiless(res->status) && cell->req.method != Method::head) {
    src = res->source;
  }
  const std::int32_t id = cell->id;
  // The request is the session's again from the post on.
  cell->inbox->post(H2Event{id, H2Event::Kind::answer, std::move(res), failure});
  if (!src) co_return;
  for (;;) {
    duet::Result<std::string> piece = co_await src->next();
    if (!piece) {
      cell->inbox->post(H2Event{id, H2Event::Kind::failed});
      co_return;
    }
    if (piece->empty()) {
      cell->inbox->post(H2Event{id, H2Event::Kind::end});
      co_return;
    }
    // Made before the post: the session's notify after it completes it.
    Notify::Notified taken = cell->sent.notified();
    cell->inbox->post(H2Event{id, H2Event::Kind::piece, {}, Failure::none, std::move(*piece)});
    co_await taken;
  }
}

/// A coroutine handler's stream task: the handler on the cell's request,
/// then its answer delivered. The frame holds the cell and the answer.
Task<void> coroutine_stream(std::shared_ptr<H2StreamCell> cell, const CoroutineHandler* h) {
  std::optional<Response> res;
  Failure failure = Failure::none;
  try {
    res.emplace(co_await (*h)(cell->req));
  } catch (const Cancelled&) {
    failure = Failure::cancelled;
  } catch (...) {
    failure = Failure::threw;
  }
  co_await deliver(cell, std::move(res), failure);
}

std::string_view view(nghttp2_rcbuf* b) noexcept {
  const nghttp2_vec v = nghttp2_rcbuf_get_buf(b);
  return {reinterpret_cast<const char*>(v.base), v.len};
}

}  // namespace

bool H2BodyPump::take(std::size_t max, std::string& out, std::error_code& e) {
  std::lock_guard lk(mu_);
  if (data_.empty()) {
    e = error_;
    return ended_;
  }
  if (max == 0 || max >= data_.size()) {
    out.swap(data_);
  } else {
    out.assign(data_, 0, max);
    data_.erase(0, max);
  }
  return false;
}

Task<duet::Result<std::size_t>> H2BodyPump::read(std::span<std::byte> into) {
  if (into.empty()) co_return std::size_t{0};
  std::string got;
  for (;;) {
    // Made before the look: a push after it completes the wait.
    Notify::Notified arrived = arrived_.notified();
    std::error_code e;
    const bool over = take(into.size(), got, e);
    if (!got.empty()) {
      std::memcpy(into.data(), got.data(), got.size());
      cell_.inbox->post(H2Event{cell_.id, H2Event::Kind::read, {}, Failure::none, {}, got.size()});
      co_return got.size();
    }
    if (e) co_return e;
    if (over) co_return std::size_t{0};
    co_await arrived;
  }
}

Task<duet::Result<std::string>> H2BodyPump::read_piece() {
  std::string got;
  for (;;) {
    Notify::Notified arrived = arrived_.notified();
    std::error_code e;
    const bool over = take(0, got, e);
    if (!got.empty()) {
      cell_.inbox->post(H2Event{cell_.id, H2Event::Kind::read, {}, Failure::none, {}, got.size()});
      co_return std::move(got);
    }
    if (e) co_return e;
    if (over) co_return std::string();
    co_await arrived;
  }
}

void H2BodyPump::push(std::string_view data) {
  if (data.empty()) return;
  {
    std::lock_guard lk(mu_);
    data_.append(data);
  }
  arrived_.notify_one();
}

void H2BodyPump::end(std::error_code e) {
  {
    std::lock_guard lk(mu_);
    if (ended_) return;
    ended_ = true;
    error_ = e;
  }
  arrived_.notify_one();
}

std::size_t H2BodyPump::unread() {
  std::lock_guard lk(mu_);
  return data_.size();
}

/// nghttp2's callbacks, each a step of the session (user_data: the
/// H2Session). A nonzero return other than NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE
/// fails the session.
struct H2Callbacks {
  static H2Session& of(void* u) noexcept { return *static_cast<H2Session*>(u); }

  static int begin_headers(nghttp2_session*, const nghttp2_frame* f, void* u) {
    of(u).release_held();  // a block nghttp2 refused left its fields
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    of(u).open_stream(f->hd.stream_id);
    return 0;
  }

  static int header(nghttp2_session*, const nghttp2_frame* f, nghttp2_rcbuf* name,
                    nghttp2_rcbuf* value, std::uint8_t, void* u) {
    H2Session& h = of(u);
    H2Session::Stream* s = h.find(f->hd.stream_id);
    if (s == nullptr || s->refused != 0) return 0;
    const std::string_view n = view(name), v = view(value);
    s->header_bytes += n.size() + v.size() + 32;
    if (s->header_bytes > h.st_.options.limits.max_header_bytes) {
      s->refused = status::request_header_fields_too_large;
      return 0;
    }
    Request& r = s->cell->req;
    if (!n.empty() && n[0] == ':') {  // nghttp2 checked which, and that each comes once
      if (n == ":method") {
        r.method_name = v;
        r.method = method_from(v);
      } else if (n == ":path") {
        r.target = v;
      } else if (n == ":authority") {
        h.hold(nullptr, value);  // Host, unless the block has one
      }
      return 0;
    }
    h.hold(name, value);  // into the request once the block is whole (fields_done)
    return 0;
  }

  static int frame_recv(nghttp2_session*, const nghttp2_frame* f, void* u) {
    H2Session& h = of(u);
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    H2Session::Stream* s = h.find(f->hd.stream_id);
    if (s == nullptr) return 0;
    if (f->hd.type == NGHTTP2_HEADERS) h.fields_done(*s);  // the head's, or the trailers'
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
      h.headers_done(*s);
      s = h.find(f->hd.stream_id);  // a refusal may have closed it
      if (s == nullptr) return 0;
    }
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    if (s->streaming) {
      s->cell->body->end();
    } else if (!s->started) {
      h.start_stream(*s, false);
    }
    return 0;
  }

  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                        std::size_t len, void* u) {
    H2Session& h = of(u);
    H2Session::Stream* s = h.find(id);
    if (s == nullptr || s->discarding || (s->started && !s->streaming)) {
      h.consumed_.emplace_back(s != nullptr ? id : 0, len);  // dropped: the window reopens
      return 0;
    }
    s->body_bytes += len;
    if (s->body_bytes > s->body_cap) {  // past the route's limit (no Content-Length said so)
      h.consumed_.emplace_back(id, len);
      s->discarding = true;
      if (s->streaming) {
        s->cell->body->end(std::make_error_code(std::errc::message_size));
      } else {
        std::string().swap(s->cell->req.body);
        h.submit_refusal(*s, status::content_too_large);
      }
      return 0;
    }
    const std::string_view bytes(reinterpret_cast<const char*>(data), len);
    if (s->streaming) {  // the window reopens as the handler reads (H2Event::Kind::read)
      s->cell->body->push(bytes);
      return 0;
    }
    s->cell->req.body.append(bytes);
    h.consumed_.emplace_back(id, len);
    // Past the buffered size: the handler starts and reads the rest.
    if (s->cell->req.body.size() > h.st_.options.limits.buffered_body_bytes)
      h.start_stream(*s, true);
    return 0;
  }

  static int stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* u) {
    of(u).forget(id);
    return 0;
  }

  static int frame_send(nghttp2_session* ng, const nghttp2_frame* f, void* u) {
    // An answer sent whole before its request's body ended (a refusal, a
    // handler that did not read it all): the rest of the body is not
    // wanted (RFC 9113 8.1).
    (void)u;
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    if (nghttp2_session_get_stream_remote_close(ng, f->hd.stream_id) == 0) {
      (void)nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* src, void* u) {
    H2Session& h = of(u);
    auto& s = *static_cast<H2Session::Stream*>(src->ptr);
    const std::size_t n = std::min(length, s.body.size() - s.sent);
    if (n > 0) std::memcpy(buf, s.body.data() + s.sent, n);
    s.sent += n;
    s.progressed = true;  // a stall is counted from here (expire)
    if (s.sent < s.body.size()) return static_cast<ssize_t>(n);
    (void)h;
    if (!s.streamed || s.ended) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      s.deadline = Instant::max();
      return static_cast<ssize_t>(n);
    }
    // A piece handed over whole: the task makes the next.
    if (!s.body.empty()) {
      s.body.clear();
      s.sent = 0;
      s.cell->sent.notify_one();
    }
    if (n > 0) return static_cast<ssize_t>(n);
    s.waiting = true;
    s.deadline = Instant::max();  // the producer's time, not the peer's
    return NGHTTP2_ERR_DEFERRED;
  }
};

H2Session::H2Session(State& st, std::shared_ptr<H2Inbox> inbox)
    : st_(st),
      inbox_(std::move(inbox)),
      fields_(std::make_unique<Fields>()),
      now_(Clock::now()),
      idle_deadline_(after_io()) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_option* opt = nullptr;
  if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cb);
    throw std::bad_alloc();
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &H2Callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback2(cb, &H2Callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &H2Callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &H2Callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &H2Callbacks::stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, &H2Callbacks::frame_send);
  const Http2Limits& l = st.options.http2;
  nghttp2_option_set_stream_reset_rate_limit(opt, l.reset_burst, l.resets_per_second);
  // Windows reopen as bodies are used (consumed_, H2Event::Kind::read),
  // not as bytes arrive: a streamed body's backpressure.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  const int rc = nghttp2_session_server_new2(&ng_, cb, this, opt);
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  if (rc != 0) throw std::bad_alloc();
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, l.stream_window_bytes},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(std::min<std::size_t>(
                                                  st.options.limits.max_header_bytes, UINT32_MAX))},
  };
  (void)nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  const auto conn_window = static_cast<std::int32_t>(
      std::min<std::uint32_t>(l.connection_window_bytes, NGHTTP2_MAX_WINDOW_SIZE));
  (void)nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, conn_window);
}

void H2Session::hold(nghttp2_rcbuf* name, nghttp2_rcbuf* value) {
  if (name != nullptr) nghttp2_rcbuf_incref(name);
  nghttp2_rcbuf_incref(value);
  held_.emplace_back(name, value);
}

void H2Session::release_held() noexcept {
  for (const auto& [name, value] : held_) {
    if (name != nullptr) nghttp2_rcbuf_decref(name);
    nghttp2_rcbuf_decref(value);
  }
  held_.clear();
}

void H2Session::fields_done(Stream& s) {
  Headers& hs = s.cell->req.headers;
  // A started stream's request is its task's: trailers after a streamed
  // body are dropped.
  if (s.refused == 0 && !s.started && !held_.empty()) {
    hs.reserve(hs.size() + held_.size());  // one allocation of the size the block needs
    const nghttp2_rcbuf* authority = nullptr;
    bool host = false;
    for (const auto& [name, value] : held_) {
      if (name == nullptr) {
        authority = value;
        continue;
      }
      const std::string_view n = view(name), v = view(value);
      host = host || n == "host";
      // RFC 9113 8.2.3: the cookie crumbs one field again for an HTTP/1.1 reader.
      if (n == "cookie" && hs.contains("cookie")) {
        std::string joined(*hs.get("cookie"));
        joined += "; ";
        joined += v;
        hs.set("cookie", joined);
        continue;
      }
      hs.add(n, v);
    }
    if (authority != nullptr && !host) {
      hs.add("host", view(const_cast<nghttp2_rcbuf*>(authority)));
    }
  }
  release_held();
}

H2Session::~H2Session() {
  release_held();
  // Every stream's task cancelled: its answer has nowhere to go.
  for (auto& s : live_) {
    if (s->task) s->task->cancel();
  }
  nghttp2_session_del(ng_);
}

void H2Session::give_back_windows() {
  for (const auto& [id, bytes] : consumed_) {
    if (id == 0 || nghttp2_session_consume(ng_, id, bytes) != 0) {
      (void)nghttp2_session_consume_connection(ng_, bytes);
    }
  }
  consumed_.clear();
}

H2Session::Stream* H2Session::find(std::int32_t id) noexcept {
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(ng_, id));
}

void H2Session::open_stream(std::int32_t id) {
  std::unique_ptr<Stream> s;
  if (spare_.empty()) {
    s = std::make_unique<Stream>();
  } else {
    s = std::move(spare_.back());
    spare_.pop_back();
  }
  s->id = id;
  // The request is gathered in the cell the stream's task will share.
  s->cell = std::make_shared<H2StreamCell>();
  s->cell->inbox = inbox_;
  s->cell->id = id;
  s->cell->req.version = 20;
  s->cell->req.method_name.clear();
  s->cell->req.target.clear();
  s->slot = static_cast<std::uint32_t>(live_.size());
  (void)nghttp2_session_set_stream_user_data(ng_, id, s.get());
  live_.push_back(std::move(s));
}

Instant H2Session::after_io() const noexcept {
  return saturating_add(now_, st_.options.limits.io_timeout);
}

bool H2Session::feed(std::span<const std::byte> in) {
  const auto n =
      nghttp2_session_mem_recv(ng_, reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
  give_back_windows();
  if (n >= 0) return !failed_;
  // A fatal error: the peer is told why (nghttp2 queued no GOAWAY for
  // some, a CONTINUATION flood among them; a second one is not sent).
  const bool flood = n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
  (void)nghttp2_session_terminate_session(
      ng_, flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
  return false;
}

void H2Session::headers_done(Stream& s) {
  s.begun = now_;
  if (s.refused != 0) {
    submit_refusal(s, s.refused);
    return;
  }
  s.method = s.cell->req.method;
  const Router::Match m = st_.routes.match(s.cell->req);
  if (m.handler == nullptr) {
    submit_refusal(s, m.status, m.allow);
    return;
  }
  s.handler = m.handler;
  s.body_cap = m.handler->limits().max_body_bytes.value_or(st_.options.limits.max_body_bytes);
  // A Content-Length past the limit is refused before any handler runs;
  // one past the buffered size starts the handler now, its body streamed.
  std::size_t length = 0;
  const auto cl = s.cell->req.headers.get("content-length");
  if (!cl || std::from_chars(cl->data(), cl->data() + cl->size(), length).ec != std::errc()) return;
  if (length > s.body_cap) {
    submit_refusal(s, status::content_too_large);
  } else if (length > st_.options.limits.buffered_body_bytes) {
    start_stream(s, true);
  }
}

void H2Session::start_stream(Stream& s, bool streamed) {
  s.started = true;
  if (s.answered) {  // refused at its head: the whole request came, nothing to discard
    s.discarding = false;
    return;
  }
  ++begun_;
  const std::size_t cap = st_.options.max_requests_per_connection;
  if (cap != 0 && begun_ >= cap && !draining_) drain();
  const Handler& h = *s.handler;
  if (h.limits().deadline.count() > 0) s.deadline = saturating_add(s.begun, h.limits().deadline);
  if (streamed) {  // what arrived so far is the body's first bytes
    s.streaming = true;
    s.cell->body = std::make_unique<H2BodyPump>(*s.cell);
    s.cell->body->push(s.cell->req.body);
    std::string().swap(s.cell->req.body);
    s.cell->req.body_stream = s.cell->body.get();
  }
  try {
    if (h.is_coroutine()) {
      s.task.emplace(duet::spawn(coroutine_stream(s.cell, &h.coroutine())));
    } else {
      s.task.emplace(duet::spawn(duet::stackful, [cell = s.cell, f = &h.fiber()] {
        std::optional<Response> res;
        const Failure failure = invoke_plain(*f, cell->req, res);
        duet::wait(deliver(cell, std::move(res), failure));
      }));
    }
  } catch (const SpawnRefused&) {
    // The runtime shuts down: no task for the request.
    submit_refusal(s, status::service_unavailable);
  }
}

void H2Session::take_events() {
  {
    std::lock_guard lk(inbox_->mu);
    taken_.swap(inbox_->events);
  }
  for (H2Event& e : taken_) {
    Stream* s = find(e.id);
    if (e.kind == H2Event::Kind::read) {  // the handler took bytes: the window reopens
      consumed_.emplace_back(s != nullptr ? e.id : 0, e.bytes);
      continue;
    }
    if (s == nullptr || !s->task) continue;  // reset, or past its deadline
    switch (e.kind) {
      case H2Event::Kind::answer:
        if (!s->answered) submit_answer(*s, std::move(e.res), e.failure);
        break;
      case H2Event::Kind::piece:
        s->body = std::move(e.piece);
        s->sent = 0;
        s->deadline = after_io();
        break;
      case H2Event::Kind::end:
        s->ended = true;
        break;
      case H2Event::Kind::failed:  // the source failed mid-body: the peer sees it cut
        (void)nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        continue;
      case H2Event::Kind::read:
        continue;
    }
    if (s->waiting && (e.kind == H2Event::Kind::piece || e.kind == H2Event::Kind::end)) {
      s->waiting = false;
      (void)nghttp2_session_resume_data(ng_, s->id);
    }
  }
  taken_.clear();
  give_back_windows();
}

void H2Session::submit_answer(Stream& s, std::optional<Response>&& res, Failure failure) {
  if (!res) {
    res.emplace(failure == Failure::cancelled ? Response::text(503, "Service Unavailable\n")
                                              : handler_failed());
  }
  submit(s, std::move(*res), s.cell->req);  // the task is done with it
}

void H2Session::submit_refusal(Stream& s, int status, std::string_view allow) {
  submit(s, refusal(status, allow), s.cell->req);  // no task holds it
  if (!s.started) s.discarding = true;             // its body, still coming, is not read
}

void H2Session::submit(Stream& s, Response&& res, const Request& seen) {
  s.answered = true;
  s.head_only = bodiless(res.status) || s.method == Method::head;
  s.streamed = static_cast<bool>(res.source);
  std::optional<std::size_t> length =
      res.source ? res.source->length : std::optional<std::size_t>(res.body.size());
  // The fields: :status, the server's own, the handler's (names lower-case,
  // as HTTP/2 requires; HTTP/1.1's connection fields dropped).
  char status_text[4];
  const auto st_end = std::to_chars(status_text, status_text + 4, res.status).ptr;
  char length_text[24];
  const char* length_end = length_text;
  if (length && !bodiless(res.status))
    length_end = std::to_chars(length_text, length_text + 24, *length).ptr;
  // Every lower-cased name into one buffer, its room taken first (the
  // fields point into it until nghttp2 copies them at the submit).
  std::size_t name_bytes = 0;
  for (const Headers::Field& f : res.headers) name_bytes += f.name.size();
  std::string& lower = fields_->lower;
  std::vector<nghttp2_nv>& nv = fields_->nv;
  lower.clear();
  lower.reserve(name_bytes);
  nv.clear();
  auto add = [&nv](std::string_view n, std::string_view v) {
    nv.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                            reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                            v.size(), NGHTTP2_NV_FLAG_NONE});
  };
  add(":status", std::string_view(status_text, st_end - status_text));
  add("server", "duet");
  add("date", date_now());
  if (length_end != length_text)
    add("content-length", std::string_view(length_text, length_end - length_text));
  for (const Headers::Field& f : res.headers) {
    if (!kept_response_field(f) || connection_specific(f.name)) continue;
    const std::size_t at = lower.size();
    for (const char c : f.name) {
      lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    add(std::string_view(lower).substr(at), f.value);
  }
  std::size_t bytes = res.source ? length.value_or(0) : res.body.size();
  if (s.head_only) bytes = 0;
  answered(st_, seen, res.status, bytes, s.begun);
  nghttp2_data_provider body{};
  body.source.ptr = &s;
  body.read_callback = &H2Callbacks::read_body;
  const bool sends_body = !s.head_only && (s.streamed || !res.body.empty());
  if (sends_body && !s.streamed) s.body = std::move(res.body);
  s.deadline = sends_body ? after_io() : Instant::max();
  if (nghttp2_submit_response(ng_, s.id, nv.data(), nv.size(), sends_body ? &body : nullptr) != 0) {
    (void)nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
  }
}

void H2Session::forget(std::int32_t id) noexcept {
  Stream* found = find(id);
  if (found == nullptr) return;
  Stream& s = *found;
  (void)nghttp2_session_set_stream_user_data(ng_, id, nullptr);
  // A task whose answer did not come, or whose body is still coming, is
  // not wanted any more (the peer reset it, or the connection ends).
  if (s.task && (!s.answered || (s.streamed && !s.ended))) s.task->cancel();
  if (s.cell) {
    s.cell->sent.notify_one();
    if (s.streaming) {
      // Unread bytes give their room in the connection's window back; a
      // read still to come gets the reset.
      consumed_.emplace_back(0, s.cell->body->unread());
      s.cell->body->end(std::make_error_code(std::errc::connection_reset));
    }
  }
  // Out of live_ (the last one takes its place), into the spares.
  std::unique_ptr<Stream> mine = std::move(live_[s.slot]);
  if (s.slot + 1 != live_.size()) {
    live_[s.slot] = std::move(live_.back());
    live_[s.slot]->slot = s.slot;
  }
  live_.pop_back();
  if (spare_.size() < kSpareStreams) {
    mine->recycle();
    spare_.push_back(std::move(mine));
  }
  if (live_.empty()) idle_deadline_ = after_io();
}

bool H2Session::produce(std::string& out, std::size_t cap) {
  return send_into(ng_, out, cap) && !failed_;
}

bool H2Session::over() const noexcept {
  if (draining_ && live_.empty() && nghttp2_session_want_write(ng_) == 0) return true;
  return nghttp2_session_want_read(ng_) == 0 && nghttp2_session_want_write(ng_) == 0;
}

void H2Session::drain() {
  if (draining_) return;
  draining_ = true;
  (void)nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                              NGHTTP2_NO_ERROR, nullptr, 0);
}

Instant H2Session::next_deadline() const noexcept {
  if (live_.empty()) return idle_deadline_;
  Instant d = Instant::max();
  for (const auto& s : live_) d = std::min(d, s->deadline);
  return d;
}

bool H2Session::expire(Instant now) {
  now_ = now;
  if (live_.empty()) {
    if (now < idle_deadline_) return true;
    (void)nghttp2_session_terminate_session(ng_, NGHTTP2_NO_ERROR);
    return false;
  }
  std::vector<std::int32_t> late;
  for (const auto& s : live_) {
    if (s->deadline > now) continue;
    if (s->progressed) {  // DATA went out since: the stall is counted from now
      s->progressed = false;
      s->deadline = after_io();
      continue;
    }
    late.push_back(s->id);
  }
  for (const std::int32_t id : late) {
    Stream* s = find(id);
    if (s == nullptr) continue;
    s->deadline = Instant::max();
    if (!s->answered && s->task) {  // the route's deadline: the handler cancelled, 503
      s->task->cancel();
      s->task.reset();
      submit(*s, Response::text(503, "Service Unavailable\n"), kNoRequest);  // its task may hold it
    } else {  // an answer the peer's window kept in: given up
      (void)nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
  }
  return true;
}

void H2Session::touched(Instant now) noexcept {
  now_ = now;
  if (live_.empty()) idle_deadline_ = after_io();
}

}  // namespace duet::http::detail
