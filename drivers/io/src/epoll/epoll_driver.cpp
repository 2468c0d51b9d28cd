// epoll_driver.cpp: the epoll backend: one epoll set per worker, fds added
// edge-triggered (in, out, rdhup) the first time an operation waits on them
// and kept until the socket closes (one epoll_ctl per socket, not per wait).
//
// A readiness event bumps the fd's read or write epoch and wakes the waiter
// (Registration, epoll_driver.hpp). Wake-ups from other threads: an eventfd
// in the set, written only when the worker sleeps (ParkToken).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <memory>
#include <system_error>

#include "duet/detail/block_cache.hpp"
#include "epoll/epoll_driver.hpp"

namespace duet::io::detail {

namespace {
std::size_t wake_one(Waker w) noexcept {
  if (!w) return 0;
  std::move(w).wake();
  return 1;
}
}  // namespace

EpollDriver::EpollDriver(unsigned /*index*/) : events_(256) {
  auto set = std::make_unique<EpollSet>();  // freed, with its fd, if this throws
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  set->ep.reset(ep);
  int e = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  wake_fd_.reset(e);
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: drained on each wake
  ev.data.ptr = nullptr;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd_.get(), &ev) < 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(eventfd)");
  }
  set->driver = this;
  set_ = set.release();  // last: nothing below throws
  stats_register(&stats);
}

EpollDriver::~EpollDriver() {
  // Registrations still owned by open sockets outlive the driver: they find
  // the set without a driver (their close then frees them directly). The
  // overflow waiters are dropped after the lock (a waker's drop may free a
  // task, whose sockets' close takes the lock): no event can wake them now.
  std::vector<EpollSet::Overflow> dropped;
  {
    std::lock_guard lk(set_->mu);
    set_->driver = nullptr;
    dropped.swap(set_->overflow);
  }
  dropped.clear();
  // No registration is retired once the set has no driver: the list is
  // this thread's alone now.
  for (Registration* r : retired_) drop_registration(r);
  // The epoll fd stays open while a registration holds the set: its socket's
  // close removes it from the set with no lock (registration_release).
  set_unref(set_);
  stats_unregister(&stats);
}

void set_unref(EpollSet* s) noexcept {
  // AcqRel: the last reference sees every other holder's writes before the
  // set is freed (the reference count rule).
  if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) std::unique_ptr<EpollSet>{s}.reset();
}

void free_registration(Registration* r) noexcept {
  EpollSet* s = r->set;
  std::destroy_at(r);
  duet::detail::block_free(r, sizeof(Registration));
  if (s != nullptr) set_unref(s);
}

void drop_registration(Registration* r) noexcept {
  r->lock.lock();
  const bool held = r->slots > 0;
  if (held) r->retired = true;  // the last slot's withdraw frees it
  r->lock.unlock();
  if (!held) free_registration(r);
}

Registration* EpollDriver::add(int fd) {
  void* mem = duet::detail::block_alloc(sizeof(Registration));
  auto* r = std::construct_at(static_cast<Registration*>(mem));
  // Relaxed: a new reference from one already held (the driver's).
  set_->refs.fetch_add(1, std::memory_order_relaxed);
  r->set = set_;
  r->fd = fd;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
  ev.data.ptr = r;
  if (::epoll_ctl(set_->ep.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno;
    free_registration(r);  // never in the set: no batch can name it
    errno = e;
    return nullptr;
  }
  return r;
}

void EpollDriver::retire(Registration* r) noexcept {
  // r is out of the epoll fd (its close's EPOLL_CTL_DEL): no later
  // epoll_wait returns it; a batch fetched before may still hold it, so it
  // is freed only at the next wait.
  retired_.push_back(r);  // under set_->mu, as the caller holds it
  // Relaxed: a hint; the list is read under set_->mu.
  has_retired_.store(true, std::memory_order_relaxed);
}

void EpollDriver::free_retired() noexcept {
  {
    std::lock_guard lk(set_->mu);
    freeing_.swap(retired_);  // both keep their capacity: no allocation here
    // Relaxed: under set_->mu, which orders it with the list.
    has_retired_.store(false, std::memory_order_relaxed);
  }
  for (Registration* r : freeing_) {
    // Nothing can wait on r now (its Source let it go): drop its overflow
    // waiters, which would otherwise match a later registration at r's
    // address. Dropped after the lock (see the destructor).
    if (r->more != 0) {
      take_overflow(r, r->more);
      more_wake_.clear();
    }
    drop_registration(r);
  }
  freeing_.clear();
}

void EpollDriver::take_overflow(Registration* r, std::uint8_t sides) {
  std::lock_guard lk(set_->mu);
  std::erase_if(set_->overflow, [&](EpollSet::Overflow& o) {
    const std::uint8_t side = o.wr ? Registration::kWrMore : Registration::kRdMore;
    if (o.reg != r || (sides & side) == 0) return false;
    more_wake_.push_back(std::move(o.waker));
    return true;
  });
}

std::size_t EpollDriver::wait(int timeout_ms, std::size_t max_events) {
  // Registrations removed before this point cannot appear in this batch,
  // and the previous batch has been handled: free them now. Relaxed: a
  // hint; one missed is freed at the next wait.
  if (has_retired_.load(std::memory_order_relaxed)) free_retired();
  // Events left in the ready list are reported by the next wait, in order.
  if (max_events == 0) return 0;
  const std::size_t batch = max_events < events_.size() ? max_events : events_.size();
  stats.add(stats.epoll_waits);
  int n = ::epoll_wait(set_->ep.get(), events_.data(), static_cast<int>(batch), timeout_ms);
  if (n <= 0) return 0;
  std::size_t woke = 0;
  for (int i = 0; i < n; ++i) {
    auto* r = static_cast<Registration*>(events_[static_cast<std::size_t>(i)].data.ptr);
    const std::uint32_t ev = events_[static_cast<std::size_t>(i)].events;
    if (r == nullptr) {
      std::uint64_t v = 0;
      (void)!::read(wake_fd_.get(), &v, sizeof v);
      continue;
    }
    Waker rw, ww;
    std::uint8_t sides = 0;  // the sides this event wakes
    r->lock.lock();
    // Release: a poller that loads the new epoch sees this event.
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) {
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) {
        r->rd_final.store(true, std::memory_order_relaxed);  // published by the release below
      }
      r->rd_epoch.fetch_add(1, std::memory_order_release);
      rw = std::move(r->rd_waker);
      sides |= Registration::kRdMore;
    }
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      r->wr_epoch.fetch_add(1, std::memory_order_release);
      ww = std::move(r->wr_waker);
      sides |= Registration::kWrMore;
    }
    // The overflow waiters (rare) are taken under the lock with the slots.
    if ((r->more & sides) != 0) {
      take_overflow(r, r->more & sides);
      r->more &= static_cast<std::uint8_t>(~sides);
    }
    r->lock.unlock();
    woke += wake_one(std::move(rw)) + wake_one(std::move(ww));
    for (Waker& w : more_wake_) std::move(w).wake();
    woke += more_wake_.size();
    more_wake_.clear();
  }
  // A full batch may leave more: the next poll takes them.
  return woke;
}

std::size_t EpollDriver::poll(std::size_t max_events) {
  return wait(0, max_events);
}

void EpollDriver::park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) {
  if (!park_.prepare_park()) {  // a token was waiting: reap, do not sleep
    wait(0, max_events);
    return;
  }
  int ms = -1;
  if (timeout) {
    auto n = timeout->count();
    // Round up: waking early would spin until the deadline.
    ms = n <= 0 ? 0 : static_cast<int>(std::min<long long>((n + 999'999) / 1'000'000, INT_MAX));
  }
  wait(ms, max_events == 0 ? 1 : max_events);
  park_.finish_park();
}

void EpollDriver::unpark() noexcept {
  if (park_.unpark()) {
    std::uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof one);
    // Relaxed: a statistic (any thread writes it, hence the fetch_add).
    stats.wake_writes.fetch_add(1, std::memory_order_relaxed);
  }
}

void registration_release(Registration* r) noexcept {
  EpollSet* s = r->set;
  // Out of the set's lock: r holds the set, so its epoll fd is open and
  // still this set's, driver or not. Before the socket's fd closes (the
  // caller closes it after), while the number still names this socket.
  // After it no epoll_wait returns r, so r is retired (or, with the driver
  // gone, dropped) only now.
  ::epoll_ctl(s->ep.get(), EPOLL_CTL_DEL, r->fd, nullptr);
  {
    // Under the set's lock the driver cannot go away between the check
    // and the retire.
    std::lock_guard lk(s->mu);
    if (s->driver != nullptr) {
      s->driver->retire(r);
      return;
    }
  }
  drop_registration(r);
}

}  // namespace duet::io::detail
