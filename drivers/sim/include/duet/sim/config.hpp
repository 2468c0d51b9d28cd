// duet/sim/config.hpp: what a simulated network (duet/sim/world.hpp) is
// made of: its links (latency, jitter, loss, bandwidth, reordering), its
// hosts' addresses, its fault rates, its hosts' simulated disks, its seed,
// and the task-local that names the host a task runs on. Needs
// duet::drivers only.
#pragma once

#include "duet/export.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "duet/task_local.hpp"

namespace duet::sim {

using Duration = std::chrono::nanoseconds;

/// One direction's delivery between two hosts. A segment arrives after
/// `latency` plus a uniform draw in [0, jitter], never before the segment
/// sent before it on its connection (TCP's order). With `loss` > 0 each
/// transmission is lost with that probability and retransmitted after
/// TCP's back-off (200 ms doubling), as the kernel would: bytes are
/// delayed, never lost, unless the retransmissions give up. A UDP datagram
/// it loses is lost for good.
///
/// With `bandwidth` > 0 (bytes per second) each direction is a FIFO queue:
/// a segment leaves once the link has serialized the segments queued
/// before it (of every connection between the two hosts), after its own
/// serialization time, ceil(bytes / bandwidth) seconds; then the latency
/// and jitter above. A retransmission does not queue again.
///
/// With `reorder` > 0 each segment, with that probability, is late by an
/// extra draw in [0, latency + jitter] (a "late" trace line): segments of
/// other connections on the link overtake it. A TCP connection still
/// delivers its bytes in order, as a kernel's reassembly does: its later
/// segments wait for the late one, so for TCP a reordering shows only in
/// the timing and the trace, never in the bytes a read returns. A late UDP
/// datagram arrives after datagrams sent after it.
struct LinkConfig {
  Duration latency = std::chrono::milliseconds(1);
  Duration jitter{0};
  double loss = 0.0;
  std::uint64_t bandwidth = 0;  // bytes per second; 0: unlimited
  double reorder = 0.0;
};

/// Seeded fault rates, each a probability per operation of its kind.
struct Faults {
  double reset = 0.0;        // a delivered data segment resets its connection instead
  double short_read = 0.0;   // a read returns fewer bytes than were there (at least one)
  double short_write = 0.0;  // a write takes fewer bytes than it had room for (at least one)
  double refuse = 0.0;       // a connect reaching a listener is refused (ECONNREFUSED)
  /// An accept that finds a pending connection fails with EMFILE (the
  /// process is out of descriptors); the connection stays queued for the
  /// next accept, as the kernel keeps it.
  double emfile = 0.0;
  /// EAGAIN storms, drawn per operation on a virtual socket (recv, send,
  /// accept, a readiness wait). One that could proceed (bytes there, room,
  /// a connection queued, ready) reports would-block instead: on the
  /// driver's path its future stays pending and is woken at once to try
  /// again; through the direct calls (TcpStream::try_write, accept_many's
  /// batch) the caller sees EAGAIN. One that must wait is also woken at
  /// once (a spurious wake: its next poll finds nothing and waits again).
  /// Nothing is lost and nothing reordered: the operation proceeds later.
  /// At most 8 hits in a row per socket, so no rate, even 1, stops one.
  double spurious_eagain = 0.0;
  /// A file write (fs::File::write_at) made on the world's worker fails
  /// with EIO or ENOSPC (a second draw picks which, evenly) and writes
  /// nothing. The draw is made at the write's submission on the worker,
  /// before the simulated disk (DiskConfig) sees it, in the tasks' order,
  /// so a seed replays it.
  double file_write_error = 0.0;
  /// A file read (fs::File::read_at) made on the world's worker fails with
  /// EIO (a bad sector) and reads nothing; drawn as a write's is.
  double file_read_error = 0.0;
  /// A file sync (fs::File::sync_all, sync_data) made on the world's
  /// worker fails with EIO (a writeback that failed); drawn as a write's
  /// is. The sync does nothing: the writes stay pending (readable, and
  /// not durable), where a kernel may have dropped the pages that failed.
  double file_sync_error = 0.0;
};

/// A host's ephemeral ports: the ports a connect, a bind to port 0 and a
/// datagram socket's first send take (docs/simulation.md, "Ports"). The
/// default is IANA's dynamic range (Linux's own default is 32768-60999);
/// a test that exhausts the range sets a small one.
struct PortRange {
  std::uint16_t first = 49152;
  std::uint16_t last = 65535;
};

/// Each host's simulated disk (docs/simulation.md, "A simulated disk"):
/// the files that fs::File opens in a task of the world, kept in memory,
/// per host. A file keeps its durable contents (as of its last sync_all
/// or sync_data) and the writes made since, pending; reads see both. At
/// World::crash(h), each pending write of each of h's files, in the order
/// made, survives with probability `survive`; one that does not is torn
/// (when `tear`: a prefix of it up to a `sector` boundary of the file is
/// kept, drawn among the boundaries inside it) or lost, evenly; a write
/// within one sector is lost whole. An O_TRUNC of a file is a pending
/// change too (kept or lost, never torn), and a file created and never
/// synced keeps its name only with probability `survive` (else it is gone,
/// with every write to it). Each draw comes from the world's seed, so a
/// seed replays the crash's outcome.
struct DiskConfig {
  double survive = 0.5;
  bool tear = true;
  std::size_t sector = 512;  // > 0
  /// How long a read, a write and a sync take on the world's clock (a
  /// timer each); 0: done at once. An open and a close are always at once.
  Duration read_latency{0};
  Duration write_latency{0};
  Duration sync_latency{0};
  /// Bytes each host's files may hold in all (their sizes as reads see
  /// them); 0: no limit. A write past it takes what fits (a short write),
  /// or fails with ENOSPC when nothing fits.
  std::uint64_t capacity = 0;
};

/// Which addresses the world gives its hosts (docs/simulation.md,
/// "Addresses and ports"): an IPv4 one, 10.0.0.N (v4); an IPv6 one, fd00::N (v6);
/// or both (dual), N counting hosts from 1. The world's resolver answers
/// with the addresses a host has; sockets of both families work in every
/// world (an IPv6 socket reaches an IPv4 address IPv4-mapped, ::1 is every
/// host's loopback).
enum class IpVersion : std::uint8_t { v4, v6, dual };
constexpr std::array<IpVersion, 3> enum_values(IpVersion) noexcept {
  return {IpVersion::v4, IpVersion::v6, IpVersion::dual};
}
constexpr std::string_view to_string(IpVersion v) noexcept {
  return v == IpVersion::v4 ? "v4" : v == IpVersion::v6 ? "v6" : "dual";
}

struct WorldConfig {
  /// Seeds the network's draws (jitter, loss, faults), the runtime's (and
  /// so duet/random.hpp's draws on the world's worker and on the thread
  /// that builds the world), and the fault points' (duet/buggify.hpp).
  std::uint64_t seed = 1;
  /// Every link not set with World::set_link.
  LinkConfig link{};
  Faults faults{};
  /// Bytes a connection holds in one direction, in flight and unread: a
  /// write waits while the peer's window is full (the socket buffers).
  std::size_t socket_buffer = 64 * 1024;
  /// The hosts' addresses.
  IpVersion ip_version = IpVersion::v4;
  /// Each host's ephemeral ports (first <= last, first > 0; else the
  /// World's constructor throws std::invalid_argument).
  PortRange ephemeral_ports{};
  /// Keep every trace line (World::trace()), not only their hash.
  bool keep_trace = false;
  /// The share of duet::buggify() call sites (duet/buggify.hpp) enabled
  /// for the run, each decided by the seed when first reached; 0: no
  /// fault point fires.
  double buggify_sites = 0.25;
  /// Each host's simulated disk.
  DiskConfig disk{};
};

namespace detail {

/// The host a task runs on: what a socket made without an address (a
/// connect, a bind to 0.0.0.0) belongs to. Opened by World::run,
/// World::spawn and sim::spawn, which also make the task one of the
/// host's tasks (cancelled by its crash); a task spawned inside with plain
/// duet::spawn inherits neither (duet's task-locals are not inherited), so
/// spawn it with sim::spawn.
DUET_API const TaskLocal<std::uint32_t>& host_key() noexcept;

}  // namespace detail

}  // namespace duet::sim
