// task_local.cpp: the owners' scope lists behind duet::TaskLocal
// (duet/task_local.hpp): one map per key from owner to innermost scope.
#include "duet/task_local.hpp"

#include "duet/detail/current.hpp"
#include "duet/detail/thread_local.hpp"

namespace duet::detail {

namespace {
// A plain thread's identity as an owner: the address of its own byte.
DUET_TLS char tl_thread_owner;

// The last top() this thread looked up under a key's lock: good for the
// same key and owner while the key's generation is the one read then. The
// owner's own scopes change only by its own push and pop (and a child's
// push_for before it first runs, its pop after it completed), which bump
// the generation and happen before any later get() of that owner (on
// whatever thread it runs then); other owners' bumps only cost a lookup.
struct TopCache {
  const TaskLocalSlots* key = nullptr;
  const void* owner = nullptr;
  std::uint64_t gen = 0;
  void* value = nullptr;
};
DUET_TLS TopCache tl_top;

std::atomic<std::uint64_t> g_generations{1};
}  // namespace

std::uint64_t TaskLocalSlots::first_generation() noexcept {
  // Relaxed: only uniqueness is needed.
  return g_generations.fetch_add(std::uint64_t{1} << 32, std::memory_order_relaxed);
}

const void* TaskLocalSlots::current_owner() noexcept {
  if (TaskHeader* t = current_task()) return t;
  return &tl_thread_owner;
}

void TaskLocalSlots::push(Node& n) {
  n.owner = current_owner();
  std::lock_guard lk(mu_);
  Node*& inner = inner_[n.owner];
  n.outer = inner;
  inner = &n;
  // Relaxed: under mu_; a reader's get() that must see it comes after it
  // in its own owner's order (see TopCache).
  gen_.store(gen_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void TaskLocalSlots::push_for(const void* owner, Node& n) {
  n.owner = owner;
  std::lock_guard lk(mu_);
  // Outermost: below any scope the owner has (none, as it has not run).
  Node*& inner = inner_[n.owner];
  Node** at = &inner;
  while (*at != nullptr) at = &(*at)->outer;
  n.outer = nullptr;
  *at = &n;
  // Relaxed: as in push(); the child's first get() comes after its spawn,
  // which publishes this.
  gen_.store(gen_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void TaskLocalSlots::pop(Node& n) noexcept {
  std::lock_guard lk(mu_);
  // Relaxed: as in push().
  gen_.store(gen_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  auto it = inner_.find(n.owner);
  if (it == inner_.end()) return;
  if (it->second == &n) {
    if (n.outer != nullptr) {
      it->second = n.outer;
    } else {
      inner_.erase(it);
    }
    return;
  }
  for (Node* s = it->second; s != nullptr; s = s->outer) {
    if (s->outer == &n) {
      s->outer = n.outer;
      return;
    }
  }
}

void* TaskLocalSlots::top() const {
  const void* owner = current_owner();
  const TopCache& c = tl_top;
  // Relaxed: see TopCache (the bumps that matter happen before this load).
  if (c.key == this && c.owner == owner && c.gen == gen_.load(std::memory_order_relaxed)) {
    return c.value;
  }
  return top_locked(owner);
}

void* TaskLocalSlots::top_locked(const void* owner) const {
  std::lock_guard lk(mu_);
  auto it = inner_.find(owner);
  void* value = it != inner_.end() ? it->second->value : nullptr;
  // Relaxed: under mu_, which every bump holds.
  tl_top = {this, owner, gen_.load(std::memory_order_relaxed), value};
  return value;
}

}  // namespace duet::detail
