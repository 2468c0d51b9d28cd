// fake_task.hpp: bare task headers with an id, for the tests of the
// scheduler's parts (LocalQueue, Injector, OwnedTasks), which never call a
// task's vtable.
#pragma once

#include <memory>
#include <vector>

#include "duet/detail/task_header.hpp"

namespace duet::test {

struct FakeTask : detail::TaskHeader {
  static constexpr detail::TaskVTable vt{
      detail::TaskKind::poll, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  explicit FakeTask(int i) : TaskHeader(&vt), id(i) {}
  int id;
};

inline int id_of(detail::TaskHeader* t) {
  return static_cast<FakeTask*>(t)->id;
}

/// Headers are not movable (atomic state): a fixed set, ids 0..n-1.
struct Tasks {
  explicit Tasks(int n) : v(static_cast<std::size_t>(n)) {
    for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = std::make_unique<FakeTask>(i);
  }
  FakeTask& operator[](std::size_t i) { return *v[i]; }
  [[nodiscard]] std::size_t size() const noexcept { return v.size(); }
  std::vector<std::unique_ptr<FakeTask>> v;
};

}  // namespace duet::test
