// operations.cpp: the operations of the simulated network's driver
// (network.hpp; sim_driver.cpp calls start): recv, send, accept, connect
// and the readiness waits on a TCP socket, a UDP socket's handed to
// udp.cpp; the spurious_eagain fault's would-blocks and spurious wakes,
// the short-read, short-write and emfile faults, and the file faults'
// draws.
#include "network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "duet/io/detail/io_op.hpp"

namespace duet::sim::detail {

using io::detail::OpKind;
using io::detail::OpRequest;

int Network::file_fault(OpKind kind, std::size_t len) {
  std::lock_guard g(mu_);
  switch (kind) {
    case OpKind::write_at: {
      if (!draws_.draw(cfg_.faults.file_write_error)) return 0;
      // The two ways a write to a local disk fails: the device (EIO) or the
      // space (ENOSPC); an even draw is EIO.
      const int e = draws_.below(2) == 0 ? EIO : ENOSPC;
      trace(std::string("fault-file-write ") + (e == EIO ? "EIO" : "ENOSPC") +
            " n=" + std::to_string(len));
      return e;
    }
    case OpKind::read_at:
      if (!draws_.draw(cfg_.faults.file_read_error)) return 0;
      trace("fault-file-read EIO n=" + std::to_string(len));
      return EIO;
    case OpKind::fsync:
      if (!draws_.draw(cfg_.faults.file_sync_error)) return 0;
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
    } else if (s->host != kNoHost && !topo_.hosts[s->host].up) {
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
  if (!draws_.draw(cfg_.faults.spurious_eagain)) {
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
  if (s.state == State::listening && !s.tcp.backlog.empty() &&
      spurious_eagain(s, "fault-eagain ", "accept")) {
    return would_block_now(cx);
  }
  const int a = do_accept(s, q.addr);
  if (a != -EAGAIN || s.state != State::listening) return static_cast<long>(a);
  // Any number of accepts may wait; a re-poll keeps one entry.
  const bool known = std::any_of(s.tcp.acceptors.begin(), s.tcp.acceptors.end(),
                                 [&](const Waker& k) { return k.will_wake(cx.waker()); });
  if (!known) s.tcp.acceptors.push_back(cx.waker());
  if (spurious_eagain(s, "fault-wake ", "accept")) wakes_.push_back(cx.waker());
  return pending;
}

Poll<long> Network::do_wait_ready(Socket& s, OpRequest& q, Context& cx) {
  const bool want_out = q.kind == OpKind::wait_writable || (q.flags & POLLOUT) != 0;
  int mask = 0;
  if (s.error != 0) mask |= POLLERR;
  if (!s.tcp.rx.empty() || s.tcp.rx_eof || !s.tcp.backlog.empty()) mask |= POLLIN;
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
  if (s.tcp.rx.empty()) {
    if (s.tcp.rx_eof || s.tcp.shut_rd) return 0L;
    return park(s, s.reader, cx, "recv");
  }
  if (spurious_eagain(s, "fault-eagain ", "recv")) return would_block_now(cx);
  std::size_t n = std::min(q.len, s.tcp.rx.size());
  if (n > 1 && draws_.draw(cfg_.faults.short_read)) {
    n = 1 + static_cast<std::size_t>(draws_.below(n - 1));  // fault: a short read
  }
  // Copy out: one buffer (recv) or several in order (readv).
  std::size_t done = 0;
  auto put = [&](std::byte* dst, std::size_t room) {
    const std::size_t k = std::min(room, n - done);
    std::copy_n(s.tcp.rx.begin() + static_cast<std::ptrdiff_t>(done), k, dst);
    done += k;
  };
  if (q.kind == OpKind::readv) {
    for (std::size_t i = 0; i < q.iovcnt && done < n; ++i) put(q.riov[i].data(), q.riov[i].size());
  } else {
    put(q.rbuf, q.len);
  }
  if ((q.flags & MSG_PEEK) == 0) {
    s.tcp.rx.erase(s.tcp.rx.begin(), s.tcp.rx.begin() + static_cast<std::ptrdiff_t>(n));
    // The window opened: the peer's writer may go on.
    if (Socket* p = find(s.tcp.peer)) take(wakes_, p->writer);
  }
  return static_cast<long>(n);
}

std::optional<long> Network::try_send(Socket& s, int fd, const OpRequest& q) {
  if (s.error != 0) return static_cast<long>(-s.error);
  if (s.tcp.shut_wr || s.state == State::dead) return static_cast<long>(-EPIPE);
  if (s.state == State::connecting) return std::nullopt;  // the SYN-ACK opens it
  if (s.state != State::connected) return static_cast<long>(-ENOTCONN);
  if (q.len == 0) return 0L;
  std::size_t n = std::min(q.len, room(s));
  if (n == 0) return std::nullopt;  // the peer's reads open the window
  if (n > 1 && draws_.draw(cfg_.faults.short_write)) {
    n = 1 + static_cast<std::size_t>(draws_.below(n - 1));  // fault: a short write
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
  return s.error == 0 && !s.tcp.shut_wr && s.state == State::connected && len > 0 && room(s) > 0;
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
  if (q.addr == nullptr) return static_cast<long>(-EAFNOSUPPORT);
  // The addresses and the port (addresses.cpp): a loopback address names
  // the socket's own host, and a connection over it is the loopback's at
  // both ends.
  Ip ip;
  if (const int e = reach(s, *q.addr, ip); e != 0) return static_cast<long>(e);
  if (s.bound.ip.is_loopback() && host_for(s.host, ip) != s.host) {
    return static_cast<long>(-EINVAL);  // bound to the loopback: no way off the host
  }
  const std::optional<Ip> from = source_ip(s.host, ip);
  if (!from) return static_cast<long>(-ENETUNREACH);  // no address of the family
  if (s.state == State::fresh) {
    const Bound b{*from, false};
    const std::uint16_t port = ephemeral_port(s.host, false, b);
    if (port == 0) return static_cast<long>(-EADDRNOTAVAIL);  // the range exhausted
    hold_port(s, fd, b, port);
    s.local_ip = *from;
  } else if (s.bound.ip.is_any()) {
    s.local_ip = *from;
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
  if (l.tcp.backlog.empty()) return -EAGAIN;
  if (draws_.draw(cfg_.faults.emfile)) {
    // Fault: no descriptor for it. The kernel leaves the connection at the
    // head of the queue, and the next accept takes it (or fails again).
    trace("fault-emfile " + conn_text(sockets_.at(l.tcp.backlog.front())));
    return -EMFILE;
  }
  const int fd = l.tcp.backlog.front();
  l.tcp.backlog.pop_front();
  Socket& s = sockets_.at(fd);
  s.tcp.accepted = true;
  s.tcp.listener = -1;
  if (peer != nullptr) *peer = socket_addr(s.peer_ip, s.peer_port, s.family);
  trace("accept " + conn_text(s));
  return fd;
}

}  // namespace duet::sim::detail
