// recv_queue.cpp: multishot recv with provided buffers (io_uring).
//
// Each ring owns a buffer ring of RuntimeConfig::io_recv_buffers buffers.
// A socket's first read arms one multishot recv that selects from it; the
// kernel then fills a buffer and posts a CQE whenever data arrives, with no
// SQE and no poll re-arm per message (the one-shot recv pays both). reap()
// hands each CQE to on_recv_cqe, which appends the buffer to the socket's
// RecvQueue and wakes the reader; the reader copies out and gives the
// buffer back (straight into the ring on the owner thread, through a
// locked list from any other).
//
// Buffer ownership: a buffer belongs to the kernel while it is in the ring,
// to exactly one RecvQueue from its CQE until it is read, and returns to the
// ring afterwards; a reader never holds a pointer into it past the copy. A
// queue holding kMaxQueued unread buffers has its multishot cancelled (one
// slow reader cannot drain the ring for every other socket); its next read
// re-arms it. With fewer than kMinFree buffers free, reads fall back to
// one-shot recv until buffers come back. A multishot that ended because
// the ring had no buffer (ENOBUFS: the socket's bytes wait in the socket)
// is starved: its next read takes them with a direct recv(2), as epoll
// would, before arming again.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <system_error>

#include "duet/detail/block_cache.hpp"
#include "uring/uring_driver.hpp"

namespace duet::io::detail {
namespace {
constexpr std::uint16_t kMaxQueued = 8;
constexpr std::uint32_t kMinFree = 8;
constexpr std::uint16_t kGroup = 0;
}  // namespace

// ---- the buffer ring ----------------------------------------------------

DriverMemory UringDriver::memory() const noexcept {
  DriverMemory m;
  const std::size_t sq = ring_.sq.ring_sz, cq = ring_.cq.ring_sz;
  // With IORING_FEAT_SINGLE_MMAP the two rings share one mapping.
  m.ring_bytes = ((ring_.features & IORING_FEAT_SINGLE_MMAP) != 0 ? std::max(sq, cq) : sq + cq) +
                 std::size_t{ring_.sq.ring_entries} * sizeof(io_uring_sqe);
  m.buffer_ring_bytes = br_bytes_;
  // Relaxed: as free_bufs_ (below), a figure from some recent moment.
  const std::uint32_t nbufs = nbufs_.load(std::memory_order_relaxed);
  m.buffers = nbufs;
  m.buffer_size = buf_size_;
  // Relaxed: see free_bufs_. Out of the ring: filled and not yet read, or
  // read and waiting to go back (give_back from another thread).
  const std::uint32_t free = free_bufs_.load(std::memory_order_relaxed);
  m.buffers_in_use = free < nbufs ? nbufs - free : 0;
  return m;
}

void UringDriver::setup_buffers(const RuntimeConfig& cfg) {
  const std::uint32_t n = cfg.io_recv_buffers;
  if (n == 0 || !uring_features().recv_multishot) return;
  if (n > 32768 || (n & (n - 1)) != 0 || cfg.io_recv_buffer_size == 0) {
    throw std::invalid_argument(
        "duet: io_recv_buffers must be a power of two <= 32768 and io_recv_buffer_size > 0");
  }
  const std::uint32_t max = cfg.io_recv_buffers_max;
  if (max < n || max > 32768 || (max & (max - 1)) != 0) {
    throw std::invalid_argument(
        "duet: io_recv_buffers_max must be a power of two, at least io_recv_buffers and <= 32768");
  }
  const std::size_t ring_bytes = sizeof(io_uring_buf) * max;
  const std::size_t data_bytes = static_cast<std::size_t>(max) * cfg.io_recv_buffer_size;
  // One mapping: the ring (page-aligned, as the kernel wants), then the
  // buffers, sized for the most the ring grows to. Untouched pages cost no
  // memory: buffers past nbufs_ are not in the ring, and nothing writes
  // them until it grows.
  const std::size_t page = 4096;
  const std::size_t ring_pages = (ring_bytes + page - 1) / page * page;
  void* mem = ::mmap(nullptr, ring_pages + data_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return;  // one-shot recv only
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br);
  reg.ring_entries = max;
  reg.bgid = kGroup;
  if (io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {
    ::munmap(mem, ring_pages + data_bytes);
    return;
  }
  br_ = br;
  br_bytes_ = ring_pages + data_bytes;
  bufs_ = static_cast<std::byte*>(mem) + ring_pages;
  buf_size_ = cfg.io_recv_buffer_size;
  ring_entries_ = max;
  // Sized for the most buffers at once: a growth never reallocates them
  // (buf_next and buf_len are read through these pointers).
  buf_meta_.assign(max, RecvQueue::none);
  buf_len_store_.assign(max, 0);
  buf_next = buf_meta_.data();
  buf_len = buf_len_store_.data();
  returns_.reserve(max);  // give_back never allocates
  io_uring_buf_ring_init(br_);
  add_buffers(0, n);
}

void UringDriver::add_buffers(std::uint32_t from, std::uint32_t to) noexcept {
  const int mask = io_uring_buf_ring_mask(ring_entries_);
  for (std::uint32_t i = from; i < to; ++i) {
    io_uring_buf_ring_add(br_, buffer(static_cast<std::uint16_t>(i)), buf_size_,
                          static_cast<std::uint16_t>(i), mask, static_cast<int>(i - from));
  }
  // Release (inside advance): the entries are written before the kernel
  // sees the new tail.
  io_uring_buf_ring_advance(br_, static_cast<int>(to - from));
  nbufs_.store(to, std::memory_order_relaxed);  // this thread is its writer
  add_free_bufs(static_cast<std::int32_t>(to - from));
}

void UringDriver::grow_buffers() noexcept {
  grow_wanted_ = false;
  // Relaxed: this thread is its writer.
  const std::uint32_t n = nbufs_.load(std::memory_order_relaxed);
  if (n == 0 || n >= ring_entries_) return;
  add_buffers(n, std::min(n * 2, ring_entries_));
  stats.add(stats.recv_ring_growths);
  // Relaxed: this thread is the counter's writer.
  grown_at_ = stats.recv_buffers.load(std::memory_order_relaxed);
}

void UringDriver::teardown_buffers() noexcept {
  // Every multishot is over (the destructor waited for its last CQE). The
  // queues still held by open sockets outlive the ring: detach them, and
  // drop their unread bytes (the buffers go with the ring); a later read
  // takes the one-shot or blocking path.
  {
    std::lock_guard lk(live_mu_);
    for (RecvQueue *rq = live_, *nx = nullptr; rq != nullptr; rq = nx) {
      nx = rq->next;
      rq->next = rq->prev = nullptr;
      rq->lock.lock();
      if (rq->released) {  // its last CQE never came (the wait timed out)
        rq->lock.unlock();
        std::destroy_at(rq);
        duet::detail::block_free(rq, sizeof(RecvQueue));
        continue;
      }
      rq->owner = nullptr;
      // Bytes the kernel had delivered are lost with the ring: the next read
      // says so (ECANCELED) rather than skipping them silently.
      if (rq->queued > 0 && rq->error == 0) rq->error = -ECANCELED;
      rq->head = rq->tail = RecvQueue::none;
      rq->queued = 0;
      rq->armed = false;
      Waker w = std::move(rq->waker);
      rq->lock.unlock();
      if (w) std::move(w).wake();
    }
    live_ = nullptr;
  }
  if (br_ != nullptr) {
    io_uring_unregister_buf_ring(&ring_, kGroup);
    ::munmap(br_, br_bytes_);
    br_ = nullptr;
    nbufs_.store(0, std::memory_order_relaxed);  // the destructor: no worker runs
    ring_entries_ = 0;
  }
}

void UringDriver::recycle(std::uint16_t bid) noexcept {
  io_uring_buf_ring_add(br_, buffer(bid), buf_size_, bid, io_uring_buf_ring_mask(ring_entries_), 0);
  // Release (inside advance): the entry is written before the kernel sees
  // the new tail.
  io_uring_buf_ring_advance(br_, 1);
  add_free_bufs(1);
}

void UringDriver::give_back(std::uint16_t bid) noexcept {
  if (on_owner_thread()) {
    recycle(bid);
    return;
  }
  return_lock_.lock();
  returns_.push_back(bid);  // reserved for every buffer: no allocation
  // Relaxed: a hint; the list itself is read under return_lock_.
  has_returns_.store(true, std::memory_order_relaxed);
  return_lock_.unlock();
}

void UringDriver::drain_returns() noexcept {
  return_lock_.lock();
  for (std::uint16_t bid : returns_) recycle(bid);
  returns_.clear();
  // Relaxed: under return_lock_, which orders it with the list.
  has_returns_.store(false, std::memory_order_relaxed);
  return_lock_.unlock();
}

// ---- queues -------------------------------------------------------------

RecvQueue* UringDriver::make_recv_queue(int fd) {
  void* mem = duet::detail::block_alloc(sizeof(RecvQueue));
  auto* rq = std::construct_at(static_cast<RecvQueue*>(mem));
  rq->owner = this;
  rq->fd = fd;
  std::lock_guard lk(live_mu_);
  rq->next = live_;
  if (live_ != nullptr) live_->prev = rq;
  live_ = rq;
  return rq;
}

void UringDriver::free_recv_queue(RecvQueue* rq) noexcept {
  {
    std::lock_guard lk(live_mu_);
    if (rq->prev != nullptr) rq->prev->next = rq->next;
    if (rq->next != nullptr) rq->next->prev = rq->prev;
    if (live_ == rq) live_ = rq->next;
  }
  std::destroy_at(rq);
  duet::detail::block_free(rq, sizeof(RecvQueue));
}

bool UringDriver::arm_recv(RecvQueue* rq) {
  if (free_bufs_.load(std::memory_order_relaxed) < kMinFree) return false;
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, rq->fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kGroup;
  io_uring_sqe_set_data64(s, user_data::of(rq));
  rq->lock.lock();
  rq->armed = true;
  rq->cancelling = false;
  rq->starved = false;
  rq->lock.unlock();
  ++inflight_;
  stats.add(stats.recv_arms);
  return true;
}

void UringDriver::cancel_multishot(std::uint64_t ud) noexcept {
  if (on_owner_thread()) {
    submit_cancel(ud);
    return;
  }
  // By value: the queue may be freed (its last CQE reaped) before the owner
  // submits this; a cancel that finds nothing is harmless. Out of memory:
  // the multishot stays armed until its socket's close completes it (a
  // recv) or the driver's quiesce does (an accept, whose descriptors taken
  // meanwhile are closed as they are reaped: the queue is released).
  (void)post_to_owner([&] { recv_cancels_.push_back(ud); });
}

void UringDriver::on_recv_cqe(RecvQueue* rq, std::int32_t res, std::uint32_t flags) {
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  bool cancel = false;
  rq->lock.lock();
  if ((flags & IORING_CQE_F_BUFFER) != 0) {
    const auto bid = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    add_free_bufs(-1);
    stats.add(stats.recv_buffers);
    if (res > 0 && !rq->released) {
      buf_len[bid] = static_cast<std::uint32_t>(res);
      buf_next[bid] = RecvQueue::none;
      if (rq->tail == RecvQueue::none) {
        rq->head = bid;
      } else {
        buf_next[rq->tail] = bid;
      }
      rq->tail = bid;
      ++rq->queued;
      cancel = more && rq->queued >= kMaxQueued && !rq->cancelling;
      if (cancel) rq->cancelling = true;
    } else {
      recycle(bid);
    }
  }
  if (res == 0) {
    rq->eof = true;
  } else if (res == -ENOBUFS) {
    rq->starved = true;
    stats.add(stats.recv_starved);
    // Grow after the batch (reap), if the ring has gone round once since
    // it last grew: a burst ends many multishots at once, and their
    // ENOBUFS, posted before a growth, are reaped after it; one dry spell
    // doubles the ring once. Relaxed: this thread is the counter's writer.
    if (stats.recv_buffers.load(std::memory_order_relaxed) - grown_at_ >=
        nbufs_.load(std::memory_order_relaxed)) {
      grow_wanted_ = true;
    }
  } else if (res < 0 && res != -ECANCELED) {
    rq->error = res;
  }
  if (!more) {
    rq->armed = false;
    --inflight_;
  }
  Waker w = std::move(rq->waker);
  const bool free_it = rq->released && !rq->armed;
  rq->lock.unlock();
  if (cancel) submit_cancel(user_data::of(rq));
  if (w) std::move(w).wake();
  if (free_it) free_recv_queue(rq);
}

// ---- the reader, the read's start and the socket's release -----------------

namespace {

/// What a read found in its socket's RecvQueue.
enum class RecvTake : std::uint8_t {
  ready,    // `out` is a byte count, 0 at end of stream, or -errno
  pending,  // nothing yet; the waker is registered
  idle,     // nothing queued and nothing armed: arm it, or read one-shot
};

/// The reader's side (any thread): copies up to `len` queued bytes.
RecvTake recv_queue_take(RecvQueue* rq, std::byte* buf, std::size_t len, const Waker& w,
                         long& out) noexcept {
  std::uint16_t done[kMaxQueued + 1];
  std::size_t ndone = 0;
  rq->lock.lock();
  UringDriver* d = rq->owner;
  if (rq->head != RecvQueue::none) {
    std::size_t n = 0;
    while (n < len && rq->head != RecvQueue::none) {
      const std::uint16_t bid = rq->head;
      const std::size_t avail = d->buf_len[bid] - rq->head_off;
      const std::size_t take = avail < len - n ? avail : len - n;
      std::memcpy(buf + n, d->buffer(bid) + rq->head_off, take);
      n += take;
      if (take == avail) {
        rq->head = d->buf_next[bid];
        if (rq->head == RecvQueue::none) rq->tail = RecvQueue::none;
        rq->head_off = 0;
        --rq->queued;
        if (ndone < sizeof done / sizeof done[0]) {
          done[ndone++] = bid;
        } else {
          d->give_back(bid);
        }
      } else {
        rq->head_off += static_cast<std::uint32_t>(take);
      }
    }
    rq->lock.unlock();
    for (std::size_t i = 0; i < ndone; ++i) d->give_back(done[i]);
    out = static_cast<long>(n);
    return RecvTake::ready;
  }
  if (rq->error != 0) {
    out = std::exchange(rq->error, 0);
    rq->lock.unlock();
    return RecvTake::ready;
  }
  if (rq->eof) {
    rq->lock.unlock();
    out = 0;
    return RecvTake::ready;
  }
  if (!rq->armed || rq->owner == nullptr) {
    rq->lock.unlock();
    return RecvTake::idle;
  }
  if (!rq->waker.will_wake(w)) rq->waker = w;
  rq->lock.unlock();
  return RecvTake::pending;
}

}  // namespace

std::optional<Poll<long>> poll_queued_recv(OpRequest& q, Context& cx) {
  long out = 0;
  switch (recv_queue_take(q.src->rq, q.rbuf, q.len, cx.waker(), out)) {
    case RecvTake::ready:
      return Poll<long>(out);
    case RecvTake::pending:
      return Poll<long>(pending);
    case RecvTake::idle:
      break;
  }
  return std::nullopt;
}

std::optional<Poll<long>> UringDriver::start_multishot_recv(OpRequest& q, Context& cx) {
  if (!multishot_recv()) return std::nullopt;
  Source& s = *q.src;
  // Idle on another worker's ring (the task moved) or on a ring that is
  // gone: start over on this one (an unarmed queue is freed at once).
  if (s.rq != nullptr && s.rq->owner != this) recv_queue_release(std::exchange(s.rq, nullptr));
  if (s.rq == nullptr) s.rq = make_recv_queue(s.fd.get());
  if (take_starved(s.rq)) {
    // The kernel had bytes for this socket and no buffer to put them in
    // (the ring was empty): they wait in the socket. Read them at once
    // rather than after a re-arm's round trip through the ring, which
    // would put this reader a whole turn behind the sockets the ring
    // served. Nothing there after all: arm as an idle read does.
    stats.add(stats.io_syscalls);
    if (const long r = socket_syscall(q); r != -EAGAIN) return Poll<long>(r);
  }
  if (!arm_recv(s.rq)) return std::nullopt;
  long out = 0;
  if (recv_queue_take(s.rq, q.rbuf, q.len, cx.waker(), out) == RecvTake::ready) {
    return Poll<long>(out);
  }
  return Poll<long>(pending);
}

bool UringDriver::take_starved(RecvQueue* rq) noexcept {
  rq->lock.lock();
  const bool starved = std::exchange(rq->starved, false);
  rq->lock.unlock();
  return starved;
}

void recv_queue_release(RecvQueue* rq) noexcept {
  rq->lock.lock();
  rq->released = true;
  UringDriver* d = rq->owner;
  const bool armed = rq->armed;
  std::uint16_t bid = rq->head;
  rq->head = rq->tail = RecvQueue::none;
  rq->queued = 0;
  Waker w = std::move(rq->waker);
  rq->lock.unlock();
  if (d == nullptr) {  // the ring is gone: nothing can name the queue
    std::destroy_at(rq);
    duet::detail::block_free(rq, sizeof(RecvQueue));
    return;
  }
  while (bid != RecvQueue::none) {
    const std::uint16_t nx = d->buf_next[bid];
    d->give_back(bid);
    bid = nx;
  }
  // The last CQE frees an armed queue (released is set); an unarmed one
  // has no CQE to come.
  if (armed) {
    d->cancel_multishot(user_data::of(rq));
  } else {
    d->free_recv_queue(rq);
  }
}

}  // namespace duet::io::detail
