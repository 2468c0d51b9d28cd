// duet/io/stream.hpp: the byte-stream protocol that the buffered reader and
// writer (duet/io/buffered.hpp) and the split halves are generic over, and
// the errors of stream algorithms that no syscall reports.
//
// A ReadStream has `read(std::span<std::byte>)` returning a poll future of
// duet::Result<std::size_t> (0: end of stream); a WriteStream has
// `write(std::span<const std::byte>)` likewise (a partial write is not an
// error). TcpStream, its split halves, and any stream with that member
// shape (a TLS stream, a child process's pipe) model them.
//
// Example (file):
//   static_assert(duet::io::ReadStream<duet::net::TcpStream>);
//   static_assert(duet::io::WriteStream<duet::net::TcpStream>);
#pragma once

#include "duet/export.hpp"

#include <concepts>
#include <cstddef>
#include <span>
#include <system_error>
#include <type_traits>

#include "duet/poll.hpp"
#include "duet/result.hpp"

namespace duet::io {

template <class S>
concept ReadStream = requires(S& s, std::span<std::byte> b) {
  { s.read(b) } -> Future;
  requires std::same_as<future_output_t<decltype(s.read(b))>, duet::Result<std::size_t>>;
};

template <class S>
concept WriteStream = requires(S& s, std::span<const std::byte> b) {
  { s.write(b) } -> Future;
  requires std::same_as<future_output_t<decltype(s.write(b))>, duet::Result<std::size_t>>;
};

/// Errors of the stream algorithms (read_exact, read_until, write_all) that
/// no syscall reports; category "duet.io.stream".
enum class StreamErrc {
  unexpected_eof = 1,  // the stream ended before the bytes asked for
  limit_exceeded,      // read_until found no delimiter within its limit
  write_zero,          // a write accepted no bytes
};

DUET_API const std::error_category& stream_category() noexcept;

inline std::error_code make_error_code(StreamErrc e) noexcept {
  return {static_cast<int>(e), stream_category()};
}

/// What a multi-step transfer moved before it ended: all of it (no
/// error), or `bytes` and the error that stopped it. The bytes counted are
/// in the caller's buffer (a read) or handed to the stream (a write). Both
/// mean something at once, as Go's (n, err) pair does: a write_all cut by a
/// timeout says how many bytes reached the socket before it. The error is
/// read as Result's is: `if (!t) use(t.error())`.
class DUET_API Transferred {
 public:
  Transferred() noexcept = default;
  Transferred(std::size_t n, std::error_code e) noexcept : bytes(n), error_(e) {}
  std::size_t bytes = 0;
  /// All of it moved: no error.
  [[nodiscard]] bool ok() const noexcept { return !error_; }
  [[nodiscard]] bool has_value() const noexcept { return ok(); }
  explicit operator bool() const noexcept { return ok(); }
  /// The error that stopped the transfer; empty when all of it moved.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }
  /// The bytes of a transfer that moved all of them; else throws
  /// std::system_error with the error (the bytes before it are lost to the
  /// caller: test first where they matter).
  std::size_t value() const {
    if (error_) throw std::system_error(error_);
    return bytes;
  }
  friend bool operator==(const Transferred&, const Transferred&) = default;

 private:
  std::error_code error_;
};

}  // namespace duet::io

/// A Transferred carries an error: a timeout around a transfer that cannot
/// be cut reports it with no bytes (duet/poll.hpp; the transfers of
/// sockets can be cut, and count their bytes).
template <>
struct duet::error_output<duet::io::Transferred> {
  static duet::io::Transferred make(std::error_code e) { return {0, e}; }
};

// A specialization of the standard library's, not duet's API: hidden from the reference.
/// @cond
template <>
struct std::is_error_code_enum<duet::io::StreamErrc> : std::true_type {};
/// @endcond
