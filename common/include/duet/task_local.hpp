// duet/task_local.hpp: task-local storage: a value bound for the length of a
// scope, seen by the task that opened the scope wherever it runs.
//
// A fiber, and a coroutine task, may resume on another worker thread after
// any wait: a thread_local read after the wait is another thread's (the
// hazard userver#242 and ClickHouse silk#66 report). A TaskLocal's value
// belongs to the task (the TaskHeader the worker runs), not to the thread:
// it stays the task's own across every wait and steal. On a plain thread it
// belongs to the thread.
//
// Example (fiber):
//   static duet::TaskLocal<int> request_id;
//   request_id.sync_scope(42, [] {
//     duet::this_fiber::yield();   // may move to another worker
//     use(request_id.get());       // still 42
//   });
//
// Rules (docs/task-local.md):
// - get() reads the innermost scope of this key open in the calling task
//   (or plain thread), and throws std::logic_error where none is open:
//   try_get() returns null there.
// - Scopes nest: an inner scope of the same key shadows the outer one until
//   it ends (normally or by an exception), then the outer value is back.
// - A spawned task starts with no scope open: it does not see its parent's
//   (unless a runtime's spawn hook opens one for it, a ChildScope:
//   duet::sim's host key).
// - sync_scope(value, fn) runs fn inside a scope, in a fiber, a plain
//   thread, or synchronous code of a coroutine; a coroutine opens one around
//   a Task with duet::local_scope (duet/stackless/task_local.hpp).
// - The key must outlive every scope of it (a static or global, usually).
// - Each scope's start and end takes the key's lock and one hash lookup.
//   get() takes neither when this thread read the same task's innermost
//   scope of this key last and no scope of the key opened or closed since
//   (a per-thread cache checked against the key's generation); otherwise
//   it takes the lock once and refills the cache.
#pragma once

#include "duet/export.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace duet {

namespace detail {

/// The type-erased part of a TaskLocal: for each owner (a task, or a plain
/// thread), the innermost open scope. A scope is a node that links to the
/// one it shadows.
class DUET_API TaskLocalSlots {
 public:
  struct Node {
    void* value;
    Node* outer = nullptr;
    const void* owner = nullptr;
  };
  /// The calling task's TaskHeader, or (not in a task) an address unique
  /// to the calling thread.
  [[nodiscard]] static const void* current_owner() noexcept;
  /// Opens `n` as the calling owner's innermost scope.
  void push(Node& n);
  /// Opens `n` as the outermost scope of `owner`, a task that has not run
  /// yet (a spawn hook's child): its own scopes then nest inside it.
  void push_for(const void* owner, Node& n);
  /// Closes `n`. Scopes of one task close in reverse order when they nest;
  /// one that closes out of order (two interleaved futures of one task) is
  /// unlinked where it is, and the others keep their places.
  void pop(Node& n) noexcept;
  /// The value of the calling owner's innermost scope, or null.
  [[nodiscard]] void* top() const;

 private:
  void* top_locked(const void* owner) const;
  /// Bumped (under mu_) by every push and pop: a thread's cached top of
  /// this key is good while it reads the generation it cached. Each key's
  /// first value is taken from a process-wide counter in steps of 2^32, so
  /// a key made where a destroyed one lived does not repeat its values.
  static std::uint64_t first_generation() noexcept;
  std::atomic<std::uint64_t> gen_{first_generation()};
  mutable std::mutex mu_;
  std::unordered_map<const void*, Node*> inner_;  // guarded by mu_
};

}  // namespace detail

template <class T>
class TaskLocal {
 public:
  TaskLocal() = default;
  TaskLocal(const TaskLocal&) = delete;
  TaskLocal& operator=(const TaskLocal&) = delete;

  /// The value of the innermost scope open in the calling task or thread.
  /// Throws std::logic_error where none is.
  T& get() const {
    if (T* v = try_get()) return *v;
    throw std::logic_error(
        "duet::TaskLocal::get: no scope of this task-local is open in the "
        "calling task (a spawned task does not see its parent's)");
  }
  /// The same, or null where no scope is open.
  T* try_get() const { return static_cast<T*>(slots_.top()); }

  /// Runs fn() with `value` bound: get() returns it until fn returns or
  /// throws. fn may wait (in a fiber): the value follows the task. An fn
  /// given as an rvalue is moved into the scope and destroyed inside it,
  /// also when a cancellation unwinds it: the destructors of what it
  /// captured see the value.
  template <class Fn>
  std::invoke_result_t<Fn&> sync_scope(T value, Fn&& fn) const {
    Scope s(*this, std::move(value));
    if constexpr (!std::is_lvalue_reference_v<Fn> &&
                  std::is_move_constructible_v<std::remove_cvref_t<Fn>>) {
      std::remove_cvref_t<Fn> body(std::move(fn));
      return std::invoke(body);
    } else {
      return std::invoke(fn);
    }
  }

  /// An open scope (RAII): from construction to destruction, on the task or
  /// thread that constructed it. What sync_scope and duet::local_scope use;
  /// it must be destroyed by the task that built it.
  class Scope {
   public:
    Scope(const TaskLocal& key, T value) : key_(key), value_(std::move(value)) {
      node_.value = &value_;
      key_.slots_.push(node_);
    }
    ~Scope() { key_.slots_.pop(node_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    const TaskLocal& key_;
    T value_;
    detail::TaskLocalSlots::Node node_{};
  };

  /// A scope opened for another task, `child`, by whoever spawns it,
  /// before the child first runs; it must be destroyed after the child has
  /// completed (duet::sim keeps one per child of a host's task, with a
  /// reference on the child). Not movable: the scope's node is its own.
  class ChildScope {
   public:
    ChildScope(const TaskLocal& key, const void* child, T value)
        : key_(key), value_(std::move(value)) {
      node_.value = &value_;
      key_.slots_.push_for(child, node_);
    }
    ~ChildScope() { key_.slots_.pop(node_); }
    ChildScope(const ChildScope&) = delete;
    ChildScope& operator=(const ChildScope&) = delete;

   private:
    const TaskLocal& key_;
    T value_;
    detail::TaskLocalSlots::Node node_{};
  };

 private:
  mutable detail::TaskLocalSlots slots_;
};

}  // namespace duet
