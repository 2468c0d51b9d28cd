// duet/io/stream.hpp: the byte-stream protocol that the buffered reader and
// writer (duet/io/buffered.hpp) and the split halves are generic over, and
// the errors of stream algorithms that no syscall reports.
//
// A ReadStream has `read(std::span<std::byte>)` returning a poll future of
// io::Result<std::size_t> (0: end of stream); a WriteStream has
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

#include "duet/io/result.hpp"
#include "duet/poll.hpp"

namespace duet::io {

template <class S>
concept ReadStream = requires(S& s, std::span<std::byte> b) {
  { s.read(b) } -> Future;
  requires std::same_as<future_output_t<decltype(s.read(b))>, Result<std::size_t>>;
};

template <class S>
concept WriteStream = requires(S& s, std::span<const std::byte> b) {
  { s.write(b) } -> Future;
  requires std::same_as<future_output_t<decltype(s.write(b))>, Result<std::size_t>>;
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

/// What a multi-step transfer moved before it ended: all of it (`error`
/// empty), or `bytes` and the error that stopped it. The bytes counted are
/// in the caller's buffer (a read) or handed to the stream (a write).
struct DUET_API Transferred {
  std::size_t bytes = 0;
  std::error_code error;
  [[nodiscard]] bool ok() const noexcept { return !error; }
  explicit operator bool() const noexcept { return ok(); }
};

}  // namespace duet::io

// A specialization of the standard library's, not duet's API: hidden from the reference.
/// @cond
template <>
struct std::is_error_code_enum<duet::io::StreamErrc> : std::true_type {};
/// @endcond
