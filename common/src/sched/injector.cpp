#include "injector.hpp"

#include <algorithm>
#include <new>
#include <stdexcept>

namespace duet::detail {

// 512 slots by default: three full local-ring overflows (129 each) before
// the first growth.
Injector::Injector(std::size_t slots, std::size_t max_slots)
    : buf_(std::make_unique<TaskHeader*[]>(slots)),
      cap_(slots),
      first_cap_(slots),
      max_slots_(max_slots) {}

bool Injector::reserve_locked(std::size_t need) noexcept {
  if (need <= cap_) return true;
  std::size_t cap = cap_;
  while (cap < need) cap *= 2;
  if (cap > max_slots_) return false;
  std::unique_ptr<TaskHeader*[]> grown;
  try {
    grown = std::make_unique<TaskHeader*[]>(cap);
  } catch (const std::bad_alloc&) {
    return false;  // the spill list takes them
  }
  for (std::size_t i = 0; i < count_; ++i) grown[i] = buf_[(head_ + i) & (cap_ - 1)];
  buf_ = std::move(grown);
  cap_ = cap;
  head_ = 0;
  return true;
}

std::unique_ptr<TaskHeader* []> Injector::shrink_locked() noexcept {
  std::unique_ptr<TaskHeader*[]> small;
  try {
    small = std::make_unique<TaskHeader*[]>(first_cap_);
  } catch (const std::bad_alloc&) {
    return nullptr;  // the big one stays
  }
  std::swap(buf_, small);
  cap_ = first_cap_;
  head_ = 0;
  return small;
}

std::size_t Injector::capacity() const {
  std::lock_guard g(mu_);
  return cap_;
}

void Injector::spill_locked(TaskHeader* t) noexcept {
  t->next = nullptr;
  if (spill_tail_ != nullptr) {
    spill_tail_->next = t;
  } else {
    spill_head_ = t;
  }
  spill_tail_ = t;
}

TaskHeader* Injector::pop() {
  TaskHeader* t = nullptr;
  return pop_batch(&t, 1) == 1 ? t : nullptr;
}

std::size_t Injector::pop_batch(TaskHeader** out, std::size_t max) {
  if (is_empty()) return 0;
  std::unique_ptr<TaskHeader*[]> shrunk;  // freed after the lock
  std::lock_guard g(mu_);
  std::size_t n = std::min(max, count_);
  for (std::size_t i = 0; i < n; ++i) out[i] = buf_[(head_ + i) & (cap_ - 1)];
  head_ = (head_ + n) & (cap_ - 1);
  count_ -= n;
  // The spill comes after the ring; take from it once the ring is empty.
  while (n < max && count_ == 0 && spill_head_ != nullptr) {
    TaskHeader* t = spill_head_;
    spill_head_ = t->next;
    if (spill_head_ == nullptr) spill_tail_ = nullptr;
    t->next = nullptr;
    out[n++] = t;
  }
  len_.store(len_.load(std::memory_order_relaxed) - n, std::memory_order_release);
  if (count_ == 0 && spill_head_ == nullptr && cap_ >= shrink_factor * first_cap_)
    shrunk = shrink_locked();
  return n;
}

}  // namespace duet::detail
