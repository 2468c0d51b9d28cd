// owned_tasks.hpp: the unfinished tasks of a runtime that have parked at
// least once (a task is listed when it first parks, not at spawn), so that
// shutdown can find the tasks parked on something (they are in no queue) and
// cancel them, and so that a dump can list them. A task that runs to its end
// without parking is never listed: it is always in a queue or running.
//
// An intrusive doubly linked list per shard; the shard is chosen by the
// task's address, so two workers rarely take the same lock. Each operation is
// a handful of pointer stores under an uncontended spin lock.
#pragma once

#include "duet/export.hpp"

#include <cstdint>
#include <memory>
#include <vector>

#include "duet/detail/task_header.hpp"
#include "duet/sync/detail/spin_lock.hpp"

namespace duet::detail {

class DUET_API OwnedTasks {
 public:
  explicit OwnedTasks(unsigned shards_hint);
  void insert(TaskHeader* t) noexcept;
  void remove(TaskHeader* t) noexcept;
  /// Unlinks and returns some listed task, or null when none is left.
  TaskHeader* pop_any() noexcept;
  /// Calls f(t) for each listed task under the shard locks (for dumps).
  template <class F>
  void for_each(F&& f) {
    for (auto& s : shards_) {
      s->lock.lock();
      for (TaskHeader* t = s->head; t != nullptr; t = t->owned_next) f(t);
      s->lock.unlock();
    }
  }

 private:
  struct alignas(64) Shard {
    detail::SpinLock lock;
    TaskHeader* head = nullptr;
  };
  Shard& shard_of(TaskHeader* t) noexcept {
    return *shards_[(reinterpret_cast<std::uintptr_t>(t) >> 6) & mask_];
  }
  std::vector<std::unique_ptr<Shard>> shards_;
  std::uintptr_t mask_;
};

}  // namespace duet::detail
