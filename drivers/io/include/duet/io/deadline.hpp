// duet/io/deadline.hpp: read and write deadlines on a stream, as Go's
// SetReadDeadline and SetWriteDeadline: a point in time after which every
// read (or write) of the stream, the one waiting then and any later one,
// ends with duet::TimeoutErrc::elapsed (which also compares equal to
// std::errc::timed_out), until the deadline is moved.
//
// Example (coroutine):
//   duet::io::DeadlineStream ds(std::move(stream));
//   ds.set_read_deadline(duet::Clock::now() + 30s);  // the whole request, however many reads
//   duet::io::BufReader rd(std::move(ds));
//   std::string line;
//   auto n = co_await rd.read_line(line);  // duet::Result<size_t>: elapsed after 30 s
//   if (!n && duet::is_elapsed(n.error())) { /* the peer was too slow */ }
//
// DeadlineStream<S> wraps any stream of duet/io/stream.hpp (TcpStream, its
// halves, a TLS stream) and is one itself, so the buffered reader and
// writer, and any code written over the stream concepts, run under the
// deadline without knowing it: the way to bound a library's I/O on a
// connection. Each operation is a duet::Timeout at the deadline set when
// it was made; where the stream's operations can be cut (a socket's), a
// write at the deadline reports the bytes that reached the socket, as
// duet::timeout does (duet/time/timeout.hpp). A deadline of Instant::max()
// (the default, and clear_deadlines()) is none: the operation costs no
// timer. Moving a deadline does not touch an operation already made.
#pragma once

#include <span>
#include <utility>

#include "duet/io/stream.hpp"
#include "duet/time/clock.hpp"
#include "duet/time/timeout.hpp"

namespace duet::io {

template <class S>
class DeadlineStream {
 public:
  explicit DeadlineStream(S inner) : inner_(std::move(inner)) {}

  /// Reads made after this end with elapsed at `t` (Instant::max(): never).
  void set_read_deadline(Instant t) noexcept { read_deadline_ = t; }
  /// Writes made after this end with elapsed at `t`; a write_all or a
  /// cut write reports the bytes that reached the stream before.
  void set_write_deadline(Instant t) noexcept { write_deadline_ = t; }
  /// Both.
  void set_deadline(Instant t) noexcept { read_deadline_ = write_deadline_ = t; }
  void clear_deadlines() noexcept { set_deadline(Instant::max()); }
  [[nodiscard]] Instant read_deadline() const noexcept { return read_deadline_; }
  [[nodiscard]] Instant write_deadline() const noexcept { return write_deadline_; }

  /// Up to buf.size() bytes, as S's read; elapsed at the read deadline.
  auto read(std::span<std::byte> buf) requires ReadStream<S> {
    return timeout_at(read_deadline_, inner_.read(buf));
  }
  /// Some of `data`, as S's write; elapsed at the write deadline.
  auto write(std::span<const std::byte> data) requires WriteStream<S> {
    return timeout_at(write_deadline_, inner_.write(data));
  }
  /// All of `data` (S's write_all): io::Transferred; at the write
  /// deadline, the bytes that reached the stream and elapsed.
  auto write_all(std::span<const std::byte> data) requires requires(S& s) { s.write_all(data); }
  { return timeout_at(write_deadline_, inner_.write_all(data)); }

  [[nodiscard]] S& get_ref() noexcept { return inner_; }
  [[nodiscard]] const S& get_ref() const noexcept { return inner_; }
  S into_inner() && { return std::move(inner_); }

 private:
  S inner_;
  Instant read_deadline_ = Instant::max();
  Instant write_deadline_ = Instant::max();
};

}  // namespace duet::io
