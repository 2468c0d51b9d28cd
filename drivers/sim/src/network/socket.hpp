// socket.hpp: a virtual descriptor's record in the simulated network's
// socket table: what every socket has (its host, state, ends, the port it
// holds, sticky error, wakers, options) and the part of its protocol, TCP (tcp_conn.hpp)
// or UDP (udp_state.hpp). A record outlives its descriptor's close while
// the network still delivers to it (fd_open false).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "duet/waker.hpp"
#include "ip.hpp"
#include "tcp_conn.hpp"
#include "topology.hpp"
#include "udp_state.hpp"

namespace duet::sim::detail {

enum class State : std::uint8_t { fresh, bound, listening, connecting, connected, dead };

struct Socket {
  std::uint32_t host = kNoHost;
  State state = State::fresh;
  bool udp = false;      // which part below is in use
  int family = AF_INET;  // AF_INET or AF_INET6: how its addresses are named
  bool fd_open = true;   // the user's descriptor (false: closed, the record lingers)
  // The socket's own end, as getsockname reports it (a socket bound to
  // every address reports its host's address until it connects).
  Ip local_ip;
  std::uint16_t local_port = 0;
  // Whether it holds local_port in its host's table (addresses.cpp), and
  // what it is bound to (a wildcard: every address of the host of its
  // family).
  bool holds_port = false;
  Bound bound;
  Ip peer_ip;
  std::uint16_t peer_port = 0;
  int error = 0;  // sticky: ECONNRESET, ETIMEDOUT, ECONNREFUSED, ENETDOWN
  // the spurious_eagain fault: its hits in a row on this socket
  int eagain_streak = 0;
  Waker reader;
  Waker writer;
  std::map<std::pair<int, int>, int> options;
  TcpConn tcp;
  UdpState dgram;
};

/// "local>peer", the trace's name of a socket's connection.
inline std::string conn_text(const Socket& s) {
  return addr_text(s.local_ip, s.local_port) + ">" + addr_text(s.peer_ip, s.peer_port);
}

}  // namespace duet::sim::detail
