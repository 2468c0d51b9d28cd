// network.cpp: the simulated network's TCP (network.hpp): connection setup
// (SYN, SYN-ACK, RST, the SYN's retransmissions), the in-order delivery of
// each direction's segments after the link's queue (its bandwidth), delay
// and late draws (its reordering), retransmission across loss and
// partitions, the socket buffers' window, the seeded faults, UDP's
// datagrams (whole, lost for good, in order per link direction unless
// late), the world's names (duet::dns), and the socket calls it answers in
// the kernel's place.
#include "network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "duet/io/detail/io_op.hpp"

namespace duet::sim::detail {

using io::detail::OpKind;
using io::detail::OpRequest;

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

/// Wakes what the network collected, after its lock is let go.
void wake(WakeList& w) {
  for (Waker& x : w) std::move(x).wake();
  w.clear();
}

void take(WakeList& into, Waker& w) {
  if (w) into.push_back(std::move(w));
  w = Waker{};
}

std::uint32_t ip_of(const net::SocketAddr& a) {
  const auto* in = reinterpret_cast<const sockaddr_in*>(a.raw());
  return ntohl(in->sin_addr.s_addr);
}

}  // namespace

Network::Network(const WorldConfig& cfg) : cfg_(cfg), rng_(cfg.seed) {}

Network::~Network() = default;

// ---- hosts and links -------------------------------------------------------

std::uint32_t Network::add_host(std::string name, std::uint32_t ip) {
  std::lock_guard g(mu_);
  if (ip == INADDR_LOOPBACK || host_by_ip(ip) != kNoHost) {
    throw std::invalid_argument("duet::sim: a host has this address already");
  }
  hosts_.push_back(HostState{std::move(name), ip});
  return static_cast<std::uint32_t>(hosts_.size() - 1);
}

std::uint32_t Network::next_default_ip() const {
  std::lock_guard g(mu_);
  return (10u << 24) + static_cast<std::uint32_t>(hosts_.size()) + 1;  // 10.0.0.N
}

const std::string& Network::host_name(std::uint32_t h) const {
  std::lock_guard g(mu_);
  return hosts_.at(h).name;
}

net::SocketAddr Network::host_addr(std::uint32_t h, std::uint16_t port) const {
  std::lock_guard g(mu_);
  return net::SocketAddr::v4(hosts_.at(h).ip, port);
}

void Network::set_link(std::uint32_t a, std::uint32_t b, LinkConfig l) {
  std::lock_guard g(mu_);
  links_[{a, b}] = l;
  links_[{b, a}] = l;
}

void Network::set_partitioned(std::uint32_t a, std::uint32_t b, bool on) {
  set_cut(a, b, on, true, on ? "partition " : "repair ");
}

void Network::partition_one_way(std::uint32_t from, std::uint32_t to) {
  set_cut(from, to, true, false, "partition-one-way ");
}

void Network::set_cut(std::uint32_t from, std::uint32_t to, bool on, bool both, const char* what) {
  WakeList w;
  {
    std::lock_guard g(mu_);
    for (const auto& d : {std::pair{from, to}, std::pair{to, from}}) {
      if (d.first != from && !both) continue;
      if (on) {
        partitions_.insert(d);
      } else {
        partitions_.erase(d);
      }
    }
    trace(std::string(what) + hosts_.at(from).name + " " + hosts_.at(to).name);
    w.swap(wakes_);
  }
  wake(w);
}

void Network::set_resolver_partitioned(std::uint32_t h, bool on) {
  std::lock_guard g(mu_);
  if (on) {
    partitions_.insert({h, kResolver});
    partitions_.insert({kResolver, h});
  } else {
    partitions_.erase({h, kResolver});
    partitions_.erase({kResolver, h});
  }
  trace(std::string(on ? "partition " : "repair ") + hosts_.at(h).name + " resolver");
}

void Network::set_resolver_up(bool up) {
  std::lock_guard g(mu_);
  resolver_up_ = up;
  trace(up ? "resolver-restart" : "resolver-crash");
}

void Network::set_held(std::uint32_t from, std::uint32_t to, bool on) {
  WakeList w;
  {
    std::lock_guard g(mu_);
    trace(std::string(on ? "hold " : "release ") + hosts_.at(from).name + " " + hosts_.at(to).name);
    if (on) {
      held_.insert({from, to});
    } else if (held_.erase({from, to}) != 0) {
      // Every flow that waited on the link goes on now, in descriptor
      // order (the map's), so the same seed releases them the same way.
      for (auto& [fd, sock] : sockets_) {
        if (sock.host != from || sock.out.empty() || sock.out_scheduled) continue;
        const Socket* p = find(sock.peer);
        const std::uint32_t dst = p != nullptr ? p->host : host_by_ip(sock.peer_ip);
        if (dst != to) continue;
        sock.out_scheduled = true;
        schedule(Event{Clock::now(), 0, Event::flow, fd, 0});
      }
    }
    w.swap(wakes_);
  }
  wake(w);
}

void Network::crash(std::uint32_t h) {
  WakeList w;
  {
    std::lock_guard g(mu_);
    trace("crash " + hosts_.at(h).name);
    for (auto& [fd, s] : sockets_) {
      if (s.host != h || s.state == State::dead) continue;
      if (s.state == State::connected && s.peer >= 0) {
        // The kernel's reset of each connection reaches the peer after the
        // link's delay (a crash leaves the last word to the kernel).
        if (Socket* p = find(s.peer); p != nullptr && p->host != h) {
          schedule(Event{Clock::now() + delay(h, p->host), 0, Event::rst, s.peer, 0});
        }
      }
      if (s.state == State::listening) {
        for (int c : s.backlog) {
          if (Socket* a = find(c)) fail(*a, ECONNRESET);
        }
        s.backlog.clear();
      }
      fail(s, ECONNRESET);
      s.state = State::dead;
    }
    hosts_.at(h).up = false;
    w.swap(wakes_);
  }
  wake(w);
}

void Network::restart(std::uint32_t h) {
  std::lock_guard g(mu_);
  hosts_.at(h).up = true;
  trace("restart " + hosts_.at(h).name);
}

bool Network::host_up(std::uint32_t h) const {
  std::lock_guard g(mu_);
  return hosts_.at(h).up;
}

std::uint32_t Network::host_by_ip(std::uint32_t ip) const noexcept {
  for (std::size_t i = 0; i < hosts_.size(); ++i) {
    if (hosts_[i].ip == ip) return static_cast<std::uint32_t>(i);
  }
  return kNoHost;
}

const LinkConfig& Network::link(std::uint32_t a, std::uint32_t b) const {
  auto it = links_.find({a, b});
  return it != links_.end() ? it->second : cfg_.link;
}

bool Network::draw(double p) {
  if (p <= 0.0) return false;
  // The top 53 bits as a double in [0, 1): mt19937_64's output is fixed by
  // the standard, and this mapping is ours, so a seed draws the same on
  // every standard library (<random>'s distributions are each library's).
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p;
}

std::uint64_t Network::below(std::uint64_t n) {
  // A draw in [0, n) by the remainder: its bias (at most n / 2^64) is far
  // below anything a test observes, and like draw() it is the same on
  // every standard library.
  return rng_() % n;
}

bool Network::transmits(std::uint32_t a, std::uint32_t b) {
  if (a == b) return hosts_[a].up;  // a host's own loopback loses nothing
  if (!hosts_[a].up || !hosts_[b].up) return false;
  if (partitions_.count({a, b}) != 0) return false;
  return !draw(link(a, b).loss);
}

Duration Network::delay(std::uint32_t a, std::uint32_t b) {
  if (a == b) return Duration{0};
  return link_delay(link(a, b));
}

Duration Network::link_delay(const LinkConfig& l) {
  Duration d = l.latency;
  if (l.jitter.count() > 0) {
    d += Duration(
        static_cast<std::int64_t>(below(static_cast<std::uint64_t>(l.jitter.count()) + 1)));
  }
  return d;
}

template <class Text>
Duration Network::late_by(const LinkConfig& l, std::size_t n, Text text) {
  if (!draw(l.reorder)) return Duration{0};
  const auto most = static_cast<std::uint64_t>((l.latency + l.jitter).count());
  const Duration extra(static_cast<std::int64_t>(below(most + 1)));
  trace("late " + text() + " n=" + std::to_string(n) + " by=" + std::to_string(extra.count()));
  return extra;
}

Instant Network::arrival(const Socket& s, std::uint32_t to, std::size_t n) {
  const Instant now = Clock::now();
  if (to == kNoHost) return now;
  if (to == s.host) return now + delay(s.host, to);  // loopback: no link
  const Instant at = link_sent(s.host, to, n) + delay(s.host, to);
  // Late by up to one more trip: later segments of other connections
  // overtake it; its own connection's later ones wait for it (TCP's
  // order).
  return at + late_by(link(s.host, to), n, [&] { return conn_text(s); });
}

Instant Network::link_sent(std::uint32_t from, std::uint32_t to, std::size_t n) {
  const Instant now = Clock::now();
  const LinkConfig& l = link(from, to);
  if (l.bandwidth == 0) return now;
  // FIFO per direction: the segment is serialized after the link's
  // earlier ones, in ceil(n / bandwidth) seconds (exact in nanoseconds).
  __extension__ using Wide = unsigned __int128;  // n * 10^9 without overflow
  Instant& free_at = link_free_[{from, to}];
  const Instant start = std::max(now, free_at);
  const auto ns = static_cast<std::int64_t>(
      (static_cast<Wide>(n) * 1'000'000'000u + l.bandwidth - 1) / l.bandwidth);
  free_at = start + Duration(ns);
  return free_at;
}

void Network::schedule(Event e) {
  e.seq = seq_++;
  // The pump sleeps until pump_at_ (or waits for any event when empty):
  // an earlier event wakes it to sleep less.
  if (!pump_at_ || e.at < *pump_at_) take(wakes_, pump_waker_);
  events_.push(e);
}

// ---- the trace -------------------------------------------------------------

void Network::trace(std::string line) {
  const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_).count();
  line = std::to_string(t) + " " + line;
  trace_hash_ = fnv1a(line.data(), line.size(), trace_hash_);
  trace_hash_ = fnv1a("\n", 1, trace_hash_);
  ++trace_events_;
  if (cfg_.keep_trace) trace_.push_back(std::move(line));
}

std::string Network::addr_text(std::uint32_t ip, std::uint16_t port) const {
  char b[32];
  std::snprintf(b, sizeof b, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
                ip & 255, port);
  return b;
}

std::string Network::conn_text(const Socket& s) const {
  return addr_text(s.local_ip, s.local_port) + ">" + addr_text(s.peer_ip, s.peer_port);
}

std::uint64_t Network::trace_hash() const {
  std::lock_guard g(mu_);
  return trace_hash_;
}

std::size_t Network::trace_events() const {
  std::lock_guard g(mu_);
  return trace_events_;
}

std::vector<std::string> Network::trace() const {
  std::lock_guard g(mu_);
  return trace_;
}

std::size_t Network::open_sockets() const {
  std::lock_guard g(mu_);
  std::size_t n = 0;
  for (const auto& [fd, s] : sockets_) n += s.fd_open && s.accepted ? 1 : 0;
  return n;
}

void Network::drop_wakers() noexcept {
  WakeList dropped;  // dropped after the lock is let go
  {
    std::lock_guard g(mu_);
    take(dropped, pump_waker_);
    for (auto& [fd, s] : sockets_) {
      take(dropped, s.reader);
      take(dropped, s.writer);
      for (Waker& a : s.acceptors) take(dropped, a);
      s.acceptors.clear();
    }
  }
}

// ---- the pump --------------------------------------------------------------

std::optional<Instant> Network::pump(const Waker& w) {
  WakeList wl;
  std::optional<Instant> next;
  {
    std::lock_guard g(mu_);
    const Instant now = Clock::now();
    while (!events_.empty() && events_.top().at <= now) {
      const Event e = events_.top();
      events_.pop();
      switch (e.kind) {
        case Event::flow:
          on_flow(e.fd);
          break;
        case Event::syn:
          on_syn(e.fd);
          break;
        case Event::synack:
          on_synack(e.fd, e.aux);
          break;
        case Event::rst:
          on_rst(e.fd);
          break;
        case Event::syn_retry:
          on_syn_retry(e.fd, e.aux);
          break;
        case Event::datagram:
          on_datagram(e.id);
          break;
        case Event::icmp:
          on_icmp(e.fd);
          break;
      }
    }
    if (!events_.empty()) next = events_.top().at;
    pump_at_ = next;
    pump_waker_ = w;
    wl.swap(wakes_);
  }
  wake(wl);
  return next;
}

// ---- connections -----------------------------------------------------------

Network::Socket* Network::find(int fd) noexcept {
  auto it = sockets_.find(fd);
  return it != sockets_.end() ? &it->second : nullptr;
}

void Network::wake_all(Socket& s) {
  take(wakes_, s.reader);
  take(wakes_, s.writer);
  for (Waker& a : s.acceptors) take(wakes_, a);
  s.acceptors.clear();
}

void Network::fail(Socket& s, int err) {
  if (s.error == 0) s.error = err;
  s.rx.clear();  // a reset discards what was not read, as the kernel does
  s.out.clear();
  s.out_bytes = 0;
  s.dgrams.clear();
  s.dgram_bytes = 0;
  wake_all(s);
}

std::size_t Network::room(const Socket& s) {
  std::size_t used = s.out_bytes;
  auto it = sockets_.find(s.peer);
  if (it != sockets_.end()) used += it->second.rx.size();
  return used >= cfg_.socket_buffer ? 0 : cfg_.socket_buffer - used;
}

void Network::push_segment(int fd, Segment seg) {
  Socket& s = sockets_.at(fd);
  const Socket* p = find(s.peer);
  const std::uint32_t to = p != nullptr ? p->host : host_by_ip(s.peer_ip);
  seg.due = arrival(s, to, seg.bytes.size());
  s.out_bytes += seg.bytes.size();
  s.out.push_back(std::move(seg));
  if (!s.out_scheduled) {
    s.out_scheduled = true;
    schedule(Event{s.out.front().due, 0, Event::flow, fd, 0});
  }
}

void Network::on_flow(int fd) {
  Socket* s = find(fd);
  if (s == nullptr) return;
  s->out_scheduled = false;
  if (s->out.empty()) return;
  Socket* p = find(s->peer);
  const std::uint32_t to = p != nullptr ? p->host : host_by_ip(s->peer_ip);
  Segment& head = s->out.front();
  if (to != kNoHost && held_.count({s->host, to}) != 0) {
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
    s->out_scheduled = true;
    schedule(Event{Clock::now() + data_rto(head.attempts), 0, Event::flow, fd, 0});
    return;
  }
  Segment seg = std::move(head);
  s->out.pop_front();
  s->out_bytes -= seg.bytes.size();
  if (seg.kind == Segment::data) {
    const std::uint64_t h = fnv1a(seg.bytes.data(), seg.bytes.size());
    char hb[24];
    std::snprintf(hb, sizeof hb, "%016llx", static_cast<unsigned long long>(h));
    trace("data " + conn_text(*s) + " n=" + std::to_string(seg.bytes.size()) + " h=" + hb);
  } else {
    trace(std::string(seg.kind == Segment::fin ? "fin " : "rst ") + conn_text(*s));
  }
  if (p == nullptr || !p->fd_open || p->state == State::dead) {
    // The other end is gone: its kernel answers data with a reset.
    if (seg.kind == Segment::data && s->error == 0) {
      trace("rst-closed " + conn_text(*s));
      schedule(Event{Clock::now() + delay(to, s->host), 0, Event::rst, fd, 0});
    }
  } else if (seg.kind == Segment::data) {
    if (draw(cfg_.faults.reset)) {
      // Fault: the segment resets the connection instead (both ends).
      trace("fault-reset " + conn_text(*s));
      fail(*p, ECONNRESET);
      schedule(Event{Clock::now() + delay(to, s->host), 0, Event::rst, fd, 0});
    } else {
      p->rx.insert(p->rx.end(), seg.bytes.begin(), seg.bytes.end());
      take(wakes_, p->reader);
    }
  } else if (seg.kind == Segment::fin) {
    p->rx_eof = true;
    take(wakes_, p->reader);
  } else {
    fail(*p, ECONNRESET);
  }
  if (!s->out.empty()) {
    s->out_scheduled = true;
    schedule(Event{std::max(s->out.front().due, Clock::now()), 0, Event::flow, fd, 0});
  }
}

void Network::send_syn(int fd) {
  Socket& c = sockets_.at(fd);
  const std::uint32_t to = host_by_ip(c.peer_ip);
  trace("syn " + conn_text(c) + " try=" + std::to_string(c.syn_attempts));
  if (to != kNoHost && transmits(c.host, to)) {
    schedule(Event{Clock::now() + delay(c.host, to), 0, Event::syn, fd, 0});
  }
  // The retransmission (or, after the last, the timeout), 1 s doubling.
  Duration rto = kSynRto;
  for (int i = 0; i < c.syn_attempts; ++i) rto *= 2;
  schedule(Event{Clock::now() + rto, 0, Event::syn_retry, fd, c.syn_attempts + 1});
}

void Network::on_syn_retry(int fd, int attempt) {
  Socket* c = find(fd);
  if (c == nullptr || c->state != State::connecting || c->syn_attempts != attempt - 1) return;
  if (attempt > kSynRetries) {
    trace("connect-timeout " + conn_text(*c));
    fail(*c, ETIMEDOUT);
    c->state = State::dead;
    return;
  }
  c->syn_attempts = attempt;
  send_syn(fd);
}

void Network::on_syn(int fd) {
  Socket* c = find(fd);
  if (c == nullptr || c->state != State::connecting) return;
  const std::uint32_t to = host_by_ip(c->peer_ip);
  if (to == kNoHost || !hosts_[to].up) return;  // a host that is down answers nothing
  const std::uint32_t back = c->host;
  if (c->peer >= 0) {
    // A retransmitted SYN whose SYN-ACK was lost: the server end exists.
    if (transmits(to, back)) {
      schedule(Event{Clock::now() + delay(to, back), 0, Event::synack, fd, c->peer});
    }
    return;
  }
  int lfd = -1;
  for (auto& [k, s] : sockets_) {
    if (s.host == to && s.state == State::listening && s.fd_open && s.local_port == c->peer_port) {
      lfd = k;
      break;
    }
  }
  const bool refused = lfd < 0 || draw(cfg_.faults.refuse);
  if (refused) {
    trace(std::string(lfd < 0 ? "refused " : "fault-refused ") + conn_text(*c));
    if (transmits(to, back)) schedule(Event{Clock::now() + delay(to, back), 0, Event::rst, fd, 0});
    return;
  }
  Socket& l = sockets_.at(lfd);
  if (l.backlog.size() >= l.backlog_max) {
    trace("backlog-full " + conn_text(*c));
    return;  // dropped: the client retransmits
  }
  const int sfd = next_fd_++;
  Socket s;
  s.host = to;
  s.state = State::connected;
  s.accepted = false;
  s.local_ip = hosts_[to].ip;
  s.local_port = l.local_port;
  s.peer_ip = c->local_ip;
  s.peer_port = c->local_port;
  s.peer = fd;
  s.listener = lfd;
  c->peer = sfd;
  l.backlog.push_back(sfd);
  for (Waker& a : l.acceptors) take(wakes_, a);
  l.acceptors.clear();
  trace("established " + conn_text(s));
  sockets_.emplace(sfd, std::move(s));
  if (transmits(to, back)) {
    schedule(Event{Clock::now() + delay(to, back), 0, Event::synack, fd, sfd});
  }
}

void Network::on_synack(int fd, int server) {
  Socket* c = find(fd);
  if (c == nullptr || c->state != State::connecting || !c->fd_open) {
    // The client gave up: its kernel resets the server's end.
    if (Socket* s = find(server); s != nullptr && s->error == 0) {
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

// ---- the operations --------------------------------------------------------

int Network::file_fault(OpKind kind, std::size_t len) {
  std::lock_guard g(mu_);
  switch (kind) {
    case OpKind::write_at: {
      if (!draw(cfg_.faults.file_write_error)) return 0;
      // The two ways a write to a local disk fails: the device (EIO) or the
      // space (ENOSPC); an even draw is EIO.
      const int e = below(2) == 0 ? EIO : ENOSPC;
      trace(std::string("fault-file-write ") + (e == EIO ? "EIO" : "ENOSPC") +
            " n=" + std::to_string(len));
      return e;
    }
    case OpKind::read_at:
      if (!draw(cfg_.faults.file_read_error)) return 0;
      trace("fault-file-read EIO n=" + std::to_string(len));
      return EIO;
    case OpKind::fsync:
      if (!draw(cfg_.faults.file_sync_error)) return 0;
      trace("fault-file-sync EIO");
      return EIO;
    default:
      return 0;
  }
}

Poll<long> Network::start(OpRequest& q, Context& cx) {
  WakeList wl;
  Poll<long> r = pending;
  {
    std::lock_guard g(mu_);
    const int fd = q.src != nullptr ? q.src->fd.get() : -1;
    Socket* s = find(fd);
    if (s == nullptr || !s->fd_open) {
      r = static_cast<long>(-EBADF);
    } else if (s->host != kNoHost && !hosts_[s->host].up) {
      r = static_cast<long>(-ENETDOWN);
    } else if (s->udp) {
      r = udp_op(*s, fd, q, cx);
    } else {
      switch (q.kind) {
        case OpKind::recv:
        case OpKind::readv:
          r = do_recv(*s, q, cx);
          break;
        case OpKind::send:
        case OpKind::writev:
          r = do_send(*s, fd, q, cx);
          break;
        case OpKind::accept:
          r = do_accept_op(*s, q, cx);
          break;
        case OpKind::connect:
          r = do_connect(*s, fd, q, cx);
          break;
        case OpKind::wait_writable:
        case OpKind::poll:
          r = do_wait_ready(*s, q, cx);
          break;
        default:
          r = static_cast<long>(-EOPNOTSUPP);  // descriptor passing: not simulated
      }
    }
    wl.swap(wakes_);
  }
  wake(wl);
  return r;
}

bool Network::spurious_eagain(Socket& s, const char* what, const char* op) {
  if (cfg_.faults.spurious_eagain <= 0.0) return false;  // draws nothing
  if (s.eagain_streak >= kEagainStreakMax) {
    s.eagain_streak = 0;  // this one is honest: a storm cannot stop a socket
    return false;
  }
  if (!draw(cfg_.faults.spurious_eagain)) {
    s.eagain_streak = 0;
    return false;
  }
  ++s.eagain_streak;
  trace(std::string(what) + op + " " + conn_text(s));
  return true;
}

Poll<long> Network::would_block_now(Context& cx) {
  wakes_.push_back(cx.waker());  // woken at once: the next poll tries again
  return pending;
}

Poll<long> Network::park(Socket& s, Waker& slot, Context& cx, const char* op) {
  slot = cx.waker();
  if (spurious_eagain(s, "fault-wake ", op)) wakes_.push_back(cx.waker());
  return pending;
}

Poll<long> Network::do_accept_op(Socket& s, OpRequest& q, Context& cx) {
  if (s.state == State::listening && !s.backlog.empty() &&
      spurious_eagain(s, "fault-eagain ", "accept")) {
    return would_block_now(cx);
  }
  const int a = do_accept(s, q.addr);
  if (a != -EAGAIN || s.state != State::listening) return static_cast<long>(a);
  // Any number of accepts may wait; a re-poll keeps one entry.
  const bool known = std::any_of(s.acceptors.begin(), s.acceptors.end(),
                                 [&](const Waker& k) { return k.will_wake(cx.waker()); });
  if (!known) s.acceptors.push_back(cx.waker());
  if (spurious_eagain(s, "fault-wake ", "accept")) wakes_.push_back(cx.waker());
  return pending;
}

Poll<long> Network::do_wait_ready(Socket& s, OpRequest& q, Context& cx) {
  const bool want_out = q.kind == OpKind::wait_writable || (q.flags & POLLOUT) != 0;
  int mask = 0;
  if (s.error != 0) mask |= POLLERR;
  if (!s.rx.empty() || s.rx_eof || !s.backlog.empty()) mask |= POLLIN;
  if (s.state == State::connected && room(s) > 0) mask |= POLLOUT;
  if (s.error != 0 || (mask & (want_out ? POLLOUT : POLLIN)) != 0) {
    if (s.error == 0 && spurious_eagain(s, "fault-eagain ", "poll")) return would_block_now(cx);
    return static_cast<long>(q.kind == OpKind::wait_writable ? 0 : mask);
  }
  return park(s, want_out ? s.writer : s.reader, cx, "poll");
}

Poll<long> Network::do_recv(Socket& s, OpRequest& q, Context& cx) {
  if (s.error != 0) return static_cast<long>(-s.error);
  if (s.state != State::connected && s.state != State::connecting) {
    return static_cast<long>(-ENOTCONN);
  }
  if (s.rx.empty()) {
    if (s.rx_eof || s.shut_rd) return 0L;
    return park(s, s.reader, cx, "recv");
  }
  if (spurious_eagain(s, "fault-eagain ", "recv")) return would_block_now(cx);
  std::size_t n = std::min(q.len, s.rx.size());
  if (n > 1 && draw(cfg_.faults.short_read)) {
    n = 1 + static_cast<std::size_t>(below(n - 1));  // fault: a short read
  }
  // Copy out: one buffer (recv) or several in order (readv).
  std::size_t done = 0;
  auto put = [&](std::byte* dst, std::size_t room) {
    const std::size_t k = std::min(room, n - done);
    std::copy_n(s.rx.begin() + static_cast<std::ptrdiff_t>(done), k, dst);
    done += k;
  };
  if (q.kind == OpKind::readv) {
    for (std::size_t i = 0; i < q.iovcnt && done < n; ++i) put(q.riov[i].data(), q.riov[i].size());
  } else {
    put(q.rbuf, q.len);
  }
  if ((q.flags & MSG_PEEK) == 0) {
    s.rx.erase(s.rx.begin(), s.rx.begin() + static_cast<std::ptrdiff_t>(n));
    // The window opened: the peer's writer may go on.
    if (Socket* p = find(s.peer)) take(wakes_, p->writer);
  }
  return static_cast<long>(n);
}

std::optional<long> Network::try_send(Socket& s, int fd, const OpRequest& q) {
  if (s.error != 0) return static_cast<long>(-s.error);
  if (s.shut_wr || s.state == State::dead) return static_cast<long>(-EPIPE);
  if (s.state == State::connecting) return std::nullopt;  // the SYN-ACK opens it
  if (s.state != State::connected) return static_cast<long>(-ENOTCONN);
  if (q.len == 0) return 0L;
  std::size_t n = std::min(q.len, room(s));
  if (n == 0) return std::nullopt;  // the peer's reads open the window
  if (n > 1 && draw(cfg_.faults.short_write)) {
    n = 1 + static_cast<std::size_t>(below(n - 1));  // fault: a short write
  }
  Segment seg;
  seg.bytes.resize(n);
  if (q.kind == OpKind::writev) {
    std::size_t done = 0;
    for (std::size_t i = 0; i < q.iovcnt && done < n; ++i) {
      const std::size_t k = std::min(q.wiov[i].size(), n - done);
      std::copy_n(q.wiov[i].data(), k, seg.bytes.data() + done);
      done += k;
    }
  } else {
    std::copy_n(q.wbuf, n, seg.bytes.data());
  }
  push_segment(fd, std::move(seg));
  return static_cast<long>(n);
}

bool Network::sendable(const Socket& s, std::size_t len) {
  return s.error == 0 && !s.shut_wr && s.state == State::connected && len > 0 && room(s) > 0;
}

Poll<long> Network::do_send(Socket& s, int fd, OpRequest& q, Context& cx) {
  if (sendable(s, q.len) && spurious_eagain(s, "fault-eagain ", "send")) {
    return would_block_now(cx);
  }
  if (std::optional<long> r = try_send(s, fd, q)) return *r;
  return park(s, s.writer, cx, "send");  // the SYN-ACK, or the peer's reads, wake it
}

Poll<long> Network::do_connect(Socket& s, int fd, OpRequest& q, Context& cx) {
  switch (s.state) {
    case State::connected:
      return 0L;
    case State::connecting:
      s.writer = cx.waker();
      return pending;
    case State::dead:
      return static_cast<long>(-(s.error != 0 ? s.error : ECONNABORTED));
    case State::listening:
      return static_cast<long>(-EISCONN);
    case State::fresh:
    case State::bound:
      break;
  }
  if (s.host == kNoHost) return static_cast<long>(-EADDRNOTAVAIL);  // no host scope
  if (q.addr == nullptr || q.addr->family() != AF_INET) return static_cast<long>(-EAFNOSUPPORT);
  std::uint32_t ip = ip_of(*q.addr);
  if (ip == INADDR_LOOPBACK) ip = hosts_[s.host].ip;
  if (s.state == State::fresh) {
    s.local_ip = hosts_[s.host].ip;
    s.local_port = hosts_[s.host].next_port++;
  }
  s.peer_ip = ip;
  s.peer_port = q.addr->port();
  s.state = State::connecting;
  s.writer = cx.waker();
  send_syn(fd);
  return pending;
}

int Network::do_accept(Socket& l, net::SocketAddr* peer) {
  if (l.state != State::listening) return l.error != 0 ? -l.error : -EINVAL;
  if (l.backlog.empty()) return -EAGAIN;
  if (draw(cfg_.faults.emfile)) {
    // Fault: no descriptor for it. The kernel leaves the connection at the
    // head of the queue, and the next accept takes it (or fails again).
    trace("fault-emfile " + conn_text(sockets_.at(l.backlog.front())));
    return -EMFILE;
  }
  const int fd = l.backlog.front();
  l.backlog.pop_front();
  Socket& s = sockets_.at(fd);
  s.accepted = true;
  s.listener = -1;
  if (peer != nullptr) *peer = net::SocketAddr::v4(s.peer_ip, s.peer_port);
  trace("accept " + conn_text(s));
  return fd;
}

// ---- datagrams ---------------------------------------------------------------

namespace {
/// The most a UDP datagram over IPv4 carries (65535 less the IP and UDP
/// headers).
constexpr std::size_t kMaxDatagram = 65507;
}  // namespace

Poll<long> Network::udp_op(Socket& s, int fd, OpRequest& q, Context& cx) {
  switch (q.kind) {
    case OpKind::recv:
    case OpKind::recvfrom:
      return recv_datagram(s, q, cx);
    case OpKind::sendto:
    case OpKind::send:  // no address: to the connected peer
      return send_datagram(s, fd, q);
    default:
      return static_cast<long>(-EOPNOTSUPP);
  }
}

long Network::send_datagram(Socket& s, int /*fd*/, const OpRequest& q) {
  if (s.error != 0) return -s.error;
  if (s.dgram_error != 0) return -std::exchange(s.dgram_error, 0);
  if (s.state == State::dead) return -EBADF;
  if (s.host == kNoHost) return -EADDRNOTAVAIL;  // no host scope
  // No address (or one of length 0): the connected peer's.
  const bool to_peer = q.addr == nullptr || q.addr->len() == 0;
  if (to_peer && !s.dgram_connected) return -EDESTADDRREQ;
  const net::SocketAddr dest = to_peer ? net::SocketAddr::v4(s.peer_ip, s.peer_port) : *q.addr;
  if (dest.family() != AF_INET) return -EAFNOSUPPORT;
  if (q.len > kMaxDatagram) return -EMSGSIZE;
  if (s.state == State::fresh) {
    // The kernel binds an unbound socket's first send to an ephemeral port.
    s.local_ip = hosts_[s.host].ip;
    s.local_port = hosts_[s.host].next_port++;
    s.state = State::bound;
  }
  Datagram d;
  d.from_ip = s.local_ip;
  d.from_port = s.local_port;
  d.to_ip = ip_of(dest) == INADDR_LOOPBACK ? hosts_[s.host].ip : ip_of(dest);
  d.to_port = dest.port();
  const std::string what =
      "udp " + addr_text(d.from_ip, d.from_port) + ">" + addr_text(d.to_ip, d.to_port);
  const std::uint32_t to = host_by_ip(d.to_ip);
  if (to == kNoHost || !transmits(s.host, to)) {
    trace(what + " lost n=" + std::to_string(q.len));  // no retransmission
    return static_cast<long>(q.len);
  }
  Instant at = Clock::now();  // a host's own loopback: no link
  if (to != s.host) {
    // The link's queue and delay, in the order sent: a datagram arrives
    // after the one sent before it on the link, unless it is late.
    at = std::max(link_sent(s.host, to, q.len) + delay(s.host, to), dgram_last_[{s.host, to}]);
    dgram_last_[{s.host, to}] = at;
    at += late_by(link(s.host, to), q.len, [&] { return what; });
  }
  d.bytes.assign(q.wbuf, q.wbuf + q.len);
  const std::uint64_t id = next_datagram_++;
  datagrams_.emplace(id, std::move(d));
  schedule(Event{at, 0, Event::datagram, -1, 0, id});
  return static_cast<long>(q.len);
}

void Network::on_datagram(std::uint64_t id) {
  auto it = datagrams_.find(id);
  if (it == datagrams_.end()) return;
  Datagram d = std::move(it->second);
  datagrams_.erase(it);
  const std::string what =
      "udp " + addr_text(d.from_ip, d.from_port) + ">" + addr_text(d.to_ip, d.to_port);
  const std::uint32_t to = host_by_ip(d.to_ip);
  Socket* r = nullptr;
  for (auto& [k, s] : sockets_) {
    if (s.udp && s.host == to && s.fd_open && s.state == State::bound && s.error == 0 &&
        s.local_port == d.to_port) {
      r = &s;
      break;
    }
  }
  if (to == kNoHost || !hosts_[to].up || r == nullptr) {
    trace(what + " unreachable n=" + std::to_string(d.bytes.size()));  // nobody bound there
    send_unreachable(d, to);
    return;
  }
  if (r->dgram_connected && (d.from_ip != r->peer_ip || d.from_port != r->peer_port)) {
    trace(what + " filtered n=" + std::to_string(d.bytes.size()));  // not from its peer
    return;
  }
  if (r->dgram_bytes + d.bytes.size() > cfg_.socket_buffer) {
    trace(what + " overflow n=" + std::to_string(d.bytes.size()));  // the receive buffer is full
    return;
  }
  const std::uint64_t h = fnv1a(d.bytes.data(), d.bytes.size());
  char hb[24];
  std::snprintf(hb, sizeof hb, "%016llx", static_cast<unsigned long long>(h));
  trace(what + " n=" + std::to_string(d.bytes.size()) + " h=" + hb);
  r->dgram_bytes += d.bytes.size();
  r->dgrams.push_back(std::move(d));
  take(wakes_, r->reader);
}

void Network::send_unreachable(const Datagram& d, std::uint32_t to) {
  // Only a host that is up answers (a host down sends nothing back), and
  // only a connected sender hears it (the kernel reports ICMP errors to
  // connected datagram sockets alone).
  if (to == kNoHost || !hosts_[to].up) return;
  const std::uint32_t from = host_by_ip(d.from_ip);
  for (auto& [fd, s] : sockets_) {
    if (!s.udp || !s.fd_open || s.host != from || s.local_port != d.from_port) continue;
    if (!s.dgram_connected || s.peer_ip != d.to_ip || s.peer_port != d.to_port) return;
    if (!transmits(to, from)) return;  // the ICMP lost on the way back
    schedule(Event{Clock::now() + delay(to, from), 0, Event::icmp, fd, 0, 0});
    return;
  }
}

void Network::on_icmp(int fd) {
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open || !s->dgram_connected) return;
  trace("icmp-unreachable " + addr_text(s->peer_ip, s->peer_port) + ">" +
        addr_text(s->local_ip, s->local_port));
  s->dgram_error = ECONNREFUSED;
  take(wakes_, s->reader);
}

int Network::connect_dgram(int fd, const net::SocketAddr& peer) noexcept {
  std::lock_guard g(mu_);
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open) return -EBADF;
  if (!s->udp) return -EOPNOTSUPP;  // TCP connects through the driver
  if (peer.family() == AF_UNSPEC) {
    s->dgram_connected = false;
    s->peer_ip = 0;
    s->peer_port = 0;
    return 0;
  }
  if (peer.family() != AF_INET) return -EAFNOSUPPORT;
  if (s->host == kNoHost) return -EADDRNOTAVAIL;
  if (s->state == State::fresh) {
    s->local_ip = hosts_[s->host].ip;
    s->local_port = hosts_[s->host].next_port++;
    s->state = State::bound;
  }
  s->peer_ip = ip_of(peer) == INADDR_LOOPBACK ? hosts_[s->host].ip : ip_of(peer);
  s->peer_port = peer.port();
  s->dgram_connected = true;
  s->dgram_error = 0;
  trace("udp-connect " + addr_text(s->local_ip, s->local_port) + ">" +
        addr_text(s->peer_ip, s->peer_port));
  return 0;
}

Poll<long> Network::recv_datagram(Socket& s, OpRequest& q, Context& cx) {
  if (s.error != 0) return static_cast<long>(-s.error);
  if (s.dgram_error != 0) return static_cast<long>(-std::exchange(s.dgram_error, 0));
  if (s.state == State::fresh) return static_cast<long>(-EINVAL);  // nothing bound to receive on
  if (s.dgrams.empty()) return park(s, s.reader, cx, "recv");
  if (spurious_eagain(s, "fault-eagain ", "recv")) return would_block_now(cx);
  const Datagram& d = s.dgrams.front();
  // Truncated to the buffer; recvfrom(2) without MSG_TRUNC returns the
  // bytes copied, and the rest of the datagram is gone.
  const std::size_t n = std::min(q.len, d.bytes.size());
  std::copy_n(d.bytes.data(), n, q.rbuf);
  if (q.addr != nullptr) *q.addr = net::SocketAddr::v4(d.from_ip, d.from_port);
  if ((q.flags & MSG_PEEK) == 0) {
    s.dgram_bytes -= d.bytes.size();
    s.dgrams.pop_front();
  }
  return static_cast<long>(n);
}

// ---- the calls in the kernel's place ---------------------------------------

std::unique_ptr<duet::detail::Driver> Network::make_driver(const RuntimeConfig& /*cfg*/,
                                                           unsigned /*index*/) {
  return make_sim_driver(*this);
}

bool Network::claims_socket() const noexcept {
  return host_key().try_get() != nullptr;
}

int Network::socket(int family, int type) noexcept {
  if (family != AF_INET) return -EAFNOSUPPORT;  // IPv4 only
  const int kind = type & 0xf;
  if (kind != SOCK_STREAM && kind != SOCK_DGRAM) return -EPROTONOSUPPORT;  // TCP and UDP
  const std::uint32_t* h = host_key().try_get();
  std::lock_guard g(mu_);
  const int fd = next_fd_++;
  Socket s;
  s.host = h != nullptr ? *h : kNoHost;
  s.udp = kind == SOCK_DGRAM;
  sockets_.emplace(fd, std::move(s));
  return fd;
}

int Network::bind(int fd, const net::SocketAddr& addr) noexcept {
  std::lock_guard g(mu_);
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open) return -EBADF;
  if (s->state != State::fresh) return -EINVAL;
  if (addr.family() != AF_INET) return -EAFNOSUPPORT;
  std::uint32_t ip = ip_of(addr);
  std::uint32_t h = s->host;
  if (ip == INADDR_ANY || ip == INADDR_LOOPBACK) {
    if (h == kNoHost) return -EADDRNOTAVAIL;  // no host scope to bind on
    ip = hosts_[h].ip;
  } else {
    const std::uint32_t owner = host_by_ip(ip);
    if (owner == kNoHost || (h != kNoHost && h != owner)) return -EADDRNOTAVAIL;
    h = owner;
  }
  if (!hosts_[h].up) return -ENETDOWN;
  std::uint16_t port = addr.port();
  if (port == 0) {
    port = hosts_[h].next_port++;
  } else {
    for (const auto& [k, o] : sockets_) {
      if (k != fd && o.host == h && o.fd_open && o.udp == s->udp && o.local_port == port &&
          (o.state == State::bound || o.state == State::listening)) {
        return -EADDRINUSE;
      }
    }
  }
  s->host = h;
  s->local_ip = ip;
  s->local_port = port;
  s->state = State::bound;
  return 0;
}

int Network::listen(int fd, int backlog) noexcept {
  std::lock_guard g(mu_);
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open) return -EBADF;
  if (s->udp) return -EOPNOTSUPP;
  if (s->state != State::bound && s->state != State::listening) return -EINVAL;
  s->state = State::listening;
  s->backlog_max = static_cast<std::size_t>(std::clamp(backlog, 1, 4096));
  trace("listen " + addr_text(s->local_ip, s->local_port));
  return 0;
}

int Network::accept_now(int fd) noexcept {
  WakeList wl;
  int r = 0;
  {
    std::lock_guard g(mu_);
    Socket* s = find(fd);
    if (s == nullptr || !s->fd_open) {
      r = -EBADF;
    } else if (s->state == State::listening && !s->backlog.empty() &&
               spurious_eagain(*s, "fault-eagain ", "accept")) {
      r = -EAGAIN;  // fault: accept_many's batch ends here
    } else {
      r = do_accept(*s, nullptr);
    }
    wl.swap(wakes_);
  }
  wake(wl);
  return r;
}

long Network::send_now(int fd, const void* data, std::size_t len) noexcept {
  OpRequest q(OpKind::send);
  q.wbuf = static_cast<const std::byte*>(data);
  q.len = len;
  WakeList wl;
  long r = 0;
  {
    std::lock_guard g(mu_);
    Socket* s = find(fd);
    if (s == nullptr || !s->fd_open) {
      r = -EBADF;
    } else if (sendable(*s, len) && spurious_eagain(*s, "fault-eagain ", "send")) {
      r = -EAGAIN;  // fault: try_write finds no room
    } else {
      r = try_send(*s, fd, q).value_or(-EAGAIN);
    }
    wl.swap(wakes_);
  }
  wake(wl);
  return r;
}

int Network::shutdown(int fd, int how) noexcept {
  WakeList wl;
  int r = 0;
  {
    std::lock_guard g(mu_);
    Socket* s = find(fd);
    if (s == nullptr || !s->fd_open) {
      r = -EBADF;
    } else if (s->state != State::connected) {
      r = -ENOTCONN;
    } else {
      if (how == SHUT_RD || how == SHUT_RDWR) {
        s->shut_rd = true;
        take(wakes_, s->reader);
      }
      if ((how == SHUT_WR || how == SHUT_RDWR) && !s->shut_wr && s->error == 0) {
        s->shut_wr = true;
        push_segment(fd, Segment{Segment::fin, {}, {}, 0});
      }
    }
    wl.swap(wakes_);
  }
  wake(wl);
  return r;
}

int Network::close(int fd) noexcept {
  WakeList wl;
  int r = 0;
  {
    std::lock_guard g(mu_);
    Socket* s = find(fd);
    if (s == nullptr || !s->fd_open) {
      r = -EBADF;
    } else {
      s->fd_open = false;
      wake_all(*s);
      if (s->state == State::listening) {
        // Connections nobody accepted are reset, as the kernel does.
        for (int c : s->backlog) {
          Socket* a = find(c);
          if (a == nullptr) continue;
          a->fd_open = false;
          if (a->error == 0) {
            trace("rst-unaccepted " + conn_text(*a));
            push_segment(c, Segment{Segment::rst, {}, {}, 0});
          }
        }
        s->backlog.clear();
        s->state = State::dead;
      } else if (s->state == State::connected && s->error == 0) {
        if (!s->rx.empty()) {
          // Unread bytes: the kernel resets instead of closing (RFC 2525).
          s->out.clear();
          s->out_bytes = 0;
          s->out_scheduled = false;
          push_segment(fd, Segment{Segment::rst, {}, {}, 0});
          s->error = ECONNRESET;
        } else if (!s->shut_wr) {
          s->shut_wr = true;
          push_segment(fd, Segment{Segment::fin, {}, {}, 0});
        }
      } else if (s->state != State::connected) {
        s->state = State::dead;
      }
    }
    wl.swap(wakes_);
  }
  wake(wl);
  return r;
}

int Network::name(int fd, bool peer, net::SocketAddr& out) noexcept {
  std::lock_guard g(mu_);
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open) return -EBADF;
  if (peer) {
    if (s->state != State::connected && !s->dgram_connected) return -ENOTCONN;
    out = net::SocketAddr::v4(s->peer_ip, s->peer_port);
  } else {
    out = net::SocketAddr::v4(s->local_ip, s->local_port);
  }
  return 0;
}

int Network::setsockopt(int fd, int level, int name, const void* v, socklen_t len) noexcept {
  std::lock_guard g(mu_);
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open) return -EBADF;
  int x = 0;
  std::memcpy(&x, v, std::min<std::size_t>(len, sizeof x));
  s->options[{level, name}] = x;  // kept to be read back; no option changes the simulation
  return 0;
}

int Network::set_nonblocking(int /*fd*/) noexcept {
  return 0;
}

namespace {
/// Whether `name` names host `host`: DNS compares without regard to case,
/// and a trailing dot (the root) is the same name.
bool same_name(std::string_view name, const std::string& host) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name.size() == host.size() &&
         std::equal(name.begin(), name.end(), host.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}
}  // namespace

Network::NameAnswer Network::lookup_name(std::string_view name, const NameQuery& q) {
  const std::uint32_t* asker = host_key().try_get();  // the looking-up task's host
  std::lock_guard g(mu_);
  const bool cut = asker != nullptr && (partitions_.count({*asker, kResolver}) != 0 ||
                                        partitions_.count({kResolver, *asker}) != 0);
  NameAnswer a;
  a.error = ENOENT;
  for (const HostState& h : hosts_) {
    if (!same_name(name, h.name)) continue;
    a.error = 0;
    a.ipv4 = h.ip;
    break;
  }
  // Each try: the query and its answer, one crossing of the default link
  // each, either lost with the link's loss (a cut loses both, drawing
  // nothing); a lost try costs its give-up, a refused one its round trip.
  const int tries = std::max(q.tries, 1);
  Duration spent{0};
  bool any_lost = false;
  for (int k = 0; k < tries; ++k) {
    const bool lost = cut || draw(cfg_.link.loss) || draw(cfg_.link.loss);
    if (!lost && !resolver_up_) {
      spent += link_delay(cfg_.link);
      spent += link_delay(cfg_.link);
      trace("dns-refused " + std::string(name) + " try " + std::to_string(k + 1));
      continue;
    }
    if (!lost) {
      a.after = spent + link_delay(cfg_.link);
      a.after += link_delay(cfg_.link);
      std::string answer = "nxdomain";
      if (a.error == 0) {
        answer = addr_text(a.ipv4, 0);
        answer.resize(answer.size() - 2);  // the address without ":0"
      }
      trace("dns " + std::string(name) + " " + answer);
      return a;
    }
    const Duration give_up = q.attempt_timeout * (Duration::rep{1} << std::min(k, 20));
    trace("dns-lost " + std::string(name) + " try " + std::to_string(k + 1));
    spent += give_up;
    any_lost = true;
  }
  a.error = any_lost ? ETIMEDOUT : ECONNREFUSED;
  a.ipv4 = 0;
  a.after = spent;
  trace("dns " + std::string(name) + (any_lost ? " timeout" : " refused"));
  return a;
}

int Network::getsockopt(int fd, int level, int name, void* v, socklen_t* len) noexcept {
  std::lock_guard g(mu_);
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open) return -EBADF;
  int x = 0;
  if (level == SOL_SOCKET && name == SO_ERROR) {
    x = s->error;
  } else if (auto it = s->options.find({level, name}); it != s->options.end()) {
    x = it->second;
  }
  std::memset(v, 0, *len);
  std::memcpy(v, &x, std::min<std::size_t>(*len, sizeof x));
  return 0;
}

}  // namespace duet::sim::detail
