// dump.cpp: dump_tasks over the runtime's list of parked tasks, and the
// count of those that have not parked yet.
#include "duet/dump.hpp"

#include <ostream>

#include "duet/detail/current.hpp"
#include "duet/runtime.hpp"
#include "scheduler.hpp"

namespace duet {
namespace detail {
namespace {

const char* state_name(TaskSnapshot s) noexcept {
  if (s.is_complete()) return "complete";
  if (s.is_cancelled()) return s.is_running() ? "cancelling" : "cancel-pending";
  if (s.is_running()) return "running";
  if (s.is_notified()) return "ready";
  return "parked";
}
}  // namespace

}  // namespace detail

std::size_t dump_tasks(Runtime& rt, std::ostream& os) {
  std::size_t n = 0;
  detail::Scheduler* s = detail::scheduler_of(rt);
  s->owned.for_each([&](detail::TaskHeader* t) {
    const detail::TaskSnapshot s = t->load(std::memory_order_acquire);
    os << "task " << static_cast<const void*>(t) << " " << detail::task_kind_name(t->vtable->kind)
       << " " << detail::state_name(s) << " refs=" << s.refs();
    if (const detail::StackfulOps* ops = t->vtable->stackful) ops->describe(t, os);
    os << "\n";
    ++n;
  });
  // Without RuntimeConfig::list_all_tasks, tasks that have not parked yet
  // are in no list (listing each at spawn costs every spawn a lock):
  // counted, not described.
  const std::size_t u = s->unlisted_tasks();
  if (s->cfg.list_all_tasks) {
    os << n + u << " live tasks, all above\n";
  } else {
    os << n + u << " live tasks: " << n << " above (parked at least once), " << u
       << " not parked yet (queued or running)\n";
  }
  return n + u;
}

}  // namespace duet
