// duet/io/detail/backend.hpp: the I/O backend interface: what poll_op asks
// of the calling worker's driver. A seam of duet::drivers for the library
// that brings a backend of its own (duet::sim's simulated network), not
// part of the API. The core knows a driver only as duet::detail::Driver
// (park, unpark, poll); io_uring and epoll are IoBackends, which add how an
// operation starts on them. poll_op (io/poll_op.cpp) finds the calling
// worker's backend with current_backend() and calls it: no switch on the
// driver's kind anywhere.
#pragma once

#include <optional>

#include "duet/export.hpp"

#include "duet/detail/driver.hpp"
#include "duet/io/op.hpp"
#include "duet/io/stats.hpp"

namespace duet::io::detail {

class DUET_API IoBackend : public duet::detail::Driver {
 public:
  /// The owner thread: starts `q`, which has no IoOp in flight. Ready with
  /// the result when it finished at once; else pending with cx's waker
  /// registered, and `slot` holding the IoOp when one now carries the
  /// operation (a later poll_op collects it there, on any thread).
  virtual Poll<long> start(OpRequest& q, OpSlot& slot, Context& cx) = 0;

  /// The owner thread: a plain recv (no flags, a non-empty buffer) that the
  /// socket's queued bytes did not satisfy, through this backend's
  /// multishot recv. Empty when the read takes start() instead: the default,
  /// and io_uring without a buffer ring or short of buffers.
  virtual std::optional<Poll<long>> start_multishot_recv(OpRequest& q, Context& cx);

  /// The owner thread: an accept that the listener's queued connections
  /// did not satisfy, through this backend's multishot accept. Empty when
  /// the accept takes start() instead: the default (epoll's accept is
  /// accept4 on readiness), and io_uring without multishot accept.
  virtual std::optional<Poll<long>> start_multishot_accept(OpRequest& q, OpSlot& slot, Context& cx);

  /// Any thread: `op`'s future is gone while this backend still has it in
  /// flight (op->owner == this); the caller passes the future's reference.
  /// The default drops it: nothing of this backend's can write into `op`.
  virtual void cancel(IoOp* op) noexcept;
  /// Any thread: stop `op` (op->owner == this) as soon as possible while
  /// its future keeps its reference and collects the result it ends with
  /// (poll_cut_op). Called at most once per op. The default does nothing:
  /// the op completes on its own.
  virtual void interrupt(IoOp* op) noexcept;
};

/// The calling worker's I/O backend: null on a plain thread (no driver) and
/// under the core's futex driver (IoDriver::none).
inline IoBackend* current_backend() noexcept {
  duet::detail::Driver* d = duet::detail::current_driver();
  // The one place a Driver becomes an IoBackend. The invariant: the core
  // makes a worker's driver either itself (the futex driver, IoDriver::none,
  // which has no I/O) or through duet_io_driver_factory (io_driver_factory.cpp),
  // which makes only IoBackends (UringDriver, EpollDriver, and the simulated
  // network's driver for IoDriver::sim, sim/sim_driver.cpp). So a driver
  // whose kind is not `none` is an IoBackend.
  if (d == nullptr || d->kind() == IoDriver::none) return nullptr;
  return static_cast<IoBackend*>(d);
}

/// A plain recv on a socket that has a multishot queue (q.src->rq): the
/// bytes, end of stream or error already queued, or pending with cx's waker
/// registered, whatever thread reads now (uring/recv_queue.cpp). Empty when
/// the queue is idle (nothing queued, nothing armed).
std::optional<Poll<long>> poll_queued_recv(OpRequest& q, Context& cx);

/// An accept on a listener that has a multishot queue (q.src->aq): a
/// queued descriptor or error, or pending with cx's waker registered as
/// `slot`'s entry, whatever thread accepts now (uring/accept_queue.cpp).
/// Empty when the queue's ring is gone.
std::optional<Poll<long>> poll_queued_accept(OpRequest& q, OpSlot& slot, Context& cx);
/// Any thread: takes the slot's waker back from its accept queue and lets
/// go of the queue (OpSlot::Wait::accept).
void withdraw_accept(OpSlot& slot) noexcept;
/// The slot's future moved from `from` to `to`: its entry follows.
void rekey_accept(OpSlot& from, OpSlot& to) noexcept;
/// The same for an epoll registration (unless an event took the waker;
/// epoll/socket_op.cpp).
void withdraw_registration(OpSlot& slot) noexcept;
void rekey_registration(OpSlot& from, OpSlot& to) noexcept;
/// Takes up to `max` descriptors already queued on `aq`, without waiting
/// (accept_many's batch): how many went to `out`.
std::size_t take_queued_accepts(AcceptQueue* aq, int* out, std::size_t max) noexcept;

/// Each backend's counters join duet::io_stats() while it lives (stats.cpp).
void stats_register(DriverCounters* s);
void stats_unregister(DriverCounters* s);

}  // namespace duet::io::detail
