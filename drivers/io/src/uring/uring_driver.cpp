// uring_driver.cpp: the io_uring backend (Seastar's reactor_backend_uring
// in spirit): one ring per worker.
//
// Batching: operations only prepare SQEs. poll() (every tick and
// before parking) submits all of them and reaps completions in ONE
// io_uring_enter; park() submits and waits in one enter. With
// IORING_SETUP_COOP_TASKRUN the kernel runs completion work when we enter
// instead of interrupting the worker, and sets IORING_SQ_TASKRUN to tell
// poll() that an enter is worth it; with nothing queued and nothing
// pending, poll() makes no syscall at all.
//
// Wake-ups: an eventfd whose read is always in flight on the ring. unpark()
// writes it only when the worker is (about to be) asleep (ParkToken), so a
// busy runtime makes no wake syscalls. IORING_OP_MSG_RING would save the
// eventfd, but wakes come from threads that own no ring (a spawn from
// main), so the eventfd is the one path for all (docs/io.md).
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "uring/uring_driver.hpp"

namespace duet::io::detail {

UringDriver::UringDriver(unsigned entries, unsigned /*index*/, const RuntimeConfig& cfg) {
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  // Completions of a whole tick of operations fit without overflow (the
  // kernel would keep extra ones on its overflow list, slower but lossless).
  p.cq_entries = entries * 4;
  if (uring_features().coop_taskrun)
    p.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  // SINGLE_ISSUER + DEFER_TASKRUN: only the worker thread submits, and the
  // kernel runs completion work when it enters. The ring starts disabled
  // and the worker thread enables it (on_worker_start), which makes that
  // thread its one issuer. TASKRUN_FLAG still tells poll() that deferred
  // work waits, so a busy worker enters to run it.
  if (cfg.io_uring_defer_taskrun && uring_features().defer_taskrun) {
    p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED |
               IORING_SETUP_TASKRUN_FLAG;
    p.flags &= ~IORING_SETUP_COOP_TASKRUN;  // implied by DEFER_TASKRUN
  }
  int r = io_uring_queue_init_params(entries, &ring_, &p);
  if (r < 0) {
    io_uring_params q{};
    r = io_uring_queue_init_params(entries, &ring_, &q);
  } else {
    single_issuer_ = disabled_ = (p.flags & IORING_SETUP_SINGLE_ISSUER) != 0;
  }
  if (r < 0) throw std::system_error(-r, std::generic_category(), "io_uring_queue_init");
  int e = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e < 0) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  wake_fd_.reset(e);
  try {
    setup_buffers(cfg);  // registering is allowed before the ring is enabled
  } catch (...) {
    io_uring_queue_exit(&ring_);
    throw;
  }
  stats_register(&stats);
}

void UringDriver::on_worker_start() {
  if (!disabled_) return;
  // IORING_REGISTER_ENABLE_RINGS (liburing 2.3's io_uring_enable_rings is
  // declared but not exported by Debian's build): the calling thread
  // becomes the ring's single issuer.
  const long r =
      ::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  if (r < 0) {
    std::fprintf(stderr, "duet: enabling an io_uring ring failed: %s\n", std::strerror(errno));
    std::abort();  // the ring cannot be used at all
  }
  disabled_ = false;
}

void UringDriver::on_worker_stop() {
  quiesce();
}

void UringDriver::quiesce() noexcept {
  // Cancel what is left (futures dropped at shutdown queued their cancels
  // here) and wait for every CQE: only then is no kernel write into an
  // IoOp or a receive buffer possible. No multishot accept is armed from
  // now on: one asked for is refused, and its queue detached at teardown.
  stopping_ = true;
  drain_cancels();
  // Relaxed: a hint; the list itself is read under return_lock_.
  if (has_returns_.load(std::memory_order_relaxed)) drain_returns();
  if (inflight_ > 0) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY);  // ANY: no user_data to match
    io_uring_sqe_set_data64(s, user_data::ignore);
  }
  if (wake_armed_) submit_cancel(user_data::wake);
  for (int i = 0; i < 500 && (inflight_ > 0 || wake_armed_); ++i) {
    io_uring_cqe* c = nullptr;
    __kernel_timespec ts{0, 10'000'000};
    io_uring_submit_and_wait_timeout(&ring_, &c, 1, &ts, nullptr);
    reap(SIZE_MAX);
  }
}

UringDriver::~UringDriver() {
  // A SINGLE_ISSUER ring was drained by its worker (on_worker_stop): this
  // thread may not submit to it. Any other ring is quiesced here (a driver
  // whose worker never drained it; any thread may submit to it).
  if (!single_issuer_) quiesce();
  if (inflight_ > 0 || wake_armed_) {
    std::fprintf(stderr, "duet: io_uring driver closing with %zu operations in flight\n",
                 inflight_);
  }
  teardown_buffers();
  teardown_accepts();
  io_uring_queue_exit(&ring_);
  stats_unregister(&stats);
}

bool UringDriver::on_owner_thread() const noexcept {
  return duet::detail::current_driver() == this;
}

io_uring_sqe* UringDriver::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (s == nullptr) {
    // The SQ is full within one tick: submit what is there to make room.
    stats.add(stats.sqes, io_uring_sq_ready(&ring_));
    stats.add(stats.enters);
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

void UringDriver::arm(io_uring_sqe* s, IoOp* op) noexcept {
  op->owner = this;
  op->ref();  // the kernel's reference, dropped when the CQE is reaped
  io_uring_sqe_set_data64(s, user_data::of(op));
  ++inflight_;
}

void UringDriver::arm_wake() {
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, wake_fd_.get(), &wake_buf_, sizeof wake_buf_, 0);
  io_uring_sqe_set_data64(s, user_data::wake);
  wake_armed_ = true;
}

void UringDriver::submit_cancel(std::uint64_t ud) {
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, ud, 0);
  io_uring_sqe_set_data64(s, user_data::ignore);
}

void UringDriver::cancel(IoOp* op) noexcept {
  if (on_owner_thread()) {
    // done is only set on this thread (reap).
    if (!op->done) submit_cancel(user_data::of(op));
    op->unref();
    return;
  }
  // Another thread (the task moved, or the runtime shuts down): the owner
  // submits the cancel; the queue keeps the future's reference until then.
  // (The intrusive push cannot fail.)
  (void)post_to_owner([&]() noexcept {
    op->next = cancels_;
    cancels_ = op;
  });
}

void UringDriver::interrupt(IoOp* op) noexcept {
  if (on_owner_thread()) {
    // done is only set on this thread (reap).
    if (!op->done) submit_cancel(user_data::of(op));
    return;
  }
  // Another thread: the owner submits the cancel. The queue holds a
  // reference of its own, so the op outlives the request even when its
  // future takes the result and goes first. A cut asks once per op, so
  // cut_next links it into one queue at a time.
  op->ref();
  (void)post_to_owner([&]() noexcept {
    op->cut_next = interrupts_;
    interrupts_ = op;
  });
}

void UringDriver::drain_cancels() {
  cancel_lock_.lock();
  IoOp* list = cancels_;
  cancels_ = nullptr;
  IoOp* cuts = interrupts_;
  interrupts_ = nullptr;
  arming_.swap(accept_arms_);  // both keep their capacity
  for (std::uint64_t ud : recv_cancels_) submit_cancel(ud);
  recv_cancels_.clear();
  // Relaxed: under cancel_lock_, which orders it with the lists.
  has_cancels_.store(false, std::memory_order_relaxed);
  cancel_lock_.unlock();
  while (list != nullptr) {
    IoOp* op = list;
    list = op->next;
    if (!op->done) submit_cancel(user_data::of(op));
    op->unref();
  }
  while (cuts != nullptr) {
    IoOp* op = cuts;
    cuts = op->cut_next;
    if (!op->done) submit_cancel(user_data::of(op));
    op->unref();
  }
  if (!arming_.empty()) serve_accept_arms(arming_);
}

std::size_t UringDriver::reap(std::size_t max_cqes) {
  std::size_t total = 0;
  io_uring_cqe* cqes[256];
  while (max_cqes > 0) {
    const auto want = static_cast<unsigned>(max_cqes < 256 ? max_cqes : 256);
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, want);
    for (unsigned i = 0; i < n; ++i) {
      const std::uint64_t ud = cqes[i]->user_data;
      const std::int32_t res = cqes[i]->res;
      switch (user_data::kind_of(ud)) {
        case user_data::Kind::ignore:
          break;
        case user_data::Kind::wake:
          wake_armed_ = false;
          break;
        case user_data::Kind::recv:
          on_recv_cqe(user_data::recv_queue(ud), res, cqes[i]->flags);
          ++total;
          break;
        case user_data::Kind::accept:
          on_accept_cqe(user_data::accept_queue(ud), res, cqes[i]->flags);
          ++total;
          break;
        case user_data::Kind::op:
          --inflight_;
          ++total;
          user_data::io_op(ud)->complete(res);
          break;
      }
    }
    io_uring_cq_advance(&ring_, n);
    stats.add(stats.cqes, n);
    max_cqes -= n;
    if (n < want) break;
  }
  if (!woken_.empty()) wake_acceptors();
  // A multishot recv ended on an empty ring in this batch: the ring is too
  // small for the sockets that have bytes waiting at once.
  if (grow_wanted_) grow_buffers();
  return total;
}

std::size_t UringDriver::poll(std::size_t max_events) {
  // Relaxed: a hint; a cancel missed here is taken at the next poll.
  if (has_cancels_.load(std::memory_order_relaxed)) drain_cancels();
  if (has_returns_.load(std::memory_order_relaxed)) drain_returns();
  if (!wake_armed_) arm_wake();
  const unsigned queued = io_uring_sq_ready(&ring_);
  const unsigned kflags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  if (queued > 0 || (kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0) {
    stats.add(stats.enters);
    stats.add(stats.sqes, queued);
    io_uring_submit_and_get_events(&ring_);
  }
  return reap(max_events);
}

void UringDriver::park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) {
  if (!park_.prepare_park()) {  // a token was waiting: reap, do not sleep
    poll(max_events);
    return;
  }
  // Relaxed: hints, as in poll(); what one misses the next poll takes.
  if (has_cancels_.load(std::memory_order_relaxed)) drain_cancels();
  if (has_returns_.load(std::memory_order_relaxed)) drain_returns();
  if (!wake_armed_) arm_wake();
  // Completions already posted make the wait return at once.
  const unsigned queued = io_uring_sq_ready(&ring_);
  stats.add(stats.enters);
  stats.add(stats.sqes, queued);
  io_uring_cqe* c = nullptr;
  if (timeout) {
    auto ns = timeout->count() < 0 ? 0 : timeout->count();
    __kernel_timespec ts{ns / 1'000'000'000, ns % 1'000'000'000};
    io_uring_submit_and_wait_timeout(&ring_, &c, 1, &ts, nullptr);
  } else {
    io_uring_submit_and_wait(&ring_, 1);
  }
  park_.finish_park();
  reap(max_events);
}

void UringDriver::unpark() noexcept {
  if (park_.unpark()) {
    std::uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof one);
    // Relaxed: a statistic (any thread writes it, hence the fetch_add).
    stats.wake_writes.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace duet::io::detail
