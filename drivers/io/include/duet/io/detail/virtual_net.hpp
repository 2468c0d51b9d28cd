// duet/io/detail/virtual_net.hpp (not part of the API): the seam where a simulated network
// (duet::sim) takes the kernel's place under the socket types. Two kinds of call reach it:
//   - the operations of poll_op (recv, send, accept, connect, ...) go to the
//     calling worker's driver as on io_uring and epoll: the simulated
//     network's driver is an IoBackend (IoDriver::sim), so they take no new
//     branch;
//   - the calls net/ makes directly (socket, bind, listen, shutdown, close,
//     getsockname, setsockopt, ...) ask is_virtual_fd(fd) (a descriptor a
//     simulated network made) or, when a socket is made,
//     on_virtual_driver() (the calling worker runs a simulated network),
//     and go to the installed VirtualNet instead of the kernel. A socket made
//     off the network's worker is virtual too when the network claims it
//     (VirtualNet::claims_socket: the caller names a simulated host).
// duet::dns asks it too (lookup_name): a lookup on the network's worker
// resolves the simulated hosts' names instead of asking c-ares.
// At most one VirtualNet is installed per process (a sim::World installs
// itself for its life).
#pragma once

#include "duet/export.hpp"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "duet/config.hpp"
#include "duet/detail/driver.hpp"
#include "duet/io/fd.hpp"
#include "duet/net/address.hpp"

namespace duet::io::detail {

/// What a simulated network answers in the kernel's place. Results follow
/// the kernel's, as values: >= 0, or -errno.
class VirtualNet {
 public:
  VirtualNet() = default;
  VirtualNet(const VirtualNet&) = delete;
  VirtualNet& operator=(const VirtualNet&) = delete;
  virtual ~VirtualNet() = default;
  /// The driver of worker `index` of a runtime whose io_driver is sim.
  virtual std::unique_ptr<duet::detail::Driver> make_driver(const RuntimeConfig& cfg,
                                                            unsigned index) = 0;
  /// Whether a socket made now, off the network's worker, is its own (a
  /// test's thread that names a simulated host).
  virtual bool claims_socket() const noexcept = 0;
  /// socket(2): a new virtual descriptor.
  virtual int socket(int family, int type) noexcept = 0;
  virtual int bind(int fd, const net::SocketAddr& addr) noexcept = 0;
  virtual int listen(int fd, int backlog) noexcept = 0;
  /// connect(2) on a datagram socket: sets (AF_UNSPEC: clears) its peer.
  virtual int connect_dgram(int fd, const net::SocketAddr& peer) noexcept = 0;
  /// accept4 without waiting: a queued connection's descriptor, or -EAGAIN.
  virtual int accept_now(int fd) noexcept = 0;
  /// send(2) with MSG_DONTWAIT, on the network's worker: the bytes taken,
  /// or -errno (-EAGAIN: no room, or not connected yet).
  virtual long send_now(int fd, const void* data, std::size_t len) noexcept = 0;
  virtual int shutdown(int fd, int how) noexcept = 0;
  virtual int close(int fd) noexcept = 0;
  /// getsockname (peer false) or getpeername (peer true) into `out`.
  virtual int name(int fd, bool peer, net::SocketAddr& out) noexcept = 0;
  virtual int setsockopt(int fd, int level, int name, const void* v, socklen_t len) noexcept = 0;
  virtual int getsockopt(int fd, int level, int name, void* v, socklen_t* len) noexcept = 0;

  /// A name's answer from the simulated network's resolver: the IPv4
  /// address (host order) of the host named so, or error ENOENT (no such
  /// name: NXDOMAIN), ETIMEDOUT (no try answered, one lost) or
  /// ECONNREFUSED (every try refused); `after`: how long the answer, or
  /// the last try's end, takes.
  struct NameAnswer {
    int error = 0;
    std::uint32_t ipv4 = 0;
    std::chrono::nanoseconds after{0};
  };
  /// How the asking resolver retries: `tries` queries, the k-th (from 0)
  /// given up after attempt_timeout << k, as c-ares does with one server.
  struct NameQuery {
    int tries = 1;
    std::chrono::nanoseconds attempt_timeout{0};
  };
  /// On the network's worker: looks `name` up among the hosts.
  virtual NameAnswer lookup_name(std::string_view name, const NameQuery& q) = 0;
};

/// Installs `v` (null: uninstalls). Throws std::logic_error when another
/// one is installed.
DUET_API void install_virtual_net(VirtualNet* v);
/// The installed VirtualNet, or null.
DUET_API VirtualNet* virtual_net() noexcept;

[[nodiscard]] inline bool is_virtual_fd(int fd) noexcept {
  return fd >= kVirtualFdBase;
}

/// Whether the calling thread is a worker whose driver is a simulated network.
[[nodiscard]] inline bool on_virtual_driver() noexcept {
  duet::detail::Driver* d = duet::detail::current_driver();
  return d != nullptr && d->kind() == IoDriver::sim;
}

}  // namespace duet::io::detail
