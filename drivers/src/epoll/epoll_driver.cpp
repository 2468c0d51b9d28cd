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

EpollDriver::EpollDriver(unsigned /*index*/) : events_(256) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  ep_.reset(ep);
  int e = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  wake_fd_.reset(e);
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: drained on each wake
  ev.data.ptr = nullptr;
  if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) < 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(eventfd)");
  }
  stats_register(&stats);
}

EpollDriver::~EpollDriver() {
  std::lock_guard lk(reg_mu_);
  // Registrations still owned by open sockets outlive the set: detach them
  // (their close then frees them directly).
  for (Registration* r = regs_; r != nullptr; r = r->next) {
    r->lock.lock();
    r->owner = nullptr;
    r->lock.unlock();
  }
  while (retired_ != nullptr) {
    Registration* r = retired_;
    retired_ = r->next;
    std::destroy_at(r);
    duet::detail::block_free(r, sizeof(Registration));
  }
  stats_unregister(&stats);
}

Registration* EpollDriver::add(int fd) {
  void* mem = duet::detail::block_alloc(sizeof(Registration));
  auto* r = std::construct_at(static_cast<Registration*>(mem));
  r->owner = this;
  r->fd = fd;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
  ev.data.ptr = r;
  {
    std::lock_guard lk(reg_mu_);
    r->next = regs_;
    if (regs_ != nullptr) regs_->prev = r;
    regs_ = r;
  }
  if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno;
    remove(r);
    errno = e;
    return nullptr;
  }
  return r;
}

void EpollDriver::remove(Registration* r) noexcept {
  // After EPOLL_CTL_DEL no later epoll_wait returns r; a batch fetched
  // before may still hold it, so it is freed only at the next wait.
  ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, r->fd, nullptr);
  std::lock_guard lk(reg_mu_);
  if (r->prev != nullptr) r->prev->next = r->next;
  if (r->next != nullptr) r->next->prev = r->prev;
  if (regs_ == r) regs_ = r->next;
  r->prev = nullptr;
  r->next = retired_;
  retired_ = r;
  // Relaxed: a hint; the list is read under reg_mu_.
  has_retired_.store(true, std::memory_order_relaxed);
}

void EpollDriver::free_retired() noexcept {
  Registration* list = nullptr;
  {
    std::lock_guard lk(reg_mu_);
    list = retired_;
    retired_ = nullptr;
    // Relaxed: under reg_mu_, which orders it with the list.
    has_retired_.store(false, std::memory_order_relaxed);
  }
  while (list != nullptr) {
    Registration* r = list;
    list = r->next;
    std::destroy_at(r);
    duet::detail::block_free(r, sizeof(Registration));
  }
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
  int n = ::epoll_wait(ep_.get(), events_.data(), static_cast<int>(batch), timeout_ms);
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
    std::unique_ptr<std::vector<Waker>> rmore, wmore;
    r->lock.lock();
    // Release: a poller that loads the new epoch sees this event.
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) {
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) {
        r->rd_final.store(true, std::memory_order_relaxed);  // published by the release below
      }
      r->rd_epoch.fetch_add(1, std::memory_order_release);
      rw = std::move(r->rd_waker);
      rmore = std::move(r->rd_more);
    }
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
      r->wr_epoch.fetch_add(1, std::memory_order_release);
      ww = std::move(r->wr_waker);
      wmore = std::move(r->wr_more);
    }
    r->lock.unlock();
    woke += wake_waiters(std::move(rw), std::move(rmore));
    woke += wake_waiters(std::move(ww), std::move(wmore));
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
  r->lock.lock();
  EpollDriver* d = r->owner;
  r->lock.unlock();
  if (d != nullptr) {
    d->remove(r);
    return;
  }
  std::destroy_at(r);
  duet::detail::block_free(r, sizeof(Registration));
}

}  // namespace duet::io::detail
