// duet/stackless/task_local.hpp: a task-local scope around a coroutine
// (duet/task_local.hpp has the rules).
//
// Example (coroutine):
//   static duet::TaskLocal<int> request_id;
//   auto handle = [](int n) -> duet::Task<int> {
//     co_await duet::yield_now();      // may move to another worker
//     co_return request_id.get() + n;  // still the value bound below
//   };
//   int v = co_await duet::local_scope(request_id, 42, handle(1));   // 43
//   use(v);
//
// local_scope(key, value, inner) is a Task that opens a scope of `key` with
// `value` in the task that awaits (or spawns) it, runs `inner` to its end in
// that task, then closes the scope, also when `inner` throws or the task is
// cancelled (its frame is destroyed). `inner`'s frame (its locals and its
// by-value parameters) is destroyed inside the scope, whichever way it ends:
// their destructors see the value.
#pragma once

#include <type_traits>
#include <utility>

#include "duet/stackless/task.hpp"
#include "duet/task_local.hpp"

namespace duet {

template <class T, class R>
Task<R> local_scope(const TaskLocal<T>& key, T value, Task<R> inner) {
  typename TaskLocal<T>::Scope scope(key, std::move(value));
  // A local declared after the scope, so destroyed before it (at the end,
  // or when this frame is destroyed by a cancellation); the parameter
  // `inner` would outlive the scope.
  Task<R> body = std::move(inner);
  if constexpr (std::is_void_v<R>) {
    co_await std::move(body);
  } else {
    co_return co_await std::move(body);
  }
}

}  // namespace duet
