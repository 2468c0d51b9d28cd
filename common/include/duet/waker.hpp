// duet/waker.hpp: Waker and Context.
//
// A Waker is two words: a data pointer and a pointer to a static vtable.
//
//     +-----------------+-----------------+
//     | void* data      | WakerVTable* vt |   16 bytes
//     +-----------------+-----------------+
//
// For a task, `data` is the task header and the vtable moves reference counts
// and schedules the task; for a thread blocked outside the runtime it points
// at that thread's Parker. A Waker owns what its vtable says it owns (a task
// reference): copying clones, destruction drops.
#pragma once

#include <cstdint>
#include <utility>

namespace duet {

struct WakerVTable {
  void (*clone)(void* data);        // take one more reference
  void (*wake)(void* data);         // wake and release one reference
  void (*wake_by_ref)(void* data);  // wake, keep the reference
  void (*drop)(void* data);         // release one reference
};

class Waker {
 public:
  constexpr Waker() noexcept = default;
  /// Adopts one reference that the caller already holds.
  static Waker adopt(void* data, const WakerVTable* vt) noexcept { return Waker{data, vt}; }

  Waker(const Waker& o) noexcept : data_(o.data_), vt_(o.vt_) {
    if (vt_ != nullptr) vt_->clone(data_);
  }
  Waker(Waker&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), vt_(std::exchange(o.vt_, nullptr)) {}
  Waker& operator=(Waker o) noexcept {
    std::swap(data_, o.data_);
    std::swap(vt_, o.vt_);
    return *this;
  }
  ~Waker() {
    if (vt_ != nullptr) vt_->drop(data_);
  }

  /// Wakes the target and gives up this waker's reference.
  void wake() && {
    if (vt_ != nullptr) std::exchange(vt_, nullptr)->wake(std::exchange(data_, nullptr));
  }
  /// Wakes the target; this waker stays valid.
  void wake_by_ref() const {
    if (vt_ != nullptr) vt_->wake_by_ref(data_);
  }
  /// True when both wake the same target: lets a future skip a re-registration.
  [[nodiscard]] bool will_wake(const Waker& o) const noexcept {
    return data_ == o.data_ && vt_ == o.vt_;
  }
  /// Gives up ownership without dropping: for borrowed wakers only.
  void release() && noexcept {
    data_ = nullptr;
    vt_ = nullptr;
  }
  [[nodiscard]] explicit operator bool() const noexcept { return vt_ != nullptr; }
  [[nodiscard]] void* data() const noexcept { return data_; }
  [[nodiscard]] const WakerVTable* vtable() const noexcept { return vt_; }

 private:
  constexpr Waker(void* d, const WakerVTable* vt) noexcept : data_(d), vt_(vt) {}
  void* data_ = nullptr;
  const WakerVTable* vt_ = nullptr;
};

static_assert(sizeof(Waker) == 16, "a waker is a pointer and a vtable");

/// What `poll` is given: the waker of the task (or thread) that polls.
/// The waker is borrowed: clone it (copy the Waker) to keep it.
class Context {
 public:
  explicit Context(const Waker& w) noexcept : waker_(&w) {}
  [[nodiscard]] const Waker& waker() const noexcept { return *waker_; }

 private:
  const Waker* waker_;
};

}  // namespace duet
