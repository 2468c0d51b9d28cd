// epoll_driver.hpp: the epoll backend's state: EpollDriver (one epoll set
// per worker) and Registration (an fd's readiness in it), with the waiter
// lists of a registration. Private to drivers/src/epoll and the factory.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "duet/detail/park_token.hpp"
#include "duet/io/fd.hpp"
#include "duet/io/stats.hpp"
#include "io/backend.hpp"
#include "io/io_op.hpp"

namespace duet::io::detail {

class EpollDriver;

/// An fd's readiness state in one epoll set. Owned by the Source until it
/// closes, then by the driver (freed after the next epoll_wait batch, so a
/// batch already fetched never points at freed memory).
struct Registration {
  OpLock lock;
  // Bumped on every readiness event (under lock); read before a syscall and
  // compared after EAGAIN so an event in between is never lost.
  std::atomic<std::uint64_t> rd_epoch{0};
  std::atomic<std::uint64_t> wr_epoch{0};
  // A stream read that came back short (fewer bytes than asked) emptied the
  // socket: rd_epoch as loaded before its syscall, plus one (0: none). A
  // later read that finds rd_epoch still there waits for the next edge
  // instead of making a syscall that would find EAGAIN (socket_op.cpp).
  // Relaxed: a stream has one reader at a time, whose reads are ordered.
  std::atomic<std::uint64_t> rd_drained{0};
  // Set for good by an event that says a short read may not have emptied
  // the stream: the peer's FIN or an error (a read stops short before
  // them, and their edge may have come before that read), urgent data (a
  // TCP read stops short at its mark). Written before the epoch's release.
  std::atomic<bool> rd_final{false};
  // The waiters of each side, guarded by lock: the first in the slot; more
  // tasks waiting on one side at once (two accepts on one listener) in a
  // list allocated only then. An event wakes them all; the losers of the
  // race for the descriptor find EAGAIN and wait again.
  Waker rd_waker;
  Waker wr_waker;
  std::unique_ptr<std::vector<Waker>> rd_more;
  std::unique_ptr<std::vector<Waker>> wr_more;
  EpollDriver* owner = nullptr;
  int fd = -1;
  Registration* next = nullptr;  // owner's list of all registrations
  Registration* prev = nullptr;
};

/// Under a Registration's lock: `w` waits on one side. The first waiter
/// takes the slot; another task's waker joins `more` (once). Stale wakers of
/// cancelled operations cost one spurious wake at the next event.
void add_waiter(Waker& slot, std::unique_ptr<std::vector<Waker>>& more, const Waker& w);
/// Wakes the waiters taken out of a side (after the lock); returns how many.
std::size_t wake_waiters(Waker first, std::unique_ptr<std::vector<Waker>> more) noexcept;

class EpollDriver final : public IoBackend {
 public:
  explicit EpollDriver(unsigned index);
  ~EpollDriver() override;
  std::size_t poll(std::size_t max_events) override;
  void park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) override;
  void unpark() noexcept override;
  [[nodiscard]] IoDriver kind() const noexcept override { return IoDriver::epoll; }

  /// Owner thread: a socket op is tried at once and on EAGAIN waits for
  /// its fd's readiness; a file op goes to the FilePool (socket_op.cpp).
  Poll<long> start(OpRequest& q, OpSlot& slot, Context& cx) override;

  /// Any thread: adds `fd` (edge-triggered, in and out) to this set.
  Registration* add(int fd);
  /// Any thread: removes `r`; freed after the next wait on the owner thread.
  void remove(Registration* r) noexcept;

  IoStats stats;

 private:
  Poll<long> start_socket_op(OpRequest& q, Context& cx);
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

}  // namespace duet::io::detail
