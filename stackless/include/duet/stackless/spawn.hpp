// duet/stackless/spawn.hpp: spawning a Task<T> on a runtime.
//
// Example (file):
//   duet::Task<int> answer() { co_return 42; }
//   duet::JoinHandle<int> start() { return rt.spawn(answer()); }
//
// The scheduler sees a CoroTask: the task header plus the root frame's
// handle and the outcome. Header and frame both come from the block cache.
// When the root finishes, its outcome moves into the CoroTask and the frame
// is freed at once, so a finished, unjoined task holds only its result.
#pragma once

#include <memory>
#include <stdexcept>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "duet/detail/current.hpp"
#include "duet/detail/poll_task.hpp"
#include "duet/join_handle.hpp"
#include "duet/runtime.hpp"
#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"

namespace duet {
class Runtime;

namespace detail {

template <class T>
struct CoroTask final : CoroTaskBase, TaskOps<CoroTask<T>> {
  using Handle = typename Task<T>::handle_type;

  explicit CoroTask(Handle h) noexcept : CoroTaskBase(&vtable), root(h) {
    leaf = h;
    h.promise().task = this;
  }
  ~CoroTask() {
    if (root) root.destroy();
  }

  static RunResult run(TaskHeader* th) {
    auto* self = static_cast<CoroTask*>(th);
    if (self->wait_poll != nullptr) {
      BorrowedWaker w(th);
      Context cx(w.get());
      if (!self->wait_poll(self->wait_op, cx)) return RunResult::pending;
      self->wait_poll = nullptr;
    }
    do {
      self->hop = false;
      self->leaf.resume();
    } while (self->hop);
    if (self->root.done()) {
      if constexpr (std::is_void_v<T>) {
        if (auto e = self->root.promise().out.take_exception()) {
          self->out.set_exception(std::move(e));
        } else {
          self->out.set_value();
        }
      } else {
        self->out = std::move(self->root.promise().out);
      }
      std::exchange(self->root, nullptr).destroy();
      return RunResult::complete;
    }
    return self->suspend_kind;
  }

  static void cancel(TaskHeader* th) noexcept {
    auto* self = static_cast<CoroTask*>(th);
    // Destroying the root destroys every frame of the chain (each parent
    // owns the child Task it awaits) and every awaiter in them, which
    // unregisters their waiters.
    if (self->root) std::exchange(self->root, nullptr).destroy();
    self->wait_poll = nullptr;
    self->out.set_cancelled();
  }

  static constexpr TaskVTable vtable{TaskKind::stackless,
                                     &run,
                                     &cancel,
                                     &TaskOps<CoroTask>::destroy,
                                     &TaskOps<CoroTask>::outcome,
                                     &TaskOps<CoroTask>::drop_outcome,
                                     nullptr};

  Handle root;
  Outcome<T> out;
};

}  // namespace detail

/// Spawns a stackless task. Throws std::invalid_argument for an empty Task
/// and std::bad_alloc when memory runs out.
template <class T>
JoinHandle<T> spawn_on(Runtime& rt, Task<T> task) {
  if (!task.valid()) throw std::invalid_argument("duet::spawn: empty Task");
  using CT = detail::CoroTask<T>;
  void* mem = detail::block_alloc(sizeof(CT));
  auto* t = std::construct_at(static_cast<CT*>(mem), task.release());
  detail::submit_new(detail::scheduler_of(rt), t);
  return JoinHandle<T>(t);
}

}  // namespace duet
