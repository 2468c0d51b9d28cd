// connection.hpp: one connection served to its end, as one poll future
// (Serve<Stream>) over a plain TCP stream or a TLS stream. Both models run
// this same state machine: a coroutine co_awaits it, a fiber duet::waits
// it, so the connection logic is written once.
//
// The loop: read, feed the session, write its output (every response of
// one read in one write), send a file body if one is due, and again. The
// deadlines (Limits::read_timeout): the idle gap and the whole header of a
// request share one deadline, set when the connection starts waiting for
// the request (a slowloris client trickling bytes gains nothing); each read
// of a body and each write get their own. Past a deadline the connection
// closes without an answer, as nginx does.
//
// An idle keep-alive connection holds no buffer and no request state
// (nginx's rule): what a request needs (the session with its parser and
// output, the read buffer, a file body) is one heap block, Busy, taken at
// the request's first byte and given back when the connection goes idle,
// and the wait for the next request reads into a few bytes inside Serve
// (kFirstRead). A request that fits there is parsed from them and never
// takes a read buffer; one that fills them takes the buffer for the rest
// (the parser keeps what it needs of a partial request, so the input may
// arrive in pieces). The stackless model spawns Serve itself as the task
// (server.cpp): an idle connection is the task's header, Serve and the
// driver's block for its socket.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <duet/tls/stream.hpp>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <variant>

#include "session.hpp"

namespace http_server {

/// The server's drain: set once (SIGTERM), seen by every connection.
struct Drain {
  duet::Notify notify;
  std::atomic<bool> on{false};
};

/// What every connection of a server shares, behind one pointer: the
/// routes' settings (read-only) and the drain.
struct Host {
  Site site;
  Drain drain;
};

namespace detail {
// The wait for a request reads into kFirstRead bytes inside Serve: a short
// request (the benchmarks' GETs, about 50 bytes) arrives whole there. The
// read buffer, taken only for the rest of a longer request (or for a body),
// starts small, as nginx's client_header_buffer_size; a read that fills it
// (pipelined requests, a large header or body) grows it to the large size
// for the reads after. Every read starts on an empty buffer (the parser
// keeps what it needs of a partial request), so taking, growing or giving
// back a buffer copies nothing.
inline constexpr std::size_t kFirstRead = 64;
inline constexpr std::uint32_t kReadBufferSmall = 1024;
inline constexpr std::uint32_t kReadBuffer = 8 * 1024;
inline constexpr std::size_t kFileChunk = 64 * 1024;  // TLS: file bytes per write
}  // namespace detail

template <class S>
class [[nodiscard]] Serve {
  static constexpr bool kTcp = std::is_same_v<S, duet::net::TcpStream>;
  using ReadFut = decltype(std::declval<S&>().read(std::declval<std::span<std::byte>>()));
  using WriteFut = decltype(std::declval<S&>().write(std::declval<std::span<const std::byte>>()));

 public:
  Serve(S stream, Host& host) : stream_(std::move(stream)), host_(&host) {}
  Serve(Serve&&) = default;

  duet::Poll<void> poll(duet::Context& cx) {
    for (;;) {
      bool go_on = false;
      switch (step_) {
        case Step::parse:
          go_on = parse();
          break;
        case Step::read:
          go_on = read(cx);
          break;
        case Step::write:
          go_on = write(cx);
          break;
        case Step::file:
          go_on = send_file(cx);
          break;
        case Step::linger:
          go_on = linger(cx);
          break;
        case Step::done:
          return duet::ready();
      }
      if (!go_on) return step_ == Step::done ? duet::ready() : duet::Poll<void>(duet::pending);
    }
  }

 private:
  enum class Step : std::uint8_t { parse, read, write, file, linger, done };

  /// A static file body on its way (allocated only while one is sent).
  struct FileSend {
    explicit FileSend(FileBody f) : file(std::move(f.file)), left(f.size) {}
    duet::fs::File file;
    std::uint64_t left = 0, off = 0;
    std::optional<duet::net::SendFileFuture> sendfile;  // TCP
    std::unique_ptr<char[]> chunk;                      // TLS
    std::size_t chunk_len = 0, chunk_sent = 0;
  };

  /// What a request in progress holds, one block from its first byte
  /// until the connection goes idle again.
  struct Busy {
    explicit Busy(const Site& site) : session(site) {}
    Session session;
    std::unique_ptr<FileSend> file;
    std::unique_ptr<char[]> buf;  // the read buffer, taken past first_bytes_
    std::uint32_t cap = 0;        // buf's size
    std::uint32_t written = 0;    // of session.output()
  };

  // Each step returns true to go on at once, false to wait (or when done).

  bool parse() {
    if (pos_ < end_) {
      if (!busy_) busy_ = std::make_unique<Busy>(host_->site);
      pos_ += static_cast<std::uint32_t>(busy_->session.feed(input() + pos_, end_ - pos_));
    }
    if (!busy_) return start_read();  // nothing read yet
    Session& s = busy_->session;
    if (!s.output().empty()) return start_write();
    if (s.closing()) return close();
    if (pos_ < end_) return true;  // (not reached: a pause leaves output)
    return start_read();
  }

  bool start_read() {
    const bool idle = !busy_ || busy_->session.idle();
    // The flag alone: a drain it misses is seen by watch_drain while reading.
    if (host_->drain.on.load(std::memory_order_acquire)) {
      if (idle) return close();
      busy_->session.drain();
    }
    if (busy_ && busy_->session.closing()) return close();
    // A new request's header (or the idle gap before it) gets one deadline
    // in all; a body's read gets one per read.
    if (idle || busy_->session.in_body()) arm();
    // No input is left (pos_ == end_). Between requests: give the request's
    // block back and wait in first_; within a request: the read buffer.
    first_ = idle;
    if (first_) {
      busy_.reset();
    } else if (busy_->cap < want_) {
      busy_->buf = std::make_unique_for_overwrite<char[]>(want_);
      busy_->cap = want_;
    }
    pos_ = end_ = 0;
    step_ = Step::read;
    return true;
  }

  bool read(duet::Context& cx) {
    auto* rd = std::get_if<kReading>(&io_);
    if (rd == nullptr) {
      const auto into = first_ ? std::span(first_bytes_) : std::span(busy_->buf.get(), busy_->cap);
      rd = &io_.template emplace<kReading>(stream_.read(std::as_writable_bytes(into)));
    }
    auto p = rd->poll(cx);
    if (p.is_pending()) {
      if (watch_drain(cx) && closing_on_drain()) return finish();
      if (expired(cx)) return finish();
      return false;
    }
    io_ = std::monostate{};
    auto r = std::move(p).value();
    if (!r || *r == 0) return finish();  // the peer closed (or reset)
    // A read that filled the read buffer: the large one from the next on.
    if (!first_ && *r == busy_->cap) want_ = detail::kReadBuffer;
    pos_ = 0;
    end_ = static_cast<std::uint32_t>(*r);  // at most the buffer's size
    step_ = Step::parse;
    return true;
  }

  bool start_write() {
    busy_->written = 0;
    arm();
    step_ = Step::write;
    return true;
  }

  bool write(duet::Context& cx) {
    Busy& b = *busy_;
    const std::string_view out = b.session.output();
    while (b.written < out.size()) {
      auto* wr = std::get_if<kWriting>(&io_);
      if (wr == nullptr) {
        wr = &io_.template emplace<kWriting>(
            stream_.write(std::as_bytes(std::span(out.substr(b.written)))));
      }
      auto p = wr->poll(cx);
      if (p.is_pending()) return expired(cx) ? finish() : false;
      io_ = std::monostate{};
      auto r = std::move(p).value();
      if (!r) return finish();
      b.written += static_cast<std::uint32_t>(*r);
      arm();
    }
    b.session.clear_output();
    if (auto f = b.session.take_file()) {
      b.file = std::make_unique<FileSend>(std::move(*f));
      step_ = Step::file;
      return true;
    }
    step_ = Step::parse;
    return true;
  }

  bool send_file(duet::Context& cx) {
    FileSend& f = *busy_->file;
    if constexpr (kTcp) {
      // Zero-copy: the kernel moves the file's pages to the socket.
      if (!f.sendfile) f.sendfile.emplace(stream_.send_file(f.file, 0, f.left));
      auto p = f.sendfile->poll(cx);
      if (p.is_pending()) return expired(cx) ? finish() : false;
      const bool failed = static_cast<bool>(p.value().error());
      busy_->file.reset();
      if (failed) return finish();
    } else {
      // TLS encrypts in user space: the file goes through a buffer.
      if (!f.chunk) f.chunk = std::make_unique_for_overwrite<char[]>(detail::kFileChunk);
      while (f.left > 0) {
        if (f.chunk_len == f.chunk_sent) {
          const auto n = ::pread(f.file.native_handle(), f.chunk.get(),
                                 std::min<std::uint64_t>(f.left, detail::kFileChunk),
                                 static_cast<off_t>(f.off));
          if (n <= 0) return finish();
          f.chunk_len = static_cast<std::size_t>(n);
          f.chunk_sent = 0;
        }
        auto* wr = std::get_if<kWriting>(&io_);
        if (wr == nullptr) {
          wr = &io_.template emplace<kWriting>(stream_.write(
              std::as_bytes(std::span(f.chunk.get() + f.chunk_sent, f.chunk_len - f.chunk_sent))));
        }
        auto p = wr->poll(cx);
        if (p.is_pending()) return expired(cx) ? finish() : false;
        io_ = std::monostate{};
        auto r = std::move(p).value();
        if (!r) return finish();
        f.chunk_sent += *r;
        f.off += *r;
        f.left -= *r;
        arm();
      }
      busy_->file.reset();
    }
    step_ = Step::parse;
    return true;
  }

  /// Closing after a response: half-close and read what the client still
  /// sends until it closes (nginx's lingering close), so that unread
  /// input does not turn the close into a reset that destroys the
  /// response before the client reads it. TLS closes at once.
  bool close() {
    if constexpr (kTcp) {
      (void)stream_.shutdown(duet::net::Shutdown::write);
      pos_ = end_ = 0;
      arm();
      step_ = Step::linger;
      return true;
    } else {
      return finish();
    }
  }

  bool linger(duet::Context& cx) {
    for (;;) {
      auto* rd = std::get_if<kReading>(&io_);
      if (rd == nullptr) {
        // What arrives is dropped: into the read buffer if there is one.
        const auto into =
            busy_ && busy_->buf ? std::span(busy_->buf.get(), busy_->cap) : std::span(first_bytes_);
        rd = &io_.template emplace<kReading>(stream_.read(std::as_writable_bytes(into)));
      }
      auto p = rd->poll(cx);
      if (p.is_pending()) return expired(cx) ? finish() : false;
      io_ = std::monostate{};
      auto r = std::move(p).value();
      if (!r || *r == 0) return finish();
    }
  }

  bool finish() {
    io_ = std::monostate{};
    busy_.reset();
    step_ = Step::done;
    return false;
  }

  /// Sets the deadline Limits::read_timeout from now. The timer is re-armed
  /// lazily: one armed for an earlier deadline fires, finds the deadline
  /// moved, and re-arms (so a busy connection does not touch the timer per
  /// request).
  void arm() { deadline_ = duet::Clock::now() + host_->site.limits.read_timeout; }

  bool expired(duet::Context& cx) {
    for (;;) {
      if (!timer_) timer_.emplace(deadline_);
      if (timer_->poll(cx).is_pending()) return false;
      if (timer_->deadline() >= deadline_) return true;
      timer_.reset();  // it fired for a deadline since moved later
    }
  }

  /// True once the drain began (polled while reading).
  bool watch_drain(duet::Context& cx) {
    if (drain_seen_) return false;
    // The Notified first, then the flag: a notify_all after its creation
    // completes it, and one before set the flag first.
    if (!drain_wait_) drain_wait_.emplace(host_->drain.notify.notified());
    // Acquire: pairs with begin_drain's release store.
    bool on = host_->drain.on.load(std::memory_order_acquire);
    if (!on && !drain_queued_) {
      // Poll the Notified until it is queued, then only the flag: Notify
      // takes its lock on every poll, and the one registration stays good
      // because a task's waker names the task (duet/waker.hpp), the same
      // at every poll.
      on = drain_wait_->poll(cx).is_ready();
      drain_queued_ = !on;
    }
    if (!on) return false;
    drain_seen_ = true;
    return true;
  }

  /// The drain seen while reading: an idle connection closes at once, a
  /// request in progress is answered with Connection: close.
  bool closing_on_drain() noexcept {
    if (first_) return true;
    busy_->session.drain();
    return busy_->session.closing();
  }

  /// The bytes of the last read: first_bytes_ or the read buffer.
  [[nodiscard]] const char* input() const noexcept {
    return first_ ? first_bytes_ : busy_->buf.get();
  }

  S stream_;
  Host* host_;

  // One operation at a time is in flight on the stream: a read (index
  // kReading) or a write (kWriting); the file's sendfile lives in busy_->file.
  // By index: over TCP the two futures are one type.
  static constexpr std::size_t kReading = 1, kWriting = 2;
  std::variant<std::monostate, ReadFut, WriteFut> io_;
  std::unique_ptr<Busy> busy_;  // none while idle

  // 32 bits: a buffer is at most kReadBuffer, the output about kFlushAt
  // (session.cpp) past one response; the connection's state is what an
  // idle connection holds.
  std::uint32_t want_ = detail::kReadBufferSmall;  // the size of the next buffer taken
  std::uint32_t pos_ = 0, end_ = 0;                // unparsed input, in input()
  Step step_ = Step::parse;
  bool first_ = false;         // the last read went to first_bytes_
  bool drain_queued_ = false;  // drain_wait_ is registered with the Notify
  bool drain_seen_ = false;

  std::optional<duet::Sleep> timer_;
  duet::Instant deadline_{};
  std::optional<duet::Notify::Notified> drain_wait_;
  char first_bytes_[detail::kFirstRead];
};

}  // namespace http_server
