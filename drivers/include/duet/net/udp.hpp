// duet/net/udp.hpp: UDP sockets (same futures and rules as duet/net/tcp.hpp).
//
// Example (coroutine):
//   auto u = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_loopback(0));
//   auto peer = duet::net::SocketAddr::v4_loopback(9000);
//   auto s = co_await u->send_to(std::span(buf).first(3), peer);  // Result<size_t>
//   auto r = co_await u->recv_from(buf);                          // Result<Datagram>
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

class DUET_API UdpSocket {
 public:
  UdpSocket() noexcept = default;
  static io::Result<UdpSocket> bind(SocketAddr addr) noexcept;
  io::SendToFuture send_to(std::span<const std::byte> data, const SocketAddr& to) noexcept;
  RecvFromFuture recv_from(std::span<std::byte> buf) noexcept { return {&src_, buf}; }
  [[nodiscard]] io::Result<SocketAddr> local_addr() const noexcept;
  io::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }

 private:
  io::detail::Source src_;
};

}  // namespace duet::net
