// duet/detail/poll_task.hpp: a poll future spawned as a task of its own.
// Header, future and outcome share one block: no separate frame.
#pragma once

#include <memory>
#include <new>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/task_header.hpp"
#include "duet/outcome.hpp"
#include "duet/poll.hpp"

namespace duet::detail {

/// Shared vtable entries of typed tasks: `Self` has a member `out` of type
/// Outcome<T> and is allocated with block_alloc(sizeof(Self)).
template <class Self>
struct TaskOps {
  static void destroy(TaskHeader* h) noexcept {
    auto* self = static_cast<Self*>(h);
    self->~Self();
    block_free(self, sizeof(Self));
  }
  static void* outcome(TaskHeader* h) noexcept { return &static_cast<Self*>(h)->out; }
  static void drop_outcome(TaskHeader* h) noexcept {
    auto& out = static_cast<Self*>(h)->out;
    if (out.has_exception()) [[unlikely]]
      report_detached_exception(h, out.exception());
    out.reset();
  }
};

template <Future F>
struct PollTask final : TaskHeader, TaskOps<PollTask<F>> {
  using T = future_output_t<F>;

  explicit PollTask(F&& f) : TaskHeader(&vtable) { std::construct_at(&fut, std::move(f)); }
  ~PollTask() { destroy_future(); }

  void destroy_future() noexcept {
    if (live) {
      live = false;
      std::destroy_at(&fut);
    }
  }

  static RunResult run(TaskHeader* h) {
    auto* self = static_cast<PollTask*>(h);
    BorrowedWaker w(h);
    Context cx(w.get());
    if (!self->out.capture_poll(self->fut, cx)) return RunResult::pending;
    self->destroy_future();
    return RunResult::complete;
  }
  static void cancel(TaskHeader* h) noexcept {
    auto* self = static_cast<PollTask*>(h);
    self->destroy_future();
    self->out.set_cancelled();
  }

  static constexpr TaskVTable vtable{TaskKind::poll,
                                     &run,
                                     &cancel,
                                     &TaskOps<PollTask>::destroy,
                                     &TaskOps<PollTask>::outcome,
                                     &TaskOps<PollTask>::drop_outcome,
                                     nullptr};

  union {
    F fut;
  };
  bool live = true;
  Outcome<T> out;
};

}  // namespace duet::detail
