// conn.hpp (private): the connection machine, Conn: every decision a
// server connection makes, with no I/O of its own. It says what to do next
// (read, write, wait for a handler, half-close, close), into which bytes
// and by which deadline; the engine does it, in its own model, and reports
// the result back. The machine decodes, routes, starts the handler, writes
// the answer, decides keep-alive or close, when to flush, linger and drain.
// The three engines (coroutine_engine.cpp, fiber_engine.cpp,
// poll_engine.hpp) are only how a connection waits.
//
// The rules, once for every engine (docs/http.md, "Connections"):
// - Input: between requests the connection reads into kFirstRead bytes
//   inside the machine and holds nothing else; a request's first byte takes
//   a block (Busy: decoder, output, read buffer, request, handler) that is
//   given back when the connection is idle again. The read buffer starts at
//   kReadBufferSmall and grows to kReadBuffer after a read that fills it.
//   Every read starts on an empty buffer (the decoder keeps what it needs).
// - Deadlines (Limits::io_timeout): the idle gap and the whole head of a
//   request share one, set when the connection starts waiting for it; each
//   read of a body and each write get their own. Past one the connection
//   closes without an answer.
// - Output: every answer made from one read goes out in one write, before
//   the connection reads again; past kFlushAt bytes the output is written
//   before more pipelined requests are decoded; while a handler is pending,
//   the answers already made are written (unless the handler reads a
//   streamed body: the body's reads own the stream until its turn ends).
// - Handlers: a coroutine handler's Task is polled in the connection's
//   task; a plain one runs on a fiber (the connection's own under the fiber
//   engine, else one spawned for the request). A handler that throws is answered 500 and the
//   connection goes on (the request was read whole; a streamed body not read to its end closes it);
//   one that is cancelled (throws duet::Cancelled, or its fiber is cancelled) is answered 503 with
//   "Connection: close". The runtime unwinding a fiber (FiberUnwind) passes through: nothing is
//   written. A route's deadline (RouteLimits::deadline) is a timer in the
//   request's block, polled with the handler by the turn: at it, a
//   coroutine handler is dropped and a spawned fiber cancelled (and waited
//   for until it unwinds), and the answer is the cancelled one, 503; such a
//   plain handler is spawned even under Plain::in_place.
// - Body limits: the decoder admits bodies up to the largest route's limit
//   (State::decoder_limits); the route found checks its own (413 and close)
//   and lowers the decoder's for a streamed body (RequestDecoder::limit_body).
// - Close: after "Connection: close" (the request's, a cap, the drain, an
//   error), a TCP connection half-closes and reads what the client still
//   sends until its end or the deadline (lingering close), so unread input
//   does not turn the close into a reset that destroys the answer; TLS
//   closes at once.
// - Drain (the server's shutdown token): an idle connection closes at once
//   (the engine races its idle read with the token; idle() says when), a
//   request in flight is answered with "Connection: close".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "body_writer.hpp"
#include "duet/http/codec.hpp"
#include "duet/join_handle.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"
#include "duet/stackless/task.hpp"
#include "duet/time/clock.hpp"
#include "server_state.hpp"

namespace duet::http::detail {

/// The bytes an idle connection reads into: a short request (a benchmark's
/// GET, about 50 bytes) arrives whole there.
inline constexpr std::size_t kFirstRead = 64;
/// The read buffer for the rest of a longer request or a body: small first
/// (nginx's client_header_buffer_size), the large size after a read that
/// filled it.
inline constexpr std::uint32_t kReadBufferSmall = 1024;
inline constexpr std::uint32_t kReadBuffer = 8 * 1024;
/// Answers past this many bytes are written before more pipelined requests
/// are decoded.
inline constexpr std::size_t kFlushAt = 64 * 1024;

/// What the engine does next (Conn::next), and what it reports after.
enum class Next : std::uint8_t {
  read,        // read into read_into() by deadline(), racing the drain while
               // idle(): read_done(), or drained()
  write,       // write output() whole by deadline(): written()
  handle,      // wait for the handler's turn (HandlerTurn, turn.hpp)
  call,        // call_plain(): run the plain handler on this fiber
  write_body,  // write_body(stream, out(), body(), write_timeout()): body_written()
  shutdown,    // half-close the stream's write side: shut()
  close,       // the connection is over: drop the stream
  h2,          // the client spoke HTTP/2 (its preface): into_h2(), start_h2 (h2_session.hpp)
};

/// What an HTTP/2 connection starts from (Next::h2): the connection's
/// place, and its input so far, the preface included.
struct H2Start {
  OpenSlot slot;
  std::string input;
};

/// How a handler's turn ended.
enum class Failure : std::uint8_t { none, threw, cancelled };

/// A plain handler's result, back from its fiber with the request it
/// answers (the fiber owns the request while it runs, so a connection that
/// ends first leaves it nothing dangling).
struct FiberAnswer {
  Request req;
  std::optional<Response> res;  // empty: see failure
  Failure failure = Failure::none;
};

/// How a streamed body's reads (and a handler's turn's writes) reach the
/// connection's stream: the one place where the engine's stream is driven
/// from inside the machine. A pointer to the stream and a table for its
/// type (turn.hpp's stream_ref), passed to each Conn::next rather than
/// kept: an idle connection stores no link to its stream.
struct StreamRef {
  struct Ops {
    /// Reads into `into` by `deadline`: the count, 0 at the peer's end.
    Task<duet::Result<std::size_t>> (*read)(void* s, std::span<std::byte> into, Instant deadline);
    /// Writes `out` whole by `deadline`: false when it failed.
    Task<bool> (*write)(void* s, std::span<const std::byte> out, Instant deadline);
  };
  void* stream;
  const Ops* ops;
};

class Conn {
 public:
  /// How a plain handler runs: on a fiber spawned for the request, or
  /// (the fiber engine) on the connection's fiber by call_plain(), with
  /// the answers made before it written when it first waits.
  enum class Plain : std::uint8_t { spawned, in_place };

  /// `slot`: the connection's place in the server (State::open), given
  /// back when the machine is destroyed. `lingers`: the stream half-closes
  /// before the end (TCP; TLS closes at once).
  Conn(OpenSlot slot, bool lingers, Plain plain) noexcept;
  ~Conn();
  /// Moves the machine between steps only (nothing in flight holds a
  /// reference into it: no step's wait, no handler's turn): the fiber
  /// engine's connection idle past fiber_stack_trim_after moves its
  /// machine into a small task and back into a fresh fiber.
  Conn(Conn&& o) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  Conn& operator=(Conn&&) = delete;

  /// What to do now, over `io` (the engine's stream). Decoding, routing and
  /// answering happen here.
  [[nodiscard]] Next next(StreamRef io);

  // Next::read.
  [[nodiscard]] std::span<std::byte> read_into() noexcept;
  /// Waiting between requests: the engine races the read with the drain.
  [[nodiscard]] bool idle() const noexcept {
    return phase_ == Phase::read && first_ && !lingering_;
  }
  /// The read's or the write's deadline.
  [[nodiscard]] Instant deadline() const noexcept { return deadline_; }
  /// The read's result (a timeout is an error: std::errc::timed_out).
  void read_done(const duet::Result<std::size_t>& r) noexcept;
  /// The drain began while idle().
  void drained() noexcept;

  // Next::write, and the handler's turn.
  /// What is left to write.
  [[nodiscard]] std::span<const std::byte> output() const noexcept;
  /// The output written whole (true) or not.
  void written(bool ok) noexcept;
  /// While a handler is pending (Next::handle, Next::call): whether answers
  /// made before it wait to be written (not while it reads a streamed body:
  /// the body's reads own the stream).
  [[nodiscard]] bool writes_while_pending() const noexcept;
  /// Writes those answers over `io`, by a deadline set now; the engine
  /// reports the result with written(). Under Next::call the connection's
  /// fiber does it when the handler first waits (BeforePark).
  [[nodiscard]] Task<bool> write_pending(StreamRef io);
  /// Part of the output written (`n` bytes of output(), Next::write only):
  /// the write's deadline moves on; once nothing is left, as written(true).
  void wrote(std::size_t n) noexcept;

  // Next::handle (the turn, below) and Next::call.
  /// Polls the handler in progress; ready once its outcome is recorded.
  Poll<void> poll_handler(Context& cx);
  /// Runs the plain handler on the calling fiber (Next::call).
  void call_plain();

  // Next::write_body.
  [[nodiscard]] std::string& out() noexcept;
  [[nodiscard]] const BodyToWrite& body() const noexcept;
  [[nodiscard]] std::chrono::milliseconds write_timeout() const noexcept;
  void body_written(bool ok) noexcept;

  // Next::shutdown.
  void shut() noexcept;

  // Next::h2: the machine gives up the connection (it is left empty).
  [[nodiscard]] H2Start into_h2() && noexcept;

  [[nodiscard]] State& state() const noexcept { return *slot_; }
  /// The connection's place, taken from a machine not yet started (the
  /// poll engine's connection, moved into its task).
  [[nodiscard]] OpenSlot release_slot() && noexcept { return std::move(slot_); }

  /// A thread keeps the request blocks of connections gone idle for its
  /// next requests (conn.cpp, SpareBusy): at most kSpareBlocks blocks,
  /// holding at most kSpareBytes in all; a block past either is freed.
  static constexpr std::size_t kSpareBlocks = 64;
  static constexpr std::size_t kSpareBytes = 256 * 1024;
  struct Spares {
    std::size_t blocks = 0;
    std::size_t bytes = 0;  // the room they hold, as counted when left
  };
  /// The calling thread's spare blocks.
  [[nodiscard]] static Spares spares() noexcept;

  /// Waits for a handler's turn (Next::handle) to end: polls the handler
  /// and, while it is pending and answers are waiting (not while it reads
  /// a streamed body: the body's reads own the stream), writes them; a
  /// write begun is finished before the turn ends. A fiber spawned for the
  /// handler first gets one turn of the worker, so that only a handler
  /// that waits costs a write of its own. A future that any model awaits.
  class [[nodiscard]] Turn {
   public:
    Turn(Conn& m, StreamRef io) noexcept : m_(m), io_(io) {}
    Poll<void> poll(Context& cx);

   private:
    Conn& m_;
    StreamRef io_;
    std::optional<Task<bool>> write_;
    bool done_ = false;
    bool yielded_ = false;  // a spawned fiber was given its first turn
  };

 private:
  enum class Phase : std::uint8_t {
    parse,
    read,
    write,
    handle,
    call,
    write_body,
    shutdown,
    h2,
    done
  };
  struct Busy;
  struct SpareBusy;  // a thread's cleared Busy blocks (conn.cpp)
  class Pump;

  [[nodiscard]] std::unique_ptr<Busy> take_busy();
  void leave_busy() noexcept;
  bool parse(StreamRef io);
  bool start_request(bool streamed, StreamRef io);
  void start_handler(const Handler& h);
  void finish_turn(std::optional<Response>&& res, Failure failure);
  bool closes_after() noexcept;
  void start_read() noexcept;
  void start_write() noexcept;
  void close() noexcept;
  void arm() noexcept;
  [[nodiscard]] const char* input() const noexcept;

  OpenSlot slot_;               // the server's state; the connection's place
  std::unique_ptr<Busy> busy_;  // none while idle (take_busy, leave_busy)
  Instant deadline_{};
  // Input positions in 16 bits: a read buffer is at most kReadBuffer.
  // Requests are counted in 32 bits (a cap past that is no cap).
  static_assert(kReadBuffer <= UINT16_MAX && kFirstRead <= UINT16_MAX);
  std::uint32_t served_ = 0;         // requests answered or in progress
  std::uint16_t pos_ = 0, end_ = 0;  // unparsed input, in input()
  Phase phase_ = Phase::parse;
  // Flags in one byte: the machine's tail padding is left to the engine
  // (the poll engine's connection fits its block class).
  bool in_place_ : 1;  // Plain::in_place
  bool lingers_ : 1;
  bool first_ : 1 = false;      // the last read went to first_bytes_
  bool large_ : 1 = false;      // a read filled its buffer: kReadBuffer from now on
  bool lingering_ : 1 = false;  // half-closed: what is read is dropped
  char first_bytes_[kFirstRead];
};

/// Calls `h` on `req` on the calling fiber: the answer into `res`, or the
/// failure (a duet::Cancelled is `cancelled`, anything else `threw`); the
/// runtime's unwinding of the fiber passes through.
Failure invoke_plain(const FiberHandler& h, Request& req, std::optional<Response>& res);
/// The same with the request moved in, for a fiber that owns it.
FiberAnswer run_plain(const FiberHandler& h, Request req);

}  // namespace duet::http::detail
