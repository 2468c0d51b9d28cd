// duet/net/unix.hpp: Unix domain sockets: streams and listeners, datagram
// sockets, filesystem paths and abstract names, descriptor passing
// (SCM_RIGHTS) and the peer's credentials (SO_PEERCRED).
//
// Example (coroutine):
//   auto l = duet::net::UnixListener::bind(duet::net::UnixAddr::abstract("duet-demo"));
//   auto c = co_await duet::net::UnixStream::connect(duet::net::UnixAddr::abstract("duet-demo"));
//   auto s = co_await l->accept();                     // Result<UnixStream>
//   int fds[] = {0};                                   // pass our stdin
//   auto sent = co_await c->send_with_fds(std::as_bytes(std::span("x", 1)), fds);
//   std::array<int, 4> got{};
//   auto r = co_await s->recv_with_fds(buf, got);      // Result<ReceivedWithFds>
//
// The same rules as TCP (duet/net/tcp.hpp): errors are values, one reader
// and one writer at a time per stream, a future borrows its socket. A
// Unix stream reads with one-shot receives, never io_uring's multishot
// queue: a recv_with_fds must never be overtaken by bytes queued for a
// plain read (and a plain read would drop the descriptors that came with
// its bytes: the kernel closes those).
//
// Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC) and owned by
// the caller (io::Fd them); descriptors beyond the caller's array, or
// received by a future dropped after its completion, are closed.
#pragma once

#include "duet/export.hpp"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "duet/io/futures.hpp"
#include "duet/net/address.hpp"
#include "duet/net/tcp.hpp"
#include "duet/net/udp.hpp"

namespace duet::net {

/// A Unix socket address: a filesystem path, an abstract name (Linux: no
/// file, gone with its last socket), or unnamed.
class DUET_API UnixAddr {
 public:
  UnixAddr() noexcept;
  /// A path (at most 107 bytes); longer ones give an unnamed address that
  /// bind and connect refuse (EINVAL).
  static UnixAddr path(std::string_view p) noexcept;
  /// An abstract name (at most 107 bytes).
  static UnixAddr abstract(std::string_view name) noexcept;
  /// From an address of family AF_UNIX (as accept or recvfrom fill it).
  static UnixAddr from(const SocketAddr& a) noexcept;

  [[nodiscard]] bool is_abstract() const noexcept;
  [[nodiscard]] bool is_unnamed() const noexcept;
  /// The path, or the abstract name (without its leading NUL).
  [[nodiscard]] std::string name() const;
  /// As a SocketAddr (what the socket operations take).
  [[nodiscard]] const SocketAddr& socket_addr() const noexcept { return a_; }

 private:
  SocketAddr a_;
};

/// The peer's process credentials at connect time (SO_PEERCRED).
struct DUET_API PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// What recv_with_fds received: bytes, descriptors (in the caller's array,
/// the first `fds` of it), and whether the kernel dropped some descriptors
/// for want of room (MSG_CTRUNC; they were closed).
struct DUET_API ReceivedWithFds {
  std::size_t bytes = 0;
  std::size_t fds = 0;
  bool truncated = false;
};

/// The most descriptors one send_with_fds or recv_with_fds carries.
inline constexpr std::size_t kMaxPassedFds = io::detail::kMaxFdsPerMsg;

class UnixStream;

class [[nodiscard]] DUET_API UnixConnectFuture {
 public:
  explicit UnixConnectFuture(const UnixAddr& to) noexcept;
  Poll<duet::Result<UnixStream>> poll(Context& cx);

 private:
  io::detail::Source sock_;
  io::detail::OpRequest q_;
  io::detail::OpSlot slot_;
  SocketAddr to_;
};

class [[nodiscard]] DUET_API UnixAcceptFuture {
 public:
  explicit UnixAcceptFuture(io::detail::Source* s) noexcept;
  Poll<duet::Result<UnixStream>> poll(Context& cx);

 private:
  io::detail::OpRequest q_;
  io::detail::OpSlot slot_;
};

/// send_with_fds(): Result<bytes sent> (the descriptors go with the first
/// byte).
class [[nodiscard]] DUET_API SendFdsFuture {
 public:
  SendFdsFuture(io::detail::Source* s, std::span<const std::byte> data,
                std::span<const int> fds) noexcept;
  Poll<duet::Result<std::size_t>> poll(Context& cx);

 private:
  io::detail::OpRequest q_;
  io::detail::OpSlot slot_;
};

/// recv_with_fds(): Result<ReceivedWithFds>.
class [[nodiscard]] DUET_API RecvFdsFuture {
 public:
  RecvFdsFuture(io::detail::Source* s, std::span<std::byte> buf, std::span<int> fds) noexcept;
  Poll<duet::Result<ReceivedWithFds>> poll(Context& cx);

 private:
  io::detail::OpRequest q_;
  io::detail::OpSlot slot_;
};

class DUET_API UnixStream {
 public:
  UnixStream() noexcept = default;
  /// Adopts a connected Unix stream socket (made non-blocking).
  explicit UnixStream(io::Fd fd) noexcept;
  static UnixConnectFuture connect(const UnixAddr& to) noexcept { return UnixConnectFuture(to); }
  /// A connected pair (socketpair(2)).
  static duet::Result<std::pair<UnixStream, UnixStream>> pair() noexcept;

  /// Reads up to buf.size() bytes; 0 at end of stream (one-shot recv), and
  /// 0 at once into an empty buffer (read(2)'s rule).
  io::SizeFuture read(std::span<std::byte> buf) noexcept;
  io::SizeFuture write(std::span<const std::byte> data) noexcept;
  io::WriteAllFuture write_all(std::span<const std::byte> data) noexcept {
    return io::WriteAllFuture(&src_, data);
  }
  /// Sends `data` with descriptors `fds` (at most kMaxPassedFds; more:
  /// EINVAL). `data` must not be empty (the descriptors ride on its bytes).
  SendFdsFuture send_with_fds(std::span<const std::byte> data, std::span<const int> fds) noexcept;
  /// Receives bytes and the descriptors that came with them, into `fds`.
  RecvFdsFuture recv_with_fds(std::span<std::byte> buf, std::span<int> fds) noexcept;

  duet::Result<void> shutdown(Shutdown how = Shutdown::write) noexcept;
  duet::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] duet::Result<PeerCred> peer_cred() const noexcept;
  [[nodiscard]] duet::Result<UnixAddr> local_addr() const noexcept;
  [[nodiscard]] duet::Result<UnixAddr> peer_addr() const noexcept;
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }
  [[nodiscard]] bool is_open() const noexcept { return src_.fd.valid(); }

 private:
  friend class UnixConnectFuture;
  explicit UnixStream(io::detail::Source s) noexcept : src_(std::move(s)) {}
  io::detail::Source src_;
};

class DUET_API UnixListener {
 public:
  UnixListener() noexcept = default;
  /// socket + bind + listen. A path must not exist yet (EADDRINUSE); the
  /// file stays after close (unlink it). An abstract name needs no cleanup.
  static duet::Result<UnixListener> bind(const UnixAddr& addr, int backlog = 4096) noexcept;
  UnixAcceptFuture accept() noexcept { return UnixAcceptFuture(&src_); }
  [[nodiscard]] duet::Result<UnixAddr> local_addr() const noexcept;
  duet::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }

 private:
  io::detail::Source src_;
};

/// recv_from() of a Unix datagram socket: the size and the sender.
struct DUET_API UnixDatagramFrom {
  std::size_t size = 0;
  UnixAddr from;
};

class [[nodiscard]] DUET_API UnixRecvFromFuture {
 public:
  UnixRecvFromFuture(io::detail::Source* s, std::span<std::byte> buf) noexcept : inner_(s, buf) {}
  Poll<duet::Result<UnixDatagramFrom>> poll(Context& cx);

 private:
  RecvFromFuture inner_;
};

class DUET_API UnixDatagram {
 public:
  UnixDatagram() noexcept = default;
  static duet::Result<UnixDatagram> bind(const UnixAddr& addr) noexcept;
  /// A socket with no name (it can send; replies need a bound sender).
  static duet::Result<UnixDatagram> unbound() noexcept;
  /// A connected pair (socketpair(2)).
  static duet::Result<std::pair<UnixDatagram, UnixDatagram>> pair() noexcept;
  /// connect(2): the default destination for send(), the only source recv() takes.
  duet::Result<void> connect(const UnixAddr& to) noexcept;

  io::SendToFuture send_to(std::span<const std::byte> data, const UnixAddr& to) noexcept;
  UnixRecvFromFuture recv_from(std::span<std::byte> buf) noexcept { return {&src_, buf}; }
  /// On a connected socket: one datagram each.
  io::SizeFuture send(std::span<const std::byte> data) noexcept;
  io::SizeFuture recv(std::span<std::byte> buf) noexcept;
  [[nodiscard]] duet::Result<UnixAddr> local_addr() const noexcept;
  duet::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }

 private:
  io::detail::Source src_;
};

}  // namespace duet::net
