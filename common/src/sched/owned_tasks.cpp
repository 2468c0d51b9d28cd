#include "owned_tasks.hpp"

#include <bit>
#include <cassert>

namespace duet::detail {

OwnedTasks::OwnedTasks(unsigned shards_hint) {
  auto n = std::bit_ceil(shards_hint < 1 ? 1u : shards_hint);
  shards_.reserve(n);
  for (unsigned i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
  mask_ = n - 1;
}

void OwnedTasks::insert(TaskHeader* t) noexcept {
  Shard& s = shard_of(t);
  s.lock.lock();
  t->owned_prev = nullptr;
  t->owned_next = s.head;
  if (s.head != nullptr) s.head->owned_prev = t;
  s.head = t;
  s.lock.unlock();
}

void OwnedTasks::remove(TaskHeader* t) noexcept {
  Shard& s = shard_of(t);
  s.lock.lock();
  // Removing a task twice would cut the shard's list: a bug, caught here.
  assert(t->owned_prev != nullptr || s.head == t);
  if (t->owned_prev != nullptr) {
    t->owned_prev->owned_next = t->owned_next;
  } else {
    s.head = t->owned_next;
  }
  if (t->owned_next != nullptr) t->owned_next->owned_prev = t->owned_prev;
  t->owned_prev = t->owned_next = nullptr;
  s.lock.unlock();
}

TaskHeader* OwnedTasks::pop_any() noexcept {
  for (auto& s : shards_) {
    s->lock.lock();
    TaskHeader* t = s->head;
    if (t != nullptr) {
      s->head = t->owned_next;
      if (s->head != nullptr) s->head->owned_prev = nullptr;
      t->owned_prev = t->owned_next = nullptr;
    }
    s->lock.unlock();
    if (t != nullptr) return t;
  }
  return nullptr;
}

}  // namespace duet::detail
