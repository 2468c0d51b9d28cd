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
//     c-ares (drivers/dns/src/resolver.cpp): the simulated hosts' names;
//   - seeded_bytes and elapsed: a library whose randomness or wall time
//     would make a run differ under one seed (duet::tls: OpenSSL's draws
//     and its tickets' time, drivers/tls/src/sim_replay.cpp) takes them
//     from the network instead, on its worker.
// At most one VirtualNet is installed per process (a sim::World installs
// itself for its life); a library above this one that must act while one
// lives (duet::tls, which routes OpenSSL's generator to it) registers a
// watcher, told of each install and uninstall.
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

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

  /// A name's answer from the simulated network's resolver: the addresses
  /// (port 0) of the family asked for that the host named so has, IPv4
  /// first, or error ENOENT (no such name: NXDOMAIN), ENODATA (the name,
  /// with no address of the family), ETIMEDOUT (no try answered, one lost)
  /// or ECONNREFUSED (every try refused); `after`: how long the answer, or
  /// the last try's end, takes.
  struct NameAnswer {
    int error = 0;
    std::vector<net::SocketAddr> addrs;
    std::chrono::nanoseconds after{0};
  };
  /// How the asking resolver retries: `tries` queries, the k-th (from 0)
  /// given up after attempt_timeout << k, as c-ares does with one server;
  /// and the family it asks for (AF_INET, AF_INET6, AF_UNSPEC: both).
  struct NameQuery {
    int tries = 1;
    std::chrono::nanoseconds attempt_timeout{0};
    int family = AF_UNSPEC;
  };
  /// On the network's worker: looks `name` up among the hosts.
  virtual NameAnswer lookup_name(std::string_view name, const NameQuery& q) = 0;

  /// On the network's worker: fills `out` with the next bytes of a stream
  /// that the network's seed fixes, apart from the network's own draws (so
  /// a run that takes none draws the same as before). The bytes replay in
  /// the order the worker asks for them; they are no secret.
  virtual void seeded_bytes(std::span<unsigned char> out) noexcept = 0;
  /// How far the network's clock has moved since it started: a time the
  /// seed fixes, for a library to stamp where it would read the wall clock.
  [[nodiscard]] virtual std::chrono::nanoseconds elapsed() const noexcept = 0;
};

/// Installs `v` (null: uninstalls). Throws std::logic_error when another
/// one is installed.
DUET_API void install_virtual_net(VirtualNet* v);
/// The installed VirtualNet, or null.
DUET_API VirtualNet* virtual_net() noexcept;

/// Told of a VirtualNet: called with it right after its install and with
/// null right before its uninstall, on the installing thread.
using VirtualNetWatcher = void (*)(VirtualNet*);
/// Registers `w` for every later install and uninstall (a watcher stays
/// for the process's life; registering one twice is one registration). If
/// a VirtualNet is installed now, `w` is called with it at once. At most 8
/// watchers; a ninth throws std::length_error.
DUET_API void watch_virtual_net(VirtualNetWatcher w);

/// Whether the calling thread is a worker whose driver is a simulated network.
[[nodiscard]] inline bool on_virtual_driver() noexcept {
  duet::detail::Driver* d = duet::detail::current_driver();
  return d != nullptr && d->kind() == IoDriver::sim;
}

}  // namespace duet::io::detail
