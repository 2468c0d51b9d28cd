// duet/detail/immortal.hpp: storage for a process-wide object that is constructed on
// first use and never destroyed. Its owner stops what it runs at exit
// instead (a static whose destructor runs first); the object's own members
// are never torn down, so a thread still inside it at exit, or a forked
// child whose copy holds a lock or a waiter of a thread that is not there
// (duet/detail/fork.hpp), finds it intact.
#pragma once

#include <new>
#include <utility>

namespace duet::detail {

template <class T>
class Immortal {
 public:
  /// Placement-new rather than std::construct_at, so that a `T` whose
  /// constructor is private to all but `friend Immortal<T>` can live here.
  template <class... A>
  explicit Immortal(A&&... a) {
    ::new (static_cast<void*>(bytes_)) T(std::forward<A>(a)...);
  }
  Immortal(const Immortal&) = delete;
  Immortal& operator=(const Immortal&) = delete;
  T* get() noexcept { return std::launder(reinterpret_cast<T*>(bytes_)); }

 private:
  alignas(T) unsigned char bytes_[sizeof(T)];
};

}  // namespace duet::detail
