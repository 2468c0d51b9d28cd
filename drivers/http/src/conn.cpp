// conn.cpp: the connection machine (conn.hpp): decoding, routing, the
// handler's turn, the answer, and the next step, with each report checked
// against the step it answers.
#include "conn.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "body_pump.hpp"
#include "duet/outcome.hpp"
#include "duet/stackful.hpp"
#include "duet/time/sleep.hpp"
#include "h2_session.hpp"

namespace duet::http::detail {

/// What a request in progress holds, one block from its first byte until
/// the connection is idle again; then the thread's spares keep it, cleared
/// (SpareBusy).
struct Conn::Busy {
  explicit Busy(const Limits& l) : dec(l), limits(l) {}
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;
  ~Busy() {
    // A connection that ends with a plain handler still running: its
    // answer has nowhere to go.
    if (fiber) fiber->cancel();
  }

  RequestDecoder dec;
  std::string out;                      // answers not yet written, in order
  std::unique_ptr<char[]> buf;          // the read buffer, taken past first_bytes_
  std::uint32_t cap = 0;                // buf's size
  bool closing = false;                 // close once out is written
  bool streamed = false;                // req's body is streamed, by `pump`
  bool broken = false;                  // a write failed during the handler's turn
  std::size_t written = 0;              // of out, by wrote()
  Instant started{};                    // the request's head was complete
  std::unique_ptr<Pump> pump;           // made for the first streamed body
  Request req;                          // the request being handled
  const FiberHandler* plain = nullptr;  // Next::call's handler
  BodyToWrite body;                     // a response body from its source
  // The handler in progress, at most one (after req: a Task refers to it).
  std::optional<Task<Response>> task;
  std::optional<JoinHandle<FiberAnswer>> fiber;
  // The route's deadline (RouteLimits::deadline), while its handler runs.
  std::optional<Sleep> timer;

  /// Whether the block was made for these limits (a spare is taken only
  /// by a server that decodes with the same).
  [[nodiscard]] bool decodes_with(const Limits& l) const noexcept {
    return limits.max_header_bytes == l.max_header_bytes &&
           limits.max_body_bytes == l.max_body_bytes &&
           limits.buffered_body_bytes == l.buffered_body_bytes;
  }
  /// Whether the block holds nothing of a request any more: between
  /// requests, every turn over, every byte written, nothing to close.
  [[nodiscard]] bool spent() const noexcept {
    return !closing && !broken && !streamed && !task && !fiber && !timer && plain == nullptr &&
           !body.source && out.empty() && dec.idle() && dec.error_status() == 0 && !dec.closing();
  }
  /// Drops what the last request left, keeping the room that the
  /// decoder, the request (given back to the decoder) and the answer's
  /// buffer grew to. Only a spent() block.
  void clear() noexcept {
    // The answer's room is kept up to what a buffered body may be, as the
    // request's is (RequestDecoder::reuse): a large answer's is freed.
    if (out.capacity() > limits.buffered_body_bytes) std::string().swap(out);
    written = 0;
    buf.reset();
    cap = 0;
    started = {};
    pump.reset();  // bound to its connection
    body = {};
    dec.reuse(std::move(req));
    req.source.reset();
    req.body_stream = nullptr;
    req.params.clear();
  }
  /// The heap bytes the block holds at most: itself, its answer's room and
  /// its decoder's (RequestDecoder::room).
  [[nodiscard]] std::size_t room() const noexcept {
    return sizeof(Busy) + out.capacity() + dec.room();
  }

  Limits limits;  // the decoder's
};

/// A thread's spare Busy blocks: a connection that goes idle leaves its
/// block here (leave_busy), cleared but with its room, and the next
/// request on the thread takes one (take_busy), so that a keep-alive
/// request allocates nothing once the thread is warm. What an idle server
/// keeps besides its connections is bounded twice (Conn::kSpareBlocks,
/// kSpareBytes; a block's Busy::room is counted when it is left). The
/// count is sized for a tick that answers many connections at once (on
/// io_uring a connection keeps its block until its write completes, so a
/// tick's connections go idle together before the next requests take
/// blocks), the bytes so that blocks grown by large requests or answers
/// are not kept by the dozen: performance log, "The spare request blocks
/// bounded in bytes".
struct Conn::SpareBusy {
  std::array<std::unique_ptr<Busy>, kSpareBlocks> blocks;
  std::array<std::size_t, kSpareBlocks> rooms{};  // each block's room when left
  std::size_t count = 0;
  std::size_t bytes = 0;  // the sum of rooms[0, count)

  static SpareBusy& here() noexcept {
    thread_local SpareBusy spare;
    return spare;
  }
};

Conn::Spares Conn::spares() noexcept {
  const SpareBusy& s = SpareBusy::here();
  return {s.count, s.bytes};
}

std::unique_ptr<Conn::Busy> Conn::take_busy() {
  const Limits& l = state().decoder_limits;
  SpareBusy& s = SpareBusy::here();
  for (std::size_t i = s.count; i-- > 0;) {
    if (!s.blocks[i]->decodes_with(l)) continue;
    std::unique_ptr<Busy> b = std::move(s.blocks[i]);
    s.bytes -= s.rooms[i];
    s.blocks[i] = std::move(s.blocks[--s.count]);
    s.rooms[i] = s.rooms[s.count];
    return b;
  }
  return std::make_unique<Busy>(l);
}

void Conn::leave_busy() noexcept {
  std::unique_ptr<Busy> b = std::move(busy_);
  SpareBusy& s = SpareBusy::here();
  if (!b->spent() || s.count == kSpareBlocks) return;  // freed
  b->clear();
  const std::size_t room = b->room();
  if (room > kSpareBytes - s.bytes) return;  // freed: past the bytes' bound
  s.bytes += room;
  s.rooms[s.count] = room;
  s.blocks[s.count++] = std::move(b);
}

/// A streamed body's source over the connection's input (body_pump.hpp):
/// the handler reads through it while the engine waits for the turn (and
/// does no I/O: writes_while_pending() is false for a streamed body). A
/// plain handler runs it on its fiber, on any worker, while the engine's
/// poll may run on another: until the turn ends, the machine reads nothing
/// the pump writes (pos_, end_, firstate(), and the Busy's buf, cap and out),
/// only `streamed` and the handler's future.
class Conn::Pump final : public DecoderPump {
 public:
  Pump(Conn& c, StreamRef io) noexcept : c_(c), io_(io) {}

 private:
  std::span<const std::byte> input() noexcept override {
    return std::as_bytes(std::span(c_.input() + c_.pos_, c_.end_ - c_.pos_));
  }
  void consume(std::size_t n) noexcept override { c_.pos_ += static_cast<std::uint16_t>(n); }
  Task<duet::Result<std::size_t>> fill() override {
    Conn& c = c_;
    Busy& b = *c.busy_;
    if (b.cap < kReadBuffer) {
      b.buf = std::make_unique_for_overwrite<char[]>(kReadBuffer);
      b.cap = kReadBuffer;
    }
    c.first_ = false;
    c.pos_ = c.end_ = 0;
    const Instant deadline = deadline_after(c.state().options.limits.io_timeout);
    duet::Result<std::size_t> r = co_await io_.ops->read(
        io_.stream, std::as_writable_bytes(std::span(b.buf.get(), b.cap)), deadline);
    if (r) c.end_ = static_cast<std::uint16_t>(*r);  // at most kReadBuffer
    co_return r;
  }
  Task<bool> send_continue() override {
    Busy& b = *c_.busy_;
    b.out += continue_response();
    const Instant deadline = deadline_after(c_.state().options.limits.io_timeout);
    const bool ok = co_await io_.ops->write(io_.stream, std::as_bytes(std::span(b.out)), deadline);
    b.out.clear();
    co_return ok;
  }

  Conn& c_;
  StreamRef io_;
};

namespace {

/// A report that does not answer the step in progress: the engine broke
/// the protocol (conn.hpp). Aborts in a checked build, naming it.
bool out_of_turn(bool ok, const char* report) noexcept {
  if (ok) return false;
  if constexpr (DUET_CHECK_TRANSITIONS != 0) {
    std::fprintf(stderr, "duet::http: Conn::%s out of its step\n", report);
    std::abort();
  }
  return true;
}

/// Whether `req`'s body is past `cap`: its length, or the bytes it holds
/// (a streamed body's length is its Content-Length; a chunked one is
/// checked as it arrives, RequestDecoder::limit_body).
bool body_over(const Request& req, bool streamed, std::size_t cap) noexcept {
  if (!streamed) return req.body.size() > cap;
  const auto length = req.headers.get("Content-Length");
  if (!length) return false;
  std::size_t n = 0;
  const auto [ptr, ec] = std::from_chars(length->data(), length->data() + length->size(), n);
  return ec != std::errc() || n > cap;
}

Response cancelled_answer() {
  return Response::text(503, "Service Unavailable\n");
}

}  // namespace

Conn::Conn(OpenSlot slot, bool lingers, Plain plain) noexcept
    : slot_(std::move(slot)), in_place_(plain == Plain::in_place), lingers_(lingers) {}

Conn::~Conn() = default;

Conn::Conn(Conn&& o) noexcept = default;

Next Conn::next(StreamRef io) {
  while (phase_ == Phase::parse) parse(io);
  switch (phase_) {
    case Phase::read:
      return Next::read;
    case Phase::write:
      return Next::write;
    case Phase::handle:
      return Next::handle;
    case Phase::call:
      return Next::call;
    case Phase::write_body:
      return Next::write_body;
    case Phase::shutdown:
      return Next::shutdown;
    case Phase::h2:
      return Next::h2;
    case Phase::parse:
    case Phase::done:
      break;
  }
  return Next::close;
}

bool Conn::parse(StreamRef io) {
  // A connection whose first read holds the HTTP/2 preface is HTTP/2's
  // from here (into_h2); a preface split across reads is answered as
  // HTTP/1.1 answers it (505: its version).
  if (served_ == 0 && first_ && pos_ == 0 && end_ >= kH2Preface.size() &&
      std::string_view(input(), kH2Preface.size()) == kH2Preface && state().options.http2.enabled) {
    phase_ = Phase::h2;
    return true;
  }
  while (pos_ < end_) {
    if (!busy_) busy_ = take_busy();
    Busy& b = *busy_;
    if (b.closing) {  // the rest is not read: the connection closes
      pos_ = end_;
      break;
    }
    const auto step = b.dec.feed(std::string_view(input() + pos_, end_ - pos_));
    pos_ += static_cast<std::uint16_t>(step.consumed);
    switch (step.event) {
      case RequestDecoder::Event::need_more:
        pos_ = end_;  // every byte was used (or none more will be: a switch)
        break;
      case RequestDecoder::Event::continue_100:
        b.out += continue_response();
        break;
      case RequestDecoder::Event::error:
        answer_error(state(), b.dec.error_status(), b.out, true);
        b.closing = true;
        break;
      case RequestDecoder::Event::request:
      case RequestDecoder::Event::head:  // its body streamed: the pump's
        if (start_request(step.event == RequestDecoder::Event::head, io)) return true;
        break;
      case RequestDecoder::Event::body:  // the pump's, never here
      case RequestDecoder::Event::body_end:
        break;
    }
    if (b.out.size() >= kFlushAt) {
      start_write();
      return true;
    }
  }
  if (busy_ && !busy_->out.empty()) {
    start_write();
  } else if (busy_ && busy_->closing) {
    close();
  } else {
    start_read();
  }
  return true;
}

void Conn::start_read() noexcept {
  const bool idle = !busy_ || busy_->dec.idle();
  // Between requests during a drain: close at once (no answer is owed).
  if (idle && state().shutdown.is_cancelled()) {
    phase_ = Phase::done;
    return;
  }
  if (idle || busy_->dec.in_body()) arm();
  // No input is left. Between requests: give the request's block back and
  // wait in first_bytes_; within a request: the read buffer.
  first_ = idle;
  if (first_) {
    if (busy_) leave_busy();
  } else if (const std::uint32_t want = large_ ? kReadBuffer : kReadBufferSmall;
             busy_->cap < want) {
    busy_->buf = std::make_unique_for_overwrite<char[]>(want);
    busy_->cap = want;
  }
  pos_ = end_ = 0;
  phase_ = Phase::read;
}

std::span<std::byte> Conn::read_into() noexcept {
  if (first_ || !busy_ || !busy_->buf) return std::as_writable_bytes(std::span(first_bytes_));
  return std::as_writable_bytes(std::span(busy_->buf.get(), busy_->cap));
}

void Conn::read_done(const duet::Result<std::size_t>& r) noexcept {
  if (out_of_turn(phase_ == Phase::read, "read_done")) return;
  if (!r || *r == 0) {  // the peer's end, an error, or the deadline
    phase_ = Phase::done;
    return;
  }
  if (lingering_) {  // dropped; read on until the end or the deadline
    pos_ = end_ = 0;
    return;
  }
  // A read that filled the read buffer: the large one from the next on.
  if (!first_ && *r == busy_->cap) large_ = true;
  pos_ = 0;
  end_ = static_cast<std::uint16_t>(*r);  // at most the buffer's size
  phase_ = Phase::parse;
}

void Conn::drained() noexcept {
  if (out_of_turn(idle(), "drained")) return;
  phase_ = Phase::done;
}

const char* Conn::input() const noexcept {
  return first_ ? first_bytes_ : busy_->buf.get();
}

void Conn::start_write() noexcept {
  arm();
  phase_ = Phase::write;
}

std::span<const std::byte> Conn::output() const noexcept {
  return std::as_bytes(std::span(busy_->out)).subspan(busy_->written);
}

void Conn::wrote(std::size_t n) noexcept {
  if (out_of_turn(phase_ == Phase::write, "wrote")) return;
  busy_->written += n;
  if (busy_->written < busy_->out.size()) {
    arm();  // progress: the rest gets a deadline of its own
    return;
  }
  written(true);
}

void Conn::written(bool ok) noexcept {
  if (out_of_turn(phase_ == Phase::write || phase_ == Phase::handle || phase_ == Phase::call,
                  "written")) {
    return;
  }
  busy_->out.clear();
  busy_->written = 0;
  if (phase_ != Phase::write) {
    if (!ok) busy_->broken = true;  // no answer goes out after it: close at the turn's end
    return;
  }
  phase_ = ok ? Phase::parse : Phase::done;
}

Task<bool> Conn::write_pending(StreamRef io) {
  arm();
  return io.ops->write(io.stream, output(), deadline_);
}

bool Conn::writes_while_pending() const noexcept {
  // `streamed` first: while the pump owns the stream a plain handler's
  // fiber may be writing a 100 Continue into `out` on another worker, so
  // `out` is not read at all.
  const Busy& b = *busy_;
  return !b.streamed && !b.broken && !b.out.empty();
}

std::string& Conn::out() noexcept {
  return busy_->out;
}

const BodyToWrite& Conn::body() const noexcept {
  return busy_->body;
}

std::chrono::milliseconds Conn::write_timeout() const noexcept {
  return state().options.limits.io_timeout;
}

void Conn::body_written(bool ok) noexcept {
  if (out_of_turn(phase_ == Phase::write_body, "body_written")) return;
  if (!ok) busy_->closing = true;  // the body cut short
  busy_->body = {};
  phase_ = Phase::parse;
}

void Conn::close() noexcept {
  phase_ = lingers_ ? Phase::shutdown : Phase::done;
}

void Conn::shut() noexcept {
  if (out_of_turn(phase_ == Phase::shutdown, "shut")) return;
  lingering_ = true;
  first_ = false;
  pos_ = end_ = 0;
  arm();
  phase_ = Phase::read;
}

H2Start Conn::into_h2() && noexcept {
  std::string in(input() + pos_, end_ - pos_);
  pos_ = end_ = 0;
  phase_ = Phase::done;
  return H2Start{std::move(slot_), std::move(in)};
}

void Conn::arm() noexcept {
  deadline_ = deadline_after(state().options.limits.io_timeout);
}

bool Conn::start_request(bool streamed, StreamRef io) {
  Busy& b = *busy_;
  b.req = b.dec.take();
  b.started = Clock::now();
  b.streamed = streamed;
  if (streamed) {
    if (!b.pump) b.pump = std::make_unique<Pump>(*this, io);
    b.pump->open(b.dec);
    b.req.body_stream = b.pump.get();
  }
  ++served_;
  const Router::Match m = state().routes.match(b.req);
  if (m.handler == nullptr) {
    const bool close = closes_after();
    answer_error(state(), b.req, m.status, b.out, close, m.allow, b.started);
    b.closing = close;
    return false;
  }
  // The route's body limit (or the server's: the decoder admits up to the
  // largest route's). Past it: 413 and close, as the decoder's own.
  const std::size_t cap =
      m.handler->limits().max_body_bytes.value_or(state().options.limits.max_body_bytes);
  if (body_over(b.req, streamed, cap)) {
    (void)closes_after();  // ends a streamed body's turn
    answer_error(state(), b.req, status::content_too_large, b.out, true, {}, b.started);
    b.closing = true;
    return false;
  }
  if (streamed) b.dec.limit_body(cap);  // a chunked body that runs past it
  start_handler(*m.handler);
  return phase_ != Phase::parse;
}

void Conn::start_handler(const Handler& h) {
  Busy& b = *busy_;
  const bool timed = h.limits().deadline.count() > 0;
  if (timed) b.timer.emplace(b.started + h.limits().deadline);
  if (h.is_coroutine()) {
    try {
      b.task.emplace(h.coroutine()(b.req));
    } catch (...) {
      finish_turn(std::optional<Response>(),
                  Failure::threw);  // it threw before its coroutine began
      return;
    }
    phase_ = Phase::handle;
    return;
  }
  const FiberHandler* f = &h.fiber();
  // On the connection's own fiber: the engine writes what waits when the
  // handler first waits (Next::call). A handler with a deadline is spawned
  // instead, so that the turn (Conn::Turn) can cancel it.
  if (in_place_ && !timed) {
    b.plain = f;
    phase_ = Phase::call;
    return;
  }
  try {
    b.fiber.emplace(duet::spawn(duet::stackful, [f, req = std::move(b.req)]() mutable {
      return run_plain(*f, std::move(req));
    }));
  } catch (...) {
    // No fiber for it (the runtime shuts down), the request gone with the
    // refused closure: 503 in the fixed form, and close.
    if (b.streamed) (void)end_turn(*b.pump, true);
    b.streamed = false;
    b.timer.reset();
    answer_error(state(), 503, b.out, true);
    b.closing = true;
    return;
  }
  phase_ = Phase::handle;
}

Poll<void> Conn::poll_handler(Context& cx) {
  Busy& b = *busy_;
  // The route's deadline: a coroutine handler is dropped (its frame, and a
  // body read inside it, destroyed now); a fiber is cancelled, and polled
  // on until it has unwound (it owns the request until then).
  if (b.timer && b.timer->poll(cx).is_ready()) {
    b.timer.reset();
    if (b.task) {
      b.task.reset();
      finish_turn(std::optional<Response>(), Failure::cancelled);
      return ready();
    }
    if (b.fiber) b.fiber->cancel();
  }
  if (b.task) {
    std::optional<Response> res;
    Failure failure = Failure::none;
    try {
      auto p = b.task->poll(cx);
      if (p.is_pending()) return pending;
      res.emplace(std::move(p).value());
    } catch (const Cancelled&) {
      failure = Failure::cancelled;
    } catch (...) {
      failure = Failure::threw;
    }
    b.task.reset();
    finish_turn(std::move(res), failure);
    return ready();
  }
  FiberAnswer a;
  bool lost = false;  // the fiber was cancelled from outside: the request went with it
  try {
    auto p = b.fiber->poll(cx);
    if (p.is_pending()) return pending;
    a = std::move(p).value();
  } catch (...) {
    lost = true;
  }
  b.fiber.reset();
  if (lost) {
    b.timer.reset();
    if (b.streamed) (void)end_turn(*b.pump, true);
    b.streamed = false;
    if (b.broken) {
      phase_ = Phase::done;
      return ready();
    }
    answer_error(state(), 503, b.out, true);
    b.closing = true;
    phase_ = Phase::parse;
    return ready();
  }
  b.req = std::move(a.req);
  finish_turn(std::move(a.res), a.failure);
  return ready();
}

void Conn::call_plain() {
  if (out_of_turn(phase_ == Phase::call, "call_plain")) return;
  Busy& b = *busy_;
  std::optional<Response> res;
  Failure failure = Failure::none;
  try {
    res.emplace((*b.plain)(b.req));
  } catch (const duet::detail::FiberUnwind&) {
    if (b.streamed) b.pump->close();
    throw;  // the runtime unwinds this fiber: nothing more is written
  } catch (const Cancelled&) {
    failure = Failure::cancelled;
  } catch (...) {
    failure = Failure::threw;
  }
  b.plain = nullptr;
  finish_turn(std::move(res), failure);
}

void Conn::finish_turn(std::optional<Response>&& res, Failure failure) {
  Busy& b = *busy_;
  b.timer.reset();
  bool close = closes_after();  // ends a streamed body's turn too
  if (b.broken) {               // a write failed while the handler ran: nothing more goes out
    phase_ = Phase::done;
    return;
  }
  if (failure == Failure::cancelled) close = true;
  if (!res) res.emplace(failure == Failure::cancelled ? cancelled_answer() : handler_failed());
  b.body = body_to_write(b.req, *res, close);
  answer(state(), b.req, std::move(*res), b.out, close, b.started);
  b.closing = close;
  phase_ = b.body.source ? Phase::write_body : Phase::parse;
}

bool Conn::closes_after() noexcept {
  Busy& b = *busy_;
  const bool unread = b.streamed && end_turn(*b.pump, true);
  b.streamed = false;
  return unread || detail::closes_after(state(), b.req, served_, b.dec);
}

Poll<void> Conn::Turn::poll(Context& cx) {
  for (;;) {
    // A write in flight first: the handler's answer is appended to the
    // output it writes only after it.
    if (write_) {
      auto p = write_->poll(cx);
      if (p.is_pending()) return pending;
      write_.reset();
      m_.written(std::move(p).value());
    }
    if (!done_ && m_.poll_handler(cx).is_ready()) done_ = true;
    if (done_) return ready();
    if (!m_.writes_while_pending()) return pending;
    // A fiber spawned for the handler has not run yet at the turn's first
    // poll: give it a turn first (the connection's task goes to the back
    // of the queue), so that a handler that does not wait costs no write.
    if (!yielded_ && m_.busy_->fiber) {
      yielded_ = true;
      cx.waker().wake_by_ref();
      return pending;
    }
    write_.emplace(m_.write_pending(io_));
  }
}

Failure invoke_plain(const FiberHandler& h, Request& req, std::optional<Response>& res) {
  try {
    res.emplace(h(req));
  } catch (const duet::detail::FiberUnwind&) {
    throw;
  } catch (const Cancelled&) {
    return Failure::cancelled;
  } catch (...) {
    return Failure::threw;
  }
  return Failure::none;
}

FiberAnswer run_plain(const FiberHandler& h, Request req) {
  FiberAnswer a{std::move(req), std::nullopt, Failure::none};
  a.failure = invoke_plain(h, a.req, a.res);
  return a;
}

}  // namespace duet::http::detail
