// duet/channel/detail/ring.hpp: the growable ring buffer behind channels.
// A bounded channel allocates its capacity up front, so its sends never
// allocate; it grows past that only to take back a message that a
// cancelled receiver had been handed (rare, and bounded by the number of
// such receivers). An unbounded channel doubles as it fills.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace duet::detail {

template <class T>
class Ring {
 public:
  explicit Ring(std::size_t reserve = 0) {
    if (reserve > 0) grow(reserve);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    while (len_ > 0) pop_front();
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, mask_ + 1);
  }
  [[nodiscard]] std::size_t size() const noexcept { return len_; }
  [[nodiscard]] bool empty() const noexcept { return len_ == 0; }
  void push_back(T&& v) {
    if (data_ == nullptr || len_ == mask_ + 1) grow(len_ + 1);
    std::construct_at(data_ + ((head_ + len_) & mask_), std::move(v));
    ++len_;
  }
  void push_front(T&& v) {
    if (data_ == nullptr || len_ == mask_ + 1) grow(len_ + 1);
    head_ = (head_ - 1) & mask_;
    std::construct_at(data_ + head_, std::move(v));
    ++len_;
  }
  T pop_front() {
    T* p = data_ + head_;
    T v = std::move(*p);
    std::destroy_at(p);
    head_ = (head_ + 1) & mask_;
    --len_;
    return v;
  }

 private:
  void grow(std::size_t need) {
    std::size_t cap = data_ == nullptr ? 1 : (mask_ + 1);
    while (cap < need) cap *= 2;
    if (data_ != nullptr && cap == mask_ + 1) cap *= 2;
    T* nd = std::allocator<T>().allocate(cap);
    for (std::size_t i = 0; i < len_; ++i) {
      T* p = data_ + ((head_ + i) & mask_);
      std::construct_at(nd + i, std::move(*p));
      std::destroy_at(p);
    }
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, mask_ + 1);
    data_ = nd;
    mask_ = cap - 1;
    head_ = 0;
  }

  T* data_ = nullptr;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;
  std::size_t len_ = 0;
};

}  // namespace duet::detail
