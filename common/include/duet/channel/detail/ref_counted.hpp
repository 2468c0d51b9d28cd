// duet/channel/detail/ref_counted.hpp: a block that handles share and the
// last one frees: the reference-counted shared state of every channel
// (Channel, Oneshot, Broadcast and Watch), written once.
//
// CRTP: Derived is what make() allocates (std::allocator, no raw new; a
// constructor that throws frees the block) and what the last unref()
// destroys. The count starts at the number of handles make()'s caller
// creates (one for a channel, two for a oneshot's pair).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

namespace duet::detail {

template <class Derived>
class RefCounted {
 public:
  template <class... A>
  static Derived* make(A&&... a) {
    std::allocator<Derived> alloc;
    Derived* s = alloc.allocate(1);
    try {
      std::construct_at(s, std::forward<A>(a)...);
    } catch (...) {
      alloc.deallocate(s, 1);
      throw;
    }
    return s;
  }
  /// One more handle. Relaxed: the caller holds a reference, so the count
  /// cannot reach zero meanwhile (as shared_ptr).
  void ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  /// A handle is gone; the last frees the block. AcqRel: the last owner
  /// sees every other owner's writes before it destroys them.
  void unref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      auto* self = static_cast<Derived*>(this);
      std::allocator<Derived> alloc;
      std::destroy_at(self);
      alloc.deallocate(self, 1);
    }
  }

 protected:
  explicit RefCounted(std::size_t handles = 1) noexcept : refs_(handles) {}
  ~RefCounted() = default;

 private:
  std::atomic<std::size_t> refs_;
};

}  // namespace duet::detail
