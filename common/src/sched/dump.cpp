// dump.cpp: dump_tasks over the runtime's list of parked tasks, with where
// and how long ago each parked task last ran and the async backtrace of
// each parked coroutine task, and the count of those that have not parked
// yet.
#include "duet/dump.hpp"

#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "duet/detail/current.hpp"
#include "duet/runtime.hpp"
#include "scheduler.hpp"
#include "symbols.hpp"
#include "task/harness.hpp"
#include "task_name.hpp"
#include "time/wheel.hpp"

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

/// One listed task as read under its shard's lock; named after it.
struct Seen {
  std::string line;                 // address, kind, state, references, backend's words
  std::optional<ParkStamp> parked;  // a parked task's worker and tick
  std::optional<AwaitChain> chain;  // a parked coroutine's awaits
};

/// Reads what a parked task keeps between runs (its ParkStamp, and a
/// coroutine's chain of awaits), holding the task so that no worker runs
/// it meanwhile. True when the hold ended with a wake or a cancel that the
/// caller must queue (outside the list's lock).
bool read_parked(TaskHeader* t, Seen& seen) {
  if (!hold_parked(t)) return false;
  seen.parked = ParkStamp::load_from(t);
  if (t->vtable->await_chain != nullptr) {
    seen.chain.emplace();
    t->vtable->await_chain(t, *seen.chain);
  }
  return park_run(t, /*list=*/false);
}

/// " worker=1 parked_for=12ms": a coarse tick's precision.
void print_stamp(std::ostream& os, const ParkStamp& p, std::uint64_t now) {
  const std::uint64_t ns = now > p.tick ? (now - p.tick) << tick_shift : 0;
  os << " worker=" << p.worker << " parked_for=";
  if (ns < 10'000'000) {
    os << ns / 1000 << "us";
  } else if (ns < 10'000'000'000) {
    os << ns / 1'000'000 << "ms";
  } else {
    os << ns / 1'000'000'000 << "s";
  }
}

/// "F" from "duet::detail::FutureAwaiter<F>::repoll(...)", the re-poll
/// function that names what a leaf waits in; the name itself otherwise.
std::string awaited_future(const std::string& repoll) {
  const std::string head = "duet::detail::FutureAwaiter<";
  if (repoll.rfind(head, 0) != 0) return repoll;
  int depth = 1;
  for (std::size_t i = head.size(); i < repoll.size(); ++i) {
    if (repoll[i] == '<') ++depth;
    if (repoll[i] == '>' && --depth == 0) return repoll.substr(head.size(), i - head.size());
  }
  return repoll;
}

void print_chain(std::ostream& os, const AwaitChain& c) {
  if (c.waits_in != nullptr)
    os << "  waits in " << awaited_future(function_name(c.waits_in)) << "\n";
  for (std::size_t i = 0; i < c.depth; ++i) {
    os << "  #" << i << " " << function_name(c.frames[i]) << "\n";
  }
  if (c.truncated) os << "  ... (deeper than " << AwaitChain::max_frames << " awaits)\n";
}

/// "X" from "ns::Class<X>::run(...)", the run function of a poll task or a
/// fiber, whose class template's arguments name the future or function it
/// runs; the name itself otherwise.
std::string template_argument(const std::string& fn) {
  const std::size_t open = fn.find('<');
  if (open == std::string::npos) return fn;
  int depth = 0;
  for (std::size_t i = open; i < fn.size(); ++i) {
    if (fn[i] == '<') ++depth;
    if (fn[i] == '>' && --depth == 0) return fn.substr(open + 1, i - open - 1);
  }
  return fn;
}

}  // namespace

std::string task_function(TaskHeader* t) {
  if (t->vtable->await_chain != nullptr) {
    // A coroutine task: its root coroutine is the outermost frame.
    AwaitChain c;
    t->vtable->await_chain(t, c);
    if (c.depth == 0) return "?";
    if (c.truncated) {
      return function_name(c.frames[0]) + " (the innermost of more than " +
             std::to_string(AwaitChain::max_frames) + " awaits)";
    }
    return function_name(c.frames[c.depth - 1]);
  }
  // A poll task's run, and a fiber's body, are members of class templates
  // whose arguments name the future or the function.
  const void* code = reinterpret_cast<const void*>(t->vtable->run);
  if (const StackfulOps* ops = t->vtable->stackful) code = ops->site(t).code;
  if (code == nullptr) return "?";
  return template_argument(function_name(code));
}

}  // namespace detail

std::size_t dump_tasks(Runtime& rt, std::ostream& os) {
  detail::Scheduler* s = detail::scheduler_of(rt);
  std::vector<detail::Seen> seen;
  std::vector<detail::TaskHeader*> to_queue;
  s->owned.for_each([&](detail::TaskHeader* t) {
    detail::Seen& e = seen.emplace_back();
    const detail::TaskSnapshot w = t->load(std::memory_order_acquire);
    std::ostringstream line;
    line << "task " << static_cast<const void*>(t) << " " << to_string(t->vtable->kind) << " "
         << detail::state_name(w) << " refs=" << w.refs();
    if (w.is_pinned()) line << " pinned=" << w.home();
    if (const detail::StackfulOps* ops = t->vtable->stackful) ops->describe(t, line);
    if (t->vtable->await_chain == nullptr) line << " runs " << detail::task_function(t);
    e.line = std::move(line).str();
    if (detail::read_parked(t, e)) to_queue.push_back(t);
  });
  // Woken or cancelled while held: queued as a waker would have.
  for (detail::TaskHeader* t : to_queue) s->requeue(t);
  const std::uint64_t now = detail::now_tick();
  for (const auto& e : seen) {
    os << e.line;
    if (e.parked) detail::print_stamp(os, *e.parked, now);
    os << "\n";
    if (e.chain) detail::print_chain(os, *e.chain);
  }
  const std::size_t n = seen.size();
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
