// duet/sync/rwlock.hpp: a readers-writer lock, FIFO-fair (a waiting writer
// holds back readers that come after it, so writers do not starve).
//
// Example (coroutine):
//   duet::RwLock rw;
//   { auto r = co_await rw.read(); /* ... */ }   // shared
//   { auto w = co_await rw.write(); /* ... */ }  // exclusive
//   if (auto r = rw.try_read()) { /* ... */ }    // tier 1
//
// A Semaphore with max_readers permits: a reader takes one, a writer all.
#pragma once

#include <cstddef>
#include <utility>

#include "duet/poll.hpp"
#include "duet/sync/semaphore.hpp"

namespace duet {

class RwLock {
 public:
  /// Concurrent readers at most (a writer takes them all).
  static constexpr std::size_t max_readers = std::size_t{1} << 30;

  RwLock() noexcept = default;
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  template <std::size_t N>
  class [[nodiscard]] Guard {
   public:
    Guard() noexcept = default;
    explicit Guard(RwLock* l) noexcept : l_(l) {}
    Guard(Guard&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    Guard& operator=(Guard&& o) noexcept {
      if (this != &o) {
        unlock();
        l_ = std::exchange(o.l_, nullptr);
      }
      return *this;
    }
    ~Guard() { unlock(); }
    void unlock() noexcept {
      if (l_ != nullptr) std::exchange(l_, nullptr)->sem_.release(N);
    }
    explicit operator bool() const noexcept { return l_ != nullptr; }

   private:
    RwLock* l_ = nullptr;
  };
  using ReadGuard = Guard<1>;
  using WriteGuard = Guard<max_readers>;

  template <std::size_t N>
  class [[nodiscard]] Op {
   public:
    explicit Op(RwLock* l) noexcept : l_(l), a_(&l->sem_, N) {}
    Poll<Guard<N>> poll(Context& cx) {
      if (a_.poll(cx).is_pending()) return pending;
      return Guard<N>(l_);
    }

   private:
    RwLock* l_;
    Semaphore::Acquire a_;
  };

  ReadGuard try_read() noexcept { return sem_.try_acquire(1) ? ReadGuard(this) : ReadGuard(); }
  WriteGuard try_write() noexcept {
    return sem_.try_acquire(max_readers) ? WriteGuard(this) : WriteGuard();
  }
  Op<1> read() noexcept { return Op<1>(this); }
  Op<max_readers> write() noexcept { return Op<max_readers>(this); }

 private:
  Semaphore sem_{max_readers};
};

}  // namespace duet
