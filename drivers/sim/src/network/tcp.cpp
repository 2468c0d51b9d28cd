// tcp.cpp: the simulated network's TCP connections (network.hpp):
// connection setup (SYN, SYN-ACK, RST, the SYN's retransmissions), the
// in-order delivery of each direction's segments, retransmission across
// loss and partitions with TCP's back-off, the kernel's resets (each sent
// once: a cut direction loses it, as a partition loses everything) and a
// reset's effect on an end, the window (the socket buffer's room), and
// the reset fault.
#include "network.hpp"

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

namespace duet::sim::detail {

namespace {

// The kernel's numbers that the simulation keeps (Linux defaults):
// TCP_RTO_MIN, the first retransmission timeout of data; TCP_RTO_MAX, its
// cap; tcp_retries2 = 15, the retransmissions of data before the
// connection times out; tcp_syn_retries = 6, a SYN's retransmissions, 1 s
// apart and doubling, so an unanswered connect fails after 127 s.
constexpr Duration kRtoMin = std::chrono::milliseconds(200);
constexpr Duration kRtoMax = std::chrono::seconds(120);
constexpr int kDataRetries = 15;
constexpr int kSynRetries = 6;
constexpr Duration kSynRto = std::chrono::seconds(1);

Duration data_rto(int attempts) {
  Duration d = kRtoMin;
  for (int i = 1; i < attempts && d < kRtoMax; ++i) d *= 2;
  return std::min(d, kRtoMax);
}

}  // namespace

void Network::wake_all(Socket& s) {
  take(wakes_, s.reader);
  take(wakes_, s.writer);
  for (Waker& a : s.tcp.acceptors) take(wakes_, a);
  s.tcp.acceptors.clear();
}

void Network::fail(Socket& s, int err) {
  if (s.error == 0) s.error = err;
  s.tcp.rx.clear();  // a reset discards what was not read, as the kernel does
  s.tcp.out.clear();
  s.tcp.out_bytes = 0;
  s.dgram.queue.clear();
  s.dgram.bytes = 0;
  wake_all(s);
}

std::size_t Network::room(const Socket& s) {
  std::size_t used = s.tcp.out_bytes;
  auto it = sockets_.find(s.tcp.peer);
  if (it != sockets_.end()) used += it->second.tcp.rx.size();
  return used >= cfg_.socket_buffer ? 0 : cfg_.socket_buffer - used;
}

void Network::send_reset(std::uint32_t from, std::uint32_t to, int fd) {
  if (cut(from, to)) {
    trace("rst-lost " + conn_text(sockets_.at(fd)));
    return;
  }
  schedule(Event{Clock::now() + delay(from, to), 0, Event::rst, fd, 0});
}

void Network::push_segment(int fd, Segment seg) {
  Socket& s = sockets_.at(fd);
  const Socket* p = find(s.tcp.peer);
  const std::uint32_t to = p != nullptr ? p->host : host_for(s.host, s.peer_ip);
  seg.due = arrival(s, to, seg.bytes.size());
  s.tcp.out_bytes += seg.bytes.size();
  s.tcp.out.push_back(std::move(seg));
  if (!s.tcp.out_scheduled) {
    s.tcp.out_scheduled = true;
    schedule(Event{s.tcp.out.front().due, 0, Event::flow, fd, 0});
  }
}

void Network::on_flow(int fd) {
  Socket* s = find(fd);
  if (s == nullptr) return;
  s->tcp.out_scheduled = false;
  if (s->tcp.out.empty()) return;
  Socket* p = find(s->tcp.peer);
  const std::uint32_t to = p != nullptr ? p->host : host_for(s->host, s->peer_ip);
  Segment& head = s->tcp.out.front();
  if (to != kNoHost && topo_.held.count({s->host, to}) != 0) {
    return;  // held: the release schedules the flow again (set_held)
  }
  if (to == kNoHost || !transmits(s->host, to)) {
    // Lost: TCP retransmits after its back-off, and gives up after
    // tcp_retries2 retransmissions.
    if (++head.attempts > kDataRetries) {
      trace("timeout " + conn_text(*s));
      fail(*s, ETIMEDOUT);
      return;
    }
    s->tcp.out_scheduled = true;
    schedule(Event{Clock::now() + data_rto(head.attempts), 0, Event::flow, fd, 0});
    return;
  }
  Segment seg = std::move(head);
  s->tcp.out.pop_front();
  s->tcp.out_bytes -= seg.bytes.size();
  if (seg.kind == Segment::data) {
    trace("data " + conn_text(*s) + " n=" + std::to_string(seg.bytes.size()) +
          " h=" + hash_text(seg.bytes.data(), seg.bytes.size()));
  } else {
    trace(std::string(seg.kind == Segment::fin ? "fin " : "rst ") + conn_text(*s));
  }
  if (p == nullptr || !p->fd_open || p->state == State::dead) {
    // The other end is gone: its kernel answers data with a reset.
    if (seg.kind == Segment::data && s->error == 0) {
      trace("rst-closed " + conn_text(*s));
      send_reset(to, s->host, fd);
    }
  } else if (seg.kind == Segment::data) {
    if (draws_.draw(cfg_.faults.reset)) {
      // Fault: the segment resets the connection instead (both ends).
      trace("fault-reset " + conn_text(*s));
      fail(*p, ECONNRESET);
      send_reset(to, s->host, fd);
    } else {
      p->tcp.rx.insert(p->tcp.rx.end(), seg.bytes.begin(), seg.bytes.end());
      take(wakes_, p->reader);
    }
  } else if (seg.kind == Segment::fin) {
    p->tcp.rx_eof = true;
    take(wakes_, p->reader);
  } else {
    fail(*p, ECONNRESET);
  }
  if (!s->tcp.out.empty()) {
    s->tcp.out_scheduled = true;
    schedule(Event{std::max(s->tcp.out.front().due, Clock::now()), 0, Event::flow, fd, 0});
  }
}

void Network::send_syn(int fd) {
  Socket& c = sockets_.at(fd);
  const std::uint32_t to = host_for(c.host, c.peer_ip);
  trace("syn " + conn_text(c) + " try=" + std::to_string(c.tcp.syn_attempts));
  if (to != kNoHost && transmits(c.host, to)) {
    schedule(Event{Clock::now() + delay(c.host, to), 0, Event::syn, fd, 0});
  }
  // The retransmission (or, after the last, the timeout), 1 s doubling.
  Duration rto = kSynRto;
  for (int i = 0; i < c.tcp.syn_attempts; ++i) rto *= 2;
  schedule(Event{Clock::now() + rto, 0, Event::syn_retry, fd, c.tcp.syn_attempts + 1});
}

void Network::on_syn_retry(int fd, int attempt) {
  Socket* c = find(fd);
  if (c == nullptr || c->state != State::connecting || c->tcp.syn_attempts != attempt - 1) return;
  const std::uint32_t to = host_for(c->host, c->peer_ip);
  if (to != kNoHost &&
      (topo_.held.count({c->host, to}) != 0 || topo_.held.count({to, c->host}) != 0)) {
    // A held way (World::hold): the SYN or its SYN-ACK waits parked, and
    // the retransmission waits with it, uncounted.
    Duration rto = kSynRto;
    for (int i = 0; i < attempt - 1; ++i) rto *= 2;
    schedule(Event{Clock::now() + rto, 0, Event::syn_retry, fd, attempt});
    return;
  }
  if (attempt > kSynRetries) {
    trace("connect-timeout " + conn_text(*c));
    fail(*c, ETIMEDOUT);
    c->state = State::dead;
    return;
  }
  c->tcp.syn_attempts = attempt;
  send_syn(fd);
}

void Network::on_syn(int fd) {
  Socket* c = find(fd);
  if (c == nullptr || c->state != State::connecting) return;
  const std::uint32_t to = host_for(c->host, c->peer_ip);
  if (to == kNoHost || !topo_.hosts[to].up) return;  // a host that is down answers nothing
  const std::uint32_t back = c->host;
  if (c->tcp.peer >= 0) {
    // A retransmitted SYN whose SYN-ACK was lost: the server end exists.
    if (transmits(to, back)) {
      schedule(Event{Clock::now() + delay(to, back), 0, Event::synack, fd, c->tcp.peer});
    }
    return;
  }
  // The listener on the port and the address the SYN was sent to (its
  // own, or every address), the lowest descriptor first.
  const int lfd = topo_.hosts[to].tcp_ports.holder_for(c->peer_port, c->peer_ip, [&](int k) {
    const Socket* l = find(k);
    return l != nullptr && l->state == State::listening && l->fd_open;
  });
  const bool refused = lfd < 0 || draws_.draw(cfg_.faults.refuse);
  if (refused) {
    trace(std::string(lfd < 0 ? "refused " : "fault-refused ") + conn_text(*c));
    if (transmits(to, back)) schedule(Event{Clock::now() + delay(to, back), 0, Event::rst, fd, 0});
    return;
  }
  Socket& l = sockets_.at(lfd);
  if (l.tcp.backlog.size() >= l.tcp.backlog_max) {
    trace("backlog-full " + conn_text(*c));
    return;  // dropped: the client retransmits
  }
  const int sfd = next_fd_++;
  Socket s;
  s.host = to;
  s.family = l.family;  // an IPv6 listener's connections name IPv4 peers mapped
  s.state = State::connected;
  s.tcp.accepted = false;
  s.local_ip = c->peer_ip;  // the address it was reached at (the loopback over the loopback)
  s.local_port = l.local_port;
  s.peer_ip = c->local_ip;
  s.peer_port = c->local_port;
  s.tcp.peer = fd;
  s.tcp.listener = lfd;
  c->tcp.peer = sfd;
  l.tcp.backlog.push_back(sfd);
  for (Waker& a : l.tcp.acceptors) take(wakes_, a);
  l.tcp.acceptors.clear();
  trace("established " + conn_text(s));
  sockets_.emplace(sfd, std::move(s));
  if (transmits(to, back)) {
    schedule(Event{Clock::now() + delay(to, back), 0, Event::synack, fd, sfd});
  }
}

void Network::on_synack(int fd, int server) {
  Socket* c = find(fd);
  if (c != nullptr && !topo_.hosts[c->host].up) return;  // a host that is down answers nothing
  if (c == nullptr || c->state != State::connecting || !c->fd_open) {
    // The client gave up: its kernel resets the server's end (at once,
    // unless the way back is cut: then the reset is lost).
    if (Socket* s = find(server); s != nullptr && s->error == 0) {
      if (c != nullptr && cut(c->host, s->host)) {
        trace("rst-lost " + conn_text(*s));
        return;
      }
      trace("rst-late-synack " + conn_text(*s));
      fail(*s, ECONNRESET);
    }
    return;
  }
  c->state = State::connected;
  trace("connected " + conn_text(*c));
  take(wakes_, c->writer);
}

void Network::on_rst(int fd) {
  Socket* s = find(fd);
  if (s == nullptr) return;
  if (s->state == State::connecting) {
    trace("rst " + conn_text(*s) + " refused");
    fail(*s, ECONNREFUSED);
    s->state = State::dead;
    return;
  }
  if (s->error == 0) trace("rst " + conn_text(*s));
  fail(*s, ECONNRESET);
}

}  // namespace duet::sim::detail
