// socket_ops.cpp: the socket tables (duet/io/detail/socket_ops.hpp): the
// kernel's, the one for a virtual descriptor whose network is gone, the
// choice between them and the installed VirtualNet
// (duet/io/detail/virtual_net.hpp), which is made here and nowhere else,
// and Fd's close (duet/io/fd.hpp).
#include "duet/io/detail/socket_ops.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <stdexcept>

#include "duet/io/detail/virtual_net.hpp"

namespace duet::io::detail {
namespace {

/// A kernel call's result as a value: -errno for -1.
long value_of(long r) noexcept {
  return r >= 0 ? r : -static_cast<long>(errno);
}
int value_of(int r) noexcept {
  return r >= 0 ? r : -errno;
}

class KernelSocketOps final : public SocketOps {
 public:
  int socket(int family, int type) noexcept override {
    // Non-blocking for epoll and for io_uring alike (io_uring arms its own
    // poll on EAGAIN), close-on-exec always.
    return value_of(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  }
  int bind(int fd, const net::SocketAddr& addr) noexcept override {
    return value_of(::bind(fd, addr.raw(), addr.len()));
  }
  int listen(int fd, int backlog) noexcept override { return value_of(::listen(fd, backlog)); }
  int connect_dgram(int fd, const net::SocketAddr& peer) noexcept override {
    if (peer.family() == AF_UNSPEC) {
      sockaddr unspec{};
      unspec.sa_family = AF_UNSPEC;
      return value_of(::connect(fd, &unspec, sizeof unspec));
    }
    return value_of(::connect(fd, peer.raw(), peer.len()));
  }
  int accept_now(int fd) noexcept override {
    return value_of(::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  }
  long send_now(int fd, const void* data, std::size_t len) noexcept override {
    return value_of(static_cast<long>(::send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL)));
  }
  long sendto_now(int fd, const void* data, std::size_t len,
                  const net::SocketAddr& to) noexcept override {
    // No address (length 0): the kernel sends to the connected peer.
    const sockaddr* a = to.len() != 0 ? to.raw() : nullptr;
    return value_of(
        static_cast<long>(::sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, a, to.len())));
  }
  long recvfrom_now(int fd, void* buf, std::size_t len, net::SocketAddr& from) noexcept override {
    socklen_t l = sizeof(sockaddr_storage);
    const auto r = static_cast<long>(::recvfrom(fd, buf, len, MSG_DONTWAIT, from.raw(), &l));
    if (r >= 0) from.set_len(l);
    return value_of(r);
  }
  int shutdown(int fd, int how) noexcept override { return value_of(::shutdown(fd, how)); }
  int close(int fd) noexcept override { return value_of(::close(fd)); }
  int name(int fd, bool peer, net::SocketAddr& out) noexcept override {
    socklen_t l = sizeof(sockaddr_storage);
    const int r = peer ? ::getpeername(fd, out.raw(), &l) : ::getsockname(fd, out.raw(), &l);
    if (r < 0) return -errno;
    out.set_len(l);
    return 0;
  }
  int setsockopt(int fd, int level, int name, const void* v, socklen_t len) noexcept override {
    return value_of(::setsockopt(fd, level, name, v, len));
  }
  int getsockopt(int fd, int level, int name, void* v, socklen_t* len) noexcept override {
    return value_of(::getsockopt(fd, level, name, v, len));
  }
  int set_nonblocking(int fd) noexcept override {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    if ((fl & O_NONBLOCK) != 0) return 0;
    return value_of(::fcntl(fd, F_SETFL, fl | O_NONBLOCK));
  }
};

/// A virtual descriptor's table once its network is gone: its sockets went
/// with it. Every call answers -EBADF; close answers 0 (nothing is left
/// to close).
class GoneNetworkOps final : public SocketOps {
 public:
  int socket(int, int) noexcept override { return -EBADF; }
  int bind(int, const net::SocketAddr&) noexcept override { return -EBADF; }
  int listen(int, int) noexcept override { return -EBADF; }
  int connect_dgram(int, const net::SocketAddr&) noexcept override { return -EBADF; }
  int accept_now(int) noexcept override { return -EBADF; }
  long send_now(int, const void*, std::size_t) noexcept override { return -EBADF; }
  long sendto_now(int, const void*, std::size_t, const net::SocketAddr&) noexcept override {
    return -EBADF;
  }
  long recvfrom_now(int, void*, std::size_t, net::SocketAddr&) noexcept override { return -EBADF; }
  int shutdown(int, int) noexcept override { return -EBADF; }
  int close(int) noexcept override { return 0; }
  int name(int, bool, net::SocketAddr&) noexcept override { return -EBADF; }
  int setsockopt(int, int, int, const void*, socklen_t) noexcept override { return -EBADF; }
  int getsockopt(int, int, int, void*, socklen_t*) noexcept override { return -EBADF; }
  int set_nonblocking(int) noexcept override { return -EBADF; }
};

/// A table that is never destroyed: a descriptor may close during static
/// destruction, after this file's objects would be gone. Constant
/// initialization: no call finds it unmade either.
template <class T>
union Forever {
  constexpr Forever() : ops() {}
  ~Forever() {}
  T ops;
};
constinit Forever<KernelSocketOps> g_kernel;
constinit Forever<GoneNetworkOps> g_gone;
constinit std::atomic<VirtualNet*> g_net{nullptr};

}  // namespace

namespace {
/// The watchers (watch_virtual_net). The mutex orders a registration with
/// the installs and uninstalls, so a watcher sees each one it was
/// registered for exactly once, in order.
std::mutex g_watch_mu;
std::array<VirtualNetWatcher, 8> g_watchers{};
std::size_t g_watcher_count = 0;

void tell_watchers(VirtualNet* v) {
  for (std::size_t i = 0; i < g_watcher_count; ++i) g_watchers[i](v);
}
}  // namespace

void install_virtual_net(VirtualNet* v) {
  std::lock_guard g(g_watch_mu);
  if (v == nullptr) {
    if (g_net.load() != nullptr) tell_watchers(nullptr);
    g_net.store(nullptr);
    return;
  }
  VirtualNet* none = nullptr;
  if (!g_net.compare_exchange_strong(none, v)) {
    throw std::logic_error("duet::sim: one simulated network per process at a time");
  }
  tell_watchers(v);
}

void watch_virtual_net(VirtualNetWatcher w) {
  std::lock_guard g(g_watch_mu);
  for (std::size_t i = 0; i < g_watcher_count; ++i) {
    if (g_watchers[i] == w) return;
  }
  if (g_watcher_count == g_watchers.size()) {
    throw std::length_error("duet: too many virtual network watchers");
  }
  g_watchers[g_watcher_count++] = w;
  if (VirtualNet* v = g_net.load()) w(v);
}

VirtualNet* virtual_net() noexcept {
  // Acquire: the network's construction, before its install, happens before
  // its use here.
  return g_net.load(std::memory_order_acquire);
}

SocketOps& socket_ops(int fd) noexcept {
  if (fd < kVirtualFdBase) return g_kernel.ops;  // a real descriptor, or none (the kernel's EBADF)
  VirtualNet* v = virtual_net();
  return v != nullptr ? static_cast<SocketOps&>(*v) : g_gone.ops;
}

SocketOps& socket_ops_for_new_socket() noexcept {
  // A worker of a simulated network, or a caller that names one of its
  // hosts, makes a virtual socket.
  if (VirtualNet* v = virtual_net(); v != nullptr && (on_virtual_driver() || v->claims_socket())) {
    return *v;
  }
  return g_kernel.ops;
}

int close_fd(int fd) noexcept {
  const int r = socket_ops(fd).close(fd);
  if (r >= 0) return 0;
  errno = -r;
  return -1;
}

int close_virtual_fd(int fd) noexcept {
  return close_fd(fd);
}

}  // namespace duet::io::detail
