// duet/net/tcp.hpp: TCP listeners and streams, the same types for
// coroutines and fibers (duet/io/futures.hpp):
//
// Example (coroutine):
//   auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
//   auto s = co_await l->accept();                   // Result<TcpStream>
//   auto n = co_await s->read(buf);                  // Result<size_t>
//   auto w = co_await s->write_all(std::span(buf).first(*n));
//
// Example (fiber):
//   auto addr = duet::net::SocketAddr::v4_loopback(8080);
//   auto c = duet::wait(duet::net::TcpStream::connect(addr, 2s));  // with a timeout
//   auto n = duet::wait(c->write(std::span(buf).first(5)));
//
// Errors are values (Result): ECONNRESET, EPIPE (writes use MSG_NOSIGNAL:
// no SIGPIPE), ECONNREFUSED, ETIMEDOUT, EMFILE from accept (the listener
// stays usable), ECANCELED. One reader and one writer at a time per stream
// (as Tokio's TcpStream); any number of concurrent accepts on one listener,
// on either driver.
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <array>
#include <string_view>
#include "duet/io/futures.hpp"
#include "duet/names.hpp"
#include "duet/net/address.hpp"
#include "duet/time/sleep.hpp"

namespace duet::fs {
class File;
}  // namespace duet::fs

namespace duet::net {

enum class Shutdown { read, write, both };
constexpr std::array<Shutdown, 3> enum_values(Shutdown) noexcept {
  return {Shutdown::read, Shutdown::write, Shutdown::both};
}
/// "read", "write", "both" (duet/names.hpp).
constexpr std::string_view to_string(Shutdown s) noexcept {
  return s == Shutdown::read ? "read" : s == Shutdown::write ? "write" : "both";
}

class TcpStream;
class TcpSocket;
class SendFileFuture;
class SocketOptions;
class OwnedReadHalf;
class OwnedWriteHalf;

/// connect(): Result<TcpStream>; with a timeout, ETIMEDOUT when it expires
/// (the connect is cancelled and its socket closed).
///
/// The timeout counts from the first poll. On a runtime's worker it is a
/// duet::Sleep on the runtime's timer wheel, so it reads duet::Clock and
/// obeys a test clock (docs/time.md): under ClockMode::paused an hour's
/// timeout to a peer that never answers ends as soon as the workers are
/// idle. On a plain thread the connect blocks, as a blocking connect would,
/// in poll(2) bounded by the timeout (real time). The future may move
/// between polls: the Sleep lives on the heap, made by the first poll that
/// waits.
class [[nodiscard]] DUET_API ConnectFuture {
 public:
  ConnectFuture(SocketAddr to, std::chrono::nanoseconds timeout) noexcept;
  /// Connects `sock`, a socket made (and set up) by the caller.
  ConnectFuture(io::Fd sock, SocketAddr to, std::chrono::nanoseconds timeout) noexcept;
  Poll<duet::Result<TcpStream>> poll(Context& cx);

 private:
  io::detail::Source sock_;
  io::detail::OpRequest q_;  // q_.timeout: the timeout (0: none)
  io::detail::OpSlot slot_;
  std::unique_ptr<Sleep> deadline_;  // made by the first poll that waits
  SocketAddr to_;
  int err_ = 0;
};

/// accept(): Result<TcpStream>.
class [[nodiscard]] DUET_API AcceptFuture {
 public:
  explicit AcceptFuture(io::detail::Source* s) noexcept;
  Poll<duet::Result<TcpStream>> poll(Context& cx);

 private:
  io::detail::OpRequest q_;
  io::detail::OpSlot slot_;
};

/// accept_many(): Result<count appended to `out`>.
class [[nodiscard]] DUET_API AcceptManyFuture {
 public:
  AcceptManyFuture(io::detail::Source* s, std::vector<TcpStream>* out, std::size_t max) noexcept;
  Poll<duet::Result<std::size_t>> poll(Context& cx);

 private:
  AcceptFuture first_;
  io::detail::Source* src_;
  std::vector<TcpStream>* out_;
  std::size_t max_;
};

class DUET_API TcpStream {
 public:
  TcpStream() noexcept = default;
  /// Adopts a connected socket (made non-blocking).
  explicit TcpStream(io::Fd fd) noexcept;

  static ConnectFuture connect(SocketAddr to,
                               std::chrono::nanoseconds timeout = std::chrono::nanoseconds{0}) {
    return ConnectFuture(to, timeout);
  }

  /// Reads up to buf.size() bytes; 0 at end of stream, and 0 at once into
  /// an empty buffer (read(2)'s rule, on every driver).
  io::SizeFuture read(std::span<std::byte> buf) noexcept { return recv(buf, 0); }
  io::SizeFuture read(void* p, std::size_t n) noexcept {
    return read(std::span<std::byte>(static_cast<std::byte*>(p), n));
  }
  io::SizeFuture recv(std::span<std::byte> buf, int flags) noexcept;
  /// Writes some of `data` (a partial write is not an error).
  io::SizeFuture write(std::span<const std::byte> data) noexcept { return send(data, 0); }
  io::SizeFuture write(const void* p, std::size_t n) noexcept {
    return write(std::span<const std::byte>(static_cast<const std::byte*>(p), n));
  }
  io::SizeFuture send(std::span<const std::byte> data, int flags) noexcept;
  /// Writes what the socket takes now, without waiting: the bytes taken
  /// (0 when its buffer is full), or the error. Not while a write of this
  /// stream is pending: the bytes would overtake it.
  duet::Result<std::size_t> try_write(std::span<const std::byte> data) noexcept;
  /// Writes all of `data`.
  io::WriteAllFuture write_all(std::span<const std::byte> data) noexcept {
    return io::WriteAllFuture(&src_, data);
  }
  io::WriteAllFuture write_all(const void* p, std::size_t n) noexcept {
    return write_all(std::span<const std::byte>(static_cast<const std::byte*>(p), n));
  }

  /// readv(2): fills `bufs` in order with up to their total size; 0 at end
  /// of stream. The spans (and what they point to) must outlive the future.
  /// At most io::detail::kMaxIov buffers are used per call.
  io::SizeFuture read_vectored(std::span<const std::span<std::byte>> bufs) noexcept;
  /// writev(2): writes some of `bufs`, in order, in one call (a partial
  /// write is not an error).
  io::SizeFuture write_vectored(std::span<const std::span<const std::byte>> bufs) noexcept;

  /// Sends `count` bytes of `file` from `offset`, zero-copy (sendfile(2);
  /// duet/net/sendfile.hpp): io::Transferred.
  SendFileFuture send_file(const fs::File& file, std::uint64_t offset, std::size_t count) noexcept;

  /// Splits the stream into a read half and a write half that two tasks may
  /// use at once (duet/net/split.hpp); reunite() puts them back together.
  std::pair<OwnedReadHalf, OwnedWriteHalf> into_split() &&;

  /// shutdown(2): half-close (Shutdown::write sends FIN; reads go on).
  duet::Result<void> shutdown(Shutdown how = Shutdown::write) noexcept;
  /// Closes now (the destructor closes too).
  duet::Result<void> close() noexcept { return src_.close(); }
  duet::Result<void> set_nodelay(bool on) noexcept;
  /// The socket's options (duet/net/socket.hpp).
  [[nodiscard]] SocketOptions options() const noexcept;
  [[nodiscard]] duet::Result<SocketAddr> local_addr() const noexcept;
  [[nodiscard]] duet::Result<SocketAddr> peer_addr() const noexcept;
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }
  [[nodiscard]] bool is_open() const noexcept { return src_.fd.valid(); }

 private:
  friend class ConnectFuture;
  explicit TcpStream(io::detail::Source s) noexcept : src_(std::move(s)) {}
  io::detail::Source src_;
};

class DUET_API TcpListener {
 public:
  TcpListener() noexcept = default;
  /// socket + SO_REUSEADDR + bind + listen. Port 0: the kernel picks one
  /// (read it back with local_addr()).
  static duet::Result<TcpListener> bind(SocketAddr addr, int backlog = 4096) noexcept;
  AcceptFuture accept() noexcept { return AcceptFuture(&src_); }
  /// Waits for one connection, then takes the ones already queued without
  /// waiting again, up to `max` in all; appends them to `out`:
  /// Result<how many>. An error after the first connection ends the batch
  /// (the connections taken are kept; the next call meets the error again).
  AcceptManyFuture accept_many(std::vector<TcpStream>& out, std::size_t max = 64) noexcept {
    return AcceptManyFuture(&src_, &out, max);
  }
  [[nodiscard]] duet::Result<SocketAddr> local_addr() const noexcept;
  /// The socket's options (duet/net/socket.hpp).
  [[nodiscard]] SocketOptions options() const noexcept;
  duet::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }

 private:
  friend class TcpSocket;
  io::detail::Source src_;
};

}  // namespace duet::net
