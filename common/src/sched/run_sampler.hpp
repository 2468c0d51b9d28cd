// run_sampler.hpp: a worker's sampling for its histograms
// (duet/histogram.hpp, RuntimeConfig::histogram_sample_every): which runs
// it times, which wake-ups it stamps, and the recording of both.
//
// Runs. Every `every`-th run start opens a slice: the cycle clock is read
// (histogram/cycle_clock.hpp). The slice closes at the worker's next run
// boundary: the next run start (a fiber's hand-off, a yield that goes on,
// a child run inside its joiner's poll) or a return to the worker loop (or
// from such a child run), whichever comes first. One countdown decides
// both: while a slice is open it stands at 1, so the next run start closes
// it; the close sets it to the starts left until the next timed run. With
// `every` 1 each run is timed, and once the workers are idle the run-time
// count equals WorkerStats::polls.
//
// Wake-ups. Every `every`-th task a worker queues (a wake or a spawn, not
// a yield) is stamped: the cycle clock, tagged by the top bit, is stored in
// the task header's `next` before the push that publishes the task. A queued
// task's `next` is free until the injector links it (a stamp lost with the
// overflow of a full ring, not recorded); a parked one's holds its
// ParkStamp, whose top bit is clear, as are a link's and a fresh task's.
// Every run start tests the bit, and a stamp found is recorded as the
// scheduling delay (by the worker that runs the task) and cleared, so no
// later run of the task reads it.
//
// Off (`every` 0): both countdowns stand at their maximum and are reset
// there whenever they run out; no stamp is ever written. What that leaves
// on the hot path: a decrement and a branch per run start and per queued
// task, the stamp's bit test per run start, and a test of the open slice
// per return (docs/performance-log.md, "Run-time and scheduling-delay
// histograms").
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
      : every_(every),
        run_countdown_(reset_value()),
        wake_countdown_(reset_value()),
        cells_(cells) {
    if (every_ != 0) start_cycle_clock();
  }

  /// A run of `t` starts on this worker (`t` is running: its header is ours).
  [[gnu::always_inline]] void run_started(TaskHeader* t) noexcept {
    if (--run_countdown_ == 0) [[unlikely]]
      due_run();
    if ((std::bit_cast<std::uint64_t>(t->next) & stamp_tag) != 0) [[unlikely]]
      take_stamp(t);
  }
  /// The worker loop got control back, or a child run inside its joiner's
  /// poll ended: an open slice closes.
  [[gnu::always_inline]] void runs_returned() noexcept {
    if (slice_start_ != 0) [[unlikely]]
      close_slice(read_cycles());
  }
  /// This worker is about to queue `t` (a wake or a spawn): before the push
  /// that publishes it, so that the stamp is published with it.
  [[gnu::always_inline]] void queuing(TaskHeader* t) noexcept {
    if (--wake_countdown_ == 0) [[unlikely]]
      due_wake(t);
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
  [[nodiscard]] bool on() const noexcept { return every_ != 0; }

 private:
  static constexpr std::uint64_t stamp_tag = std::uint64_t{1} << 63;

  [[nodiscard]] std::uint32_t reset_value() const noexcept {
    return every_ != 0 ? every_ : std::numeric_limits<std::uint32_t>::max();
  }
  [[gnu::noinline]] void due_run() noexcept {
    if (every_ == 0) {
      run_countdown_ = reset_value();
      return;
    }
    const std::uint64_t now = read_cycles();
    if (slice_start_ != 0) {
      // A boundary inside the worker's turn (a hand-off, a yield that goes
      // on, a child run in its joiner's poll): the open slice ends here,
      // and this run is one of the `every` - 1 that follow it.
      record_slice(now);
      if (every_ > 1) {
        run_countdown_ = every_ - 1;
        return;
      }
    }
    slice_start_ = now | 1;  // nonzero: open
    run_countdown_ = 1;
  }
  /// A return to the loop: the open slice ends, and the next run to time is
  /// `every` starts on from the one that opened it.
  [[gnu::noinline]] void close_slice(std::uint64_t now) noexcept {
    record_slice(now);
    run_countdown_ = every_;
  }
  void record_slice(std::uint64_t now) noexcept {
    cells_.run_time.record(now > slice_start_ ? now - slice_start_ : 0);
    slice_start_ = 0;
  }
  [[gnu::noinline]] void due_wake(TaskHeader* t) noexcept {
    wake_countdown_ = reset_value();
    if (every_ == 0) return;
    t->next = std::bit_cast<TaskHeader*>(read_cycles() | stamp_tag);
  }
  [[gnu::noinline]] void take_stamp(TaskHeader* t) noexcept {
    const std::uint64_t now = read_cycles();
    const std::uint64_t at = std::bit_cast<std::uint64_t>(t->next) & ~stamp_tag;
    t->next = nullptr;
    cells_.delay.record(now > at ? now - at : 0);
  }

  const std::uint32_t every_;
  std::uint32_t run_countdown_;
  std::uint32_t wake_countdown_;
  std::uint64_t slice_start_ = 0;  // cycle clock | 1 while a slice is open, else 0
  SampledHistograms& cells_;
};

}  // namespace duet::detail
