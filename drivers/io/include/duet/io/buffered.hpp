// duet/io/buffered.hpp: a buffered reader (read_until, read_line,
// read_exact, fill_buf) and a buffered writer (write, write_all, flush)
// over any stream of duet/io/stream.hpp: TcpStream, its split halves, a TLS
// stream, a pipe.
//
// Example (coroutine):
//   duet::io::BufReader rd(std::move(stream));
//   std::string line;
//   auto n = co_await rd.read_line(line);        // duet::Result<size_t>; 0: end of stream
//   if (!n) use(n.error().message());
//
// Example (fiber):
//   duet::io::BufWriter wr(std::move(stream));
//   auto t = duet::wait(wr.write_all(std::as_bytes(std::span("hello\n", 6))));
//   auto f = duet::wait(wr.flush());             // the bytes reach the socket here
//
// Every method returns a poll future, so each works as `co_await op`,
// `duet::wait(op)` and `rt.spawn(op)`. A future borrows its reader or
// writer (and the string it appends to): keep them alive, and unmoved,
// until the future is done or dropped. Dropping a future in flight cancels
// the stream's read or write (its buffer-ownership rules apply: nothing is
// written into the reader's buffer after the drop).
//
// The hot path: a read_line whose line is buffered scans with memchr and
// appends to the caller's string; it makes no syscall and allocates nothing
// beyond the string's growth. A write that fits the buffer is a copy.
//
// Memory: a reader takes its buffer at its first read and keeps it;
// release_buffer() gives it back while it holds nothing, so a server
// holding many idle connections need not hold a buffer for each.
//
// Errors lose no bytes: bytes appended or copied before an error stay with
// the caller (read_until, read_exact's Transferred::bytes), and a flush that
// fails keeps its unwritten bytes for the next flush.
//
// Over a stream whose reads and writes can be cut (duet::Cuttable: TcpStream
// and its halves), every future here can be cut too, so duet::timeout stops
// it without losing count: the read or write in flight ends as the kernel
// left it, what it moved is counted (a flush's written bytes leave the
// buffer, a read's land in it), and the future ends with the timeout's
// error. The writer does not
// flush in its destructor (that would block): flush before dropping it.
#pragma once

#include "duet/export.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "duet/io/stream.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"

namespace duet::io {

inline constexpr std::size_t kDefaultBufferSize = 8 * 1024;

namespace detail {
/// Polls `f`; after a cut (`why` set) polls its cut instead, where F has one.
template <class F>
auto poll_or_cut(F& f, Context& cx, const std::error_code* why) {
  if constexpr (Cuttable<F>) {
    if (why != nullptr) return f.poll_cut(cx, *why);
  }
  return f.poll(cx);
}
}  // namespace detail

template <ReadStream S>
class DUET_API BufReader {
  using Inner = decltype(std::declval<S&>().read(std::declval<std::span<std::byte>>()));

 public:
  /// The buffer of `capacity` bytes is taken at the first read.
  explicit BufReader(S inner, std::size_t capacity = kDefaultBufferSize)
      : inner_(std::move(inner)), cap_(std::max<std::size_t>(capacity, 1)) {}

  /// The buffered bytes not read yet.
  [[nodiscard]] std::span<const std::byte> buffer() const noexcept {
    return {buf_.get() + pos_, end_ - pos_};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }
  /// Whether the reader holds its buffer now (it takes it at a read).
  [[nodiscard]] bool holds_buffer() const noexcept { return buf_ != nullptr; }
  /// Gives the buffer back while it holds no unread byte, so that a reader
  /// waiting on a long-lived connection holds none; the next read takes a
  /// new one. False, changing nothing, while bytes are buffered. Not while
  /// a future of this reader is pending (as for a move: its read may be
  /// filling the buffer).
  bool release_buffer() noexcept {
    if (pos_ != end_) return false;
    buf_.reset();
    pos_ = end_ = 0;
    return true;
  }
  /// Marks `n` buffered bytes read (n <= buffer().size()).
  void consume(std::size_t n) noexcept { pos_ += std::min(n, end_ - pos_); }
  [[nodiscard]] S& get_ref() noexcept { return inner_; }
  /// The stream back; the buffered bytes are dropped.
  S into_inner() && { return std::move(inner_); }

  class [[nodiscard]] FillBufFuture;
  class [[nodiscard]] ReadFuture;
  class [[nodiscard]] ReadUntilFuture;
  class [[nodiscard]] ReadExactFuture;

  /// The buffered bytes, reading once when there are none:
  /// duet::Result<span>, empty at end of stream. Pair with consume().
  FillBufFuture fill_buf() noexcept { return FillBufFuture(this); }
  /// Up to buf.size() bytes: the buffered ones first; a read at least as
  /// large as the buffer goes straight to the stream. 0: end of stream.
  ReadFuture read(std::span<std::byte> buf) noexcept { return ReadFuture(this, buf); }
  /// Appends to `out` up to and including `delim`: duet::Result<bytes appended>,
  /// fewer without the delimiter at end of stream, 0 at end of stream. With
  /// `limit` bytes appended and no delimiter: StreamErrc::limit_exceeded
  /// (the bytes stay in `out`, the rest in the reader).
  ReadUntilFuture read_until(char delim, std::string& out,
                             std::size_t limit = std::numeric_limits<std::size_t>::max()) noexcept {
    return ReadUntilFuture(this, delim, out, limit);
  }
  /// read_until('\n'): the line with its '\n'.
  ReadUntilFuture read_line(std::string& out,
                            std::size_t limit = std::numeric_limits<std::size_t>::max()) noexcept {
    return ReadUntilFuture(this, '\n', out, limit);
  }
  /// Fills all of `buf`: Transferred; at end of stream first,
  /// StreamErrc::unexpected_eof with the bytes it got.
  ReadExactFuture read_exact(std::span<std::byte> buf) noexcept {
    return ReadExactFuture(this, buf);
  }

 private:
  /// Refills the empty buffer with one read of the stream: ready with the
  /// read's result (0: end of stream).
  /// After a cut (`why` set) no read starts: the error is `why`.
  Poll<duet::Result<std::size_t>> poll_fill(std::optional<Inner>& fill, Context& cx,
                                            const std::error_code* why) {
    if (!fill) {
      if (why != nullptr) return duet::Result<std::size_t>(*why);
      pos_ = end_ = 0;
      if (!buf_) buf_ = std::make_unique_for_overwrite<std::byte[]>(cap_);
      fill.emplace(inner_.read(std::span<std::byte>(buf_.get(), cap_)));
    }
    auto p = detail::poll_or_cut(*fill, cx, why);
    if (p.is_pending()) return pending;
    fill.reset();
    duet::Result<std::size_t> r = std::move(p).value();
    if (r) end_ = *r;
    return r;
  }
  /// Copies buffered bytes into `to`: how many.
  std::size_t take(std::span<std::byte> to) noexcept {
    const std::size_t n = std::min(to.size(), end_ - pos_);
    if (n != 0) std::memcpy(to.data(), buf_.get() + pos_, n);
    pos_ += n;
    return n;
  }

  S inner_;
  std::unique_ptr<std::byte[]> buf_;  // none until the first read, or released
  std::size_t cap_;
  std::size_t pos_ = 0;  // next unread byte
  std::size_t end_ = 0;  // end of the buffered bytes
};

template <ReadStream S>
class BufReader<S>::FillBufFuture {
 public:
  explicit FillBufFuture(BufReader* r) noexcept : r_(r) {}
  Poll<duet::Result<std::span<const std::byte>>> poll(Context& cx) { return step(cx, nullptr); }
  Poll<duet::Result<std::span<const std::byte>>> poll_cut(
      Context& cx, std::error_code why) requires Cuttable<Inner> {
    return step(cx, &why);
  }

 private:
  Poll<duet::Result<std::span<const std::byte>>> step(Context& cx, const std::error_code* why) {
    if (r_->pos_ == r_->end_) {
      auto p = r_->poll_fill(fill_, cx, why);
      if (p.is_pending()) return pending;
      if (!p.value()) return duet::Result<std::span<const std::byte>>(p.value().error());
    }
    return duet::Result<std::span<const std::byte>>(r_->buffer());
  }

  BufReader* r_;
  std::optional<Inner> fill_;
};

template <ReadStream S>
class BufReader<S>::ReadFuture {
 public:
  ReadFuture(BufReader* r, std::span<std::byte> buf) noexcept : r_(r), buf_(buf) {}
  Poll<duet::Result<std::size_t>> poll(Context& cx) { return step(cx, nullptr); }
  Poll<duet::Result<std::size_t>> poll_cut(Context& cx,
                                           std::error_code why) requires Cuttable<Inner> {
    return step(cx, &why);
  }

 private:
  Poll<duet::Result<std::size_t>> step(Context& cx, const std::error_code* why) {
    if (buf_.empty()) return duet::Result<std::size_t>(std::size_t{0});
    if (r_->pos_ != r_->end_) return duet::Result<std::size_t>(r_->take(buf_));
    if (buf_.size() >= r_->cap_) {
      // Straight into the caller's buffer: copying through ours gains nothing.
      if (!read_) {
        if (why != nullptr) return duet::Result<std::size_t>(*why);
        read_.emplace(r_->inner_.read(buf_));
      }
      auto p = detail::poll_or_cut(*read_, cx, why);
      if (p.is_pending()) return pending;
      read_.reset();
      return std::move(p).value();
    }
    auto p = r_->poll_fill(read_, cx, why);
    if (p.is_pending()) return pending;
    if (!p.value()) return std::move(p).value();
    return duet::Result<std::size_t>(r_->take(buf_));
  }

  BufReader* r_;
  std::span<std::byte> buf_;
  std::optional<Inner> read_;
};

template <ReadStream S>
class BufReader<S>::ReadUntilFuture {
 public:
  ReadUntilFuture(BufReader* r, char delim, std::string& out, std::size_t limit) noexcept
      : r_(r), out_(&out), limit_(limit), delim_(delim) {}
  Poll<duet::Result<std::size_t>> poll(Context& cx) { return step(cx, nullptr); }
  Poll<duet::Result<std::size_t>> poll_cut(Context& cx,
                                           std::error_code why) requires Cuttable<Inner> {
    return step(cx, &why);
  }

 private:
  Poll<duet::Result<std::size_t>> step(Context& cx, const std::error_code* why) {
    for (;;) {
      if (r_->pos_ != r_->end_) {
        const char* from = reinterpret_cast<const char*>(r_->buf_.get() + r_->pos_);
        const std::size_t scan = std::min(r_->end_ - r_->pos_, limit_ - got_);
        const void* hit = std::memchr(from, delim_, scan);
        const std::size_t n =
            hit != nullptr ? static_cast<std::size_t>(static_cast<const char*>(hit) - from) + 1
                           : scan;
        out_->append(from, n);
        r_->pos_ += n;
        got_ += n;
        if (hit != nullptr) return duet::Result<std::size_t>(got_);
        if (got_ == limit_)
          return duet::Result<std::size_t>(make_error_code(StreamErrc::limit_exceeded));
      }
      auto p = r_->poll_fill(fill_, cx, why);
      if (p.is_pending()) return pending;
      if (!p.value()) return std::move(p).value();
      if (*p.value() == 0) return duet::Result<std::size_t>(got_);  // end of stream
    }
  }

  BufReader* r_;
  std::string* out_;
  std::size_t limit_;
  std::size_t got_ = 0;
  char delim_;
  std::optional<Inner> fill_;
};

template <ReadStream S>
class BufReader<S>::ReadExactFuture {
 public:
  ReadExactFuture(BufReader* r, std::span<std::byte> buf) noexcept : r_(r), buf_(buf) {}
  Poll<Transferred> poll(Context& cx) { return step(cx, nullptr); }
  Poll<Transferred> poll_cut(Context& cx, std::error_code why) requires Cuttable<Inner> {
    return step(cx, &why);
  }

 private:
  Poll<Transferred> step(Context& cx, const std::error_code* why) {
    for (;;) {
      got_ += r_->take(buf_.subspan(got_));
      if (got_ == buf_.size()) return Transferred{got_, {}};
      Poll<duet::Result<std::size_t>> p = pending;
      std::span<std::byte> rest = buf_.subspan(got_);
      if (rest.size() >= r_->cap_) {
        if (!read_) {
          if (why != nullptr) return Transferred{got_, *why};
          read_.emplace(r_->inner_.read(rest));
        }
        p = detail::poll_or_cut(*read_, cx, why);
        if (p.is_ready()) {
          read_.reset();
          if (p.value()) got_ += *p.value();
        }
      } else {
        p = r_->poll_fill(read_, cx, why);
      }
      if (p.is_pending()) return pending;
      if (!p.value()) return Transferred{got_, p.value().error()};
      if (*p.value() == 0) return Transferred{got_, make_error_code(StreamErrc::unexpected_eof)};
    }
  }

  BufReader* r_;
  std::span<std::byte> buf_;
  std::size_t got_ = 0;
  std::optional<Inner> read_;
};

template <WriteStream S>
class DUET_API BufWriter {
  using Inner = decltype(std::declval<S&>().write(std::declval<std::span<const std::byte>>()));

 public:
  explicit BufWriter(S inner, std::size_t capacity = kDefaultBufferSize)
      : inner_(std::move(inner)),
        buf_(std::make_unique_for_overwrite<std::byte[]>(std::max<std::size_t>(capacity, 1))),
        cap_(std::max<std::size_t>(capacity, 1)) {}

  /// The bytes written to the writer and not yet to the stream.
  [[nodiscard]] std::span<const std::byte> buffer() const noexcept {
    return {buf_.get() + sent_, len_ - sent_};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }
  [[nodiscard]] S& get_ref() noexcept { return inner_; }
  /// The stream back; unflushed bytes are dropped (flush first).
  S into_inner() && { return std::move(inner_); }

  class [[nodiscard]] FlushFuture;
  class [[nodiscard]] WriteFuture;
  class [[nodiscard]] WriteAllFuture;

  /// Writes all buffered bytes to the stream: duet::Result<void>. On error the
  /// unwritten bytes stay buffered (a later flush retries them).
  FlushFuture flush() noexcept { return FlushFuture(this); }
  /// Some of `data` (duet::Result<count>): buffered when it fits; else the buffer
  /// is flushed first, and data at least as large as the buffer goes
  /// straight to the stream.
  WriteFuture write(std::span<const std::byte> data) noexcept { return WriteFuture(this, data); }
  /// All of `data`: Transferred (the bytes taken, buffered or written,
  /// before any error).
  WriteAllFuture write_all(std::span<const std::byte> data) noexcept {
    return WriteAllFuture(this, data);
  }

 private:
  /// One step of a flush: ready when the buffer is empty, or with the error.
  /// After a cut (`why` set) no write starts: the error is `why`.
  Poll<duet::Result<void>> poll_flush(std::optional<Inner>& w, Context& cx,
                                      const std::error_code* why) {
    while (sent_ != len_) {
      if (!w) {
        if (why != nullptr) return duet::Result<void>(*why);
        w.emplace(inner_.write(buffer()));
      }
      auto p = detail::poll_or_cut(*w, cx, why);
      if (p.is_pending()) return pending;
      w.reset();
      duet::Result<std::size_t> r = std::move(p).value();
      if (!r) return duet::Result<void>(r.error());
      if (*r == 0) return duet::Result<void>(make_error_code(StreamErrc::write_zero));
      sent_ += *r;
    }
    sent_ = len_ = 0;
    return duet::Result<void>();
  }
  /// Copies what fits of `data` into the buffer: how much.
  std::size_t put(std::span<const std::byte> data) noexcept {
    const std::size_t n = std::min(data.size(), cap_ - len_);
    if (n != 0) std::memcpy(buf_.get() + len_, data.data(), n);
    len_ += n;
    return n;
  }
  /// Whether `n` bytes go straight to the stream: the buffer is empty and
  /// they would fill it.
  [[nodiscard]] bool bypass(std::size_t n) const noexcept { return len_ == 0 && n >= cap_; }

  S inner_;
  std::unique_ptr<std::byte[]> buf_;
  std::size_t cap_;
  std::size_t sent_ = 0;  // bytes of the buffer already written
  std::size_t len_ = 0;   // end of the buffered bytes
};

template <WriteStream S>
class BufWriter<S>::FlushFuture {
 public:
  explicit FlushFuture(BufWriter* w) noexcept : w_(w) {}
  Poll<duet::Result<void>> poll(Context& cx) { return w_->poll_flush(write_, cx, nullptr); }
  Poll<duet::Result<void>> poll_cut(Context& cx, std::error_code why) requires Cuttable<Inner> {
    return w_->poll_flush(write_, cx, &why);
  }

 private:
  BufWriter* w_;
  std::optional<Inner> write_;
};

template <WriteStream S>
class BufWriter<S>::WriteFuture {
 public:
  WriteFuture(BufWriter* w, std::span<const std::byte> data) noexcept : w_(w), data_(data) {}
  Poll<duet::Result<std::size_t>> poll(Context& cx) { return step(cx, nullptr); }
  Poll<duet::Result<std::size_t>> poll_cut(Context& cx,
                                           std::error_code why) requires Cuttable<Inner> {
    return step(cx, &why);
  }

 private:
  Poll<duet::Result<std::size_t>> step(Context& cx, const std::error_code* why) {
    if (!direct_ && w_->len_ + data_.size() <= w_->cap_) {
      return duet::Result<std::size_t>(w_->put(data_));
    }
    if (!direct_) {
      auto f = w_->poll_flush(write_, cx, why);
      if (f.is_pending()) return pending;
      if (!f.value()) return duet::Result<std::size_t>(f.value().error());
      if (!w_->bypass(data_.size())) return duet::Result<std::size_t>(w_->put(data_));
      if (why != nullptr) return duet::Result<std::size_t>(*why);
      direct_ = true;
      write_.emplace(w_->inner_.write(data_));
    }
    auto p = detail::poll_or_cut(*write_, cx, why);
    if (p.is_pending()) return pending;
    write_.reset();
    return std::move(p).value();
  }

  BufWriter* w_;
  std::span<const std::byte> data_;
  bool direct_ = false;  // data_ goes straight to the stream
  std::optional<Inner> write_;
};

template <WriteStream S>
class BufWriter<S>::WriteAllFuture {
 public:
  WriteAllFuture(BufWriter* w, std::span<const std::byte> data) noexcept : w_(w), data_(data) {}
  Poll<Transferred> poll(Context& cx) { return step(cx, nullptr); }
  Poll<Transferred> poll_cut(Context& cx, std::error_code why) requires Cuttable<Inner> {
    return step(cx, &why);
  }

 private:
  Poll<Transferred> step(Context& cx, const std::error_code* why) {
    for (;;) {
      std::span<const std::byte> rest = data_.subspan(done_);
      if (direct_ || w_->bypass(rest.size())) {
        direct_ = true;
        if (!write_) {
          if (why != nullptr) return Transferred{done_, *why};
          write_.emplace(w_->inner_.write(rest));
        }
        auto p = detail::poll_or_cut(*write_, cx, why);
        if (p.is_pending()) return pending;
        write_.reset();
        direct_ = false;
        duet::Result<std::size_t> r = std::move(p).value();
        if (!r) return Transferred{done_, r.error()};
        if (*r == 0) return Transferred{done_, make_error_code(StreamErrc::write_zero)};
        done_ += *r;
      } else {
        done_ += w_->put(rest);
        if (done_ == data_.size()) return Transferred{done_, {}};
        auto f = w_->poll_flush(write_, cx, why);  // the buffer is full
        if (f.is_pending()) return pending;
        if (!f.value()) return Transferred{done_, f.value().error()};
      }
      if (done_ == data_.size()) return Transferred{done_, {}};
    }
  }

  BufWriter* w_;
  std::span<const std::byte> data_;
  std::size_t done_ = 0;
  bool direct_ = false;  // a direct write of the rest is in flight
  std::optional<Inner> write_;
};

}  // namespace duet::io
