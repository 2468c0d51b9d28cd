// run_sampler.hpp: a worker's sampling for its histograms
// (duet/histogram.hpp, RuntimeConfig::histogram_sample_every): which runs
// it times, which wake-ups it stamps, and the recording of both.
//
// Runs. With histograms on, the first run of each scheduler tick (every
// RuntimeConfig::tick_budget runs, where the loop already does its
// maintenance) is timed: the slice opens when the loop has picked the
// task, and the loop's budget is set to 1, so that the run ends at the
// worker loop (no fiber hand-off, no child run inside its joiner's poll:
// each of them asks for budget) and the loop's next pick, a tick end at
// budget 0, closes it and gives the tick back its budget less that run.
// A run that is not timed pays nothing for it.
//
// Wake-ups. Every `every`-th task a worker queues (a wake or a spawn, not
// a yield) is stamped: the cycle clock (histogram/cycle_clock.hpp), tagged
// by the top bit, is stored in the task header's `next` before the push
// that publishes the task. A queued task's `next` is free until the
// injector links it (a stamp lost with the overflow of a full ring, not
// recorded); a parked one's holds its ParkStamp, whose top bit is clear, as
// are a link's and a fresh task's. Every run start tests the bit, and a
// stamp found is recorded as the scheduling delay (by the worker that runs
// the task) and cleared, so no later run of the task reads it.
//
// Off (`every` 0): the wake countdown stands at its maximum and is reset
// there whenever it runs out, and no stamp is ever written. What that
// leaves on the fast path: a decrement and a branch per queued task and
// the stamp's bit test per run start (docs/performance-log.md, "Run-time
// and scheduling-delay histograms").
#pragma once

#include <bit>
#include <cstdint>
#include <limits>

#include "duet/detail/task_header.hpp"
#include "duet/histogram.hpp"
#include "histogram/cells.hpp"
#include "histogram/cycle_clock.hpp"

namespace duet::detail {

/// What a worker's sampling records: kept apart from RunSampler's few hot
/// words (the worker's end), so that those share the loop's cache lines.
struct SampledHistograms {
  HistogramCells run_time, delay, fiber_stack;
};

class RunSampler {
 public:
  RunSampler(std::uint32_t every, SampledHistograms& cells) noexcept
      : every_(every), wake_countdown_(reset_value()), cells_(cells) {
    if (every_ != 0) start_cycle_clock();
  }

  [[nodiscard]] bool on() const noexcept { return every_ != 0; }

  // ---- runs: the worker loop's tick (worker.cpp, next_task) ----------------
  /// A tick's first run is about to start with `budget` runs left in the
  /// tick: the slice opens, and the budget the loop keeps meanwhile is 1.
  [[nodiscard]] std::uint32_t open_slice(std::uint32_t budget) noexcept {
    saved_budget_ = budget;
    slice_start_ = read_cycles() | 1;  // nonzero: open
    return 1;
  }
  [[nodiscard]] bool slice_open() const noexcept { return slice_start_ != 0; }
  /// The loop asks for its next task: the open slice ends, and the tick
  /// goes on with the budget it had less the timed run.
  [[nodiscard]] std::uint32_t close_slice() noexcept {
    const std::uint64_t now = read_cycles();
    cells_.run_time.record(now > slice_start_ ? now - slice_start_ : 0);
    slice_start_ = 0;
    return saved_budget_ - 1;
  }

  // ---- wake-ups ------------------------------------------------------------
  /// This worker is about to queue `t` (a wake or a spawn): before the push
  /// that publishes it, so that the stamp is published with it.
  [[gnu::always_inline]] void queuing(TaskHeader* t) noexcept {
    if (--wake_countdown_ == 0) [[unlikely]] {
      wake_countdown_ = reset_value();
      if (every_ != 0) t->next = std::bit_cast<TaskHeader*>(read_cycles() | stamp_tag);
    }
  }
  /// A run of `t` starts on this worker (`t` is running: its header is ours).
  [[gnu::always_inline]] void run_started(TaskHeader* t) noexcept {
    if ((std::bit_cast<std::uint64_t>(t->next) & stamp_tag) != 0) [[unlikely]]
      take_stamp(t);
  }

  /// A measured fiber's stack high-water mark, recorded by the worker it
  /// finished on.
  void fiber_stack(std::uint64_t bytes) noexcept { cells_.fiber_stack.record(bytes); }

  [[nodiscard]] WorkerHistograms snapshot(double seconds_per_cycle) const noexcept {
    WorkerHistograms h;
    h.run_time = cells_.run_time.snapshot(seconds_per_cycle);
    h.scheduling_delay = cells_.delay.snapshot(seconds_per_cycle);
    h.fiber_stack = cells_.fiber_stack.snapshot(1.0);
    h.sample_every = every_;
    return h;
  }

 private:
  static constexpr std::uint64_t stamp_tag = std::uint64_t{1} << 63;

  [[nodiscard]] std::uint32_t reset_value() const noexcept {
    return every_ != 0 ? every_ : std::numeric_limits<std::uint32_t>::max();
  }
  [[gnu::noinline]] void take_stamp(TaskHeader* t) noexcept {
    const std::uint64_t now = read_cycles();
    const std::uint64_t at = std::bit_cast<std::uint64_t>(t->next) & ~stamp_tag;
    t->next = nullptr;
    cells_.delay.record(now > at ? now - at : 0);
  }

  const std::uint32_t every_;
  std::uint32_t wake_countdown_;
  std::uint32_t saved_budget_ = 0;  // the tick's budget when the slice opened
  std::uint64_t slice_start_ = 0;   // cycle clock | 1 while a slice is open, else 0
  SampledHistograms& cells_;
};

}  // namespace duet::detail
