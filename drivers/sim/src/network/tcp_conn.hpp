// tcp_conn.hpp: a simulated TCP socket's own state, the TCP part of a
// socket's record (socket.hpp): its connection's ends, what it received
// and not read, its segments not yet delivered, its SYN's retries, and a
// listener's backlog. tcp.cpp and operations.cpp move it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "duet/time/clock.hpp"
#include "duet/waker.hpp"

namespace duet::sim::detail {

/// A segment in flight on a connection's direction.
struct Segment {
  enum Kind : std::uint8_t { data, fin, rst };
  Kind kind = data;
  std::vector<std::byte> bytes;
  Instant due{};
  int attempts = 0;
};

struct TcpConn {
  int peer = -1;         // the other end's descriptor
  int listener = -1;     // a server end: the listener whose backlog it waits in
  bool accepted = true;  // false while it waits in a listener's backlog
  // receive side
  std::deque<std::byte> rx;
  bool rx_eof = false;
  bool shut_rd = false;
  // send side: segments not yet delivered, in order
  std::deque<Segment> out;
  std::size_t out_bytes = 0;
  bool out_scheduled = false;
  bool shut_wr = false;
  // connect
  int syn_attempts = 0;
  // listen
  std::deque<int> backlog;
  std::size_t backlog_max = 0;
  std::vector<Waker> acceptors;
};

}  // namespace duet::sim::detail
