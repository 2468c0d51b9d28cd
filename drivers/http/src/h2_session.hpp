// h2_session.hpp (private): an HTTP/2 server connection (docs/http.md,
// "HTTP/2"): H2Session, the sans-I/O machine over nghttp2's session, and
// start_h2, which each engine calls to hand a connection over to it.
//
// Who does what:
// - nghttp2 (Debian's libnghttp2) frames, HPACK-codes, keeps each
//   stream's state and both flow-control windows, and refuses what the
//   protocol refuses (a stream past SETTINGS_MAX_CONCURRENT_STREAMS, a
//   CONTINUATION or reset flood past its limits);
// - H2Session turns a stream's HEADERS and DATA into a Request, routes it,
//   starts one task per stream in the handler's model (a coroutine handler
//   a coroutine task, a plain handler a fiber), and turns each answer into
//   HEADERS and DATA, a streamed body one piece at a time as the peer's
//   window lets it out;
// - the connection's task (h2_connection.cpp, over h2_loop.hpp) reads,
//   writes and waits: for bytes, for a stream's task to post (H2Inbox),
//   for a deadline, for the drain. It is one coroutine under every engine:
//   it multiplexes, and what a model costs is in the streams' tasks.
//
// Rules:
// - A stream's request is gathered in the cell its task will share
//   (H2StreamCell::req); the task holds it from its spawn until it posts
//   its answer back (H2Inbox). A stream the peer resets, or whose route
//   deadline passes, has its task cancelled and is forgotten: what its
//   task posts later is dropped.
// - A streamed response body's task posts one piece, then waits until the
//   session has handed that piece to nghttp2 (H2StreamCell::sent): one
//   piece per stream in memory, the peer's window its backpressure.
// - A request body up to Limits::buffered_body_bytes arrives whole, its
//   windows reopened as it arrives; a longer one (by its content-length,
//   or once it grows past that) is streamed to the handler (H2BodyPump),
//   its stream's window reopened only as the handler reads. Past the
//   route's max_body_bytes: 413 before the handler (a content-length), or
//   the reader's error (std::errc::message_size).
// - Deadlines (Limits::io_timeout): an idle connection (no stream open)
//   closes after it with GOAWAY; an answer that sends nothing for that
//   long (a peer that keeps its window shut) is reset; a write gets its
//   own.
// - Drain: GOAWAY with the last stream begun; streams in flight finish;
//   the connection closes when none is left.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "body_pump.hpp"
#include "conn.hpp"
#include "duet/join_handle.hpp"
#include "duet/net/tcp.hpp"
#include "duet/sync/notify.hpp"
#include "duet/time/clock.hpp"
#include "duet/tls/stream.hpp"
#include "server_state.hpp"

struct nghttp2_session;
struct nghttp2_rcbuf;

namespace duet::http::detail {

/// The client connection preface (RFC 9113 3.4), which a connection's
/// first read must hold whole for the connection to be HTTP/2 (h2c with
/// prior knowledge; every client sends it in one write).
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a stream's task posts to its connection.
struct H2Event {
  enum class Kind : std::uint8_t { answer, piece, end, failed, read };
  std::int32_t id;
  Kind kind;
  std::optional<Response> res{};    // Kind::answer: the response, or
  Failure failure = Failure::none;  // how the handler failed
  std::string piece{};              // Kind::piece
  std::size_t bytes = 0;            // Kind::read: bytes of the request body the handler took
};

/// The connection's mailbox: stream tasks post, the connection's task takes
/// all at each wake. Shared: a cancelled task may post after its
/// connection ended.
struct H2Inbox {
  std::mutex mu;
  std::vector<H2Event> events;
  Notify wake;

  void post(H2Event e) {
    {
      std::lock_guard lk(mu);
      events.push_back(std::move(e));
    }
    wake.notify_one();
  }
};

/// What a stream's task shares with its connection.
struct H2StreamCell;

/// A stream's streamed request body (Request::body_stream): the DATA the
/// session received and the handler has not read. What a read takes is
/// posted back (H2Event::Kind::read) and only then reopens the stream's
/// window, so a peer sends at most a window beyond what the handler read.
/// The session pushes, the handler's task reads: one lock between them.
class H2BodyPump final : public BodyPump {
 public:
  explicit H2BodyPump(H2StreamCell& cell) noexcept : cell_(cell) {}
  ~H2BodyPump() = default;

  Task<duet::Result<std::size_t>> read(std::span<std::byte> into) override;
  Task<duet::Result<std::string>> read_piece() override;

  // The session's side.
  /// Bytes of the body arrived.
  void push(std::string_view data);
  /// The body ended (END_STREAM), or failed (`e`: a reset, a limit).
  void end(std::error_code e = {});
  /// Bytes received and not read yet.
  [[nodiscard]] std::size_t unread();

 private:
  /// Takes up to `max` bytes (all when 0); `out` empty: nothing there yet.
  /// The result: the body's end or its error, once nothing is left.
  bool take(std::size_t max, std::string& out, std::error_code& e);

  H2StreamCell& cell_;
  std::mutex mu_;
  std::string data_;  // received, not read
  bool ended_ = false;
  std::error_code error_;
  Notify arrived_;
};

struct H2StreamCell {
  std::shared_ptr<H2Inbox> inbox;
  std::int32_t id = 0;
  /// The request: the session's while its head and body arrive, its
  /// task's from the spawn until the task posts its answer, the session's
  /// again after (the hook reads it).
  Request req;
  /// Notified when the piece posted last was handed to nghttp2 (or the
  /// stream went away).
  Notify sent;
  /// The request's body when it is streamed (past buffered_body_bytes):
  /// made then, so that a stream whose body comes whole holds none.
  std::unique_ptr<H2BodyPump> body;
};

class H2Session {
 public:
  /// A server session on `st`'s settings, its SETTINGS queued; `inbox`
  /// is where this connection's stream tasks post.
  H2Session(State& st, std::shared_ptr<H2Inbox> inbox);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  /// Feeds bytes read: false on a connection error (a GOAWAY, if any, is
  /// queued: produce() it, write it, close).
  bool feed(std::span<const std::byte> in);
  /// Takes what the stream tasks posted into the session.
  void take_events();
  /// Appends the frames nghttp2 has to send to `out`, up to about `cap`
  /// bytes: false on a session error (close).
  bool produce(std::string& out, std::size_t cap);
  /// Whether the connection is over: nothing more to read or send.
  [[nodiscard]] bool over() const noexcept;
  /// The drain: GOAWAY, no new stream; those in flight finish.
  void drain();
  [[nodiscard]] bool draining() const noexcept { return draining_; }
  /// No stream open.
  [[nodiscard]] bool idle() const noexcept { return live_.empty(); }
  /// The nearest deadline: a stream's (route deadline, stalled answer)
  /// or, with no stream open, the idle connection's.
  [[nodiscard]] Instant next_deadline() const noexcept;
  /// Acts on the deadlines passed by `now`: false when the connection is
  /// to close (idle past its deadline; a GOAWAY is queued).
  bool expire(Instant now);
  /// The connection woke at `now` (bytes read or written, a post): the
  /// session's clock, read once per wake; the idle deadline moves on.
  void touched(Instant now) noexcept;

  struct Stream;

 private:
  friend struct H2Callbacks;
  void headers_done(Stream& s);
  /// A field of the header block being read (nghttp2's buffers, held:
  /// no copy until the block is whole); `name` null: :authority.
  void hold(nghttp2_rcbuf* name, nghttp2_rcbuf* value);
  void release_held() noexcept;
  /// The block is whole: its fields into `s`'s request, in one allocation.
  void fields_done(Stream& s);
  /// Starts the handler's task; `streamed`: its body is read as it comes.
  void start_stream(Stream& s, bool streamed);
  /// Gives the DATA used (consumed_) back to the windows.
  void give_back_windows();
  void submit_answer(Stream& s, std::optional<Response>&& res, Failure failure);
  void submit_refusal(Stream& s, int status, std::string_view allow = {});
  /// Submits `res` for `s`; the hook is told of it with `seen`.
  void submit(Stream& s, Response&& res, const Request& seen);
  void forget(std::int32_t id) noexcept;
  /// The stream `id` (nghttp2's user data of it), or null.
  Stream* find(std::int32_t id) noexcept;
  /// A stream for `id`, a spare one if any.
  void open_stream(std::int32_t id);
  /// now_ + io_timeout.
  [[nodiscard]] Instant after_io() const noexcept;

  /// Streams kept cleared for the next ones, their requests' room kept.
  static constexpr std::size_t kSpareStreams = 8;

  State& st_;
  std::shared_ptr<H2Inbox> inbox_;
  nghttp2_session* ng_ = nullptr;
  std::vector<std::unique_ptr<Stream>> live_;                    // the open streams (Stream::slot)
  std::vector<std::unique_ptr<Stream>> spare_;                   // at most kSpareStreams
  std::vector<std::pair<nghttp2_rcbuf*, nghttp2_rcbuf*>> held_;  // hold()
  struct Fields;  // an answer's fields, at its submit
  std::unique_ptr<Fields> fields_;
  Instant now_;                 // the connection's last wake
  std::vector<H2Event> taken_;  // take_events' batch, its room kept
  /// DATA used (stream, bytes; stream 0: the connection's window alone),
  /// given back to the windows once nghttp2 returns (give_back_windows).
  std::vector<std::pair<std::int32_t, std::size_t>> consumed_;
  Instant idle_deadline_{};
  std::size_t begun_ = 0;  // streams whose handler began (max_requests_per_connection)
  bool draining_ = false;
  bool failed_ = false;  // a callback failed the session
};

/// Serves `s` as HTTP/2 from here: `input` is what was read of it so far
/// (the preface's start included). A task of its own; the caller ends.
void start_h2(OpenSlot slot, net::TcpStream s, std::string input);
void start_h2(OpenSlot slot, tls::TlsStream s, std::string input);

/// Whether a TLS stream's ALPN chose HTTP/2.
[[nodiscard]] inline bool chose_h2(const tls::TlsStream& s) noexcept {
  return s.alpn() == "h2";
}

}  // namespace duet::http::detail
