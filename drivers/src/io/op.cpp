// op.cpp: IoOp life cycle and poll_op, the dispatch of every socket and
// file operation to the calling worker's backend.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/current.hpp"
#include "io_internal.hpp"

namespace duet::io::detail {

// ---- IoOp memory ------------------------------------------------------------
//
// Up to 4 KiB an IoOp comes from the block cache. Larger ones (a 16 KiB read
// buffer) would go to malloc on every operation: they get per-thread free
// lists in power-of-two classes up to 64 KiB, 32 blocks each (so at most
// ~3.5 MiB cached per thread), freed when the thread exits.
namespace {
constexpr std::size_t kSmall = 4096, kMinLarge = 8192, kMaxLarge = 65536, kPerClass = 32;

struct LargeCache {
  std::vector<void*> lists[4];  // 8, 16, 32, 64 KiB
  ~LargeCache() {
    for (std::size_t c = 0; c < 4; ++c) {
      for (void* p : lists[c]) ::operator delete (p, std::align_val_t{64});
    }
  }
};
thread_local LargeCache tl_large;

std::size_t large_class(std::size_t size) noexcept {
  std::size_t c = 0;
  for (std::size_t s = kMinLarge; s < size; s *= 2) ++c;
  return c;
}

void* op_alloc(std::size_t size) {
  if (size <= kSmall) return duet::detail::block_alloc(size);
  if (size <= kMaxLarge) {
    auto& l = tl_large.lists[large_class(size)];
    if (!l.empty()) {
      void* p = l.back();
      l.pop_back();
      return p;
    }
    return ::operator new (kMinLarge << large_class(size), std::align_val_t{64});
  }
  return ::operator new (size, std::align_val_t{64});
}

void op_free(void* p, std::size_t size) noexcept {
  if (size <= kSmall) return duet::detail::block_free(p, size);
  if (size <= kMaxLarge) {
    auto& l = tl_large.lists[large_class(size)];
    if (l.size() < kPerClass) {
      try {
        l.push_back(p);
        return;
      } catch (...) {
      }
    }
  }
  ::operator delete (p, std::align_val_t{64});
}
}  // namespace

// ---- IoOp ------------------------------------------------------------------

IoOp* IoOp::make(OpKind k, std::size_t cap) {
  void* mem = op_alloc(sizeof(IoOp) + cap);
  auto* op = std::construct_at(static_cast<IoOp*>(mem));
  op->kind = k;
  op->cap = cap;
  return op;
}

void IoOp::unref() noexcept {
  // AcqRel: the last owner must see every write of the others (the result,
  // the kernel's data) before it frees the block.
  if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // A new descriptor that no future took (the future was dropped after
  // completion): close it, or it would leak.
  if (done && res >= 0 && (kind == OpKind::accept || kind == OpKind::openat)) ::close(res);
  std::size_t sz = sizeof(IoOp) + cap;
  std::destroy_at(this);
  op_free(this, sz);
}

void IoOp::complete(std::int32_t r) noexcept {
  lock.lock();
  done = true;
  res = r;
  Waker w = std::move(waker);
  lock.unlock();
  if (w) std::move(w).wake();
  unref();
}

bool IoOp::poll(const Waker& w, std::int32_t& out) noexcept {
  lock.lock();
  if (done) {
    out = res;
    lock.unlock();
    return true;
  }
  if (!waker.will_wake(w)) waker = w;
  lock.unlock();
  return false;
}

void op_abandon(IoOp* op) noexcept {
  op->lock.lock();
  const bool done = op->done;
  op->abandoned = true;
  Waker old = std::move(op->waker);
  op->lock.unlock();
  if (!done && op->owner != nullptr) {
    op->owner->cancel(op);  // passes our reference
    return;
  }
  // Done, or a pool job (the pool skips abandoned jobs that have not
  // started; one that runs writes only into the op's own buffer).
  op->unref();
}

// ---- the blocking pool (files on epoll) -----------------------------------

std::int32_t run_file_op_sync(IoOp* op) noexcept {
  long r = 0;
  switch (op->kind) {
    case OpKind::read_at:
      r = ::pread(op->fd, op->data(), op->len, static_cast<off_t>(op->off));
      break;
    case OpKind::write_at:
      r = ::pwrite(op->fd, op->data(), op->len, static_cast<off_t>(op->off));
      break;
    case OpKind::fsync:
      r = op->flags != 0 ? ::fdatasync(op->fd) : ::fsync(op->fd);
      break;
    case OpKind::openat:
      r = ::openat(AT_FDCWD, reinterpret_cast<const char*>(op->data()), op->flags | O_CLOEXEC,
                   op->mode);
      break;
    default:
      return -EINVAL;
  }
  return r < 0 ? -errno : static_cast<std::int32_t>(r);
}

FilePool& FilePool::instance() {
  static FilePool p;
  return p;
}

FilePool::FilePool() {
  for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { run(); });
}

FilePool::~FilePool() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void FilePool::submit(IoOp* op) {
  op->ref();
  {
    std::lock_guard lk(mu_);
    q_.push_back(op);
  }
  cv_.notify_one();
}

void FilePool::run() {
  for (;;) {
    IoOp* op = nullptr;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;
      op = q_.front();
      q_.pop_front();
    }
    op->lock.lock();
    const bool skip = op->abandoned;
    op->lock.unlock();
    op->complete(skip ? -ECANCELED : run_file_op_sync(op));
  }
}

// ---- poll_op ---------------------------------------------------------------

namespace {

bool is_file_op(OpKind k) {
  return k == OpKind::read_at || k == OpKind::write_at || k == OpKind::fsync || k == OpKind::openat;
}

bool is_write_side(const OpRequest& q) {
  return q.kind == OpKind::send || q.kind == OpKind::sendto || q.kind == OpKind::connect;
}

std::size_t op_capacity(const OpRequest& q) {
  switch (q.kind) {
    case OpKind::recv:
    case OpKind::send:
    case OpKind::recvfrom:
    case OpKind::sendto:
    case OpKind::read_at:
    case OpKind::write_at:
      return q.len;
    case OpKind::openat:
      return std::strlen(q.path) + 1;
    default:
      return 0;
  }
}

IoOp* build_op(const OpRequest& q) {
  IoOp* op = IoOp::make(q.kind, op_capacity(q));
  op->fd = q.src != nullptr ? q.src->fd.get() : -1;
  op->len = q.len;
  op->off = q.off;
  op->flags = q.flags;
  op->mode = q.mode;
  switch (q.kind) {
    case OpKind::send:
    case OpKind::sendto:
    case OpKind::write_at:
      // The kernel reads the op's copy, never the caller's buffer.
      if (q.len != 0) std::memcpy(op->data(), q.wbuf, q.len);
      break;
    case OpKind::openat:
      std::memcpy(op->data(), q.path, op->cap);
      break;
    default:
      break;
  }
  if (q.kind == OpKind::connect || q.kind == OpKind::sendto) {
    std::memcpy(&op->addr, q.addr.raw(), q.addr.len());
    op->addrlen = q.addr.len();
  }
  return op;
}

void prep_uring(io_uring_sqe* s, IoOp* op) {
  switch (op->kind) {
    case OpKind::recv:
      io_uring_prep_recv(s, op->fd, op->data(), op->len, op->flags);
      break;
    case OpKind::send:
      io_uring_prep_send(s, op->fd, op->data(), op->len, op->flags | MSG_NOSIGNAL);
      break;
    case OpKind::accept:
      op->addrlen = sizeof(op->addr);
      io_uring_prep_accept(s, op->fd, reinterpret_cast<sockaddr*>(&op->addr), &op->addrlen,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
      break;
    case OpKind::connect:
      io_uring_prep_connect(s, op->fd, reinterpret_cast<sockaddr*>(&op->addr), op->addrlen);
      break;
    case OpKind::recvfrom:
    case OpKind::sendto:
      op->iov = {op->data(), op->len};
      op->msg.msg_name = &op->addr;
      op->msg.msg_namelen = op->kind == OpKind::recvfrom ? sizeof(op->addr) : op->addrlen;
      op->msg.msg_iov = &op->iov;
      op->msg.msg_iovlen = 1;
      if (op->kind == OpKind::recvfrom) {
        io_uring_prep_recvmsg(s, op->fd, &op->msg, op->flags);
      } else {
        io_uring_prep_sendmsg(s, op->fd, &op->msg, op->flags | MSG_NOSIGNAL);
      }
      break;
    case OpKind::read_at:
      io_uring_prep_read(s, op->fd, op->data(), static_cast<unsigned>(op->len), op->off);
      break;
    case OpKind::write_at:
      io_uring_prep_write(s, op->fd, op->data(), static_cast<unsigned>(op->len), op->off);
      break;
    case OpKind::fsync:
      io_uring_prep_fsync(s, op->fd, op->flags != 0 ? IORING_FSYNC_DATASYNC : 0);
      break;
    case OpKind::openat:
      io_uring_prep_openat(s, AT_FDCWD, reinterpret_cast<const char*>(op->data()),
                           op->flags | O_CLOEXEC, op->mode);
      break;
    case OpKind::timeout:
      io_uring_prep_timeout(s, &op->ts, 0, 0);
      break;
  }
}

/// The syscall of a socket op (non-blocking), as -errno on failure.
long socket_syscall(OpRequest& q) {
  const int fd = q.src->fd.get();
  long r = 0;
  switch (q.kind) {
    case OpKind::recv:
      r = ::recv(fd, q.rbuf, q.len, q.flags);
      break;
    case OpKind::send:
      r = ::send(fd, q.wbuf, q.len, q.flags | MSG_NOSIGNAL);
      break;
    case OpKind::accept: {
      socklen_t l = sizeof(sockaddr_storage);
      r = ::accept4(fd, q.addr.raw(), &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (r >= 0) q.addr.set_len(l);
      break;
    }
    case OpKind::connect:
      // Calling connect again reports progress: EALREADY while it runs,
      // EISCONN once connected, or the error that ended it.
      r = ::connect(fd, q.addr.raw(), q.addr.len());
      if (r < 0 && q.started) {
        if (errno == EISCONN) return 0;
        if (errno == EALREADY || errno == EINPROGRESS) return -EAGAIN;
      }
      if (r < 0 && errno == EINPROGRESS) {
        q.started = true;
        return -EAGAIN;
      }
      break;
    case OpKind::recvfrom: {
      socklen_t l = sizeof(sockaddr_storage);
      r = ::recvfrom(fd, q.rbuf, q.len, q.flags, q.addr.raw(), &l);
      if (r >= 0) q.addr.set_len(l);
      break;
    }
    case OpKind::sendto:
      r = ::sendto(fd, q.wbuf, q.len, q.flags | MSG_NOSIGNAL, q.addr.raw(), q.addr.len());
      break;
    case OpKind::timeout: {
      std::uint64_t n = 0;
      r = ::read(fd, &n, sizeof n);
      if (r >= 0) r = 0;
      break;
    }
    default:
      return -EINVAL;
  }
  return r < 0 ? -errno : r;
}

/// A timer for OpKind::timeout on epoll or a plain thread: a timerfd.
long arm_timerfd(OpRequest& q) {
  int t = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (t < 0) return -errno;
  q.src->fd.reset(t);
  itimerspec its{};
  auto ns = q.timeout.count() > 0 ? q.timeout.count() : 1;
  its.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  its.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  if (::timerfd_settime(t, 0, &its, nullptr) < 0) return -errno;
  return 0;
}

Poll<long> finish_op(OpRequest& q, OpSlot& slot, std::int32_t r) {
  IoOp* op = slot.op;
  if (r >= 0) {
    switch (q.kind) {
      case OpKind::recv:
      case OpKind::read_at:
        std::memcpy(q.rbuf, op->data(), static_cast<std::size_t>(r));
        break;
      case OpKind::recvfrom:
        std::memcpy(q.rbuf, op->data(), static_cast<std::size_t>(r));
        q.addr =
            net::SocketAddr::from_raw(reinterpret_cast<sockaddr*>(&op->addr), op->msg.msg_namelen);
        break;
      case OpKind::accept:
        q.addr = net::SocketAddr::from_raw(reinterpret_cast<sockaddr*>(&op->addr), op->addrlen);
        break;
      default:
        break;
    }
  }
  if (q.kind == OpKind::timeout && r == -ETIME) r = 0;
  // The descriptor now belongs to the caller: the op must not close it.
  op->res = -1;
  slot.op = nullptr;
  op->unref();
  return static_cast<long>(r);
}

Poll<long> epoll_socket(EpollDriver* d, OpRequest& q, Context& cx) {
  Source& s = *q.src;
  const bool wr = is_write_side(q);
  if (q.kind == OpKind::timeout && !s.fd) {
    if (long e = arm_timerfd(q); e < 0) return e;
  }
  for (;;) {
    // Acquire: pairs with the winner's compare-exchange below, so the
    // registration's fields are seen initialised.
    Registration* r = s.reg.load(std::memory_order_acquire);
    std::uint64_t seq = 0;
    // Acquire: pairs with the driver's release of the epoch; an event
    // published before this load is seen by the syscall below.
    if (r != nullptr) seq = (wr ? r->wr_epoch : r->rd_epoch).load(std::memory_order_acquire);
    long res = socket_syscall(q);
    d->stats.add(d->stats.io_syscalls);
    if (res != -EAGAIN) return res;
    if (r == nullptr) {
      // First wait on this fd: add it to this worker's set and try again
      // (the readiness it had before the add is not reported as an edge).
      Registration* mine = d->add(s.fd.get());
      if (mine == nullptr) return -errno;
      Registration* none = nullptr;
      // AcqRel: publishes `mine` to the other waiters; acquire on failure
      // reads the winner's. The loser's registration is removed again.
      if (!s.reg.compare_exchange_strong(none, mine, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
        registration_release(mine);
      }
      continue;
    }
    r->lock.lock();
    // Relaxed under the lock: the driver bumps the epoch under it too.
    if ((wr ? r->wr_epoch : r->rd_epoch).load(std::memory_order_relaxed) != seq) {
      r->lock.unlock();
      continue;  // an event arrived since the load: try again
    }
    add_waiter(wr ? r->wr_waker : r->rd_waker, wr ? r->wr_more : r->rd_more, cx.waker());
    r->lock.unlock();
    return pending;
  }
}

long blocking_op(OpRequest& q) {
  if (is_file_op(q.kind)) {
    IoOp* op = build_op(q);
    long r = run_file_op_sync(op);
    if (r >= 0 && (q.kind == OpKind::read_at))
      std::memcpy(q.rbuf, op->data(), static_cast<std::size_t>(r));
    op->res = -1;  // an opened fd belongs to the caller
    op->unref();
    return r;
  }
  if (q.kind == OpKind::timeout) {
    auto ns = q.timeout.count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
  }
  for (;;) {
    long r = socket_syscall(q);
    if (r != -EAGAIN) return r;
    pollfd p{q.src->fd.get(), static_cast<short>(is_write_side(q) ? POLLOUT : POLLIN), 0};
    ::poll(&p, 1, -1);
  }
}

/// A plain recv through the socket's multishot RecvQueue (io_uring):
/// bytes already queued, the waker registered, or, with nothing armed, a
/// multishot armed on this worker's ring. Empty when the read must take the
/// one-shot path (not on an io_uring worker, no buffer ring, or the ring is
/// short of buffers).
std::optional<Poll<long>> poll_recv_queue(OpRequest& q, Context& cx) {
  Source& s = *q.src;
  long out = 0;
  if (s.rq != nullptr) {
    switch (recv_queue_take(s.rq, q.rbuf, q.len, cx.waker(), out)) {
      case RecvTake::ready:
        return Poll<long>(out);
      case RecvTake::pending:
        return Poll<long>(pending);
      case RecvTake::idle:
        break;
    }
  }
  duet::detail::Driver* d = duet::detail::current_driver();
  if (d == nullptr || d->kind() != IoDriver::io_uring) return std::nullopt;
  auto* u = static_cast<UringDriver*>(d);
  if (!u->multishot_recv()) return std::nullopt;
  // Idle on another worker's ring (the task moved) or on a ring that is
  // gone: start over on this one (an unarmed queue is freed at once).
  if (s.rq != nullptr && s.rq->owner != u) recv_queue_release(std::exchange(s.rq, nullptr));
  if (s.rq == nullptr) s.rq = u->make_recv_queue(s.fd.get());
  if (!u->arm_recv(s.rq)) return std::nullopt;
  if (recv_queue_take(s.rq, q.rbuf, q.len, cx.waker(), out) == RecvTake::ready) {
    return Poll<long>(out);
  }
  return Poll<long>(pending);
}

}  // namespace

Poll<long> poll_op(OpRequest& q, OpSlot& slot, Context& cx) {
  if (slot.op != nullptr) {
    std::int32_t r = 0;
    if (!slot.op->poll(cx.waker(), r)) return pending;
    return finish_op(q, slot, r);
  }
  if (q.kind == OpKind::recv && q.flags == 0 && q.len > 0) {
    if (auto r = poll_recv_queue(q, cx)) return *r;
  }
  duet::detail::Driver* d = duet::detail::current_driver();
  if (d == nullptr) return blocking_op(q);  // a plain thread: block it
  switch (d->kind()) {
    case IoDriver::io_uring: {
      auto* u = static_cast<UringDriver*>(d);
      IoOp* op = build_op(q);
      if (q.kind == OpKind::timeout) {
        auto ns = q.timeout.count();
        op->ts.tv_sec = ns / 1'000'000'000;
        op->ts.tv_nsec = ns % 1'000'000'000;
      }
      io_uring_sqe* s = u->sqe();
      prep_uring(s, op);
      op->waker = cx.waker();
      u->arm(s, op);
      slot.op = op;
      return pending;
    }
    case IoDriver::epoll: {
      if (!is_file_op(q.kind)) return epoll_socket(static_cast<EpollDriver*>(d), q, cx);
      IoOp* op = build_op(q);
      op->waker = cx.waker();
      slot.op = op;
      FilePool::instance().submit(op);
      return pending;
    }
    default:
      // The `none` driver: no I/O on this runtime (a worker must not block).
      return static_cast<long>(-ENOTSUP);
  }
}

// ---- Source ----------------------------------------------------------------

Result<void> Source::close() noexcept {
  // AcqRel: takes the registration whichever worker made it.
  if (Registration* r = reg.exchange(nullptr, std::memory_order_acq_rel)) registration_release(r);
  if (rq != nullptr) recv_queue_release(std::exchange(rq, nullptr));
  if (!fd) return {};
  if (fd.reset() != 0) return errno_code(errno);
  return {};
}

// ---- waiters of an epoll registration ------------------------------------

void add_waiter(Waker& slot, std::unique_ptr<std::vector<Waker>>& more, const Waker& w) {
  if (!slot) {
    slot = w;
    return;
  }
  if (slot.will_wake(w)) return;
  if (!more) more = std::make_unique<std::vector<Waker>>();
  for (const Waker& m : *more) {
    if (m.will_wake(w)) return;
  }
  more->push_back(w);
}

std::size_t wake_waiters(Waker first, std::unique_ptr<std::vector<Waker>> more) noexcept {
  std::size_t n = 0;
  if (first) {
    std::move(first).wake();
    ++n;
  }
  if (more) {
    for (Waker& w : *more) std::move(w).wake();
    n += more->size();
  }
  return n;
}

}  // namespace duet::io::detail
