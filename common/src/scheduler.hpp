// scheduler.hpp: the runtime's shared state: workers, injection queue,
// idle set, the list of live tasks, and shutdown.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "duet/config.hpp"
#include "duet/detail/task_header.hpp"
#include "idle.hpp"
#include "injector.hpp"
#include "owned_tasks.hpp"
#include "worker.hpp"

namespace duet {
class Runtime;
}

namespace duet::detail {

class Scheduler {
 public:
  Scheduler(Runtime& rt, RuntimeConfig cfg);
  ~Scheduler();

  /// A new task: list it, then queue it (locally when called on one of our
  /// workers, else through the injector).
  void submit_new(TaskHeader* t) noexcept;
  /// A woken task (it holds the queue reference): queue it.
  void schedule(TaskHeader* t) noexcept;
  /// Work became visible somewhere: wake a parked worker if nobody searches.
  void notify_parked() noexcept;
  /// Does any queue hold work? (the last searcher's re-check)
  bool has_pending_work() const noexcept;
  /// Completion bookkeeping on the thread that finished `t` (worker or
  /// shutdown): wake the joiner, unlist, drop queue and list references.
  void finish(TaskHeader* t) noexcept;

  void shutdown();
  [[nodiscard]] bool is_shutdown() const noexcept {
    return shutdown_.load(std::memory_order_acquire);
  }

  Runtime& runtime;
  const RuntimeConfig cfg;
  Injector injector;
  Idle idle;
  OwnedTasks owned;
  std::vector<std::unique_ptr<Worker>> workers;

 private:
  void cancel_everything();
  /// Wakes the joiner of a task that just became complete, or drops its
  /// outcome when nobody will join.
  void publish_completion(TaskHeader* t) noexcept;
  /// Cancels a task that is neither queued nor listed any more, on the
  /// calling thread, and drops the list reference.
  void cancel_unlisted(TaskHeader* t) noexcept;
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> stopped_{false};
};

/// The calling thread's worker, or null.
Worker* current_worker() noexcept;
void set_current_worker(Worker* w) noexcept;

}  // namespace duet::detail
