// uring_driver.hpp: the io_uring backend's state: UringDriver (one ring per
// worker), RecvQueue (a socket's multishot recv on it), AcceptQueue (a
// listener's multishot accept on it), and the user_data that says what each
// CQE completes. Private to drivers/io/src/uring and the
// factory.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "duet/detail/park_token.hpp"
#include "duet/io/detail/backend.hpp"
#include "duet/io/detail/io_op.hpp"
#include "duet/io/fd.hpp"
#include "duet/io/stats.hpp"

namespace duet::io::detail {

class UringDriver;

/// A socket's multishot receive on one io_uring worker (recv_queue.cpp).
///
/// The socket's first read arms a multishot recv that selects buffers from
/// the worker's buffer ring; the owner thread appends each filled buffer to
/// this queue as its CQE is reaped and wakes the reader, and the reader (on
/// any thread) copies out of the queue and gives the buffers back. The
/// Source holds the queue; the kernel's reference is `armed`. Freed when the
/// Source has released it and no multishot is in flight.
///
/// Every socket an io_uring worker reads from holds one, for as long as it
/// is open: an idle connection's memory. The fields are ordered largest
/// first so that the queue is one 64-byte block (the static_assert below).
struct alignas(64) RecvQueue {
  static constexpr std::uint16_t none = 0xffff;
  UringDriver* owner = nullptr;  // null once the driver is gone
  Waker waker;                   // the reader, all guarded by lock
  RecvQueue* next = nullptr;     // owner's live list (guarded by its live_mu_)
  RecvQueue* prev = nullptr;
  int fd = -1;
  std::uint32_t head_off = 0;  // bytes of the head buffer already read
  std::int32_t error = 0;      // -errno to report once the queue is drained
  // Filled buffers in arrival order, linked through the driver's buf_next.
  std::uint16_t head = none, tail = none;
  std::uint16_t queued = 0;  // buffers in the queue
  OpLock lock;
  bool eof = false;         // the peer shut down: reads return 0
  bool armed = false;       // a multishot recv is in the kernel
  bool cancelling = false;  // its cancel is submitted (backpressure)
  bool released = false;    // the Source let go
  bool starved = false;     // it ended for lack of buffers (its next read is a direct recv)
};
static_assert(sizeof(RecvQueue) == 64, "a socket's receive queue is one 64-byte block");

/// A listener's multishot accept on one io_uring worker (accept_queue.cpp).
///
/// The listener's first accept makes the queue on its worker's ring, the
/// queue's owner until that ring is gone; the ring of the next accept
/// that starts on one then adopts it (never replaced while the listener
/// is open: other threads may hold it). While a multishot accept is armed, the owner
/// thread appends each accepted descriptor to `fds` as its CQE is reaped
/// and wakes the acceptors; an acceptor (any thread) takes from the front.
/// An accept that finds the queue idle arms it, whatever thread it runs
/// on: the owner thread submits the SQE at once; any other thread asks the
/// owner (its arm list), which submits it at its next poll. So no accept
/// on a listener with a queue waits anywhere but in the queue: a one-shot
/// accept elsewhere could wait forever for a connection the multishot took.
/// The queue owns the descriptors it holds: the listener's close closes
/// them, and one accepted after the close is closed as its CQE is reaped.
/// An error ends the multishot (the kernel's rule): it is reported once,
/// after the queued descriptors, and the next accept arms a new one. Each
/// waiting accept has its own entry, keyed by its OpSlot, which takes it
/// back when dropped or done; each OpSlot that points at the queue counts
/// in `slots`. Freed when the Source has released it, no multishot is in
/// flight or asked, and no OpSlot points at it (whichever of the three
/// comes last frees it, under the lock's decision).
struct alignas(64) AcceptQueue {
  struct Waiter {
    const OpSlot* owner;  // the accept's OpSlot (its wait_in is this queue)
    Waker waker;
  };
  /// The multishot's state: idle -> requested (another thread asked the
  /// owner) -> in_kernel -> idle (the CQE without IORING_CQE_F_MORE); the
  /// owner thread goes from idle to in_kernel directly.
  enum class Arm : std::uint8_t { idle, requested, in_kernel };
  OpLock lock;
  UringDriver* owner = nullptr;  // null once the driver is gone
  int fd = -1;
  std::vector<int> fds;  // accepted, not taken: fds[head..]
  std::size_t head = 0;
  std::int32_t error = 0;       // -errno to report once the queue is drained
  Arm arm = Arm::idle;          // guarded by `lock`
  bool cancelling = false;      // its cancel is submitted (backpressure)
  bool released = false;        // the Source let go
  std::uint32_t slots = 0;      // OpSlots that point here, guarded by `lock`
  std::vector<Waiter> waiters;  // every acceptor waiting (several may accept)
  AcceptQueue* next = nullptr;  // owner's live list (guarded by its live_mu_)
  AcceptQueue* prev = nullptr;
  [[nodiscard]] std::size_t queued() const noexcept { return fds.size() - head; }
};

/// A CQE's user_data, the one definition of what each SQE duet submits
/// names: reap() decodes it with kind_of(). The ring's own requests are
/// small constants; an operation is its IoOp's address, a multishot recv
/// its RecvQueue's address with the recv bit set, a multishot accept its
/// AcceptQueue's address with the accept bit set. All are 64-byte aligned
/// (op_alloc, block_alloc), so an address never equals a constant and
/// never has either bit set.
namespace user_data {
enum class Kind : std::uint8_t {
  ignore,  // a cancel request's own completion: nothing to do
  wake,    // the eventfd read that wakes a parked worker
  recv,    // a RecvQueue's multishot recv
  accept,  // an AcceptQueue's multishot accept
  op,      // an IoOp
};
inline constexpr std::uint64_t ignore = 0;
inline constexpr std::uint64_t wake = 1;
inline constexpr std::uint64_t recv_bit = 2;
inline constexpr std::uint64_t accept_bit = 4;
static_assert(alignof(RecvQueue) > (recv_bit | accept_bit));
static_assert(alignof(AcceptQueue) > (recv_bit | accept_bit));

[[nodiscard]] inline std::uint64_t of(IoOp* op) noexcept {
  return reinterpret_cast<std::uint64_t>(op);
}
[[nodiscard]] inline std::uint64_t of(RecvQueue* rq) noexcept {
  return reinterpret_cast<std::uint64_t>(rq) | recv_bit;
}
[[nodiscard]] inline std::uint64_t of(AcceptQueue* aq) noexcept {
  return reinterpret_cast<std::uint64_t>(aq) | accept_bit;
}
[[nodiscard]] inline Kind kind_of(std::uint64_t ud) noexcept {
  if (ud == ignore) return Kind::ignore;
  if (ud == wake) return Kind::wake;
  if ((ud & recv_bit) != 0) return Kind::recv;
  return (ud & accept_bit) != 0 ? Kind::accept : Kind::op;
}
[[nodiscard]] inline IoOp* io_op(std::uint64_t ud) noexcept {
  return reinterpret_cast<IoOp*>(ud);
}
[[nodiscard]] inline RecvQueue* recv_queue(std::uint64_t ud) noexcept {
  return reinterpret_cast<RecvQueue*>(ud & ~recv_bit);
}
[[nodiscard]] inline AcceptQueue* accept_queue(std::uint64_t ud) noexcept {
  return reinterpret_cast<AcceptQueue*>(ud & ~accept_bit);
}
}  // namespace user_data

class UringDriver final : public IoBackend {
 public:
  UringDriver(unsigned entries, unsigned index, const RuntimeConfig& cfg);
  ~UringDriver() override;
  std::size_t poll(std::size_t max_events) override;
  void park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) override;
  void unpark() noexcept override;
  [[nodiscard]] IoDriver kind() const noexcept override { return IoDriver::io_uring; }
  void on_worker_start() override;
  void on_worker_stop() override;
  [[nodiscard]] DriverMemory memory() const noexcept override;

  /// Owner thread: `q`'s IoOp, its SQE prepared and armed (op_prep.cpp).
  Poll<long> start(OpRequest& q, OpSlot& slot, Context& cx) override;
  /// Owner thread: arms the socket's multishot recv on this ring
  /// (recv_queue.cpp).
  std::optional<Poll<long>> start_multishot_recv(OpRequest& q, Context& cx) override;
  /// Owner thread: arms the listener's multishot accept on this ring
  /// (accept_queue.cpp).
  std::optional<Poll<long>> start_multishot_accept(OpRequest& q, OpSlot& slot,
                                                   Context& cx) override;
  /// Any thread: cancel `op` (the caller passes its reference).
  void cancel(IoOp* op) noexcept override;
  /// Any thread: an async cancel for `op`, whose future keeps its
  /// reference (a cut: poll_cut_op).
  void interrupt(IoOp* op) noexcept override;

  /// Owner thread: an SQE to fill (submits to make room when full).
  io_uring_sqe* sqe();
  /// Owner thread: submits `op` (prepared in `s`), taking its in-flight ref.
  void arm(io_uring_sqe* s, IoOp* op) noexcept;
  [[nodiscard]] bool on_owner_thread() const noexcept;

  // ---- multishot recv (recv_queue.cpp) ----
  /// Whether this ring has a buffer ring (probe passed, config allows).
  /// Relaxed: read on the owner thread, its writer.
  [[nodiscard]] bool multishot_recv() const noexcept {
    return nbufs_.load(std::memory_order_relaxed) != 0;
  }
  /// Owner thread: a new, unarmed queue for `fd`.
  RecvQueue* make_recv_queue(int fd);
  /// Owner thread: arms `rq`'s multishot recv; false when the ring is short
  /// of buffers (the caller reads with a one-shot recv instead).
  bool arm_recv(RecvQueue* rq);
  /// Owner thread: whether `rq`'s multishot ended for lack of buffers
  /// since its last arm (its bytes wait in the socket); clears it.
  bool take_starved(RecvQueue* rq) noexcept;
  /// Any thread: buffer `bid` is read; it goes back to the ring.
  void give_back(std::uint16_t bid) noexcept;
  /// Any thread: cancels the multishot (a recv or an accept queue's) whose
  /// SQE is tagged `ud`, at once on the owner thread, else at the owner's
  /// next poll.
  void cancel_multishot(std::uint64_t ud) noexcept;
  /// Any thread: unlinks and frees an unarmed, released queue.
  void free_recv_queue(RecvQueue* rq) noexcept;
  [[nodiscard]] std::byte* buffer(std::uint16_t bid) const noexcept {
    return bufs_ + static_cast<std::size_t>(bid) * buf_size_;
  }
  // ---- multishot accept (accept_queue.cpp) ----
  /// Any thread, after moving `aq` from idle to requested (the owner
  /// thread: to in_kernel): arms its multishot on this ring, at once on
  /// the owner thread, else at the owner's next poll.
  void arm_accept(AcceptQueue* aq) noexcept;
  /// Any thread: unlinks and frees an unarmed, released queue.
  void free_accept_queue(AcceptQueue* aq) noexcept;

  std::uint16_t* buf_next = nullptr;  // queue links, guarded by the queue's lock
  std::uint32_t* buf_len = nullptr;   // bytes the kernel put in each buffer

  DriverCounters stats;  // written by the owner thread only

 private:
  std::size_t reap(std::size_t max_cqes);
  void drain_cancels();
  /// Another thread's request for the owner thread: `add` puts it on one of
  /// the lists drain_cancels() serves (under cancel_lock_), then the hint
  /// is set and the owner unparked. False, with nothing posted, when `add`
  /// threw (no memory).
  template <class Add>
  bool post_to_owner(Add&& add) noexcept {
    cancel_lock_.lock();
    try {
      add();
    } catch (...) {
      cancel_lock_.unlock();
      return false;
    }
    // Relaxed: a hint; the lists themselves are read under cancel_lock_.
    has_cancels_.store(true, std::memory_order_relaxed);
    cancel_lock_.unlock();
    unpark();
    return true;
  }
  void arm_wake();
  /// Owner thread: an SQE that cancels the request tagged `ud`.
  void submit_cancel(std::uint64_t ud);
  /// Cancels everything in flight and reaps until nothing is (owner thread).
  void quiesce() noexcept;
  void setup_buffers(const RuntimeConfig& cfg);
  void teardown_buffers() noexcept;
  void on_recv_cqe(RecvQueue* rq, std::int32_t res, std::uint32_t flags);
  void recycle(std::uint16_t bid) noexcept;  // owner thread
  AcceptQueue* make_accept_queue(int fd);
  /// Owner thread: a queue whose ring is gone (owner null) joins this ring.
  void adopt_accept_queue(AcceptQueue* aq) noexcept;
  void submit_accept(AcceptQueue* aq);  // owner thread: the multishot SQE
  void serve_accept_arms(std::vector<AcceptQueue*>& arms) noexcept;  // owner thread
  void on_accept_cqe(AcceptQueue* aq, std::int32_t res, std::uint32_t flags);
  /// Detaches the queues that outlive the ring (destructor, after quiesce).
  void teardown_accepts() noexcept;
  /// After a reap's batch: wakes the acceptors its accept CQEs queued for.
  void wake_acceptors() noexcept;
  std::vector<Waker> woken_;  // on_accept_cqe's wake list (owner thread), kept for its capacity
  void drain_returns() noexcept;
  // The buffer ring: nbufs_ buffers of buf_size_ bytes (0: no multishot),
  // in a ring registered with ring_entries_ slots (the most it grows to).
  // The owner thread alone adds to the ring and writes nbufs_ (relaxed,
  // an atomic only because memory() reads it from any thread, a figure
  // from some recent moment, as free_bufs_) and ring_entries_.
  io_uring_buf_ring* br_ = nullptr;
  std::byte* bufs_ = nullptr;
  std::size_t br_bytes_ = 0;
  std::atomic<std::uint32_t> nbufs_{0};
  std::uint32_t ring_entries_ = 0;
  bool grow_wanted_ = false;    // owner thread: an ENOBUFS in this reap's batch
  std::uint64_t grown_at_ = 0;  // owner thread: stats.recv_buffers at the last growth
  /// Puts buffers [from, to) into the ring (owner thread).
  void add_buffers(std::uint32_t from, std::uint32_t to) noexcept;
  /// Doubles the ring's buffers, up to ring_entries_ (owner thread).
  void grow_buffers() noexcept;
  std::uint32_t buf_size_ = 0;
  // Buffers in the ring. Written by the owner thread only, with a relaxed
  // load and store (no locked instruction); read relaxed by memory() on
  // any thread, a figure from some recent moment.
  std::atomic<std::uint32_t> free_bufs_{0};
  void add_free_bufs(std::int32_t d) noexcept {
    free_bufs_.store(static_cast<std::uint32_t>(
                         static_cast<std::int32_t>(free_bufs_.load(std::memory_order_relaxed)) + d),
                     std::memory_order_relaxed);
  }
  std::vector<std::uint16_t> buf_meta_;  // buf_next and buf_len storage
  std::vector<std::uint32_t> buf_len_store_;
  OpLock return_lock_;
  std::vector<std::uint16_t> returns_;  // given back by other threads, guarded
  std::atomic<bool> has_returns_{false};
  std::vector<std::uint64_t> recv_cancels_;  // user_data to cancel, guarded by cancel_lock_
  std::vector<AcceptQueue*> accept_arms_;    // queues to arm (requested), guarded by cancel_lock_
  std::vector<AcceptQueue*> arming_;  // owner thread: accept_arms_ taken out, kept for its capacity
  bool stopping_ = false;             // owner thread: quiesce began; an arm asked now is refused
  std::mutex live_mu_;
  RecvQueue* live_ = nullptr;            // every recv queue of this ring, guarded by live_mu_
  AcceptQueue* live_accepts_ = nullptr;  // every accept queue of this ring, guarded by live_mu_
  io_uring ring_{};
  Fd wake_fd_;
  std::uint64_t wake_buf_ = 0;
  bool wake_armed_ = false;
  bool single_issuer_ = false;    // SINGLE_ISSUER + DEFER_TASKRUN
  bool disabled_ = false;         // R_DISABLED until the worker enables it
  duet::detail::ParkToken park_;  // the sleep handshake; the wake is an eventfd write
  std::size_t inflight_ = 0;
  std::thread::id owner_thread_{};
  OpLock cancel_lock_;
  IoOp* cancels_ = nullptr;     // guarded by cancel_lock_
  IoOp* interrupts_ = nullptr;  // by IoOp::cut_next, a reference each; guarded by cancel_lock_
  std::atomic<bool> has_cancels_{false};
};

}  // namespace duet::io::detail
