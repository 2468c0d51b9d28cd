// duet/detail/driver.hpp: what a worker sleeps in.
//
// Each worker owns one Driver. With nothing to run, the worker parks in it;
// the driver returns when another thread unparks it (a spawn or wake that
// needs this worker), when an I/O event completes, or when the timeout (the
// worker's next timer deadline) passes. Every tick the worker also polls it
// without blocking, so completions are reaped while the worker is busy.
//
// Backends: `none`, a bare futex for a runtime without I/O (here, in
// common/src/driver/), and io_uring and epoll (each worker its own ring or
// epoll set, woken through an eventfd), which live in duet::drivers: the
// core knows them only through this interface and the factory below, so
// common/ depends on nothing of ours and a program that does no I/O links
// neither duet::drivers nor liburing. The no-lost-wake-up rule: an unpark()
// before park() makes that park() return at once.
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>

#include "duet/config.hpp"
#include "duet/memory.hpp"

namespace duet::detail {

class Driver {
 public:
  virtual ~Driver() = default;
  /// Submits what is queued and reaps at most `max_events` completions or
  /// readiness events (waking the tasks waiting on them) without blocking.
  /// Returns the number of events handled. The rest stay queued in the
  /// kernel (CQ ring, epoll ready list), in order, for the next call: the
  /// worker passes the room left in its run queue, so a burst of events
  /// never spills into the injector, where the woken tasks would wait
  /// behind the whole local queue (tail latency with many connections).
  virtual std::size_t poll(std::size_t max_events) = 0;
  /// Sleeps until unpark(), an event, or `timeout`; then reaps like poll().
  virtual void park(std::optional<std::chrono::nanoseconds> timeout, std::size_t max_events) = 0;
  /// Any thread: makes the current or the next park() return.
  virtual void unpark() noexcept = 0;
  /// Which backend this is.
  [[nodiscard]] virtual IoDriver kind() const noexcept = 0;
  /// The worker thread, before its first poll: the thread that owns this
  /// driver from now on (io_uring: enables a ring set up SINGLE_ISSUER).
  virtual void on_worker_start() {}
  /// The worker thread, after shutdown cancelled every task: cancels what
  /// is still in flight and waits for it, so that nothing in the kernel
  /// refers to duet's memory once the thread is gone.
  virtual void on_worker_stop() {}
  /// What the driver has mapped (Runtime::memory_stats()). Fixed once the driver
  /// is set up, so any thread may ask.
  [[nodiscard]] virtual DriverMemory memory() const noexcept { return {}; }
};

/// The driver of the worker the calling thread is (null off the runtime).
/// Out of line: a fiber may move between workers between two calls.
DUET_API Driver* current_driver() noexcept;

/// The I/O backends' factory: the driver for worker `index` as cfg.io_driver
/// (and the DUET_DRIVER environment variable) choose it, or null for
/// IoDriver::none. duet::drivers defines duet_io_driver_factory
/// (drivers/io/src/io_driver_factory.cpp); the core declares it weak, so it is null
/// in a program that does not link duet::drivers, whose link interface names
/// the symbol (--undefined) so that a static link always extracts it.
using IoDriverFactory = std::unique_ptr<Driver> (*)(const RuntimeConfig& cfg, unsigned index);

/// True when an I/O backend is linked (duet::drivers).
DUET_API bool io_drivers_linked() noexcept;

/// The driver for worker `index`: the I/O backends' choice when they are
/// linked, else (and for IoDriver::none) the futex driver. Throws
/// std::invalid_argument when cfg.io_driver names io_uring or epoll and
/// duet::drivers is not linked.
DUET_API std::unique_ptr<Driver> make_driver(const RuntimeConfig& cfg, unsigned index);
DUET_API std::unique_ptr<Driver> make_futex_driver();

}  // namespace duet::detail
