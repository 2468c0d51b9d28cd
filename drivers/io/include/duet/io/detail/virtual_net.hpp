// duet/io/detail/virtual_net.hpp (not part of the API): what a simulated
// network (duet::sim) brings to take the kernel's place under the socket
// types. A VirtualNet is the socket table (SocketOps,
// duet/io/detail/socket_ops.hpp) of the descriptors it makes, from
// kVirtualFdBase on, and adds three hooks of its own, each asked in one
// place:
//   - make_driver: the driver of a worker on IoDriver::sim (the I/O
//     backends' factory, drivers/io/src/io_driver_factory.cpp); it is an
//     IoBackend, so poll_op's operations (recv, send, accept, connect, ...)
//     reach the network as they reach io_uring and epoll;
//   - claims_socket: whether a socket made off the network's worker is its
//     own (socket_ops_for_new_socket);
//   - lookup_name: duet::dns asks it, on the network's worker, instead of
//     c-ares (drivers/dns/src/resolver.cpp): the simulated hosts' names.
// At most one VirtualNet is installed per process (a sim::World installs
// itself for its life).
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "duet/config.hpp"
#include "duet/detail/driver.hpp"
#include "duet/io/detail/socket_ops.hpp"

namespace duet::io::detail {

/// A simulated network: the socket calls of its descriptors, answered in
/// the kernel's place (results as the kernel's, >= 0 or -errno), and its
/// hooks.
class VirtualNet : public SocketOps {
 public:
  /// The driver of worker `index` of a runtime whose io_driver is sim.
  virtual std::unique_ptr<duet::detail::Driver> make_driver(const RuntimeConfig& cfg,
                                                            unsigned index) = 0;
  /// Whether a socket made now, off the network's worker, is its own (a
  /// test's thread that names a simulated host).
  virtual bool claims_socket() const noexcept = 0;

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

/// Whether the calling thread is a worker whose driver is a simulated network.
[[nodiscard]] inline bool on_virtual_driver() noexcept {
  duet::detail::Driver* d = duet::detail::current_driver();
  return d != nullptr && d->kind() == IoDriver::sim;
}

}  // namespace duet::io::detail
