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
// A connected socket takes datagrams from its peer only (the kernel drops
// the others), and an ICMP port unreachable for one of its sends fails its
// next send or receive once with connection_refused (an unconnected
// socket never hears of it).
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <span>

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
  Poll<io::Result<Datagram>> poll(Context& cx);

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
  Poll<io::Result<std::size_t>> poll(Context& cx);

 private:
  RecvFromFuture from_;
};

class DUET_API UdpSocket {
 public:
  UdpSocket() noexcept = default;
  static io::Result<UdpSocket> bind(SocketAddr addr) noexcept;
  io::SendToFuture send_to(std::span<const std::byte> data, const SocketAddr& to) noexcept;
  RecvFromFuture recv_from(std::span<std::byte> buf) noexcept { return {&src_, buf}; }
  /// Sets the peer that send() sends to and recv() takes from; connecting
  /// again changes it, and an address of family AF_UNSPEC (a default
  /// SocketAddr) dissolves it. No packet is sent. An unbound socket is
  /// bound to an ephemeral port.
  io::Result<void> connect(const SocketAddr& peer) noexcept;
  /// One datagram to the connected peer: destination_address_required
  /// when there is none.
  io::SendToFuture send(std::span<const std::byte> data) noexcept;
  /// The next datagram's bytes (from the connected peer, on a connected
  /// socket), truncated to `buf`.
  RecvFuture recv(std::span<std::byte> buf) noexcept { return {&src_, buf}; }
  [[nodiscard]] io::Result<SocketAddr> local_addr() const noexcept;
  /// The connected peer: not_connected when there is none.
  [[nodiscard]] io::Result<SocketAddr> peer_addr() const noexcept;
  io::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }

 private:
  io::detail::Source src_;
};

}  // namespace duet::net
