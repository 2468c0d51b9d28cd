// io_internal.hpp: the state the drivers share with the operations: IoOp
// (io_uring requests and blocking-pool jobs) and Registration (an fd in an
// epoll set), and the two I/O drivers.
#pragma once

#include <liburing.h>
#include <sys/epoll.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "duet/detail/driver.hpp"
#include "duet/detail/park_token.hpp"
#include "duet/io/fd.hpp"
#include "duet/io/op.hpp"
#include "duet/io/stats.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/waker.hpp"

namespace duet::io::detail {

/// The lock for sections of a few stores (a waker swap): the sync
/// primitives' test-and-test-and-set lock, one spin lock for the library.
using OpLock = duet::detail::SpinLock;

class UringDriver;
class FilePool;

/// One in-flight operation. Layout: this header, then `cap` bytes of data
/// buffer (the read destination or the copied write source; a path for
/// openat). Allocated with block_alloc; freed when the last reference goes.
///
/// References: one for the future (dropped by op_abandon, or when the poll
/// that sees completion takes the result), one for the kernel or pool while
/// the operation is in flight (dropped when its CQE is reaped or the job
/// ran). A cross-thread cancel request holds the future's reference until
/// the owning driver has processed it.
struct IoOp {
  std::atomic<std::uint32_t> refs{1};
  OpLock lock;
  bool done = false;       // res is final (guarded by lock)
  bool abandoned = false;  // the future is gone (guarded by lock)
  OpKind kind;
  std::int32_t res = 0;
  Waker waker;                   // guarded by lock
  UringDriver* owner = nullptr;  // the ring the SQE went to (io_uring)
  IoOp* next = nullptr;          // cancel queue / pool queue link
  int fd = -1;
  int flags = 0;
  unsigned mode = 0;
  std::uint64_t off = 0;
  std::size_t len = 0;
  std::size_t cap = 0;
  socklen_t addrlen = 0;
  sockaddr_storage addr{};
  msghdr msg{};
  iovec iov{};
  __kernel_timespec ts{};

  [[nodiscard]] std::byte* data() noexcept { return reinterpret_cast<std::byte*>(this + 1); }

  static IoOp* make(OpKind k, std::size_t cap);
  void ref() noexcept {
    // Relaxed: the caller holds a reference already (as shared_ptr).
    refs.fetch_add(1, std::memory_order_relaxed);
  }
  void unref() noexcept;
  /// The kernel or pool finished: store the result, wake the waiter, drop
  /// the in-flight reference.
  void complete(std::int32_t r) noexcept;
  /// The future's poll: true with `out` set when done, else registers the
  /// waker.
  bool poll(const Waker& w, std::int32_t& out) noexcept;
};

/// An fd's readiness state in one epoll set. Owned by the Source until it
/// closes, then by the driver (freed after the next epoll_wait batch, so a
/// batch already fetched never points at freed memory).
/// Under a Registration's lock: `w` waits on one side. The first waiter
/// takes the slot; another task's waker joins `more` (once). Stale wakers of
/// cancelled operations cost one spurious wake at the next event.
void add_waiter(Waker& slot, std::unique_ptr<std::vector<Waker>>& more, const Waker& w);
/// Wakes the waiters taken out of a side (after the lock); returns how many.
std::size_t wake_waiters(Waker first, std::unique_ptr<std::vector<Waker>> more) noexcept;

struct Registration {
  OpLock lock;
  // Bumped on every readiness event (under lock); read before a syscall and
  // compared after EAGAIN so an event in between is never lost.
  std::atomic<std::uint64_t> rd_epoch{0};
  std::atomic<std::uint64_t> wr_epoch{0};
  // The waiters of each side, guarded by lock: the first in the slot; more
  // tasks waiting on one side at once (two accepts on one listener) in a
  // list allocated only then. An event wakes them all; the losers of the
  // race for the descriptor find EAGAIN and wait again.
  Waker rd_waker;
  Waker wr_waker;
  std::unique_ptr<std::vector<Waker>> rd_more;
  std::unique_ptr<std::vector<Waker>> wr_more;
  class EpollDriver* owner = nullptr;
  int fd = -1;
  Registration* next = nullptr;  // owner's list of all registrations
  Registration* prev = nullptr;
};

/// The small internal blocking pool for file operations on epoll (the
/// kernel has no readiness for regular files). Two threads: enough to keep
/// a disk busy on this 2-CPU machine without oversubscribing it.
class FilePool {
 public:
  static FilePool& instance();
  void submit(IoOp* op);  // takes the in-flight reference
  ~FilePool();

 private:
  FilePool();
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<IoOp*> q_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

/// Runs a file op synchronously (pool thread or no-driver path).
std::int32_t run_file_op_sync(IoOp* op) noexcept;

/// A socket's multishot receive on one io_uring worker (recv_queue.cpp).
///
/// The socket's first read arms a multishot recv that selects buffers from
/// the worker's buffer ring; the owner thread appends each filled buffer to
/// this queue as its CQE is reaped and wakes the reader, and the reader (on
/// any thread) copies out of the queue and gives the buffers back. The
/// Source holds the queue; the kernel's reference is `armed`. Freed when the
/// Source has released it and no multishot is in flight.
struct alignas(64) RecvQueue {
  static constexpr std::uint16_t none = 0xffff;
  OpLock lock;
  class UringDriver* owner = nullptr;  // null once the driver is gone
  int fd = -1;
  // Filled buffers in arrival order, linked through the driver's buf_next.
  std::uint16_t head = none, tail = none;
  std::uint16_t queued = 0;    // buffers in the queue
  std::uint32_t head_off = 0;  // bytes of the head buffer already read
  std::int32_t error = 0;      // -errno to report once the queue is drained
  bool eof = false;            // the peer shut down: reads return 0
  bool armed = false;          // a multishot recv is in the kernel
  bool cancelling = false;     // its cancel is submitted (backpressure)
  bool released = false;       // the Source let go
  bool starved = false;        // it ended for lack of buffers
  Waker waker;                 // the reader, all guarded by lock
  RecvQueue* next = nullptr;   // owner's live list (guarded by its live_mu_)
  RecvQueue* prev = nullptr;
};

/// What a read found in its socket's RecvQueue.
enum class RecvTake : std::uint8_t {
  ready,    // `out` is a byte count, 0 at end of stream, or -errno
  pending,  // nothing yet; the waker is registered
  idle,     // nothing queued and nothing armed: arm it, or read one-shot
};
/// The reader's side (any thread): copies up to `len` queued bytes.
RecvTake recv_queue_take(RecvQueue* rq, std::byte* buf, std::size_t len, const Waker& w,
                         long& out) noexcept;

class UringDriver final : public duet::detail::Driver {
 public:
  UringDriver(unsigned entries, unsigned index, const RuntimeConfig& cfg);
  ~UringDriver() override;
  std::size_t poll(std::size_t max_events) override;
  void park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) override;
  void unpark() noexcept override;
  [[nodiscard]] IoDriver kind() const noexcept override { return IoDriver::io_uring; }
  void on_worker_start() override;
  void on_worker_stop() override;

  /// Owner thread: an SQE to fill (submits to make room when full).
  io_uring_sqe* sqe();
  /// Owner thread: submits `op` (prepared in `s`), taking its in-flight ref.
  void arm(io_uring_sqe* s, IoOp* op) noexcept;
  /// Any thread: cancel `op` (the caller passes its reference).
  void cancel(IoOp* op) noexcept;
  [[nodiscard]] bool on_owner_thread() const noexcept;

  // ---- multishot recv (recv_queue.cpp) ----
  /// Whether this ring has a buffer ring (probe passed, config allows).
  [[nodiscard]] bool multishot_recv() const noexcept { return nbufs_ != 0; }
  /// Owner thread: a new, unarmed queue for `fd`.
  RecvQueue* make_recv_queue(int fd);
  /// Owner thread: arms `rq`'s multishot recv; false when the ring is short
  /// of buffers (the caller reads with a one-shot recv instead).
  bool arm_recv(RecvQueue* rq);
  /// Any thread: buffer `bid` is read; it goes back to the ring.
  void give_back(std::uint16_t bid) noexcept;
  /// Any thread: cancels the multishot recv of a released queue.
  void cancel_recv(RecvQueue* rq) noexcept;
  /// Any thread: unlinks and frees an unarmed, released queue.
  void free_recv_queue(RecvQueue* rq) noexcept;
  [[nodiscard]] std::byte* buffer(std::uint16_t bid) const noexcept {
    return bufs_ + static_cast<std::size_t>(bid) * buf_size_;
  }
  std::uint16_t* buf_next = nullptr;  // queue links, guarded by the queue's lock
  std::uint32_t* buf_len = nullptr;   // bytes the kernel put in each buffer

  IoStats stats;  // written by the owner thread only

 private:
  std::size_t reap(std::size_t max_cqes);
  void drain_cancels();
  void arm_wake();
  /// Cancels everything in flight and reaps until nothing is (owner thread).
  void quiesce() noexcept;
  void setup_buffers(const RuntimeConfig& cfg);
  void teardown_buffers() noexcept;
  void on_recv_cqe(RecvQueue* rq, std::int32_t res, std::uint32_t flags);
  void recycle(std::uint16_t bid) noexcept;  // owner thread
  void drain_returns() noexcept;
  // The buffer ring: nbufs_ buffers of buf_size_ bytes (0: no multishot).
  io_uring_buf_ring* br_ = nullptr;
  std::byte* bufs_ = nullptr;
  std::size_t br_bytes_ = 0;
  std::uint32_t nbufs_ = 0;
  std::uint32_t buf_size_ = 0;
  std::uint32_t free_bufs_ = 0;          // in the ring, owner thread
  std::vector<std::uint16_t> buf_meta_;  // buf_next and buf_len storage
  std::vector<std::uint32_t> buf_len_store_;
  OpLock return_lock_;
  std::vector<std::uint16_t> returns_;  // given back by other threads, guarded
  std::atomic<bool> has_returns_{false};
  std::vector<std::uint64_t> recv_cancels_;  // user_data to cancel, guarded by cancel_lock_
  std::mutex live_mu_;
  RecvQueue* live_ = nullptr;  // every queue of this ring, guarded by live_mu_
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
  IoOp* cancels_ = nullptr;  // guarded by cancel_lock_
  std::atomic<bool> has_cancels_{false};
};

class EpollDriver final : public duet::detail::Driver {
 public:
  explicit EpollDriver(unsigned index);
  ~EpollDriver() override;
  std::size_t poll(std::size_t max_events) override;
  void park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) override;
  void unpark() noexcept override;
  [[nodiscard]] IoDriver kind() const noexcept override { return IoDriver::epoll; }

  /// Any thread: adds `fd` (edge-triggered, in and out) to this set.
  Registration* add(int fd);
  /// Any thread: removes `r`; freed after the next wait on the owner thread.
  void remove(Registration* r) noexcept;

  IoStats stats;

 private:
  std::size_t wait(int timeout_ms, std::size_t max_events);
  void free_retired() noexcept;
  Fd ep_;
  Fd wake_fd_;
  duet::detail::ParkToken park_;  // the sleep handshake; the wake is an eventfd write
  std::mutex reg_mu_;
  Registration* regs_ = nullptr;     // live, guarded by reg_mu_
  Registration* retired_ = nullptr;  // removed, guarded by reg_mu_
  std::atomic<bool> has_retired_{false};
  std::vector<epoll_event> events_;
};

/// Process-wide choice, made once (docs/io.md).
IoDriver resolve_driver(IoDriver requested);

}  // namespace duet::io::detail
