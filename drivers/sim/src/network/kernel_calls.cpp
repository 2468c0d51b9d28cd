// kernel_calls.cpp: the socket calls the simulated network answers in the
// kernel's place (its SocketOps, duet/io/detail/socket_ops.hpp, through
// VirtualNet): socket, bind (its address and port: addresses.cpp),
// listen, accept and send without waiting (a datagram's: udp.cpp),
// shutdown, close (a FIN, or a reset over unread bytes or an unaccepted
// connection; a file's descriptor goes to the disk), the names and options of a virtual descriptor;
// and the network's driver.
#include "network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "duet/io/detail/io_op.hpp"

namespace duet::sim::detail {

using io::detail::OpKind;
using io::detail::OpRequest;

std::unique_ptr<duet::detail::Driver> Network::make_driver(const RuntimeConfig& /*cfg*/,
                                                           unsigned /*index*/) {
  return make_sim_driver(*this);
}

bool Network::claims_socket() const noexcept {
  return host_key().try_get() != nullptr;
}

int Network::socket(int family, int type) noexcept {
  if (family != AF_INET && family != AF_INET6) return -EAFNOSUPPORT;
  const int kind = type & 0xf;
  if (kind != SOCK_STREAM && kind != SOCK_DGRAM) return -EPROTONOSUPPORT;  // TCP and UDP
  const std::uint32_t* h = host_key().try_get();
  std::lock_guard g(mu_);
  const int fd = next_fd_++;
  Socket s;
  s.host = h != nullptr ? *h : kNoHost;
  s.udp = kind == SOCK_DGRAM;
  s.family = family;
  sockets_.emplace(fd, std::move(s));
  return fd;
}

int Network::bind(int fd, const net::SocketAddr& addr) noexcept {
  std::lock_guard g(mu_);
  Socket* s = find(fd);
  if (s == nullptr || !s->fd_open) return -EBADF;
  if (s->state != State::fresh) return -EINVAL;
  if (addr.family() != s->family) return -EAFNOSUPPORT;
  const Ip ip = ip_of(addr);
  // An IPv6 socket bound to an IPv4 address (mapped) takes IPv4 traffic:
  // not when it is IPv6-only.
  if (s->family == AF_INET6 && ip.is_v4() && v6only(*s)) return -EINVAL;
  std::uint32_t h = s->host;
  if (ip.is_any() || ip.is_loopback()) {
    if (h == kNoHost) return -EADDRNOTAVAIL;  // no host scope to bind on
  } else {
    const std::uint32_t owner = topo_.host_by_ip(ip);
    if (owner == kNoHost || (h != kNoHost && h != owner)) return -EADDRNOTAVAIL;
    h = owner;
  }
  if (!topo_.hosts[h].up) return -ENETDOWN;
  // ::ffff:0.0.0.0 binds as 0.0.0.0 does.
  const Bound b = ip.is_any() ? Bound{ip, ip == Ip::any6() && v6only(*s)} : Bound{ip, false};
  std::uint16_t port = addr.port();
  if (port == 0) {
    port = ephemeral_port(h, s->udp, b);
    if (port == 0) return -EADDRINUSE;  // the range exhausted: Linux's bind says so
  } else if (!ports_of(h, s->udp).free(port, b)) {
    return -EADDRINUSE;
  }
  s->host = h;
  hold_port(*s, fd, b, port);
  // Bound to a wildcard, it reports its host's address (until a connect).
  s->local_ip = ip.is_any() ? wildcard_local(h, s->family) : ip;
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
  s->tcp.backlog_max = static_cast<std::size_t>(std::clamp(backlog, 1, 4096));
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
    } else if (s->state == State::listening && !s->tcp.backlog.empty() &&
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
        s->tcp.shut_rd = true;
        take(wakes_, s->reader);
      }
      if ((how == SHUT_WR || how == SHUT_RDWR) && !s->tcp.shut_wr && s->error == 0) {
        s->tcp.shut_wr = true;
        push_segment(fd, Segment{Segment::fin, {}, {}, 0});
      }
    }
    wl.swap(wakes_);
  }
  wake(wl);
  return r;
}

int Network::close(int fd) noexcept {
  {
    std::lock_guard g(mu_);
    if (disk_.owns(fd)) return disk_.close(fd);
  }
  WakeList wl;
  int r = 0;
  {
    std::lock_guard g(mu_);
    Socket* s = find(fd);
    if (s == nullptr || !s->fd_open) {
      r = -EBADF;
    } else {
      s->fd_open = false;
      release_port(*s, fd);
      wake_all(*s);
      if (s->state == State::listening) {
        // Connections nobody accepted are reset, as the kernel does.
        for (int c : s->tcp.backlog) {
          Socket* a = find(c);
          if (a == nullptr) continue;
          a->fd_open = false;
          if (a->error == 0) {
            trace("rst-unaccepted " + conn_text(*a));
            push_segment(c, Segment{Segment::rst, {}, {}, 0});
          }
        }
        s->tcp.backlog.clear();
        s->state = State::dead;
      } else if (s->state == State::connected && s->error == 0) {
        if (!s->tcp.rx.empty()) {
          // Unread bytes: the kernel resets instead of closing (RFC 2525).
          s->tcp.out.clear();
          s->tcp.out_bytes = 0;
          s->tcp.out_scheduled = false;
          push_segment(fd, Segment{Segment::rst, {}, {}, 0});
          s->error = ECONNRESET;
        } else if (!s->tcp.shut_wr) {
          s->tcp.shut_wr = true;
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
    if (s->state != State::connected && !s->dgram.connected) return -ENOTCONN;
    out = socket_addr(s->peer_ip, s->peer_port, s->family);
  } else {
    out = socket_addr(s->local_ip, s->local_port, s->family);
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
