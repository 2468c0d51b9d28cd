#include "injector.hpp"

namespace duet::detail {

void Injector::push_batch(TaskHeader* first, TaskHeader* last, std::size_t n) {
  last->next = nullptr;
  std::lock_guard g(mu_);
  if (tail_ != nullptr) {
    tail_->next = first;
  } else {
    head_ = first;
  }
  tail_ = last;
  // Under the lock; release so an is_empty() reader that sees the new
  // length also sees the chain (it then takes the lock anyway).
  len_.store(len_.load(std::memory_order_relaxed) + n, std::memory_order_release);
}

TaskHeader* Injector::pop() {
  std::size_t n = 0;
  return pop_batch(1, n);
}

TaskHeader* Injector::pop_batch(std::size_t max, std::size_t& n) {
  n = 0;
  if (is_empty()) return nullptr;
  std::lock_guard g(mu_);
  TaskHeader* first = head_;
  TaskHeader* last = nullptr;
  TaskHeader* t = head_;
  while (t != nullptr && n < max) {
    last = t;
    t = t->next;
    ++n;
  }
  if (n == 0) return nullptr;
  head_ = t;
  if (t == nullptr) tail_ = nullptr;
  last->next = nullptr;
  len_.store(len_.load(std::memory_order_relaxed) - n, std::memory_order_release);
  return first;
}

}  // namespace duet::detail
