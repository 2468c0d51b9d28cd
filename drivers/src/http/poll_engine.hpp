// poll_engine.hpp (private): the poll engine's connection, PollConnection<S>,
// a hand-written poll future over a TcpStream or a TlsStream; its design is
// stated at the top of poll_engine.cpp. A header of its own so that the
// tests can check the size of an idle connection's task.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "body_writer.hpp"
#include "duet/cancel/token.hpp"
#include "duet/http/codec.hpp"
#include "duet/join_handle.hpp"
#include "duet/net/tcp.hpp"
#include "duet/poll.hpp"
#include "duet/stackful.hpp"
#include "duet/stackless.hpp"
#include "duet/time/clock.hpp"
#include "duet/time/sleep.hpp"
#include "duet/time/timeout.hpp"
#include "duet/tls/stream.hpp"
#include "server_state.hpp"

namespace duet::http::detail::poll_engine {

// The wait for a request reads into kFirstRead bytes inside the connection:
// a short request (a benchmark's GET, about 50 bytes) arrives whole there.
// The read buffer, taken only for the rest of a longer request (or for a
// body), starts small, as nginx's client_header_buffer_size; a read that
// fills it (pipelined requests, a large header or body) grows it to the
// large size for the reads after. Every read starts on an empty buffer
// (the decoder keeps what it needs of a partial request), so taking,
// growing or giving back a buffer copies nothing.
inline constexpr std::size_t kFirstRead = 64;
inline constexpr std::uint32_t kReadBufferSmall = 1024;
inline constexpr std::uint32_t kReadBuffer = 8 * 1024;
/// Answers past this many bytes are written before more pipelined
/// requests are decoded.
inline constexpr std::size_t kFlushAt = 64 * 1024;

/// A plain handler's result, back from its fiber with the request it
/// answers (the fiber owns the request while it runs, so a connection that
/// ends first leaves it nothing dangling).
struct FiberAnswer {
  Request req;
  std::optional<Response> res;  // empty: the handler threw
};

/// Runs `h` on `req` on the calling fiber; an exception is kept as an
/// empty answer (the server's 500), a cancellation unwinds the fiber.
inline FiberAnswer run_plain_handler(const FiberHandler& h, Request req) {
  FiberAnswer a{std::move(req), std::nullopt};
  try {
    a.res.emplace(h(a.req));
  } catch (const duet::detail::FiberUnwind&) {
    throw;
  } catch (...) {  // NOLINT(bugprone-empty-catch): answered with 500 by the connection
  }
  return a;
}

/// The answer to a request whose handler threw (or could not start).
inline void answer_failed(State& st, const Request& req, std::string& out, bool close,
                          Instant started) {
  answer(st, req, handler_failed(), out, close, started);
}

/// The one operation in flight on a connection's stream: a read or a
/// write, which of them kept by the connection (in the byte beside its
/// other flags: a std::variant would spend a word on it). A connection is
/// moved only before its first poll, with nothing in flight: the move
/// moves no operation.
template <class R, class W>
union IoOp {
  IoOp() noexcept {}
  IoOp(IoOp&&) noexcept {}
  IoOp& operator=(IoOp&&) = delete;
  ~IoOp() {}
  R read;
  W write;
};

template <class S>
class [[nodiscard]] PollConnection {
  static constexpr bool kTcp = std::is_same_v<S, net::TcpStream>;
  using ReadFut = decltype(std::declval<S&>().read(std::declval<std::span<std::byte>>()));
  using WriteFut = decltype(std::declval<S&>().write(std::declval<std::span<const std::byte>>()));

 public:
  PollConnection(S stream, OpenSlot slot)
      : stream_(std::move(stream)),
        slot_(std::move(slot)),
        drain_wait_(slot_->shutdown.cancelled()) {}
  PollConnection(PollConnection&&) noexcept = default;
  PollConnection& operator=(PollConnection&&) = delete;
  ~PollConnection() { end_io(); }

  Poll<void> poll(Context& cx) {
    for (;;) {
      bool go_on = false;
      switch (step_) {
        case Step::parse:
          go_on = parse();
          break;
        case Step::read:
          go_on = read(cx);
          break;
        case Step::handle:
          go_on = handle(cx);
          break;
        case Step::write:
          go_on = write(cx);
          break;
        case Step::linger:
          go_on = linger(cx);
          break;
        case Step::done:
          return ready();
      }
      if (!go_on) return step_ == Step::done ? Poll<void>(ready()) : Poll<void>(pending);
    }
  }

 private:
  enum class Step : std::uint8_t { parse, read, handle, write, linger, done };
  enum class Io : std::uint8_t { none, read, write };

  /// A streamed body's source over the connection's input (body_pump.hpp),
  /// used by the handler while the state machine waits in Step::handle
  /// (which then does no I/O of its own: the pump reads the stream, and
  /// writes the answers already made before a 100 Continue). A plain
  /// handler runs it on its fiber, on any worker, while the connection's
  /// poll may run on another: until the handler's turn ends, the
  /// connection reads nothing the pump writes (pos_, end_, first_, and the
  /// Busy's buf, cap and out), only `streamed` and the handler's handle.
  class Pump final : public BodyPump {
   public:
    explicit Pump(PollConnection& c) noexcept : c_(c) {}

   private:
    std::span<const std::byte> input() noexcept override {
      return std::as_bytes(std::span(c_.input() + c_.pos_, c_.end_ - c_.pos_));
    }
    void consume(std::size_t n) noexcept override { c_.pos_ += static_cast<std::uint16_t>(n); }
    Task<io::Result<std::size_t>> fill() override {
      PollConnection& c = c_;
      Busy& b = *c.busy_;
      if (b.cap < kReadBuffer) {
        b.buf = std::make_unique_for_overwrite<char[]>(kReadBuffer);
        b.cap = kReadBuffer;
      }
      c.first_ = false;
      c.pos_ = c.end_ = 0;
      const Instant deadline = Clock::now() + c.st().options.limits.read_timeout;
      io::Result<std::size_t> r = co_await timeout_at(
          deadline, c.stream_.read(std::as_writable_bytes(std::span(b.buf.get(), b.cap))));
      if (r) c.end_ = static_cast<std::uint16_t>(*r);  // at most kReadBuffer
      co_return r;
    }
    Task<bool> send_continue() override {
      Busy& b = *c_.busy_;
      b.out += continue_response();
      const Instant deadline = Clock::now() + c_.st().options.limits.read_timeout;
      const io::Transferred t =
          co_await timeout_at(deadline, c_.stream_.write_all(std::as_bytes(std::span(b.out))));
      b.out.clear();
      co_return t.ok();
    }

    PollConnection& c_;
  };

  /// What a request in progress holds, one block from its first byte until
  /// the connection goes idle again.
  struct Busy {
    explicit Busy(const Limits& limits) : dec(limits) {}
    RequestDecoder dec;
    std::string out;                       // answers not yet written, in order
    std::size_t written = 0;               // of out
    std::unique_ptr<char[]> buf;           // the read buffer, taken past first_bytes_
    std::uint32_t cap = 0;                 // buf's size
    bool closing = false;                  // close once out is written
    Instant started{};                     // the handled request's head was complete
    bool streamed = false;                 // req's body is streamed, by `pump`
    std::unique_ptr<Pump> pump;            // made for the connection's first streamed body
    Request req;                           // the request a coroutine handler answers
    BodyToWrite body;                      // a response body from its source
    std::optional<Task<bool>> body_write;  // its writer (refers to `body`)
    // The handler in progress, at most one (declared after req: a Task
    // refers to it, so it goes first).
    std::optional<Task<Response>> task;
    std::optional<JoinHandle<FiberAnswer>> fiber;

    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
    ~Busy() {
      // A connection that ends with a plain handler still running: the
      // answer has nowhere to go.
      if (fiber) fiber->cancel();
    }
  };

  State& st() const noexcept { return *slot_; }

  // Each step returns true to go on at once, false to wait (or when done).

  bool parse() {
    while (pos_ < end_) {
      if (!busy_) busy_ = std::make_unique<Busy>(st().options.limits);
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
          answer_error(st(), b.dec.error_status(), b.out, true);
          b.closing = true;
          break;
        case RequestDecoder::Event::request:
        case RequestDecoder::Event::head:  // its body streamed: the pump's
          if (start_request(step.event == RequestDecoder::Event::head)) return true;
          break;
        case RequestDecoder::Event::body:  // the pump's, never here
        case RequestDecoder::Event::body_end:
          break;
      }
      if (b.out.size() >= kFlushAt) return start_write();
    }
    if (!busy_) return start_read();  // nothing read yet
    if (!busy_->out.empty()) return start_write();
    if (busy_->closing) return close();
    return start_read();
  }

  /// Routes the request just decoded: answers it at once (no handler, or
  /// one that cannot start), or starts its handler and steps to handle
  /// (then true).
  bool start_request(bool streamed) {
    Busy& b = *busy_;
    b.req = b.dec.take();
    b.started = Clock::now();
    b.streamed = streamed;
    if (streamed) {
      if (!b.pump) b.pump = std::make_unique<Pump>(*this);
      b.pump->open(b.dec);
      b.req.body_stream = b.pump.get();
    }
    ++served_;
    const Router::Match m = st().routes.find(b.req.method, b.req.method_name, b.req.path());
    if (m.handler == nullptr) {
      const bool close = closes_after(b);
      answer_error(st(), b.req, m.status, b.out, close, m.allow, b.started);
      b.closing = close;
      return false;
    }
    if (m.handler->is_coroutine()) {
      try {
        b.task.emplace(m.handler->coroutine()(b.req));
      } catch (...) {
        // The handler threw before its coroutine began: 500.
        const bool close = closes_after(b);
        answer_failed(st(), b.req, b.out, close, b.started);
        b.closing = close;
        return false;
      }
    } else {
      const FiberHandler* h = &m.handler->fiber();
      try {
        b.fiber.emplace(duet::spawn(duet::stackful, [h, req = std::move(b.req)]() mutable {
          return run_plain_handler(*h, std::move(req));
        }));
      } catch (...) {
        // No fiber for it (the runtime shuts down): 500 and close.
        (void)closes_after(b);
        answer_error(st(), 500, b.out, true);
        b.closing = true;
        return false;
      }
    }
    step_ = Step::handle;
    return true;
  }

  bool handle(Context& cx) {
    Busy& b = *busy_;
    if (b.body_write) return write_source(cx);
    std::optional<Response> res;
    bool lost = false;  // the fiber was cancelled: no request to answer
    if (b.task) {
      try {
        auto p = b.task->poll(cx);
        if (p.is_pending()) return handler_pending();
        res.emplace(std::move(p).value());
      } catch (...) {
        // The handler threw: 500 (res stays empty).
      }
      b.task.reset();
    } else {
      try {
        auto p = b.fiber->poll(cx);
        if (p.is_pending()) return handler_pending();
        FiberAnswer a = std::move(p).value();
        b.req = std::move(a.req);
        res = std::move(a.res);
      } catch (...) {
        lost = true;  // cancelled from outside (a runtime shutting down)
      }
      b.fiber.reset();
    }
    if (lost) return finish();
    bool close = closes_after(b);
    if (res) {
      b.body = body_to_write(b.req, *res, close);
      answer(st(), b.req, std::move(*res), b.out, close, b.started);
    } else {
      answer_failed(st(), b.req, b.out, close, b.started);
    }
    b.closing = close;
    if (b.body.source) {
      // The body from its source: a coroutine over the stream, polled
      // here until it is written (no other I/O meanwhile).
      b.body_write.emplace(write_body(stream_, b.out, b.body, st().options.limits.read_timeout));
      return true;
    }
    step_ = Step::parse;
    return true;
  }

  /// Polls the writer of a response body from its source.
  bool write_source(Context& cx) {
    Busy& b = *busy_;
    auto p = b.body_write->poll(cx);
    if (p.is_pending()) return false;
    if (!std::move(p).value()) b.closing = true;  // the body cut short
    b.body_write.reset();
    b.body = {};
    step_ = Step::parse;
    return true;
  }

  /// Whether the connection closes after answering b.req: the server's
  /// rule, or the request switched protocols (the bytes after it are not
  /// HTTP/1.1).
  /// A streamed body's turn ends here too: one not read to its end closes.
  bool closes_after(Busy& b) const noexcept {
    const bool unread = b.streamed && end_turn(*b.pump, true);
    b.streamed = false;
    return unread || detail::closes_after(st(), b.req, served_, b.dec);
  }

  /// A handler waits: the answers to earlier pipelined requests go out
  /// meanwhile (the write step comes back to handle), unless the handler
  /// reads a streamed body. The pump then owns the stream and `out`: a
  /// plain handler's fiber may be writing a 100 Continue into `out` on
  /// another worker while this poll runs, so `streamed` (which only the
  /// connection writes) is tested first and `out` is not read at all.
  bool handler_pending() {
    if (busy_->streamed) return false;
    return busy_->out.empty() ? false : start_write();
  }

  bool start_read() {
    const bool idle = !busy_ || busy_->dec.idle();
    // The flag alone: a drain it misses is seen by watch_drain while
    // reading. A request in progress reads on: its answer closes
    // (closes_after).
    if (idle && st().shutdown.is_cancelled()) return close();
    // A new request's header (or the idle gap before it) gets one deadline
    // in all; a body's read gets one per read.
    if (idle || busy_->dec.in_body()) arm();
    // No input is left (pos_ == end_). Between requests: give the
    // request's block back and wait in first_bytes_; within a request: the
    // read buffer.
    first_ = idle;
    if (first_) {
      busy_.reset();
    } else if (const std::uint32_t want = large_ ? kReadBuffer : kReadBufferSmall;
               busy_->cap < want) {
      busy_->buf = std::make_unique_for_overwrite<char[]>(want);
      busy_->cap = want;
    }
    pos_ = end_ = 0;
    step_ = Step::read;
    return true;
  }

  bool read(Context& cx) {
    if (io_kind_ != Io::read) {
      const auto into = first_ ? std::span(first_bytes_) : std::span(busy_->buf.get(), busy_->cap);
      put_read(stream_.read(std::as_writable_bytes(into)));
    }
    auto p = io_.read.poll(cx);
    if (p.is_pending()) {
      // The drain seen while waiting for a request: close at once (no
      // answer is owed); within a request, read on.
      if (watch_drain(cx) && first_) return finish();
      if (expired(cx)) return finish();
      return false;
    }
    end_io();
    auto r = std::move(p).value();
    if (!r || *r == 0) return finish();  // the peer closed (or reset)
    // A read that filled the read buffer: the large one from the next on.
    if (!first_ && *r == busy_->cap) large_ = true;
    pos_ = 0;
    end_ = static_cast<std::uint16_t>(*r);  // at most the buffer's size
    step_ = Step::parse;
    return true;
  }

  bool start_write() {
    busy_->written = 0;
    arm();
    step_ = Step::write;
    return true;
  }

  bool write(Context& cx) {
    Busy& b = *busy_;
    const std::string_view out = b.out;
    while (b.written < out.size()) {
      if (io_kind_ != Io::write) {
        put_write(stream_.write(std::as_bytes(std::span(out.substr(b.written)))));
      }
      auto p = io_.write.poll(cx);
      if (p.is_pending()) return expired(cx) ? finish() : false;
      end_io();
      auto r = std::move(p).value();
      if (!r) return finish();
      b.written += *r;
      arm();
    }
    b.out.clear();
    b.written = 0;
    step_ = b.task || b.fiber ? Step::handle : Step::parse;
    return true;
  }

  /// Closing after a response: half-close and read what the client still
  /// sends until it closes (nginx's lingering close), so that unread input
  /// does not turn the close into a reset that destroys the response
  /// before the client reads it. TLS closes at once.
  bool close() {
    if constexpr (kTcp) {
      (void)stream_.shutdown(net::Shutdown::write);
      pos_ = end_ = 0;
      arm();
      step_ = Step::linger;
      return true;
    } else {
      return finish();
    }
  }

  bool linger(Context& cx) {
    for (;;) {
      if (io_kind_ != Io::read) {
        // What arrives is dropped: into the read buffer if there is one.
        const auto into =
            busy_ && busy_->buf ? std::span(busy_->buf.get(), busy_->cap) : std::span(first_bytes_);
        put_read(stream_.read(std::as_writable_bytes(into)));
      }
      auto p = io_.read.poll(cx);
      if (p.is_pending()) return expired(cx) ? finish() : false;
      end_io();
      auto r = std::move(p).value();
      if (!r || *r == 0) return finish();
    }
  }

  bool finish() {
    end_io();
    busy_.reset();
    step_ = Step::done;
    return false;
  }

  /// Puts a read (a write) in flight as the stream's one operation (none
  /// is).
  void put_read(ReadFut&& op) noexcept {
    std::construct_at(&io_.read, std::move(op));
    io_kind_ = Io::read;
  }
  void put_write(WriteFut&& op) noexcept {
    std::construct_at(&io_.write, std::move(op));
    io_kind_ = Io::write;
  }
  /// Drops the operation in flight, if any.
  void end_io() noexcept {
    if (io_kind_ == Io::read) std::destroy_at(&io_.read);
    if (io_kind_ == Io::write) std::destroy_at(&io_.write);
    io_kind_ = Io::none;
  }

  /// Sets the deadline Limits::read_timeout from now. The timer is re-armed
  /// lazily: one armed for an earlier deadline fires, finds the deadline
  /// moved, and re-arms (so a busy connection does not touch the timer per
  /// request).
  void arm() { deadline_ = Clock::now() + st().options.limits.read_timeout; }

  bool expired(Context& cx) {
    for (;;) {
      if (timer_.poll(cx).is_pending()) return false;
      if (timer_.deadline() >= deadline_) return true;
      // It fired for a deadline since moved later (or for none: the first
      // timer is made for the epoch). A Sleep is not assignable once
      // polled: a new one in its place.
      std::destroy_at(&timer_);
      std::construct_at(&timer_, deadline_);
    }
  }

  /// True once the drain began (polled while reading).
  bool watch_drain(Context& cx) {
    if (drain_seen_) return false;
    // The future (made with the connection) first, then the flag: a
    // cancel after its creation completes it, and one before set the flag
    // first.
    bool on = st().shutdown.is_cancelled();
    if (!on && !drain_queued_) {
      // Poll the future until it is registered, then only the flag: its
      // poll takes the token's lock, and the one registration stays good
      // because a task's waker names the task (duet/waker.hpp), the same
      // at every poll.
      on = drain_wait_.poll(cx).is_ready();
      drain_queued_ = !on;
    }
    if (!on) return false;
    drain_seen_ = true;
    return true;
  }

  /// The bytes of the last read: first_bytes_ or the read buffer.
  [[nodiscard]] const char* input() const noexcept {
    return first_ ? first_bytes_ : busy_->buf.get();
  }

  S stream_;
  OpenSlot slot_;               // the server's state; gives the connection's place back
  std::unique_ptr<Busy> busy_;  // none while idle
  IoOp<ReadFut, WriteFut> io_;  // which one: io_kind_

  // Input positions in 16 bits: a read buffer is at most kReadBuffer.
  // Requests are counted in 32 bits (a cap past that is no cap).
  static_assert(kReadBuffer <= UINT16_MAX && kFirstRead <= UINT16_MAX);
  std::uint32_t served_ = 0;         // requests answered or in progress
  std::uint16_t pos_ = 0, end_ = 0;  // unparsed input, in input()
  Step step_ = Step::parse;
  Io io_kind_ = Io::none;
  bool first_ = false;         // the last read went to first_bytes_
  bool large_ = false;         // a read filled its buffer: take kReadBuffer from now on
  bool drain_queued_ = false;  // drain_wait_ is registered with the token
  bool drain_seen_ = false;

  Sleep timer_{Instant{}};  // re-made lazily for deadline_ (expired())
  Instant deadline_{};
  CancelledFuture drain_wait_;
  char first_bytes_[kFirstRead];
};

}  // namespace duet::http::detail::poll_engine
