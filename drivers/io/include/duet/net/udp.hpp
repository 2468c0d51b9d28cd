// duet/net/udp.hpp: UDP sockets (same futures and rules as duet/net/tcp.hpp).
//
// Example (coroutine):
//   auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_loopback(0));
//   auto peer = duet::net::SocketAddr::v4_loopback(9000);
//   auto s = co_await u->send_to(std::span(buf).first(3), peer);  // Result<size_t>
//   auto r = co_await u->recv_from(buf);                          // Result<Datagram>
//   if (u->connect(peer)) {  // connect(2) on a datagram socket: no packet sent
//     auto sent = co_await u->send(std::span(buf).first(3));  // to the peer
//     auto n = co_await u->recv(buf);  // from the peer only: Result<size_t>
//   }
//
// Example (coroutine):
//   auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_loopback(0));
//   for (;;) {  // Tokio's loop: wait for readiness, then take what is there
//     auto ready = co_await u->readable();  // Result<io::Readiness>; nothing taken
//     if (!ready) break;
//     auto d = u->try_recv_from(buf);  // Result<Datagram>, now or would-block
//     if (!d && duet::net::would_block(d.error())) continue;  // another took it
//     if (!d) break;
//     (void)u->try_send_to(std::span(buf).first(d->size), d->from);  // echo
//   }
//
// A connected socket takes datagrams from its peer only (the kernel drops
// the others), and an ICMP port unreachable for one of its sends fails its
// next send or receive once with connection_refused (an unconnected
// socket never hears of it); a readable() wait ends on it (POLLERR).
//
// The try_ calls send or receive now or report would-block, never wait.
// Would-block is an error, resource_unavailable_try_again (EAGAIN, equal
// to operation_would_block on Linux; would_block() tests it), where
// TcpStream::try_write answers 0: a zero-length datagram is legal, so a
// count of 0 would be ambiguous, and it is Tokio's shape (Err(WouldBlock)).
// readable() and writable() wait until a datagram is queued or the socket
// takes one (or an error is pending), and consume nothing: the level, as
// AsyncFd's (duet/io/async_fd.hpp), so a wake whose datagram another
// reader took first ends in would-block and the caller waits again.
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <span>
#include <system_error>

#include "duet/io/async_fd.hpp"
#include "duet/io/futures.hpp"
#include "duet/net/address.hpp"

namespace duet::net {

/// What recv_from returns: the datagram's size (truncated to the buffer)
/// and its sender.
struct Datagram {
  std::size_t size = 0;
  SocketAddr from;
};

class [[nodiscard]] DUET_API RecvFromFuture {
 public:
  RecvFromFuture(io::detail::Source* s, std::span<std::byte> buf) noexcept;
  Poll<duet::Result<Datagram>> poll(Context& cx);

 private:
  io::detail::OpRequest q_;
  io::detail::OpSlot slot_;
  SocketAddr from_;
};

/// UdpSocket::recv's future: the datagram's size (truncated to the
/// buffer).
class [[nodiscard]] DUET_API RecvFuture {
 public:
  RecvFuture(io::detail::Source* s, std::span<std::byte> buf) noexcept : from_(s, buf) {}
  Poll<duet::Result<std::size_t>> poll(Context& cx);

 private:
  RecvFromFuture from_;
};

/// Whether a try_ call's error is would-block (nothing now: wait for
/// readiness and try again).
[[nodiscard]] inline bool would_block(std::error_code e) noexcept {
  return e == std::errc::resource_unavailable_try_again || e == std::errc::operation_would_block;
}

class DUET_API UdpSocket {
 public:
  UdpSocket() noexcept = default;
  static duet::Result<UdpSocket> bind(SocketAddr addr) noexcept;
  io::SendToFuture send_to(std::span<const std::byte> data, const SocketAddr& to) noexcept;
  RecvFromFuture recv_from(std::span<std::byte> buf) noexcept { return {&src_, buf}; }
  /// Sets the peer that send() sends to and recv() takes from; connecting
  /// again changes it, and an address of family AF_UNSPEC (a default
  /// SocketAddr) dissolves it. No packet is sent. An unbound socket is
  /// bound to an ephemeral port.
  duet::Result<void> connect(const SocketAddr& peer) noexcept;
  /// One datagram to the connected peer: destination_address_required
  /// when there is none.
  io::SendToFuture send(std::span<const std::byte> data) noexcept;
  /// The next datagram's bytes (from the connected peer, on a connected
  /// socket), truncated to `buf`.
  RecvFuture recv(std::span<std::byte> buf) noexcept { return {&src_, buf}; }

  /// One datagram to `to` now: the bytes taken, or would-block
  /// (resource_unavailable_try_again: no room now), or the error.
  duet::Result<std::size_t> try_send_to(std::span<const std::byte> data,
                                        const SocketAddr& to) noexcept;
  /// One datagram to the connected peer now, as try_send_to;
  /// destination_address_required when there is none.
  duet::Result<std::size_t> try_send(std::span<const std::byte> data) noexcept;
  /// The next datagram now, truncated to `buf`, and its sender; or
  /// would-block (none queued), or the error (a pending port unreachable:
  /// connection_refused, once).
  duet::Result<Datagram> try_recv_from(std::span<std::byte> buf) noexcept;
  /// The next datagram's bytes now (from the peer, on a connected socket),
  /// as try_recv_from.
  duet::Result<std::size_t> try_recv(std::span<std::byte> buf) noexcept;
  /// Ready once a datagram is queued (or an error is pending); takes none.
  io::ReadyFuture readable() noexcept { return {&src_, io::Interest::readable}; }
  /// Ready once the socket takes a datagram (or an error is pending).
  io::ReadyFuture writable() noexcept { return {&src_, io::Interest::writable}; }

  [[nodiscard]] duet::Result<SocketAddr> local_addr() const noexcept;
  /// The connected peer: not_connected when there is none.
  [[nodiscard]] duet::Result<SocketAddr> peer_addr() const noexcept;
  duet::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }

 private:
  io::detail::Source src_;
};

}  // namespace duet::net
