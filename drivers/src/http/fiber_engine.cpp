// fiber_engine.cpp: the fiber engine (Engine::fiber): a fiber per
// connection (duet::spawn(duet::stackful, ...)), written as plain calls
// that wait deep inside them (duet::wait): read_request over the
// connection's io::BufReader (fill_buf and consume), a plain handler
// called directly on the connection's fiber, a coroutine handler waited
// with duet::wait(handler(req)).
//
// The protocol's rules are the coroutine engine's (coroutine_engine.cpp):
// one deadline for the idle gap and the whole head, one per body read and
// per write; the answers to one read written with one write before the
// next wait for input; while idle, the read races the server's shutdown
// token, so a drain closes an idle connection at once and answers a
// request in flight with "Connection: close"; a lingering close over TCP,
// an immediate one over TLS.
//
// A TLS connection's handshake runs before its fiber exists, as a task on
// the worker's stack (handshake_then_fiber), so its depth is no part of
// the fiber's stack. What an idle connection holds: its fiber's stack
// (the frames of serve and read_request, with a first-read array of
// kFirstRead bytes) and no heap: at each idle wait the decoder frees its
// state (RequestDecoder::release) and the output string's memory is given
// back (the next answer takes it again, once: write_response reserves
// what it writes). The idle read goes into the first-read array; the
// BufReader's buffer (io::kDefaultBufferSize) is taken only when a
// request does not fit it, and given back when the connection goes idle
// again.
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "body_writer.hpp"
#include "duet/channel/select.hpp"
#include "duet/drain.hpp"
#include "duet/io/buffered.hpp"
#include "duet/stackful.hpp"
#include "duet/stackless/spawn.hpp"
#include "duet/stackless/task.hpp"
#include "duet/time/timeout.hpp"
#include "duet/tls/stream.hpp"
#include "duet/wait.hpp"
#include "server_state.hpp"

namespace duet::http::detail {

namespace {

inline constexpr std::size_t kFirstRead = 256;  // the idle read, on the fiber's stack

/// What read_request found.
enum class Read : std::uint8_t {
  request,  // a whole request
  refused,  // the decoder refused the input: answer its error_status() and close
  closed,   // the peer closed, an I/O error or a deadline, or the drain while idle
};

enum WaitCase { drain_began, filled };  // the idle select's cases, in the order written

/// One connection: its reader (which owns the stream), decoder and output.
template <class S>
class FiberConnection {
 public:
  FiberConnection(State& st, S stream)
      : st_(st),
        reader_(std::move(stream)),
        decoder_(st.options.limits),
        pump_(*this),
        drain_wait_(st.shutdown.cancelled()) {}
  FiberConnection(const FiberConnection&) = delete;
  FiberConnection& operator=(const FiberConnection&) = delete;

  /// Serves the connection to its end.
  void serve() {
    for (;;) {
      Request req;
      const Read r = read_request(req);
      if (r == Read::closed) return;
      if (r == Read::refused) {
        answer_error(st_, decoder_.error_status(), out_, true);
        break;
      }
      ++served_;
      if (handle(req)) break;
    }
    if (!out_.empty() && !flush()) return;
    linger();
  }

 private:
  /// A streamed body's source over the connection's BufReader
  /// (body_pump.hpp). Its operations are coroutines (a coroutine handler
  /// awaits them; a plain one waits on them from this fiber).
  class Pump final : public BodyPump {
   public:
    explicit Pump(FiberConnection& c) noexcept : c_(c) {}

   private:
    std::span<const std::byte> input() noexcept override { return c_.input(); }
    void consume(std::size_t n) noexcept override { c_.consume(n); }
    Task<io::Result<std::size_t>> fill() override {
      const Instant deadline = Clock::now() + c_.st_.options.limits.read_timeout;
      io::Result<std::span<const std::byte>> r =
          co_await timeout_at(deadline, c_.reader_.fill_buf());
      if (!r) co_return r.error();
      co_return r->size();
    }
    Task<bool> send_continue() override {
      c_.out_ += continue_response();
      const Instant deadline = Clock::now() + c_.st_.options.limits.read_timeout;
      const io::Transferred t = co_await timeout_at(
          deadline, c_.reader_.get_ref().write_all(std::as_bytes(std::span(c_.out_))));
      c_.out_.clear();
      co_return t.ok();
    }

    FiberConnection& c_;
  };

  /// The input read and not fed yet: the idle read's rest, else the
  /// reader's buffer. The reader is filled only while the idle read's rest
  /// is empty, so its bytes come after that rest's.
  std::span<const std::byte> input() const noexcept {
    return first_rest_.empty() ? reader_.buffer() : first_rest_;
  }
  void consume(std::size_t n) noexcept {
    if (first_rest_.empty()) {
      reader_.consume(n);
    } else {
      first_rest_ = first_rest_.subspan(n);
    }
  }

  /// The next request into `req`, answering a 100-continue on the way.
  /// Before it waits for input, it writes the answers already made.
  Read read_request(Request& req) {
    for (;;) {
      std::span<const std::byte> in = input();
      while (!in.empty()) {
        const auto step =
            decoder_.feed(std::string_view(reinterpret_cast<const char*>(in.data()), in.size()));
        consume(step.consumed);
        in = input();
        switch (step.event) {
          case RequestDecoder::Event::request:
            req = decoder_.take();
            return Read::request;
          case RequestDecoder::Event::head:  // its body streamed: the pump's
            req = decoder_.take();
            pump_.open(decoder_);
            req.body_stream = &pump_;
            return Read::request;
          case RequestDecoder::Event::error:
            return Read::refused;
          case RequestDecoder::Event::continue_100:
            out_ += continue_response();
            if (!flush()) return Read::closed;
            break;
          case RequestDecoder::Event::need_more:
          case RequestDecoder::Event::body:  // the pump's, never here
          case RequestDecoder::Event::body_end:
            break;
        }
      }
      if (!out_.empty() && !flush()) return Read::closed;
      if (!fill()) return Read::closed;
    }
  }

  /// Reads more input (input() empty before): false at the peer's end, an
  /// error, a deadline, or (idle) the drain.
  bool fill() {
    const bool idle = decoder_.idle();
    if (idle || decoder_.in_body()) deadline_ = Clock::now() + st_.options.limits.read_timeout;
    if (!idle) {
      const io::Result<std::span<const std::byte>> r =
          wait(timeout_at(deadline_, reader_.fill_buf()));
      return r && !r->empty();
    }
    // Between requests: hold no read buffer, and watch the drain.
    (void)reader_.release_buffer();
    decoder_.release();
    std::string().swap(out_);
    if (st_.shutdown.is_cancelled()) return false;
    // drain_wait_ borrowed: registered on the token once per connection.
    auto m = wait(select(biased, drain_wait_,
                         timeout_at(deadline_, reader_.get_ref().read(std::span(first_)))));
    if (m.template is<drain_began>()) return false;
    const io::Result<std::size_t> n = std::move(m.template get<filled>());
    if (!n || *n == 0) return false;
    first_rest_ = std::span<const std::byte>(first_).first(*n);
    return true;
  }

  /// Writes the output: false when the write failed or its deadline passed.
  bool flush() {
    const Instant deadline = Clock::now() + st_.options.limits.read_timeout;
    const io::Transferred t =
        wait(timeout_at(deadline, reader_.get_ref().write_all(std::as_bytes(std::span(out_)))));
    out_.clear();
    return t.ok();
  }

  /// Answers `req` into the output; whether the connection closes after.
  bool handle(Request& req) {
    const Instant started = Clock::now();
    const Router::Match m = st_.routes.find(req.method, req.method_name, req.path());
    const bool streamed = req.body_streamed();
    if (m.handler == nullptr) {
      const bool close = end_turn(pump_, streamed) || closes_after(st_, req, served_, decoder_);
      answer_error(st_, req, m.status, out_, close, m.allow, started);
      return close;
    }
    Response res;
    try {
      res = m.handler->is_coroutine() ? wait(m.handler->coroutine()(req)) : m.handler->fiber()(req);
    } catch (const Cancelled&) {
      pump_.close();
      throw;  // this fiber is cancelled: the connection ends here
    } catch (const duet::detail::FiberUnwind&) {
      pump_.close();
      throw;  // the runtime shuts down: this fiber's stack unwinds to its entry
    } catch (...) {
      res = handler_failed();
    }
    // After the handler: a drain that began while it ran closes too.
    bool close = end_turn(pump_, streamed) || closes_after(st_, req, served_, decoder_);
    const BodyToWrite source = body_to_write(req, res, close);
    answer(st_, req, std::move(res), out_, close, started);
    if (source.source &&
        !wait(write_body(reader_.get_ref(), out_, source, st_.options.limits.read_timeout))) {
      return true;  // the body cut short: the connection closes
    }
    return close;
  }

  /// Closing after an answer: over TCP, half-close and drop what the
  /// client still sends until it closes or the deadline passes (so that
  /// unread input does not turn the close into a reset that destroys the
  /// answer before the client reads it). TLS closes at once.
  void linger() {
    if constexpr (std::is_same_v<S, net::TcpStream>) {
      (void)reader_.get_ref().shutdown(net::Shutdown::write);
      const Instant deadline = Clock::now() + st_.options.limits.read_timeout;
      for (;;) {
        const io::Result<std::size_t> n =
            wait(timeout_at(deadline, reader_.get_ref().read(std::span(first_))));
        if (!n || *n == 0) return;
      }
    }
  }

  State& st_;
  io::BufReader<S> reader_;
  RequestDecoder decoder_;
  std::string out_;     // answers not written yet
  Instant deadline_{};  // of the read in progress
  std::size_t served_ = 0;
  Pump pump_;  // lent to a request whose body is streamed
  // The drain, watched by every idle read: one future for the connection
  // (CancelledFuture: re-polled by its task it takes no lock).
  CancelledFuture drain_wait_;
  std::span<const std::byte> first_rest_;  // of first_: read, not fed yet
  std::array<std::byte, kFirstRead> first_;
};

/// Spawns the connection's fiber over an open stream; the slot goes with
/// it (or, refused, with the destroyed fiber's closure).
template <class S>
void spawn_connection(OpenSlot slot, S stream) {
  spawn(stackful, [slot = std::move(slot), s = std::move(stream)]() mutable {
    const OpenSlot held = std::move(slot);  // given back when the fiber ends
    FiberConnection<S>(*held, std::move(s)).serve();
  }).detach();
}

/// A TLS connection's handshake, as a task on the worker's own stack, then
/// its fiber. OpenSSL's handshake (key exchange, signature) runs deeper
/// than anything the connection does later, and every stack page a fiber
/// touches stays resident for the fiber's life: run on the fiber, the
/// handshake would leave its depth in every idle connection's memory.
Task<void> handshake_then_fiber(OpenSlot slot, net::TcpStream tcp, const tls::TlsContext* tls) {
  io::Result<tls::TlsStream> s =
      co_await tls->accept(std::move(tcp), slot->options.limits.read_timeout);
  if (!s) co_return;
  try {
    spawn_connection(std::move(slot), std::move(*s));
  } catch (const SpawnRefused&) {
    // The runtime is shutting down: the stream closed with the refused
    // fiber, and the slot gave the count back.
  }
}

}  // namespace

void spawn_fiber(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls) {
  if (tls != nullptr) {
    spawn(handshake_then_fiber(std::move(slot), std::move(s), tls)).detach();
    return;
  }
  spawn_connection(std::move(slot), std::move(s));
}

}  // namespace duet::http::detail
