// udp_state.hpp: a simulated UDP socket's own state, the UDP part of a
// socket's record (socket.hpp): the datagrams it received and not read,
// and a connected socket's pending port unreachable; and a datagram, in
// flight or received. udp.cpp moves it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "ip.hpp"

namespace duet::sim::detail {

/// A UDP datagram: its bytes whole (boundaries kept), its ends, and the
/// hosts they are on (a loopback address names the sender's own).
struct Datagram {
  Ip from_ip;
  std::uint16_t from_port = 0;
  Ip to_ip;
  std::uint16_t to_port = 0;
  std::uint32_t from_host = 0;
  std::uint32_t to_host = 0;
  std::vector<std::byte> bytes;
};

struct UdpState {
  std::deque<Datagram> queue;  // received, not read
  std::size_t bytes = 0;       // the queue's bytes
  // Connected: the peer is the socket's peer_ip/peer_port; an ICMP error
  // for one of its sends, reported once by the next send or receive.
  bool connected = false;
  int error = 0;
};

}  // namespace duet::sim::detail
