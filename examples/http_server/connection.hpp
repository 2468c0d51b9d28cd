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

#include "session.hpp"

namespace http_server {

/// The server's drain: set once (SIGTERM), seen by every connection.
struct Drain {
  duet::Notify notify;
  std::atomic<bool> on{false};
};

namespace detail {
// The read buffer starts small, as nginx's client_header_buffer_size, so an
// idle keep-alive connection holds little; a read that fills it (pipelined
// requests, a large header or body) grows it to the large size for the
// reads after. Every read starts on an empty buffer (the parser keeps what
// it needs of a partial request), so growing copies nothing.
inline constexpr std::size_t kReadBufferSmall = 1024;
inline constexpr std::size_t kReadBuffer = 8 * 1024;
inline constexpr std::size_t kFileChunk = 64 * 1024;  // TLS: file bytes per write
}  // namespace detail

template <class S>
class [[nodiscard]] Serve {
  static constexpr bool kTcp = std::is_same_v<S, duet::net::TcpStream>;
  using ReadFut = decltype(std::declval<S&>().read(std::declval<std::span<std::byte>>()));
  using WriteFut = decltype(std::declval<S&>().write(std::declval<std::span<const std::byte>>()));

 public:
  Serve(S stream, const Site& site, Drain& drain)
      : stream_(std::move(stream)),
        site_(&site),
        drain_(&drain),
        session_(site),
        buf_(std::make_unique_for_overwrite<char[]>(detail::kReadBufferSmall)),
        cap_(detail::kReadBufferSmall) {}
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

  // Each step returns true to go on at once, false to wait (or when done).

  bool parse() {
    if (pos_ < end_) pos_ += session_.feed(buf_.get() + pos_, end_ - pos_);
    if (!session_.output().empty()) return start_write();
    if (session_.closing()) return close();
    if (pos_ < end_) return true;  // (not reached: a pause leaves output)
    return start_read();
  }

  bool start_read() {
    // The flag alone: a drain it misses is seen by watch_drain while reading.
    if (drain_->on.load(std::memory_order_acquire)) session_.drain();
    if (session_.closing()) return close();
    // A new request's header (or the idle gap before it) gets one deadline
    // in all; a body's read gets one per read.
    if (session_.idle() || session_.in_body()) arm(site_->limits.read_timeout);
    step_ = Step::read;
    return true;
  }

  bool read(duet::Context& cx) {
    if (!read_) {
      if (end_ == cap_ && cap_ < detail::kReadBuffer) grow();
      read_.emplace(stream_.read(std::as_writable_bytes(std::span(buf_.get(), cap_))));
    }
    auto p = read_->poll(cx);
    if (p.is_pending()) {
      if (watch_drain(cx) && session_.closing()) return finish();
      if (expired(cx)) return finish();
      return false;
    }
    read_.reset();
    auto r = std::move(p).value();
    if (!r || *r == 0) return finish();  // the peer closed (or reset)
    pos_ = 0;
    end_ = *r;
    step_ = Step::parse;
    return true;
  }

  bool start_write() {
    written_ = 0;
    arm(site_->limits.read_timeout);
    step_ = Step::write;
    return true;
  }

  bool write(duet::Context& cx) {
    const std::string_view out = session_.output();
    while (written_ < out.size()) {
      if (!write_) {
        write_.emplace(stream_.write(std::as_bytes(std::span(out.substr(written_)))));
      }
      auto p = write_->poll(cx);
      if (p.is_pending()) return expired(cx) ? finish() : false;
      write_.reset();
      auto r = std::move(p).value();
      if (!r) return finish();
      written_ += *r;
      arm(site_->limits.read_timeout);
    }
    session_.clear_output();
    if (auto f = session_.take_file()) {
      file_.emplace(std::move(f->file));
      file_left_ = f->size;
      file_off_ = 0;
      step_ = Step::file;
      return true;
    }
    step_ = Step::parse;
    return true;
  }

  bool send_file(duet::Context& cx) {
    if constexpr (kTcp) {
      // Zero-copy: the kernel moves the file's pages to the socket.
      if (!sendfile_) sendfile_.emplace(stream_.send_file(*file_, 0, file_left_));
      auto p = sendfile_->poll(cx);
      if (p.is_pending()) return expired(cx) ? finish() : false;
      sendfile_.reset();
      file_.reset();
      if (p.value().error) return finish();
    } else {
      // TLS encrypts in user space: the file goes through a buffer.
      if (!chunk_) chunk_ = std::make_unique_for_overwrite<char[]>(detail::kFileChunk);
      while (file_left_ > 0) {
        if (chunk_len_ == chunk_sent_) {
          const auto n = ::pread(file_->native_handle(), chunk_.get(),
                                 std::min<std::uint64_t>(file_left_, detail::kFileChunk),
                                 static_cast<off_t>(file_off_));
          if (n <= 0) return finish();
          chunk_len_ = static_cast<std::size_t>(n);
          chunk_sent_ = 0;
        }
        if (!write_) {
          write_.emplace(stream_.write(
              std::as_bytes(std::span(chunk_.get() + chunk_sent_, chunk_len_ - chunk_sent_))));
        }
        auto p = write_->poll(cx);
        if (p.is_pending()) return expired(cx) ? finish() : false;
        write_.reset();
        auto r = std::move(p).value();
        if (!r) return finish();
        chunk_sent_ += *r;
        file_off_ += *r;
        file_left_ -= *r;
        arm(site_->limits.read_timeout);
      }
      chunk_len_ = chunk_sent_ = 0;
      file_.reset();
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
      arm(site_->limits.read_timeout);
      step_ = Step::linger;
      return true;
    } else {
      return finish();
    }
  }

  bool linger(duet::Context& cx) {
    for (;;) {
      if (!read_) read_.emplace(stream_.read(std::as_writable_bytes(std::span(buf_.get(), cap_))));
      auto p = read_->poll(cx);
      if (p.is_pending()) return expired(cx) ? finish() : false;
      read_.reset();
      auto r = std::move(p).value();
      if (!r || *r == 0) return finish();
    }
  }

  bool finish() {
    read_.reset();
    write_.reset();
    step_ = Step::done;
    return false;
  }

  /// Sets the deadline `d` from now. The timer is re-armed lazily: one
  /// armed for an earlier deadline fires, finds the deadline moved, and
  /// re-arms (so a busy connection does not touch the timer per request).
  void arm(std::chrono::milliseconds d) { deadline_ = duet::Clock::now() + d; }

  bool expired(duet::Context& cx) {
    for (;;) {
      if (!timer_) timer_.emplace(deadline_);
      if (timer_->poll(cx).is_pending()) return false;
      if (timer_->deadline() >= deadline_) return true;
      timer_.reset();  // it fired for a deadline since moved later
    }
  }

  /// True once the drain began (polled while reading): the session is told.
  bool watch_drain(duet::Context& cx) {
    if (drain_seen_) return false;
    // The Notified first, then the flag: a notify_all after its creation
    // completes it, and one before set the flag first.
    if (!drain_wait_) drain_wait_.emplace(drain_->notify.notified());
    // Acquire: pairs with begin_drain's release store.
    bool on = drain_->on.load(std::memory_order_acquire);
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
    session_.drain();
    return true;
  }

  S stream_;
  const Site* site_;
  Drain* drain_;
  Session session_;
  /// The last read filled the small buffer: the large one, from the next
  /// read on (no input is pending then: pos_ == end_).
  void grow() {
    buf_ = std::make_unique_for_overwrite<char[]>(detail::kReadBuffer);
    cap_ = detail::kReadBuffer;
    pos_ = end_ = 0;
  }

  std::unique_ptr<char[]> buf_;
  std::size_t cap_;                // buf_'s size: kReadBufferSmall, then kReadBuffer
  std::size_t pos_ = 0, end_ = 0;  // unparsed input in buf_
  std::size_t written_ = 0;        // of session_.output()
  Step step_ = Step::parse;

  std::optional<ReadFut> read_;
  std::optional<WriteFut> write_;
  std::optional<duet::Sleep> timer_;
  duet::Instant deadline_{};
  std::optional<duet::Notify::Notified> drain_wait_;
  bool drain_queued_ = false;  // drain_wait_ is registered with the Notify
  bool drain_seen_ = false;

  std::optional<duet::fs::File> file_;
  std::uint64_t file_left_ = 0, file_off_ = 0;
  std::optional<duet::net::SendFileFuture> sendfile_;  // TCP
  std::unique_ptr<char[]> chunk_;                      // TLS
  std::size_t chunk_len_ = 0, chunk_sent_ = 0;
};

}  // namespace http_server
