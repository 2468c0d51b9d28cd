// network.hpp: the simulated network behind a sim::World: its hosts and
// links, its virtual sockets (it answers their calls in the kernel's
// place: duet/io/detail/socket_ops.hpp, virtual_net.hpp), the queue of
// segments and events in flight, the seeded draws, and the trace. Network
// owns them and holds the lock; the data, each in a header of its own:
//   topology.hpp      hosts, links, partitions, holds;
//   ip.hpp            an address of either family, what a socket is bound
//                     to, and which traffic a binding takes;
//   ports.hpp         a host's ports in use, per protocol;
//   socket.hpp        a virtual descriptor's record, with its TCP part
//                     (tcp_conn.hpp) or its UDP part (udp_state.hpp);
//   events.hpp        the events in flight and their queue;
//   ../replay/draws.hpp  the seeded draws (the disk's and the fault
//                     points' too);
//   ../replay/trace.hpp  the trace and its hash (trace.cpp beside it:
//                     its lines and texts);
//   ../disk/disk.hpp  each host's simulated files (the disk has files of
//                     its own for its rules).
// Its rules, one concern to a file:
//   hosts.cpp         hosts and links as the world sets them, partitions,
//                     holds, crash and restart;
//   addresses.cpp     addresses and ports: the loopback, binds, the
//                     ephemeral range;
//   links.cpp         the link model: loss, delay, bandwidth, reordering;
//   pump.cpp          the queue of events and the pump that delivers them;
//   tcp.cpp           TCP connections: setup, delivery, retransmission;
//   operations.cpp    the driver's operations (recv, send, accept, ...);
//   udp.cpp           UDP: datagrams and connected datagram sockets,
//                     their readiness and their calls without waiting;
//   kernel_calls.cpp  the socket calls answered in the kernel's place;
//   resolver.cpp      the world's resolver (duet::dns's names);
//   files.cpp         the driver's file operations, answered by the
//                     disk, at once or after DiskConfig's latency;
//   network.cpp       construction, the socket table's look-up, the
//                     world's read-outs.
//
// Time: every segment and event has an instant on duet::Clock (the paused
// test clock); one pump task (Pump, world.cpp) sleeps on the timer wheel
// until the earliest and delivers it, so the clock's auto-advance moves
// the network exactly as it moves sleeps, and time stands still while any
// task can run.
//
// Determinism: with the world's one worker, operations reach the network
// in an order fixed by the seed, and the network draws from its own
// generator in that order; descriptors are numbered in order, and the
// tables are ordered maps. So a seed replays every delivery, fault and
// trace line.
//
// Locking: one mutex guards the whole network (the worker, and the test's
// thread between runs, may call in); the parts in the headers above have
// no lock of their own and are reached only through Network, under it.
// Wakers are woken after it is let go.
#pragma once

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../disk/disk.hpp"
#include "../replay/draws.hpp"
#include "../replay/trace.hpp"
#include "duet/io/detail/io_op.hpp"
#include "duet/io/detail/virtual_net.hpp"
#include "duet/io/op.hpp"
#include "duet/net/address.hpp"
#include "duet/poll.hpp"
#include "duet/sim/config.hpp"
#include "duet/time/clock.hpp"
#include "duet/waker.hpp"
#include "events.hpp"
#include "ip.hpp"
#include "socket.hpp"
#include "topology.hpp"
#include "udp_state.hpp"

namespace duet::sim::detail {

class Network;

/// The driver of a simulated network's worker (sim_driver.cpp): an
/// IoBackend whose operations the network answers, sleeping on a futex.
std::unique_ptr<duet::detail::Driver> make_sim_driver(Network& net);

/// Wakers collected under the network's lock, woken after it is let go.
using WakeList = std::vector<Waker>;

/// Wakes what the network collected, after its lock is let go.
inline void wake(WakeList& w) {
  for (Waker& x : w) std::move(x).wake();
  w.clear();
}

/// Moves `w` (when set) into `into`, leaving it empty.
inline void take(WakeList& into, Waker& w) {
  if (w) into.push_back(std::move(w));
  w = Waker{};
}

/// The simulated network: the world (world.cpp) drives it, its driver
/// (sim_driver.cpp) starts operations on it, and duet::drivers calls it
/// through its socket table.
class Network final : public io::detail::VirtualNet {
 public:
  explicit Network(const WorldConfig& cfg);
  ~Network() override;

  // ---- the world's controls (world.cpp; hosts.cpp, resolver.cpp, ../replay/trace.cpp) ----
  /// A new host (its id) with the addresses WorldConfig::ip_version gives:
  /// 10.0.0.N and fd00::N (N: its id + 1); `given`, when set, takes the
  /// place of its family's (and under IpVersion::v4 or v6 is the host's
  /// one address, of either family). Throws std::invalid_argument for a
  /// wildcard, a loopback or an address another host has.
  std::uint32_t add_host(std::string name, std::optional<Ip> given);
  [[nodiscard]] const std::string& host_name(std::uint32_t h) const;
  /// Host `h`'s address of `family` (AF_INET, AF_INET6; AF_UNSPEC: its
  /// IPv4 one if it has one, else its IPv6 one) with `port`; nullopt when
  /// it has none of the family.
  [[nodiscard]] std::optional<net::SocketAddr> host_addr(std::uint32_t h, std::uint16_t port,
                                                         int family) const;
  void set_link(std::uint32_t a, std::uint32_t b, LinkConfig l);
  void set_partitioned(std::uint32_t a, std::uint32_t b, bool on);
  /// One direction only: what `from` sends to `to` is lost until
  /// set_partitioned(.., false) repairs both.
  void partition_one_way(std::uint32_t from, std::uint32_t to);
  /// Holds (on) the data `from` sends to `to`: it waits in order, counting
  /// no retransmission, until the release (off) sends it on at once.
  void set_held(std::uint32_t from, std::uint32_t to, bool on);
  void crash(std::uint32_t h);
  void restart(std::uint32_t h);
  [[nodiscard]] bool host_up(std::uint32_t h) const;
  [[nodiscard]] std::size_t host_count() const;
  /// The host named `name`, or kNoHost.
  [[nodiscard]] std::uint32_t host_named(std::string_view name) const;
  /// Repairs one direction of a partition (set_cut's), the other kept.
  void repair_one_way(std::uint32_t from, std::uint32_t to);
  /// Adds an event of the world's own to the trace (a fault point fired).
  void note(std::string line);
  /// Cuts (on) or repairs the path between host `h` and the world's
  /// resolver, both ways: h's lookups lose every try.
  void set_resolver_partitioned(std::uint32_t h, bool on);
  /// The resolver's process dies (false) or runs again (true): while it is
  /// down, a try that reaches its host is refused (port unreachable).
  void set_resolver_up(bool up);
  /// The clock's start: trace instants are offsets from it.
  void start_clock() { trace_.start(Clock::now()); }

  /// Drops every waker the network keeps (the pump's, the sockets'): the
  /// world calls it once its runtime has shut down, before the runtime
  /// goes, so that no waker outlives the tasks' runtime.
  void drop_wakers() noexcept;

  [[nodiscard]] std::uint64_t trace_hash() const;
  [[nodiscard]] std::size_t trace_events() const;
  [[nodiscard]] std::vector<std::string> trace() const;
  [[nodiscard]] std::size_t open_sockets() const;

  // ---- the pump (world.cpp; pump.cpp) ----
  /// Delivers what is due; returns the next instant something is due, or
  /// empty with `w` kept to be woken when something is queued.
  std::optional<Instant> pump(const Waker& w);

  // ---- the driver's operations (sim_driver.cpp calls them; operations.cpp) ----
  Poll<long> start(io::detail::OpRequest& q, Context& cx);
  /// The file faults, drawn for a file operation at its submission: 0 (it
  /// goes on to the file), or the errno it fails with, traced. A write of
  /// `len` bytes (file_write_error): EIO or ENOSPC, a second draw picks
  /// which; a read (file_read_error) or a sync (file_sync_error): EIO. No
  /// draw for an open.
  int file_fault(io::detail::OpKind kind, std::size_t len);
  /// A file operation (open, read, write, sync) on the disk, for the
  /// calling task's host (kNoHost: a task of no host, a namespace of its
  /// own): ready with its result, or, under a latency of DiskConfig,
  /// pending with its IoOp in `slot`, completed by the pump when the
  /// latency has passed. The operation itself takes effect at once (a
  /// read reads now); only its completion waits. An open is always at
  /// once. A task of a crashed host gets EIO until the restart.
  Poll<long> file_op(io::detail::OpRequest& q, io::detail::OpSlot& slot, Context& cx);
  /// The world's look and setup of host `h`'s files (Disk::contents, put).
  [[nodiscard]] std::optional<std::vector<std::byte>> file_contents(std::uint32_t h,
                                                                    std::string_view path) const;
  void put_file(std::uint32_t h, std::string_view path, std::vector<std::byte> data);

  // ---- VirtualNet (kernel_calls.cpp; lookup_name: resolver.cpp; seeded_bytes, elapsed:
  // network.cpp) ----
  std::unique_ptr<duet::detail::Driver> make_driver(const RuntimeConfig& cfg,
                                                    unsigned index) override;
  bool claims_socket() const noexcept override;
  int socket(int family, int type) noexcept override;
  int bind(int fd, const net::SocketAddr& addr) noexcept override;
  int listen(int fd, int backlog) noexcept override;
  /// A datagram socket's peer: sends without an address go to it, and
  /// datagrams from others are dropped at arrival; an unbound socket is
  /// bound to an ephemeral port first. AF_UNSPEC clears it.
  int connect_dgram(int fd, const net::SocketAddr& peer) noexcept override;
  int accept_now(int fd) noexcept override;
  long send_now(int fd, const void* data, std::size_t len) noexcept override;
  /// A datagram sent or received without waiting (udp.cpp): as the
  /// driver's sendto and recvfrom, but -EAGAIN where a receive would wait;
  /// the spurious_eagain fault reports -EAGAIN for one that could proceed.
  long sendto_now(int fd, const void* data, std::size_t len,
                  const net::SocketAddr& to) noexcept override;
  long recvfrom_now(int fd, void* buf, std::size_t len, net::SocketAddr& from) noexcept override;
  int shutdown(int fd, int how) noexcept override;
  int close(int fd) noexcept override;
  int name(int fd, bool peer, net::SocketAddr& out) noexcept override;
  int setsockopt(int fd, int level, int name, const void* v, socklen_t len) noexcept override;
  int getsockopt(int fd, int level, int name, void* v, socklen_t* len) noexcept override;
  /// Virtual descriptors never block: nothing to change.
  int set_nonblocking(int fd) noexcept override;
  /// The world's resolver is one default link (WorldConfig::link) away
  /// from every host: the answer comes after two of that link's delays
  /// (its latency and a jitter draw each way). With the link's `loss`,
  /// the query and the answer are each lost with that probability (a
  /// datagram, not retransmitted); a partition between the asking task's
  /// host and the resolver loses both. A lost try costs the query's
  /// give-up time and the next try is sent. While the resolver is down, a
  /// try that crosses is refused after the same round trip (the port
  /// unreachable coming back), and the next is sent at once. When no try
  /// is answered the lookup fails: ETIMEDOUT if a try was lost, else
  /// ECONNREFUSED (c-ares's status: a timeout overrides the refusal).
  /// Names match without regard to case, with or without one trailing
  /// dot.
  NameAnswer lookup_name(std::string_view name, const NameQuery& q) override;
  /// From `seeded_`, a stream of its own (network.cpp).
  void seeded_bytes(std::span<unsigned char> out) noexcept override;
  [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept override;

 private:
  /// The most spurious_eagain hits in a row on one socket.
  static constexpr int kEagainStreakMax = 8;

  // ---- network.cpp ----
  Socket* find(int fd) noexcept;
  /// Adds `line` to the trace.
  void trace(std::string line) { trace_.add(std::move(line)); }

  // ---- hosts.cpp ----
  /// Cuts (on) or repairs the direction from -> to, and to -> from too when
  /// `both`; the trace line is `what` and the two names.
  void set_cut(std::uint32_t from, std::uint32_t to, bool on, bool both, const char* what);

  // ---- addresses.cpp ----
  /// The host that address `ip` names to a socket of host `from`: `from`
  /// itself for a loopback address, else the host with that address
  /// (kNoHost: none).
  [[nodiscard]] std::uint32_t host_for(std::uint32_t from, const Ip& ip) const;
  /// The address that host `h` sends from to `to` from a socket bound to
  /// a wildcard: the loopback of `to`'s family over the loopback, else
  /// its own address of that family; nullopt when it has none (the
  /// kernel's ENETUNREACH: no route of that family).
  [[nodiscard]] std::optional<Ip> source_ip(std::uint32_t h, const Ip& to) const;
  /// What a socket of `family` bound to a wildcard on host `h` reports as
  /// its own address until it connects: its host's address of the family
  /// (an IPv6 socket's: the IPv4 one, mapped, on a host with no IPv6
  /// address).
  [[nodiscard]] Ip wildcard_local(std::uint32_t h, int family) const;
  /// What `addr` asks a socket of `family` to reach (connect, sendto):
  /// 0 with the address in `to`, or -errno: EAFNOSUPPORT for an address
  /// of another family (an IPv6 UDP socket takes an IPv4 one, mapped, as
  /// Linux's does), ENETUNREACH for an IPv4 one from an IPv6-only socket.
  int reach(const Socket& s, const net::SocketAddr& addr, Ip& to) const;
  /// Host `h`'s ports in use for TCP, or for UDP.
  PortTable& ports_of(std::uint32_t h, bool udp);
  /// The first port of the ephemeral range free for binding `b` in host
  /// `h`'s table for the protocol, from where the last search ended; 0
  /// when every port of the range is in use there.
  std::uint16_t ephemeral_port(std::uint32_t h, bool udp, const Bound& b);
  /// `s` (descriptor `fd`, of a host) holds `port`, bound to `b`, now.
  void hold_port(Socket& s, int fd, const Bound& b, std::uint16_t port);
  /// `s` gives back the port it holds, if any.
  void release_port(Socket& s, int fd);
  /// Binds datagram socket `s`, when it is still unbound, to an ephemeral
  /// port on every address (the kernel's autobind at a first send or a
  /// connect): 0, or -EAGAIN when the range is exhausted.
  int autobind_dgram(Socket& s, int fd);
  /// The wildcard binding of socket `s`'s family: 0.0.0.0, or :: (IPv6
  /// only when the socket's IPV6_V6ONLY is set).
  [[nodiscard]] Bound wildcard(const Socket& s) const;
  /// Whether `s` has IPV6_V6ONLY set (read when it binds).
  [[nodiscard]] bool v6only(const Socket& s) const;

  // ---- links.cpp ----
  /// Whether a transmission from a to b gets through now (hosts up, no
  /// partition, the loss draw).
  bool transmits(std::uint32_t a, std::uint32_t b);
  /// Whether the direction a -> b is cut now (a partition, both ways or
  /// one way); a host's own loopback never is. Draws nothing.
  [[nodiscard]] bool cut(std::uint32_t a, std::uint32_t b) const;
  Duration delay(std::uint32_t a, std::uint32_t b);
  /// One crossing of link `l`: its latency plus a draw in [0, jitter].
  Duration link_delay(const LinkConfig& l);
  /// When a segment of `n` bytes that `s` sends now arrives: it waits for
  /// the link's earlier segments (FIFO per direction), takes its
  /// serialization time at the link's bandwidth, then the link's delay;
  /// with the link's reorder probability, an extra draw in [0, latency +
  /// jitter] on top (traced).
  Instant arrival(const Socket& s, std::uint32_t to, std::size_t n);
  /// When the link from -> to has serialized `n` more bytes queued now
  /// (now, on a link without bandwidth).
  Instant link_sent(std::uint32_t from, std::uint32_t to, std::size_t n);
  /// The reorder draw of link `l` for `n` bytes: 0, or with its
  /// probability an extra draw in [0, latency + jitter], traced as late
  /// with what `text()` names (below).
  template <class Text>
  Duration late_by(const LinkConfig& l, std::size_t n, Text text);

  // ---- pump.cpp ----
  /// Queues `e`; wakes the pump when it is due before the pump's sleep ends.
  void schedule(Event e);
  /// A due SYN, SYN-ACK or datagram whose direction is held: kept in
  /// `parked_` (true), to be queued again at its release (unpark).
  bool park_if_held(const Event& e);
  /// Queues again, now and in the order they came, the events parked on
  /// the direction from `from` to `to`.
  void unpark(std::uint32_t from, std::uint32_t to);

  // ---- files.cpp ----
  /// A file operation in flight under a latency: its IoOp (the network
  /// holds its in-flight reference) and the result it completes with.
  struct DiskOp {
    io::detail::IoOp* op = nullptr;
    long result = 0;
  };
  /// The disk's answer to read, write or sync `q` on descriptor `fd`,
  /// reading into `to` (a read's destination).
  long disk_call(const io::detail::OpRequest& q, int fd, std::byte* to);
  /// The disk operation `id` is due: it goes to disk_done_.
  void on_disk(std::uint64_t id);
  /// Completes what disk_done_ held (moved out under the lock), after
  /// the lock is let go.
  static void complete(std::vector<DiskOp>& done) noexcept;

  // ---- tcp.cpp ----
  /// The kernel of host `from` resets the connection of `fd` (on host
  /// `to`): the reset arrives after the link's delay, unless the
  /// direction is cut now, which loses it (a reset is sent once and never
  /// retransmitted). No loss draw: a lossy link's resets arrive.
  void send_reset(std::uint32_t from, std::uint32_t to, int fd);
  void send_syn(int fd);
  void on_flow(int fd);
  void on_syn(int fd);
  void on_synack(int fd, int server);
  void on_rst(int fd);
  void on_syn_retry(int fd, int attempt);
  /// Queues a segment on `fd`'s connection to its peer.
  void push_segment(int fd, Segment seg);
  /// Resets `fd`'s end with `err` (its queued segments are dropped).
  void fail(Socket& s, int err);
  void wake_all(Socket& s);
  std::size_t room(const Socket& s);

  // ---- operations.cpp ----
  int do_accept(Socket& l, net::SocketAddr* peer);
  /// The spurious_eagain fault's draw for operation `op` of `s`: true on a
  /// hit (traced as `what` and `op`). At most kEagainStreakMax hits in a
  /// row per socket; the next draw is skipped (honest), so no rate stops a
  /// socket. A rate of 0 draws nothing.
  bool spurious_eagain(Socket& s, const char* what, const char* op);
  /// Pending with cx's waker woken at once (after the lock is let go): the
  /// would-block of the driver's path, whose next poll tries again.
  Poll<long> would_block_now(Context& cx);
  /// Waits: cx's waker goes to `slot`; under the spurious_eagain fault it
  /// is also woken at once (a spurious wake: the next poll finds nothing
  /// new and waits again).
  Poll<long> park(Socket& s, Waker& slot, Context& cx, const char* op);
  /// Whether a send of `len` bytes would take some now.
  bool sendable(const Socket& s, std::size_t len);
  Poll<long> do_accept_op(Socket& s, io::detail::OpRequest& q, Context& cx);
  /// A readiness wait (poll, wait_writable): the mask, or pending.
  Poll<long> do_wait_ready(Socket& s, io::detail::OpRequest& q, Context& cx);
  Poll<long> do_recv(Socket& s, io::detail::OpRequest& q, Context& cx);
  /// A send that does not wait: the bytes taken, or -errno; nullopt where
  /// it would wait (connecting, or no room in the peer's window).
  std::optional<long> try_send(Socket& s, int fd, const io::detail::OpRequest& q);
  Poll<long> do_send(Socket& s, int fd, io::detail::OpRequest& q, Context& cx);
  Poll<long> do_connect(Socket& s, int fd, io::detail::OpRequest& q, Context& cx);

  // ---- udp.cpp ----
  /// An operation on a UDP socket: recv and recvfrom, sendto, a readiness
  /// wait.
  Poll<long> udp_op(Socket& s, int fd, io::detail::OpRequest& q, Context& cx);
  /// A UDP socket's readiness wait (poll, wait_writable): readable with a
  /// datagram queued, writable always (a send never waits for room), an
  /// error (sticky, or a pending port unreachable, not consumed) ends
  /// either; the mask, or pending.
  Poll<long> udp_wait_ready(Socket& s, io::detail::OpRequest& q, Context& cx);
  /// sendto on a UDP socket: binds it to an ephemeral port first when it
  /// has none; the datagram is lost (link loss, partition, host down) or
  /// queued to arrive whole; the bytes taken, or -errno.
  long send_datagram(Socket& s, int fd, const io::detail::OpRequest& q);
  /// send_datagram's checks: 0 with the destination in `dest`, or -errno
  /// (a pending port unreachable is reported, and so consumed, here).
  long datagram_dest(Socket& s, const io::detail::OpRequest& q, net::SocketAddr& dest);
  /// send_datagram once its checks passed: the send to `dest`.
  long send_checked(Socket& s, int fd, const io::detail::OpRequest& q, const net::SocketAddr& dest);
  /// recvfrom (or recv) on a UDP socket: the oldest datagram, truncated to
  /// the buffer (the rest discarded), its sender in *q.addr.
  Poll<long> recv_datagram(Socket& s, io::detail::OpRequest& q, Context& cx);
  /// What fails a UDP receive before it looks at the queue: 0, or -errno
  /// (a pending port unreachable is reported, and so consumed, here).
  long recv_error(Socket& s);
  /// Takes the oldest datagram (the queue is not empty) into q's buffer:
  /// the bytes copied.
  long pop_datagram(Socket& s, io::detail::OpRequest& q);
  /// A direct call on UDP socket `fd` (sendto_now, recvfrom_now): `op`
  /// under the lock, after the checks the driver's path makes first (the
  /// descriptor open, its host up, a UDP socket); its wakes after.
  template <class Op>
  long udp_now(int fd, Op op);
  void on_datagram(std::uint64_t id);
  /// A datagram `d` found nobody bound at its destination: a connected
  /// sender whose peer it was hears of it (port unreachable) after the
  /// link back.
  void send_unreachable(const Datagram& d, std::uint32_t to);
  void on_icmp(int fd);

  WorldConfig cfg_;
  // The one lock: it guards every member below, whoever calls (the
  // world's worker, the test's thread between runs).
  mutable std::mutex mu_;
  Draws draws_;
  /// The bytes a library takes in place of its randomness (seeded_bytes):
  /// seeded from the world's seed apart from draws_, so a run that takes
  /// none draws as it did before they existed.
  SeededBytes seeded_;
  Topology topo_;
  std::map<int, Socket> sockets_;  // by descriptor
  int next_fd_ = io::kVirtualFdBase;
  std::map<std::uint64_t, Datagram> datagrams_;  // in flight, by id
  std::uint64_t next_datagram_ = 1;
  EventQueue events_;
  std::map<Direction, std::vector<Event>> parked_;  // held SYNs, SYN-ACKs, datagrams
  Waker pump_waker_;
  std::optional<Instant> pump_at_;
  WakeList wakes_;  // filled under mu_, woken by the caller after unlocking
  Trace trace_;
  // After draws_ and trace_, which it holds references to.
  Disk disk_;
  std::map<std::uint64_t, DiskOp> disk_ops_;  // in flight, by id
  std::uint64_t next_disk_op_ = 1;
  std::vector<DiskOp> disk_done_;  // due, completed by the pump after unlocking
};

template <class Text>
Duration Network::late_by(const LinkConfig& l, std::size_t n, Text text) {
  if (!draws_.draw(l.reorder)) return Duration{0};
  const auto most = static_cast<std::uint64_t>((l.latency + l.jitter).count());
  const Duration extra(static_cast<std::int64_t>(draws_.below(most + 1)));
  trace("late " + text() + " n=" + std::to_string(n) + " by=" + std::to_string(extra.count()));
  return extra;
}

}  // namespace duet::sim::detail
