// coroutine_engine.cpp: the coroutine engine (Engine::coroutine): a
// duet::Task per connection, written as a user of duet would write it: a
// loop with co_await at each read and write, reading a request a nested
// coroutine (read_request), handling it another (handle).
//
// Deadlines (Limits::read_timeout): the idle gap before a request and its
// whole head share one deadline, set when the connection starts waiting
// for the request (a client trickling its head gains nothing); each read
// of a body and each write get their own. Past a deadline the connection
// closes without an answer. Every request answered from one read is
// written with one write, before the connection waits for more input.
//
// Drain: while a connection waits idle, its read races the server's
// shutdown token in a biased select: an idle connection closes at once; a
// request in flight is answered, with "Connection: close"
// (detail::closes_after).
//
// A TLS connection's handshake is a task of its own, which spawns the
// connection's task (serve) and ends.
//
// What an idle connection holds: its coroutine frames (serve's with the
// decoder and a first-read array of kFirstRead bytes, read_request's and
// wait_request's) and no heap: at each idle wait the decoder
// frees its state (RequestDecoder::release) and the output string's
// memory is given back (the next answer takes it again, once:
// write_response reserves what it writes). The read buffer (kReadBuffer)
// is taken only when a request does not fit the first read, and given
// back when the connection goes idle again.
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "body_pump.hpp"
#include "body_writer.hpp"
#include "duet/channel/select.hpp"
#include "duet/drain.hpp"
#include "duet/stackful.hpp"
#include "duet/stackless/spawn.hpp"
#include "duet/stackless/task.hpp"
#include "duet/time/timeout.hpp"
#include "duet/tls/stream.hpp"
#include "server_state.hpp"

namespace duet::http::detail {

namespace {

inline constexpr std::size_t kFirstRead = 256;        // the idle read, in the frame
inline constexpr std::size_t kReadBuffer = 8 * 1024;  // a request's reads past it

template <class S>
struct Conn;

/// A streamed body's source over the connection's input (body_pump.hpp):
/// reads into the connection's read buffer, 100-continue through its
/// output.
template <class S>
class ConnPump final : public BodyPump {
 public:
  explicit ConnPump(Conn<S>& c) noexcept : c_(c) {}

 private:
  std::span<const std::byte> input() noexcept override;
  void consume(std::size_t n) noexcept override;
  Task<io::Result<std::size_t>> fill() override;
  Task<bool> send_continue() override;

  Conn<S>& c_;
};

/// One connection's state, shared by its coroutines.
template <class S>
struct Conn {
  Conn(State& s, S str)
      : st(s),
        stream(std::move(str)),
        decoder(s.options.limits),
        drain_wait(s.shutdown.cancelled()) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  State& st;
  S stream;
  RequestDecoder decoder;
  std::string out;                   // answers not written yet
  std::span<const std::byte> input;  // read, not fed to the decoder yet
  std::unique_ptr<std::byte[]> buf;  // kReadBuffer: none while idle
  Instant deadline{};                // of the read in progress
  std::size_t served = 0;
  std::unique_ptr<ConnPump<S>> pump;  // made for the first request whose body is streamed
  std::array<std::byte, kFirstRead> first{};
  // The drain, watched by every idle read: one future for the connection
  // (CancelledFuture: re-polled by its task it takes no lock).
  CancelledFuture drain_wait;
};

enum class ReadEnd : std::uint8_t {
  request,  // a whole request
  refused,  // the decoder refused the input: answer its error_status() and close
  closed,   // the peer closed, an I/O error or a deadline, or the drain while idle
};

enum IdleCase { draining, read_done };  // the idle select's cases, in the order written

/// Writes the connection's output: false when the write failed or its
/// deadline passed (the connection then closes).
template <class S>
Task<bool> flush(Conn<S>& c) {
  const Instant deadline = Clock::now() + c.st.options.limits.read_timeout;
  io::Transferred t =
      co_await timeout_at(deadline, c.stream.write_all(std::as_bytes(std::span(c.out))));
  c.out.clear();
  co_return t.ok();
}

/// Waits between requests for the next one's first bytes, read into
/// c.first: holding no read buffer, no decoder state and no output, and
/// watching the drain. False at the peer's end, an error, the deadline or
/// the drain. The coroutine an idle connection is suspended in: it keeps
/// one awaiter, the idle select.
template <class S>
Task<bool> wait_request(Conn<S>& c) {
  c.deadline = Clock::now() + c.st.options.limits.read_timeout;  // the head's too
  c.buf.reset();
  c.decoder.release();
  std::string().swap(c.out);
  if (c.st.shutdown.is_cancelled()) co_return false;
  // A named local, not a temporary of the co_await (GCC 12: server.cpp).
  // c.drain_wait borrowed: registered on the token once per connection.
  auto wait =
      select(biased, c.drain_wait, timeout_at(c.deadline, c.stream.read(std::span(c.first))));
  auto m = co_await wait;
  if (m.template is<draining>()) co_return false;
  const io::Result<std::size_t> r = std::move(m.template get<read_done>());
  if (!r || *r == 0) co_return false;
  c.input = std::span(c.first).first(*r);
  co_return true;
}

/// Reads more of a request in progress into the read buffer, within the
/// head's deadline or (inside a body) one of its own per read: the count
/// read (0 at the peer's end). The head's reads and the body pump's.
template <class S>
Task<io::Result<std::size_t>> fill(Conn<S>& c) {
  if (c.decoder.in_body()) c.deadline = Clock::now() + c.st.options.limits.read_timeout;
  if (!c.buf) c.buf = std::make_unique_for_overwrite<std::byte[]>(kReadBuffer);
  io::Result<std::size_t> r =
      co_await timeout_at(c.deadline, c.stream.read(std::span(c.buf.get(), kReadBuffer)));
  if (r && *r != 0) c.input = std::span<const std::byte>(c.buf.get(), *r);
  co_return r;
}

template <class S>
std::span<const std::byte> ConnPump<S>::input() noexcept {
  return c_.input;
}

template <class S>
void ConnPump<S>::consume(std::size_t n) noexcept {
  c_.input = c_.input.subspan(n);
}

template <class S>
Task<io::Result<std::size_t>> ConnPump<S>::fill() {
  // The pump reads only inside the body (BodyPump::more): each read gets
  // its own deadline there.
  return detail::fill(c_);
}

template <class S>
Task<bool> ConnPump<S>::send_continue() {
  c_.out += continue_response();
  co_return co_await flush(c_);
}

/// The next request into `req`, answering a 100-continue on the way.
/// Before it waits for input, it writes the answers already made.
template <class S>
Task<ReadEnd> read_request(Conn<S>& c, Request& req) {
  for (;;) {
    while (!c.input.empty()) {
      const auto step = c.decoder.feed(
          std::string_view(reinterpret_cast<const char*>(c.input.data()), c.input.size()));
      c.input = c.input.subspan(step.consumed);
      if (step.event == RequestDecoder::Event::request) {
        req = c.decoder.take();
        co_return ReadEnd::request;
      }
      if (step.event == RequestDecoder::Event::head) {  // its body streamed: the pump's
        req = c.decoder.take();
        if (!c.pump) c.pump = std::make_unique<ConnPump<S>>(c);
        c.pump->open(c.decoder);
        req.body_stream = c.pump.get();
        co_return ReadEnd::request;
      }
      if (step.event == RequestDecoder::Event::error) co_return ReadEnd::refused;
      if (step.event == RequestDecoder::Event::continue_100) {
        c.out += continue_response();
        if (!co_await flush(c)) co_return ReadEnd::closed;
      }
    }
    if (!c.out.empty() && !co_await flush(c)) co_return ReadEnd::closed;
    bool more = false;
    if (c.decoder.idle()) {
      more = co_await wait_request(c);
    } else {
      const io::Result<std::size_t> r = co_await fill(c);
      more = r && *r != 0;
    }
    if (!more) co_return ReadEnd::closed;
  }
}

/// What a plain handler's fiber hands back: the request it was lent (it
/// owns it, so a connection cut while the fiber runs leaves it nothing
/// dangling) and the response.
struct FiberDone {
  std::shared_ptr<Request> req;
  Response res;
};

/// Answers `req` into the connection's output: its route's handler (a
/// coroutine handler awaited here, a plain one on a fiber of its own,
/// joined), or the router's refusal. A handler that throws is answered
/// 500. Returns whether the connection closes after it.
template <class S>
Task<bool> handle(Conn<S>& c, Request& req) {
  const Instant started = Clock::now();
  const Router::Match m = c.st.routes.find(req.method, req.method_name, req.path());
  const bool streamed = req.body_streamed();
  if (m.handler == nullptr) {
    const bool close =
        (streamed && end_turn(*c.pump, true)) || closes_after(c.st, req, c.served, c.decoder);
    answer_error(c.st, req, m.status, c.out, close, m.allow, started);
    co_return close;
  }
  Response res;
  bool failed = false;
  if (m.handler->is_coroutine()) {
    try {
      res = co_await m.handler->coroutine()(req);
    } catch (...) {
      failed = true;
    }
  } else {
    auto shared = std::make_shared<Request>(std::move(req));
    const FiberHandler& h = m.handler->fiber();
    try {
      auto run = [&h, shared] { return FiberDone{shared, h(*shared)}; };
      JoinHandle<FiberDone> fiber = spawn(stackful, std::move(run));
      FiberDone done = co_await fiber;
      res = std::move(done.res);
    } catch (...) {
      failed = true;  // the handler threw (or its fiber was cancelled)
    }
    req = std::move(*shared);
  }
  if (failed) res = handler_failed();
  // After the handler: a drain that began while it ran closes too.
  bool close =
      (streamed && end_turn(*c.pump, true)) || closes_after(c.st, req, c.served, c.decoder);
  const BodyToWrite source = body_to_write(req, res, close);
  answer(c.st, req, std::move(res), c.out, close, started);
  if (source.source &&
      !co_await write_body(c.stream, c.out, source, c.st.options.limits.read_timeout)) {
    co_return true;  // the body cut short: the connection closes
  }
  co_return close;
}

/// Serves one connection to its end: the connection's task (its slot
/// given back when it ends, after the stream is closed).
template <class S>
Task<void> serve(OpenSlot slot, S stream) {
  Conn<S> c(*slot, std::move(stream));
  bool linger = false;
  for (;;) {
    Request req;
    const ReadEnd e = co_await read_request(c, req);
    if (e == ReadEnd::closed) break;
    if (e == ReadEnd::refused) {
      answer_error(c.st, c.decoder.error_status(), c.out, true);
      linger = true;
      break;
    }
    ++c.served;
    if (co_await handle(c, req)) {
      linger = true;
      break;
    }
  }
  if (!linger) co_return;
  if (!c.out.empty() && !co_await flush(c)) co_return;
  if constexpr (std::is_same_v<S, net::TcpStream>) {
    // Lingering close: half-close, then drop what the client still sends
    // until it closes (or the deadline), so that unread input does not
    // turn the close into a reset that destroys the answer before the
    // client reads it. TLS closes at once.
    (void)c.stream.shutdown(net::Shutdown::write);
    c.buf.reset();
    const Instant deadline = Clock::now() + c.st.options.limits.read_timeout;
    for (;;) {
      io::Result<std::size_t> r = co_await timeout_at(deadline, c.stream.read(std::span(c.first)));
      if (!r || *r == 0) break;
    }
  }
}

/// A TLS connection's handshake, a task of its own that spawns the
/// connection's task when it succeeds and ends: nothing of the handshake
/// stays suspended beneath an idle connection (awaiting serve here would
/// keep this frame for the connection's life).
Task<void> handshake(OpenSlot slot, net::TcpStream tcp, const tls::TlsContext* tls) {
  io::Result<tls::TlsStream> s =
      co_await tls->accept(std::move(tcp), slot->options.limits.read_timeout);
  if (!s) co_return;
  try {
    spawn(serve(std::move(slot), std::move(*s))).detach();
  } catch (const SpawnRefused&) {
    // The runtime is shutting down: the refused task closed the stream
    // and gave the slot back.
  }
}

}  // namespace

void spawn_coroutine(OpenSlot slot, net::TcpStream s, const tls::TlsContext* tls) {
  if (tls != nullptr) {
    spawn(handshake(std::move(slot), std::move(s), tls)).detach();
  } else {
    spawn(serve(std::move(slot), std::move(s))).detach();
  }
}

}  // namespace duet::http::detail
