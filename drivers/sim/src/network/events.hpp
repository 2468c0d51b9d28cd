// events.hpp: the simulated network's events in flight (a flow's next
// segment, a SYN, a SYN-ACK, a reset, a SYN's retry, a datagram, an ICMP
// error, a disk operation's completion) and their queue, earliest first
// and, among equal instants, in the order they were scheduled: so a seed
// delivers them in one order. pump.cpp schedules and delivers them.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include "duet/time/clock.hpp"

namespace duet::sim::detail {

struct Event {
  enum Kind : std::uint8_t { flow, syn, synack, rst, syn_retry, datagram, icmp, disk };
  Instant at{};
  std::uint64_t seq = 0;
  Kind kind = flow;
  int fd = -1;  // flow, synack, rst, syn_retry, icmp: the socket it reaches; syn: the client
  int aux = 0;  // syn_retry: the attempt; synack: the server end
  std::uint64_t id = 0;  // datagram: its key in the network's datagrams; disk: in disk_ops_
  bool operator>(const Event& o) const noexcept { return at != o.at ? at > o.at : seq > o.seq; }
};

class EventQueue {
 public:
  /// Queues `e`, numbered after every event queued before it.
  void push(Event e) {
    e.seq = seq_++;
    q_.push(e);
  }
  [[nodiscard]] bool empty() const noexcept { return q_.empty(); }
  [[nodiscard]] const Event& top() const { return q_.top(); }
  void pop() { q_.pop(); }

 private:
  std::priority_queue<Event, std::vector<Event>, std::greater<>> q_;
  std::uint64_t seq_ = 0;
};

}  // namespace duet::sim::detail
