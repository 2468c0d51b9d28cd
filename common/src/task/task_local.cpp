// task_local.cpp: the owners' scope lists behind duet::TaskLocal
// (duet/task_local.hpp): one map per key from owner to innermost scope.
#include "duet/task_local.hpp"

#include "duet/detail/current.hpp"
#include "duet/detail/tls.hpp"

namespace duet::detail {

namespace {
// A plain thread's identity as an owner: the address of its own byte.
DUET_TLS char tl_thread_owner;
}  // namespace

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
}

void TaskLocalSlots::pop(Node& n) noexcept {
  std::lock_guard lk(mu_);
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
  std::lock_guard lk(mu_);
  auto it = inner_.find(owner);
  return it != inner_.end() ? it->second->value : nullptr;
}

}  // namespace duet::detail
