// udp.cpp: the simulated network's UDP (network.hpp): datagrams sent
// whole, lost for good (no retransmission), in order per link direction
// unless late, truncated to the reader's buffer, taken by the socket bound
// to their port and address (a loopback one from its own host only:
// addresses.cpp); a connected socket's peer, its filter and its port
// unreachable (ICMP); a socket's readiness, and its datagrams sent and
// received without waiting (UdpSocket's try_ calls).
#include "network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "duet/io/detail/io_op.hpp"

namespace duet::sim::detail {

using io::detail::OpKind;
using io::detail::OpRequest;

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
    case OpKind::poll:
    case OpKind::wait_writable:
      return udp_wait_ready(s, q, cx);
    default:
      return static_cast<long>(-EOPNOTSUPP);
  }
}

Poll<long> Network::udp_wait_ready(Socket& s, OpRequest& q, Context& cx) {
  const int asked = q.kind == OpKind::wait_writable ? POLLOUT : q.flags;
  const bool failed = s.error != 0 || s.dgram.error != 0;
  int mask = POLLOUT;  // a send never waits for room here
  if (!s.dgram.queue.empty()) mask |= POLLIN;
  if (failed || (mask & asked) != 0) {
    if (!failed && spurious_eagain(s, "fault-eagain ", "poll")) return would_block_now(cx);
    if (q.kind == OpKind::wait_writable) return 0L;
    // poll(2)'s revents: the side asked for, and an error always.
    return static_cast<long>((mask & asked) | (failed ? POLLERR : 0));
  }
  return park(s, s.reader, cx, "poll");  // a datagram or an error wakes it
}

long Network::send_datagram(Socket& s, int fd, const OpRequest& q) {
  net::SocketAddr dest;
  if (const long e = datagram_dest(s, q, dest); e != 0) return e;
  return send_checked(s, fd, q, dest);
}

long Network::datagram_dest(Socket& s, const OpRequest& q, net::SocketAddr& dest) {
  if (s.error != 0) return -s.error;
  if (s.dgram.error != 0) return -std::exchange(s.dgram.error, 0);
  if (s.state == State::dead) return -EBADF;
  if (s.host == kNoHost) return -EADDRNOTAVAIL;  // no host scope
  // No address (or one of length 0): the connected peer's.
  const bool to_peer = q.addr == nullptr || q.addr->len() == 0;
  if (to_peer && !s.dgram.connected) return -EDESTADDRREQ;
  dest = to_peer ? socket_addr(s.peer_ip, s.peer_port, s.family) : *q.addr;
  Ip to;
  if (const int e = reach(s, dest, to); e != 0) return e;
  if (q.len > kMaxDatagram) return -EMSGSIZE;
  if (s.bound.ip.is_loopback() && host_for(s.host, to) != s.host) {
    return -EINVAL;  // no way off the host
  }
  if (!source_ip(s.host, to)) return -ENETUNREACH;  // no address of the family
  return 0;
}

long Network::send_checked(Socket& s, int fd, const OpRequest& q, const net::SocketAddr& dest) {
  const Ip to_ip = ip_of(dest);
  const std::uint32_t to = host_for(s.host, to_ip);
  // The kernel binds an unbound socket's first send to an ephemeral port.
  if (const int e = autobind_dgram(s, fd); e < 0) return e;
  Datagram d;
  // datagram_dest found a source of the family.
  d.from_ip = s.bound.ip.is_any() ? source_ip(s.host, to_ip).value_or(Ip{}) : s.bound.ip;
  d.from_port = s.local_port;
  d.to_ip = to_ip;
  d.to_port = dest.port();
  d.from_host = s.host;
  d.to_host = to;
  const std::string what =
      "udp " + addr_text(d.from_ip, d.from_port) + ">" + addr_text(d.to_ip, d.to_port);
  if (to == kNoHost || !transmits(s.host, to)) {
    trace(what + " lost n=" + std::to_string(q.len));  // no retransmission
    return static_cast<long>(q.len);
  }
  Instant at = Clock::now();  // a host's own loopback: no link
  if (to != s.host) {
    // The link's queue and delay, in the order sent: a datagram arrives
    // after the one sent before it on the link, unless it is late.
    at = std::max(link_sent(s.host, to, q.len) + delay(s.host, to), topo_.dgram_last[{s.host, to}]);
    topo_.dgram_last[{s.host, to}] = at;
    at += late_by(topo_.link(s.host, to), q.len, [&] { return what; });
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
  const std::uint32_t to = d.to_host;
  // The socket bound to the port on the address the datagram was sent to
  // (its own, or every address), the lowest descriptor first.
  Socket* r = nullptr;
  if (to != kNoHost) {
    const int k = topo_.hosts[to].udp_ports.holder_for(d.to_port, d.to_ip, [&](int fd) {
      const Socket* s = find(fd);
      return s != nullptr && s->fd_open && s->state == State::bound && s->error == 0;
    });
    if (k >= 0) r = find(k);
  }
  if (to == kNoHost || !topo_.hosts[to].up || r == nullptr) {
    trace(what + " unreachable n=" + std::to_string(d.bytes.size()));  // nobody bound there
    send_unreachable(d, to);
    return;
  }
  if (r->dgram.connected && (d.from_ip != r->peer_ip || d.from_port != r->peer_port)) {
    trace(what + " filtered n=" + std::to_string(d.bytes.size()));  // not from its peer
    return;
  }
  if (r->dgram.bytes + d.bytes.size() > cfg_.socket_buffer) {
    trace(what + " overflow n=" + std::to_string(d.bytes.size()));  // the receive buffer is full
    return;
  }
  trace(what + " n=" + std::to_string(d.bytes.size()) +
        " h=" + hash_text(d.bytes.data(), d.bytes.size()));
  r->dgram.bytes += d.bytes.size();
  r->dgram.queue.push_back(std::move(d));
  take(wakes_, r->reader);
}

void Network::send_unreachable(const Datagram& d, std::uint32_t to) {
  // Only a host that is up answers (a host down sends nothing back), and
  // only a connected sender hears it (the kernel reports ICMP errors to
  // connected datagram sockets alone).
  if (to == kNoHost || !topo_.hosts[to].up) return;
  const std::uint32_t from = d.from_host;
  const int fd = topo_.hosts[from].udp_ports.holder_for(d.from_port, d.from_ip, [&](int k) {
    const Socket* s = find(k);
    return s != nullptr && s->fd_open;
  });
  const Socket* s = find(fd);
  if (s == nullptr || !s->dgram.connected || s->peer_ip != d.to_ip || s->peer_port != d.to_port) {
    return;
  }
  if (!transmits(to, from)) return;  // the ICMP lost on the way back
  schedule(Event{Clock::now() + delay(to, from), 0, Event::icmp, fd, 0, 0});
}

void Network::on_icmp(int fd) {
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open || !s->dgram.connected) return;
  trace("icmp-unreachable " + addr_text(s->peer_ip, s->peer_port) + ">" +
        addr_text(s->local_ip, s->local_port));
  s->dgram.error = ECONNREFUSED;
  take(wakes_, s->reader);
}

int Network::connect_dgram(int fd, const net::SocketAddr& peer) noexcept {
  std::lock_guard g(mu_);
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open) return -EBADF;
  if (!s->udp) return -EOPNOTSUPP;  // TCP connects through the driver
  if (peer.family() == AF_UNSPEC) {
    s->dgram.connected = false;
    s->peer_ip = Ip{};
    s->peer_port = 0;
    if (s->holds_port && s->bound.ip.is_any()) s->local_ip = wildcard_local(s->host, s->family);
    return 0;
  }
  if (s->host == kNoHost) return -EADDRNOTAVAIL;
  Ip ip;
  if (const int e = reach(*s, peer, ip); e != 0) return e;
  if (s->bound.ip.is_loopback() && host_for(s->host, ip) != s->host) return -EINVAL;
  const std::optional<Ip> from = source_ip(s->host, ip);
  if (!from) return -ENETUNREACH;  // no address of the family
  if (const int e = autobind_dgram(*s, fd); e < 0) return e;
  // Connected, a socket bound to a wildcard names the address it sends
  // from (the loopback over the loopback), as getsockname does on Linux.
  if (s->bound.ip.is_any()) s->local_ip = *from;
  s->peer_ip = ip;
  s->peer_port = peer.port();
  s->dgram.connected = true;
  s->dgram.error = 0;
  trace("udp-connect " + addr_text(s->local_ip, s->local_port) + ">" +
        addr_text(s->peer_ip, s->peer_port));
  return 0;
}

Poll<long> Network::recv_datagram(Socket& s, OpRequest& q, Context& cx) {
  if (const long e = recv_error(s); e != 0) return e;
  if (s.dgram.queue.empty()) return park(s, s.reader, cx, "recv");
  if (spurious_eagain(s, "fault-eagain ", "recv")) return would_block_now(cx);
  return pop_datagram(s, q);
}

long Network::recv_error(Socket& s) {
  if (s.error != 0) return -s.error;
  if (s.dgram.error != 0) return -std::exchange(s.dgram.error, 0);
  if (s.state == State::fresh) return -EINVAL;  // nothing bound to receive on
  return 0;
}

long Network::pop_datagram(Socket& s, OpRequest& q) {
  const Datagram& d = s.dgram.queue.front();
  // Truncated to the buffer; recvfrom(2) without MSG_TRUNC returns the
  // bytes copied, and the rest of the datagram is gone.
  const std::size_t n = std::min(q.len, d.bytes.size());
  std::copy_n(d.bytes.data(), n, q.rbuf);
  if (q.addr != nullptr) *q.addr = socket_addr(d.from_ip, d.from_port, s.family);
  if ((q.flags & MSG_PEEK) == 0) {
    s.dgram.bytes -= d.bytes.size();
    s.dgram.queue.pop_front();
  }
  return static_cast<long>(n);
}

template <class Op>
long Network::udp_now(int fd, Op op) {
  WakeList wl;
  long r = 0;
  {
    std::lock_guard g(mu_);
    Socket* s = find(fd);
    if (s == nullptr || !s->fd_open) {
      r = -EBADF;
    } else if (s->host != kNoHost && !topo_.hosts[s->host].up) {
      r = -ENETDOWN;  // as start() answers the driver's path
    } else if (!s->udp) {
      r = -EOPNOTSUPP;  // a stream's direct calls are send_now, accept_now
    } else {
      r = op(*s);
    }
    wl.swap(wakes_);
  }
  wake(wl);
  return r;
}

long Network::sendto_now(int fd, const void* data, std::size_t len,
                         const net::SocketAddr& to) noexcept {
  OpRequest q(OpKind::sendto);
  q.wbuf = static_cast<const std::byte*>(data);
  q.len = len;
  net::SocketAddr to_copy = to;  // the request names a mutable address
  q.addr = &to_copy;
  return udp_now(fd, [&](Socket& s) {
    net::SocketAddr dest;
    if (const long e = datagram_dest(s, q, dest); e != 0) return e;
    if (spurious_eagain(s, "fault-eagain ", "send")) return static_cast<long>(-EAGAIN);
    return send_checked(s, fd, q, dest);
  });
}

long Network::recvfrom_now(int fd, void* buf, std::size_t len, net::SocketAddr& from) noexcept {
  OpRequest q(OpKind::recvfrom);
  q.rbuf = static_cast<std::byte*>(buf);
  q.len = len;
  q.addr = &from;
  return udp_now(fd, [&](Socket& s) {
    if (const long e = recv_error(s); e != 0) return e;
    if (s.dgram.queue.empty()) return static_cast<long>(-EAGAIN);  // readable() waits for one
    if (spurious_eagain(s, "fault-eagain ", "recv")) return static_cast<long>(-EAGAIN);
    return pop_datagram(s, q);
  });
}

}  // namespace duet::sim::detail
