// duet/detail/park_token.hpp: the no-lost-wake-up handshake between a thread
// that sleeps and the threads that wake it, written once. The core's Parker
// (a futex) and the io_uring and epoll drivers (an eventfd) sleep through it;
// each supplies only the sleep and the wake.
//
//   sleeper                                 waker (any thread)
//   -------                                 ------------------
//   if (!token.prepare_park()) return;      publish work (a queued task)
//   sleep (futex_wait on word() while       if (token.unpark())
//     it reads `parked`, or a ring/epoll      wake the sleeper (futex_wake,
//     wait that the wake interrupts)            an eventfd write)
//   token.finish_park();
//
// An unpark before prepare_park leaves a token that makes prepare_park
// return false (do not sleep); an unpark after it finds `parked` and asks
// the caller to wake. Only the sleeper sets `parked`, and it always leaves
// the word `empty` or `notified`, so a park starts from one of those two.
//
// Orders: unpark is a release exchange and every consumption of a token an
// acquire RMW, so the sleeper sees the work published before each unpark
// whose token it took. A token is consumed with an exchange, never a plain
// store: a second unpark that lands between a failed prepare and the
// consumption is taken with acquire too, not overwritten (a store would drop
// its token without synchronizing with its work).
//
// Templated over the atomic so that tests/common/park_token_test.cpp
// can run it under the interleaving explorer; duet uses ParkToken.
#pragma once

#include <atomic>
#include <cstdint>

namespace duet::detail {

template <class Atomic>
class BasicParkToken {
 public:
  static constexpr std::uint32_t empty = 0, parked = 1, notified = 2;

  /// The sleeper, before it sleeps. True: the word is now `parked` and the
  /// caller must sleep (an unpark from now on wakes it). False: a token was
  /// waiting and is consumed; do not sleep.
  [[nodiscard]] bool prepare_park() noexcept {
    std::uint32_t seen = empty;
    // Acquire on failure: the token's unparker published work before it.
    if (word_.compare_exchange_strong(seen, parked, std::memory_order_acquire)) return true;
    word_.exchange(empty, std::memory_order_acquire);
    return false;
  }
  /// The sleeper, woken with the word possibly still `parked` (a futex may
  /// wake spuriously): true when a token arrived and is now consumed.
  [[nodiscard]] bool take_token() noexcept {
    std::uint32_t seen = notified;
    return word_.compare_exchange_strong(seen, empty, std::memory_order_acquire);
  }
  /// The sleeper, after the sleep, whatever ended it (a wake, a timeout, an
  /// I/O event): back to `empty`; a token that arrived is consumed, not lost
  /// (the caller goes on to look for work anyway).
  void finish_park() noexcept { word_.exchange(empty, std::memory_order_acquire); }
  /// Any thread: leaves a token. True when the sleeper is parked and the
  /// caller must wake it.
  [[nodiscard]] bool unpark() noexcept {
    // Release: publish the caller's writes (the task it queued) to the
    // sleeper, which consumes the token with acquire.
    return word_.exchange(notified, std::memory_order_release) == parked;
  }
  /// The word itself: a futex sleeps on it while it reads `parked`.
  Atomic& word() noexcept { return word_; }

 private:
  Atomic word_{empty};
};

using ParkToken = BasicParkToken<std::atomic<std::uint32_t>>;

}  // namespace duet::detail
