// duet/io/detail/socket_ops.hpp (not part of the API): the one seam between
// the socket types and whatever answers their direct calls: the kernel, or
// a simulated network (duet::sim) in its place. A table of the calls net/
// makes itself, outside poll_op (socket, bind, listen, a datagram socket's
// connect, accept and send without waiting, a datagram sent or received
// without waiting, shutdown, close, the socket's
// names, its options, non-blocking mode), with two implementations: the
// kernel's and the installed VirtualNet's (duet/io/detail/virtual_net.hpp).
//
// The rule: a socket call goes through the table that its descriptor
// names, `socket_ops(fd).bind(fd, addr)`, and a new socket through
// `socket_ops_for_new_socket().socket(...)`; no call site tests the
// descriptor or calls the kernel directly. The table is chosen once, in
// socket_ops.cpp, from the descriptor alone:
//   - below kVirtualFdBase (duet/io/fd.hpp): the kernel's;
//   - from kVirtualFdBase on: the installed simulated network's, or, with
//     none installed (the world that made it is gone), a table whose every
//     call answers -EBADF but close, which answers 0 (the network's
//     sockets went with it).
// A new socket is the network's when the calling worker runs it
// (IoDriver::sim) or it claims the socket (VirtualNet::claims_socket: the
// caller names a simulated host), else the kernel's.
//
// Invariant: every call answers as the kernel does, as a value: >= 0 (a
// descriptor, a count, 0), or -errno; never -1 with errno. A caller handles
// both implementations alike, and turns -errno into its error itself.
//
// Not here: the operations that wait (recv, send, accept, connect, ...)
// go through poll_op to the calling worker's driver (duet/io/detail/backend.hpp);
// the simulated network's driver is an IoBackend, so they take no seam of
// their own.
#pragma once

#include "duet/export.hpp"

#include <sys/socket.h>

#include <cstddef>

#include "duet/io/fd.hpp"
#include "duet/net/address.hpp"

namespace duet::io::detail {

/// The socket calls made outside poll_op. Each answers >= 0 or -errno.
class SocketOps {
 public:
  SocketOps() = default;
  SocketOps(const SocketOps&) = delete;
  SocketOps& operator=(const SocketOps&) = delete;
  virtual ~SocketOps() = default;

  /// socket(2), non-blocking and close-on-exec: a new descriptor.
  virtual int socket(int family, int type) noexcept = 0;
  virtual int bind(int fd, const net::SocketAddr& addr) noexcept = 0;
  virtual int listen(int fd, int backlog) noexcept = 0;
  /// connect(2) on a datagram socket: sets (AF_UNSPEC: clears) its peer.
  virtual int connect_dgram(int fd, const net::SocketAddr& peer) noexcept = 0;
  /// accept4 without waiting: a queued connection's descriptor
  /// (non-blocking, close-on-exec), or -EAGAIN.
  virtual int accept_now(int fd) noexcept = 0;
  /// send(2) without waiting (MSG_DONTWAIT, no SIGPIPE): the bytes taken,
  /// or -errno (-EAGAIN: no room, or not connected yet).
  virtual long send_now(int fd, const void* data, std::size_t len) noexcept = 0;
  /// sendto(2) of one datagram without waiting (MSG_DONTWAIT): to `to`, or
  /// to the connected peer when `to` has length 0. The bytes taken, or
  /// -errno (-EAGAIN: no room now).
  virtual long sendto_now(int fd, const void* data, std::size_t len,
                          const net::SocketAddr& to) noexcept = 0;
  /// recvfrom(2) of one datagram without waiting (MSG_DONTWAIT), truncated
  /// to `len`, its sender in `from`: the bytes copied, or -errno (-EAGAIN:
  /// none queued).
  virtual long recvfrom_now(int fd, void* buf, std::size_t len, net::SocketAddr& from) noexcept = 0;
  virtual int shutdown(int fd, int how) noexcept = 0;
  virtual int close(int fd) noexcept = 0;
  /// getsockname (peer false) or getpeername (peer true) into `out`.
  virtual int name(int fd, bool peer, net::SocketAddr& out) noexcept = 0;
  virtual int setsockopt(int fd, int level, int name, const void* v, socklen_t len) noexcept = 0;
  virtual int getsockopt(int fd, int level, int name, void* v, socklen_t* len) noexcept = 0;
  /// Makes a descriptor adopted from elsewhere non-blocking (every socket
  /// duet makes is already).
  virtual int set_nonblocking(int fd) noexcept = 0;
};

/// The table that answers for descriptor `fd` (the rule above).
[[nodiscard]] DUET_API SocketOps& socket_ops(int fd) noexcept;
/// The table that makes a socket now, on this thread (the rule above).
[[nodiscard]] DUET_API SocketOps& socket_ops_for_new_socket() noexcept;

}  // namespace duet::io::detail
