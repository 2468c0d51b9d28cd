// duet/time/interval.hpp: a periodic tick with Tokio's missed-tick policies.
//
// Example (coroutine):
//   auto iv = duet::interval(100ms);               // the first tick is at once
//   for (int i = 0; i < 10; ++i) {
//     duet::Instant at = co_await iv.tick();       // duet::wait(iv.tick()) in a fiber
//     use(at);
//   }
//
// The schedule is start, start + period, start + 2 period, ... tick()
// completes at the next scheduled instant and returns that instant (not the
// time it was taken). A tick is *missed* when the next one is already due
// when it is taken (now >= its instant + period: the owner was busy for a
// whole period or more); MissedTickBehavior then says what comes next.
// With burst (Tokio's default) the schedule stays: the missed ticks
// complete at once, one per tick(), until it has caught up. With delay the
// schedule restarts one period after now. With skip the missed instants are
// dropped: the next tick is the first instant of the original schedule
// after now.
// A tick taken late by less than a period changes nothing.
//
// A period of zero or less throws std::invalid_argument: a zero period
// would make every tick due at once forever (Tokio panics on it too). A
// period too large for the clock saturates (duet/time/clock.hpp,
// deadline_after): the first tick comes, and no other.
//
// An Interval holds a Sleep: it must not be moved once a tick() has been
// polled (as a Sleep). tick() borrows the Interval; keep the Interval alive
// while its tick is awaited or spawned.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "duet/names.hpp"
#include "duet/poll.hpp"
#include "duet/time/sleep.hpp"

namespace duet {

enum class MissedTickBehavior : unsigned char { burst, delay, skip };
constexpr std::array<MissedTickBehavior, 3> enum_values(MissedTickBehavior) noexcept {
  return {MissedTickBehavior::burst, MissedTickBehavior::delay, MissedTickBehavior::skip};
}
/// "burst", "delay", "skip" (duet/names.hpp).
constexpr std::string_view to_string(MissedTickBehavior b) noexcept {
  switch (b) {
    case MissedTickBehavior::burst:
      return "burst";
    case MissedTickBehavior::delay:
      return "delay";
    case MissedTickBehavior::skip:
      return "skip";
  }
  return "?";
}

class Interval;

/// The poll future of one tick (Output: the tick's scheduled instant).
class [[nodiscard]] IntervalTick {
 public:
  explicit IntervalTick(Interval& iv) noexcept : iv_(&iv) {}
  Poll<Instant> poll(Context& cx);

 private:
  Interval* iv_;
};

class Interval {
 public:
  Interval(Instant start, Clock::duration period,
           MissedTickBehavior behavior = MissedTickBehavior::burst)
      : period_(period), behavior_(behavior) {
    if (period.count() <= 0) {
      throw std::invalid_argument("duet::interval: the period must be positive");
    }
    sleep_.emplace(start);
  }

  /// The next tick, as a poll future (co_await it, duet::wait it, spawn it).
  IntervalTick tick() noexcept { return IntervalTick(*this); }

  /// Ready with the tick's scheduled instant once it is due.
  Poll<Instant> poll_tick(Context& cx) {
    if (sleep_->poll(cx).is_pending()) return pending;
    const Instant due = sleep_->deadline();
    rearm(next_after(due, Clock::now()));
    return due;
  }

  /// Restarts the schedule: the next tick is one period from now.
  void reset() { rearm(deadline_after(period_)); }

  [[nodiscard]] Clock::duration period() const noexcept { return period_; }
  [[nodiscard]] MissedTickBehavior missed_tick_behavior() const noexcept { return behavior_; }
  void set_missed_tick_behavior(MissedTickBehavior b) noexcept { behavior_ = b; }

 private:
  /// The instant after the tick due at `due`, taken at `now`.
  [[nodiscard]] Instant next_after(Instant due, Instant now) const noexcept {
    const Instant next = saturating_add(due, period_);
    if (now < next) return next;  // on time (or late by less than a period)
    switch (behavior_) {
      case MissedTickBehavior::burst:
        return next;
      case MissedTickBehavior::delay:
        return saturating_add(now, period_);
      case MissedTickBehavior::skip:
        return saturating_add(now, period_ - (now - due) % period_);
    }
    return next;
  }
  void rearm(Instant next) {
    sleep_.reset();  // withdraws a registered timer
    sleep_.emplace(next);
  }

  Clock::duration period_;
  MissedTickBehavior behavior_;
  std::optional<Sleep> sleep_;
};

inline Poll<Instant> IntervalTick::poll(Context& cx) {
  return iv_->poll_tick(cx);
}

/// Ticks at `start`, `start + period`, ...
template <class Rep, class Period>
Interval interval_at(Instant start, std::chrono::duration<Rep, Period> period,
                     MissedTickBehavior behavior = MissedTickBehavior::burst) {
  return Interval(start, saturating_duration(period), behavior);
}
/// Ticks now (the first tick completes at once), then every `period`.
template <class Rep, class Period>
Interval interval(std::chrono::duration<Rep, Period> period,
                  MissedTickBehavior behavior = MissedTickBehavior::burst) {
  return interval_at(Clock::now(), period, behavior);
}

}  // namespace duet
