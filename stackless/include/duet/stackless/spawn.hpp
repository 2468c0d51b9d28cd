// duet/stackless/spawn.hpp: spawning a Task<T> on a runtime.
//
// Example (file):
//   duet::Task<int> answer() { co_return 42; }
//   duet::JoinHandle<int> start() { return rt.spawn(answer()); }
//
// The scheduler sees a CoroTask (coro_task.hpp): the task header, built in
// the room every Task frame has in front of it (frame.hpp), so a spawn
// allocates nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
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

/// Spawns a stackless task, handed to the scheduler by `submit`
/// (detail::SubmitAnywhere, or SubmitPinned: duet::pinned). Throws
/// std::invalid_argument for an empty Task and std::bad_alloc when memory
/// runs out.
template <class Submit, class T>
JoinHandle<T> spawn_via(Submit submit, Runtime& rt, Task<T> task) {
  if (!task.valid()) throw std::invalid_argument("duet::spawn: empty Task");
  using CT = detail::CoroTask<T>;
  typename Task<T>::handle_type h = task.release();
  void* head = static_cast<std::byte*>(h.address()) - detail::frame_head;
  auto* t = std::construct_at(static_cast<CT*>(head), h);
  submit(detail::scheduler_of(rt), t);
  return JoinHandle<T>(t);
}

/// Spawns a stackless task.
template <class T>
JoinHandle<T> spawn_on(Runtime& rt, Task<T> task) {
  return spawn_via(detail::SubmitAnywhere{}, rt, std::move(task));
}

}  // namespace duet
