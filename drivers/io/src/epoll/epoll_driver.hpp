// epoll_driver.hpp: the epoll backend's state: EpollDriver (one epoll set
// per worker) and Registration (an fd's readiness in it), with the waiter
// lists of a registration. Private to drivers/io/src/epoll and the factory.
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
#include "duet/io/detail/backend.hpp"
#include "duet/io/detail/io_op.hpp"
#include "duet/io/fd.hpp"
#include "duet/io/stats.hpp"

namespace duet::io::detail {

class EpollDriver;
struct Registration;

/// What the registrations of one epoll set point at: the epoll fd, its
/// driver while it lives, and the waiters that do not fit a registration.
/// Counted (the driver's reference and one per registration), so a socket
/// closed after its runtime finds `driver` null instead of a freed driver,
/// and the driver keeps no list of its registrations.
///
/// The set owns the epoll fd, closed with the last reference: a close
/// removes its socket from the set (epoll_ctl DEL, before the socket's fd
/// closes) without the lock, as its registration holds the set and so
/// keeps the fd open and its number this set's, whether or not the driver
/// is gone (tests/drivers/epoll_set_explorer_test.cpp).
struct EpollSet {
  struct Overflow {
    Registration* reg;
    const OpSlot* owner;  // the future whose waker this is (OpSlot::wait_in)
    bool wr;
    Waker waker;
  };
  Fd ep;  // set before the set is shared; closed when the set is freed
  std::mutex mu;
  EpollDriver* driver = nullptr;  // under mu; null once the driver is gone
  // The waiters beyond a side's first (rare: several tasks on one side of
  // one fd), under mu, added and taken under the registration's lock too.
  std::vector<Overflow> overflow;
  std::atomic<std::size_t> refs{1};
};

/// An fd's readiness state in one epoll set. Owned by the Source until it
/// closes, then by the driver (freed after the next epoll_wait batch, so a
/// batch already fetched never points at freed memory).
///
/// One 64-byte block (every socket that ever waited holds one: an idle
/// connection's memory): the waiters beyond the first of a side live in
/// the set's overflow list.
struct Registration {
  OpLock lock;
  // Set for good by an event that says a short read may not have emptied
  // the stream: the peer's FIN or an error (a read stops short before
  // them, and their edge may have come before that read), urgent data (a
  // TCP read stops short at its mark). Written before the epoch's release.
  std::atomic<bool> rd_final{false};
  // Under lock: the sides (kRdMore, kWrMore) with waiters in the set's
  // overflow list.
  std::uint8_t more = 0;
  // Under lock: its driver let it go while OpSlots still pointed here; the
  // last of them frees it (drop_registration).
  bool retired = false;
  int fd = -1;
  // Bumped on every readiness event (under lock); read before a syscall and
  // compared after EAGAIN so an event in between is never lost. 32 bits:
  // the compare spans one syscall, not 2^32 events.
  std::atomic<std::uint32_t> rd_epoch{0};
  std::atomic<std::uint32_t> wr_epoch{0};
  // A stream read that came back short (fewer bytes than asked) emptied the
  // socket: rd_epoch as loaded before its syscall, plus one (0: none; the
  // one wrap to 0 costs a syscall). A later read that finds rd_epoch still
  // there waits for the next edge instead of making a syscall that would
  // find EAGAIN (socket_op.cpp). Relaxed: a stream has one reader at a
  // time, whose reads are ordered.
  std::atomic<std::uint32_t> rd_drained{0};
  // Under lock: the OpSlots that point here (OpSlot::wait_in). Each holds
  // the registration alive, even past its socket's close, so that a
  // dropped future can take its waker back.
  std::uint32_t slots = 0;
  // The first waiter of each side, guarded by lock. More futures waiting
  // on one side at once (two accepts on one listener) go to the set's
  // overflow list, one entry each. An event takes them all (and bumps the
  // side's epoch); the losers of the race for the descriptor find EAGAIN
  // and wait again. Every entry is its future's own: the future takes it
  // back when it is dropped or done (withdraw_registration), so no waker
  // outlives its future.
  Waker rd_waker;
  Waker wr_waker;
  EpollSet* set = nullptr;  // set once, by the driver's add; holds a reference

  static constexpr std::uint8_t kRdMore = 1, kWrMore = 2;
};
static_assert(sizeof(Registration) <= 64, "one block per socket: an idle connection's memory");

/// Under r.lock, with r's side epoch at `seq`: the future of `slot` waits
/// on one side of `r` with `w`, replacing its own earlier entry there.
/// The side's first waiter takes the registration's slot; others go to the
/// set's overflow list.
void wait_in_registration(Registration& r, bool wr, std::uint32_t seq, const Waker& w, OpSlot& slot,
                          Waker& gone);
/// Destroys and frees `r` (no driver holds it) and drops its reference on
/// its set.
void free_registration(Registration* r) noexcept;
/// No driver holds `r` any more: frees it now, or leaves it to the last
/// OpSlot that points at it.
void drop_registration(Registration* r) noexcept;
/// Drops a reference on `s`; the last frees it.
void set_unref(EpollSet* s) noexcept;

class EpollDriver final : public IoBackend {
 public:
  explicit EpollDriver(unsigned index);
  ~EpollDriver() override;
  std::size_t poll(std::size_t max_events) override;
  void park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) override;
  void unpark() noexcept override;
  [[nodiscard]] IoDriver kind() const noexcept override { return IoDriver::epoll; }

  /// Owner thread: a socket op is tried at once and on EAGAIN waits for
  /// its fd's readiness; a file op goes to the blocking pool (socket_op.cpp).
  Poll<long> start(OpRequest& q, OpSlot& slot, Context& cx) override;

  /// Any thread: adds `fd` (edge-triggered, in and out) to this set.
  Registration* add(int fd);
  /// Any thread, under r->set->mu while this driver is the set's, `r`
  /// already removed from the epoll fd: freed after the next wait on the
  /// owner thread (a batch fetched before the removal may still name it).
  void retire(Registration* r) noexcept;

  DriverCounters stats;

 private:
  Poll<long> start_socket_op(OpRequest& q, OpSlot& slot, Context& cx);
  std::size_t wait(int timeout_ms, std::size_t max_events);
  void free_retired() noexcept;
  /// Moves r's overflow waiters of `sides` (Registration::kRdMore,
  /// kWrMore) into more_wake_, under set_->mu (wake or drop them after it).
  void take_overflow(Registration* r, std::uint8_t sides);
  Fd wake_fd_;
  duet::detail::ParkToken park_;        // the sleep handshake; the wake is an eventfd write
  EpollSet* set_ = nullptr;             // the driver's reference
  std::vector<Registration*> retired_;  // removed, guarded by set_->mu
  std::vector<Registration*> freeing_;  // owner thread: the batch free_retired frees
  std::atomic<bool> has_retired_{false};
  std::vector<Waker> more_wake_;  // owner thread: overflow waiters of one event
  std::vector<epoll_event> events_;
};

}  // namespace duet::io::detail
