#include "wheel.hpp"

#include <algorithm>
#include <bit>

namespace duet::detail {

using detail::SpinGuard;

namespace {
unsigned level_for(std::uint64_t elapsed, std::uint64_t when) noexcept {
  constexpr std::uint64_t slot_mask = TimerWheel::slots - 1;
  std::uint64_t masked = (elapsed ^ when) | slot_mask;
  unsigned significant = 63u - static_cast<unsigned>(std::countl_zero(masked));
  unsigned level = significant / TimerWheel::slot_bits;
  return level < TimerWheel::levels ? level : TimerWheel::levels - 1;
}
}  // namespace

std::uint64_t now_tick() noexcept {
  auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  return ns <= 0 ? 0 : static_cast<std::uint64_t>(ns) >> tick_shift;
}

TimerWheel::TimerWheel(std::uint64_t now) noexcept : elapsed_(now) {}

void TimerWheel::link(TimerEntry& e, std::uint64_t when) noexcept {
  unsigned level = level_for(elapsed_, when);
  unsigned slot = static_cast<unsigned>(when >> (level * slot_bits)) & (slots - 1);
  e.level = static_cast<std::uint8_t>(level);
  e.slot = static_cast<std::uint8_t>(slot);
  TimerEntry*& head = slot_[level][slot];
  e.next = head;
  e.pprev = &head;
  if (head != nullptr) head->pprev = &e.next;
  head = &e;
  occupied_[level] |= std::uint64_t{1} << slot;
}

void TimerWheel::unlink(TimerEntry& e) noexcept {
  *e.pprev = e.next;
  if (e.next != nullptr) e.next->pprev = e.pprev;
  if (slot_[e.level][e.slot] == nullptr) occupied_[e.level] &= ~(std::uint64_t{1} << e.slot);
  e.next = nullptr;
  e.pprev = nullptr;
}

bool TimerWheel::insert(TimerEntry& e, const Waker& w) {
  SpinGuard g(lock_);
  if (e.tick <= elapsed_) return false;
  e.waker = w;
  e.wheel = this;
  link(e, e.tick);
  // Relaxed: under the lock; the count is a hint for the owner.
  count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  e.state.store(TimerEntry::registered, std::memory_order_relaxed);
  return true;
}

bool TimerWheel::repoll(TimerEntry& e, const Waker& w) {
  SpinGuard g(lock_);
  // Relaxed under the lock: fire() writes it under the same lock.
  if (e.state.load(std::memory_order_relaxed) == TimerEntry::fired) return true;
  if (!e.waker.will_wake(w)) e.waker = w;
  return false;
}

void TimerWheel::cancel(TimerEntry& e) noexcept {
  Waker drop;  // dropped after the lock is released
  {
    SpinGuard g(lock_);
    if (e.state.load(std::memory_order_relaxed) != TimerEntry::registered) return;
    unlink(e);
    // Relaxed, under the lock: the count is a hint (see size()).
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    drop = std::move(e.waker);
    // Relaxed: under the wheel lock, or our own unregistered entry.
    e.state.store(TimerEntry::idle, std::memory_order_relaxed);
  }
}

std::optional<TimerWheel::Expiration> TimerWheel::next_expiration() const noexcept {
  for (unsigned level = 0; level < levels; ++level) {
    std::uint64_t occ = occupied_[level];
    if (occ == 0) continue;
    const unsigned shift = level * slot_bits;
    const auto now_slot = static_cast<unsigned>(elapsed_ >> shift) & (slots - 1);
    // The first occupied slot at or after now_slot, wrapping around.
    unsigned zeros =
        static_cast<unsigned>(std::countr_zero(std::rotr(occ, static_cast<int>(now_slot))));
    unsigned slot = (now_slot + zeros) & (slots - 1);
    const std::uint64_t slot_range = std::uint64_t{1} << shift;
    const std::uint64_t level_range = slot_range << slot_bits;
    const std::uint64_t level_start =
        level_range == 0 ? 0 : (elapsed_ & ~(level_range - 1));  // top level: 2^60 range
    std::uint64_t deadline = level_start + slot * slot_range;
    if (slot < now_slot) deadline += level_range;  // wrapped (not expected: see header)
    return Expiration{level, slot, deadline};
  }
  return std::nullopt;
}

std::size_t TimerWheel::advance(std::uint64_t now) {
  constexpr std::size_t batch = 32;
  std::size_t fired = 0;
  for (;;) {
    Waker wake[batch];
    std::size_t n = 0;
    bool finished = false;
    {
      SpinGuard g(lock_);
      while (n < batch) {
        auto exp = next_expiration();
        if (!exp || exp->deadline > now) {
          if (now > elapsed_) elapsed_ = now;
          finished = true;
          break;
        }
        elapsed_ = std::max(elapsed_, exp->deadline);
        // Take the slot's list, then fire or cascade each entry.
        TimerEntry* list = std::exchange(slot_[exp->level][exp->slot], nullptr);
        occupied_[exp->level] &= ~(std::uint64_t{1} << exp->slot);
        while (list != nullptr) {
          if (n == batch && exp->level == 0) {
            // Batch full: the rest of a level-0 slot is all due; put it back
            // in one piece (O(1)) for the next round, instead of re-linking
            // each entry (which made a crowded slot quadratic).
            slot_[0][exp->slot] = list;
            list->pprev = &slot_[0][exp->slot];
            occupied_[0] |= std::uint64_t{1} << exp->slot;
            break;
          }
          TimerEntry& e = *list;
          list = e.next;
          if (e.tick <= elapsed_ && n < batch) {
            e.next = nullptr;
            e.pprev = nullptr;
            // Relaxed, under the lock: the count is a hint (see size()).
            count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
            wake[n++] = std::move(e.waker);
            // Release: the owner may free the entry once it reads `fired`
            // (no access after this store).
            e.state.store(TimerEntry::fired, std::memory_order_release);
          } else {
            // Cascade (or, with a full batch, park it at the current tick:
            // it fires in the next round).
            link(e, std::max(e.tick, elapsed_));
          }
        }
      }
    }
    for (std::size_t i = 0; i < n; ++i) std::move(wake[i]).wake();
    fired += n;
    if (finished) return fired;
  }
}

std::optional<std::uint64_t> TimerWheel::next_deadline() {
  SpinGuard g(lock_);
  auto exp = next_expiration();
  if (!exp) return std::nullopt;
  return exp->deadline;
}

std::size_t TimerWheel::fire_due() {
  if (size() == 0) return 0;
  return advance(now_tick());
}

std::optional<std::chrono::nanoseconds> TimerWheel::park_timeout() {
  if (size() == 0) return std::nullopt;
  auto d = next_deadline();
  if (!d) return std::nullopt;
  std::uint64_t now = now_tick();
  if (*d <= now) return std::chrono::nanoseconds(0);
  // A slot's deadline is its start tick; +1 tick so the wake lands after it.
  constexpr auto max_ticks = static_cast<std::uint64_t>(max_park.count()) >> tick_shift;
  return std::chrono::nanoseconds(std::min(*d - now + 1, max_ticks) << tick_shift);
}

}  // namespace duet::detail
