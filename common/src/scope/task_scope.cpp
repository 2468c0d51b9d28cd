// scope/task_scope.cpp: the type-erased half of duet::TaskScope: children's
// slots, the completion list in completion order, the one waiter, the
// failure policy and the end-of-scope rule (duet/scope/task_scope.hpp).
//
// Slots: each child has a 16-byte slot {task | state, next} in a 4 KiB
// chunk aligned to its size, whose first word names the scope. The slot's
// address, with the scope waker vtable below, is the child's join waker, so
// the child's completion (publish_completion waking its joiner) appends the
// slot to the completion list and wakes the scope's waiter. From a slot the
// scope is one mask away; no node per child. Chunks are carved from slabs
// (add_chunk_locked), so that their alignment costs no memory per chunk.
//
// A slot's states (each transition under the lock, by the function named):
//   free -> unwatched     scope_adopt: the newest child, no waker published
//   free -> pending       scope_adopt: the waker published at once
//   unwatched -> pending  watch_locked: a newer child, a waiter, or close
//   unwatched -> inline   scope_poll_next: the owner runs it outside the lock
//   inline -> free        scope_poll_next: it completed; taken directly
//   inline -> pending     scope_poll_next: it did not complete
//   pending -> ready      child_done (its completion wake), or watch_locked
//                         when it completed before the waker was published
//   ready -> free         scope_poll_next / scope_poll_close: taken
// The unwatched child is spawn+next's fast path: next() runs it inline and
// takes it as a JoinHandle would, with no waker clone, no wake and no trip
// through the completion list. Invariants: at most one slot is unwatched
// (c->unwatched) and at most one inline (c->inline_slot); none is unwatched
// while a waiter is registered or under cancel_rest, since its completion
// wakes nobody; an inline child's cancellation is deferred to the owner
// (cancel_inline), because its inline run may store its word unlocked.
//
// Lifetime: the core is reference counted: the TaskScope holds one
// reference, every scope waker clone (the one a child's header holds) one
// more, so a child that ends after its scope did wakes a core that is still
// there; once `dead` (the scope ended) such a wake changes nothing.
//
// A slot turns ready only through its child's completion wake, or in
// scope_adopt when the child ended before its waker was published (then no
// wake comes): so a slot is never freed and reused while a wake for it is
// still on its way.
//
// Every field below the lock is guarded by it. The owner of the scope
// (whoever spawns and awaits it) is the only one that frees slots, so a
// slot it read under the lock stays its own after the unlock.
#include "duet/scope/task_scope.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "duet/detail/current.hpp"
#include "duet/sync/detail/spin_lock.hpp"

namespace duet {

ScopeClosed::ScopeClosed()
    : std::logic_error(
          "duet::TaskScope::spawn: the scope is closed (close(), a first failure under "
          "FailurePolicy::cancel_rest, or its end)") {}

namespace detail {

namespace {

constexpr std::uintptr_t st_free = 0;
constexpr std::uintptr_t st_pending = 1;    // running; its join waker is this slot
constexpr std::uintptr_t st_ready = 2;      // complete, in the completion list
constexpr std::uintptr_t st_unwatched = 3;  // running; no join waker yet
constexpr std::uintptr_t st_inline = 4;     // the owner polls it outside the lock
constexpr std::uintptr_t st_mask = 63;      // task headers are 64-byte aligned

struct Slot {
  std::uintptr_t word = 0;  // the task | state
  Slot* next = nullptr;     // completion list or free list

  [[nodiscard]] TaskHeader* task() const noexcept {
    return reinterpret_cast<TaskHeader*>(word & ~st_mask);
  }
  [[nodiscard]] std::uintptr_t state() const noexcept { return word & st_mask; }
  void set(TaskHeader* t, std::uintptr_t st) noexcept {
    word = reinterpret_cast<std::uintptr_t>(t) | st;
  }
};

constexpr std::size_t chunk_bytes = 4096;

struct alignas(chunk_bytes) Chunk {
  static constexpr std::size_t capacity = (chunk_bytes - 2 * sizeof(void*)) / sizeof(Slot);
  explicit Chunk(ScopeCore* c) noexcept : core(c) {}
  ScopeCore* core;
  std::size_t used = 0;  // slots handed out so far (then reused through the free list)
  std::array<Slot, capacity> slots;
};
static_assert(sizeof(Slot) == 16);
static_assert(sizeof(Chunk) == chunk_bytes);
static_assert(std::is_trivially_destructible_v<Chunk>);

Chunk* chunk_of(const void* slot) noexcept {
  return reinterpret_cast<Chunk*>(reinterpret_cast<std::uintptr_t>(slot) & ~(chunk_bytes - 1));
}

/// Chunks come in slabs of consecutive chunks, one aligned allocation
/// each: an aligned allocation of one chunk alone can cost the allocator
/// up to a chunk more for the alignment, twice the slots' own memory. A
/// scope's first slab is one chunk; each next one as many as the scope
/// has, up to max_slab_chunks.
constexpr std::size_t max_slab_chunks = 32;

struct SlabFree {
  void operator()(std::byte* p) const noexcept {
    ::operator delete (p, std::align_val_t{chunk_bytes});
  }
};
using Slab = std::unique_ptr<std::byte, SlabFree>;

}  // namespace

struct ScopeCore {
  ScopeCore(FailurePolicy p, ScopeFailedFn f) noexcept
      : cancel_rest(p == FailurePolicy::cancel_rest), failed_fn(f) {}

  // Release on set, acquire on spawn's check: a spawn that sees the scope
  // closed sees everything the closing did (only a hint: adopt re-checks
  // under the lock).
  std::atomic<bool> closed{false};
  std::atomic<std::uint64_t> refs{1};
  SpinLock lock;

  const bool cancel_rest;
  const ScopeFailedFn failed_fn;
  bool dead = false;           // the scope ended: slots are the destructor's
  bool failed = false;         // cancel_rest fired
  bool cancelled = false;      // close() cancelled the children
  bool misuse = false;         // a child was adopted while it waited on us
  std::vector<Slab> slabs;     // the memory of every chunk
  std::vector<Chunk*> chunks;  // in use, in order; the last one is filling
  std::byte* spare = nullptr;  // the last slab's chunks not in use yet
  std::size_t spare_chunks = 0;
  Slot* free_list = nullptr;
  Slot* ready_head = nullptr;
  Slot* ready_tail = nullptr;
  Slot* unwatched = nullptr;    // the one st_unwatched slot, if any
  Slot* inline_slot = nullptr;  // the one st_inline slot, if any
  bool cancel_inline = false;   // a cancellation of inline_slot's child, deferred
  std::size_t live = 0;         // slots not free
  Waker waiter;
  TaskHeader* waiter_task = nullptr;
  const void* awaiter = nullptr;
};

namespace {

void unref(ScopeCore* c) noexcept {
  // Acq_rel: the last holder sees every other holder's writes before the
  // delete, and its own are ordered before its decrement.
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::unique_ptr<ScopeCore> gone(c);
  }
}

void child_done(ScopeCore* c, Slot* s) noexcept;

void sw_clone(void* d) {
  // Relaxed: a new reference taken by a holder of one (as shared_ptr).
  chunk_of(d)->core->refs.fetch_add(1, std::memory_order_relaxed);
}
void sw_drop(void* d) {
  unref(chunk_of(d)->core);
}
void sw_wake_by_ref(void* d) {
  child_done(chunk_of(d)->core, static_cast<Slot*>(d));
}
void sw_wake(void* d) {
  ScopeCore* c = chunk_of(d)->core;
  child_done(c, static_cast<Slot*>(d));
  unref(c);
}

const WakerVTable scope_waker_vtable{&sw_clone, &sw_wake, &sw_wake_by_ref, &sw_drop};

/// A borrowed waker for slot `s` (no reference): lives on the stack only.
class SlotWaker {
 public:
  explicit SlotWaker(Slot* s) noexcept : w_(Waker::adopt(s, &scope_waker_vtable)) {}
  ~SlotWaker() { std::move(w_).release(); }
  SlotWaker(const SlotWaker&) = delete;
  SlotWaker& operator=(const SlotWaker&) = delete;
  [[nodiscard]] const Waker& get() const noexcept { return w_; }

 private:
  Waker w_;
};

template <class Fn>
void for_each_slot(ScopeCore* c, Fn fn) {
  for (auto& ch : c->chunks) {
    for (std::size_t i = 0; i < ch->used; ++i) fn(ch->slots[i]);
  }
}

void cancel_pending_locked(ScopeCore* c) noexcept {
  for_each_slot(c, [](Slot& s) {
    if (s.state() == st_pending || s.state() == st_unwatched) cancel_task(s.task());
  });
  if (c->inline_slot != nullptr) c->cancel_inline = true;
}

/// The failure policy, for the complete child `t`.
void apply_policy_locked(ScopeCore* c, TaskHeader* t) noexcept {
  if (c->cancel_rest && !c->failed && c->failed_fn(t)) {
    c->failed = true;
    c->closed.store(true, std::memory_order_release);
    cancel_pending_locked(c);
  }
}

/// A complete child: to the completion list; the failure policy.
void mark_ready_locked(ScopeCore* c, Slot* s) noexcept {
  TaskHeader* t = s->task();
  s->set(t, st_ready);
  s->next = nullptr;
  if (c->ready_tail != nullptr) {
    c->ready_tail->next = s;
  } else {
    c->ready_head = s;
  }
  c->ready_tail = s;
  apply_policy_locked(c, t);
}

Slot* pop_ready_locked(ScopeCore* c) noexcept {
  Slot* s = c->ready_head;
  if (s == nullptr) return nullptr;
  c->ready_head = s->next;
  if (c->ready_head == nullptr) c->ready_tail = nullptr;
  return s;
}

/// Frees slot `s` (its reference now the caller's); returns its task.
TaskHeader* free_slot_locked(ScopeCore* c, Slot* s) noexcept {
  TaskHeader* t = s->task();
  s->word = st_free;
  s->next = c->free_list;
  c->free_list = s;
  --c->live;
  return t;
}

/// A chunk from the spare ones of the last slab, or from a new slab. May
/// throw (no memory) before anything changed.
void add_chunk_locked(ScopeCore* c) {
  c->chunks.reserve(c->chunks.size() + 1);
  if (c->spare_chunks == 0) {
    const std::size_t n = std::clamp<std::size_t>(c->chunks.size(), 1, max_slab_chunks);
    c->slabs.reserve(c->slabs.size() + 1);
    c->slabs.emplace_back(
        static_cast<std::byte*>(::operator new (n* chunk_bytes, std::align_val_t{chunk_bytes})));
    c->spare = c->slabs.back().get();
    c->spare_chunks = n;
  }
  // Chunk is trivially destructible: the slab's free ends its lifetime.
  c->chunks.push_back(std::construct_at(reinterpret_cast<Chunk*>(c->spare), c));
  c->spare += chunk_bytes;
  --c->spare_chunks;
}

Slot* alloc_slot_locked(ScopeCore* c) {
  if (Slot* s = c->free_list) {
    c->free_list = s->next;
    s->next = nullptr;
    return s;
  }
  if (c->chunks.empty() || c->chunks.back()->used == Chunk::capacity) add_chunk_locked(c);
  Chunk& ch = *c->chunks.back();
  return &ch.slots[ch.used++];
}

/// Is the running task `t` one of c's children (its join waker one of c's
/// slots)? Under c's lock, which c's children's wakers are published under
/// (scope_adopt). The cell is read only with JOIN_WAKER set (acquire): its
/// writer, whoever joins `t`, stored it before setting the flag. (A joiner
/// that is no scope may re-publish a waker of its own meanwhile; neither
/// value is one of c's.)
bool is_child_locked(ScopeCore* c, TaskHeader* t) noexcept {
  // The unwatched and the inline child have no waker of ours yet.
  for (const Slot* s : {c->unwatched, c->inline_slot}) {
    if (s != nullptr && s->task() == t) return true;
  }
  if (!t->load(std::memory_order_acquire).has_join_waker()) return false;
  const Waker& w = t->join_waker;
  return w.vtable() == &scope_waker_vtable && chunk_of(w.data())->core == c;
}

/// Publishes slot s's waker to its child (s: unwatched, inline or just
/// allocated): pending, or ready when the child completed first (then no
/// wake comes). Throws nothing: the waker clone is a reference count.
void watch_locked(ScopeCore* c, Slot* s) noexcept {
  TaskHeader* t = s->task();
  s->set(t, st_pending);
  SlotWaker w(s);
  if (watch_join(t, w.get())) mark_ready_locked(c, s);
}

/// Nothing may stay unwatched from here on (a waiter registers).
void watch_unwatched_locked(ScopeCore* c) noexcept {
  if (Slot* s = std::exchange(c->unwatched, nullptr)) watch_locked(c, s);
}

void child_done(ScopeCore* c, Slot* s) noexcept {
  Waker to_wake;
  {
    SpinGuard g(c->lock);
    if (c->dead || s->state() != st_pending) return;
    mark_ready_locked(c, s);
    to_wake = std::move(c->waiter);
  }
  std::move(to_wake).wake();
}

void forget_awaiter_locked(ScopeCore* c, Waker& out) noexcept {
  c->awaiter = nullptr;
  c->misuse = false;
  c->waiter_task = nullptr;
  out = std::move(c->waiter);
}

/// Every poll of next/join/close starts here: never one of the scope's own
/// children (checked first: a child's await is that misuse whether or not
/// its owner waits too), and one awaiter at a time. Returns the calling
/// task (null on a plain thread).
TaskHeader* check_awaiter_locked(ScopeCore* c, const void* awaiter, Waker& dropped) {
  const bool mine = c->awaiter == nullptr || c->awaiter == awaiter;
  TaskHeader* me = current_task();
  if ((mine && c->misuse) || (me != nullptr && is_child_locked(c, me))) {
    if (c->awaiter == awaiter) forget_awaiter_locked(c, dropped);
    throw std::logic_error(
        "duet::TaskScope: awaited from one of its own children (it would wait for itself)");
  }
  if (!mine) {
    throw std::logic_error("duet::TaskScope: awaited by two tasks at once (one waiter at a time)");
  }
  return me;
}

/// The waiter a poll that returns pending leaves; a replaced waker goes to
/// `dropped`, released after the unlock. The caller watched the unwatched
/// child first, then found the completion list empty (a watch may complete
/// it).
void register_waiter_locked(ScopeCore* c, Context& cx, const void* awaiter, TaskHeader* me,
                            Waker& dropped) {
  if (!c->waiter.will_wake(cx.waker())) dropped = std::exchange(c->waiter, cx.waker());
  c->waiter_task = me;
  c->awaiter = awaiter;
}

/// A take or an end of the wait: the awaiter is done.
ScopeTake finish_locked(ScopeCore* c, const void* awaiter, ScopeTake r, Waker& dropped) {
  if (c->awaiter == awaiter) forget_awaiter_locked(c, dropped);
  return r;
}

}  // namespace

ScopeCore* scope_create(FailurePolicy p, ScopeFailedFn failed) {
  return std::make_unique<ScopeCore>(p, failed).release();
}

void throw_no_runtime_for_scope() {
  throw std::logic_error("duet::TaskScope: not on a runtime worker; pass the Runtime");
}

bool scope_closed(const ScopeCore* c) noexcept {
  // Acquire: pairs with the release stores that close the scope.
  return c->closed.load(std::memory_order_acquire);
}

void scope_end(ScopeCore* c) noexcept {
  Waker dropped;
  {
    SpinGuard g(c->lock);
    c->dead = true;
    c->closed.store(true, std::memory_order_release);
    forget_awaiter_locked(c, dropped);
  }
  // `dead`: no wake and no spawn touches a slot any more; they are ours.
  for_each_slot(c, [](Slot& s) {
    if (s.state() == st_free) return;
    if (s.state() != st_ready) cancel_task(s.task());
    drop_join_handle(s.task());
    s.word = st_free;
  });
  unref(c);
}

void scope_adopt(ScopeCore* c, TaskHeader* t) {
  Waker to_wake;
  bool refused = false;
  try {
    SpinGuard g(c->lock);
    if (c->closed.load(std::memory_order_relaxed)) {  // relaxed: under the lock
      refused = true;
    } else {
      Slot* s = alloc_slot_locked(c);
      s->set(t, st_unwatched);
      ++c->live;
      // The newest child stays unwatched unless a completion must wake
      // someone: a waiter, or the failure policy.
      watch_unwatched_locked(c);
      if (c->awaiter != nullptr || c->cancel_rest) {
        watch_locked(c, s);
      } else {
        c->unwatched = s;
      }
      if (c->waiter_task == t) {
        c->misuse = true;  // the child waits on its own scope: wake it to fail
        to_wake = std::move(c->waiter);
      } else if (c->ready_head != nullptr) {
        to_wake = std::move(c->waiter);
      }
    }
  } catch (...) {  // no memory for a slot: the child must not run unowned
    cancel_task(t);
    drop_join_handle(t);
    throw;
  }
  if (refused) {
    cancel_task(t);
    drop_join_handle(t);
    throw ScopeClosed{};
  }
  std::move(to_wake).wake();
}

ScopeTake scope_poll_next(ScopeCore* c, Context& cx, const void* awaiter) {
  Waker dropped;
  Slot* inline_slot = nullptr;
  TaskHeader* me = nullptr;
  {
    SpinGuard g(c->lock);
    me = check_awaiter_locked(c, awaiter, dropped);
    if (Slot* s = pop_ready_locked(c)) {
      return finish_locked(c, awaiter, {free_slot_locked(c, s), ScopeTake::got}, dropped);
    }
    if (c->live == 0) return finish_locked(c, awaiter, {nullptr, ScopeTake::empty}, dropped);
    inline_slot = std::exchange(c->unwatched, nullptr);
    if (inline_slot != nullptr) {
      inline_slot->set(inline_slot->task(), st_inline);
      c->inline_slot = inline_slot;
    }
  }
  // The unwatched child may be the one this worker runs next: run it here
  // (spawn+join's fast path). Complete, it is taken as its handle would
  // take it; else it is watched like the others.
  bool done = false;
  try {
    done = inline_slot != nullptr && run_join_inline(inline_slot->task());
  } catch (...) {  // the worker failed around the run: back to watched
    SpinGuard g(c->lock);
    c->inline_slot = nullptr;
    if (std::exchange(c->cancel_inline, false)) cancel_task(inline_slot->task());
    watch_locked(c, inline_slot);
    throw;
  }
  SpinGuard g(c->lock);
  if (inline_slot != nullptr) {
    c->inline_slot = nullptr;
    const bool cancel = std::exchange(c->cancel_inline, false);
    if (done) {
      TaskHeader* t = free_slot_locked(c, inline_slot);
      apply_policy_locked(c, t);
      return finish_locked(c, awaiter, {t, ScopeTake::got}, dropped);
    }
    if (cancel) cancel_task(inline_slot->task());
    watch_locked(c, inline_slot);
  }
  watch_unwatched_locked(c);  // a child spawned meanwhile
  if (Slot* s = pop_ready_locked(c)) {
    return finish_locked(c, awaiter, {free_slot_locked(c, s), ScopeTake::got}, dropped);
  }
  register_waiter_locked(c, cx, awaiter, me, dropped);
  return {nullptr, ScopeTake::pending};
}

bool scope_poll_close(ScopeCore* c, Context& cx, const void* awaiter) {
  Waker dropped;
  for (;;) {
    TaskHeader* t = nullptr;
    {
      SpinGuard g(c->lock);
      TaskHeader* me = check_awaiter_locked(c, awaiter, dropped);
      c->closed.store(true, std::memory_order_release);
      if (!c->cancelled) {
        c->cancelled = true;
        cancel_pending_locked(c);
      }
      watch_unwatched_locked(c);
      if (Slot* s = pop_ready_locked(c)) {
        t = free_slot_locked(c, s);
      } else if (c->live == 0) {
        finish_locked(c, awaiter, {}, dropped);
        return true;
      } else {
        register_waiter_locked(c, cx, awaiter, me, dropped);
        return false;
      }
    }
    drop_join_handle(t);  // outside the lock: it may report an exception
  }
}

void scope_forget_awaiter(ScopeCore* c, const void* awaiter) noexcept {
  Waker dropped;
  SpinGuard g(c->lock);
  if (c->awaiter == awaiter) forget_awaiter_locked(c, dropped);
}

void scope_move_awaiter(ScopeCore* c, const void* from, const void* to) noexcept {
  SpinGuard g(c->lock);
  if (c->awaiter == from) c->awaiter = to;
}

void scope_cancel(ScopeCore* c) noexcept {
  SpinGuard g(c->lock);
  cancel_pending_locked(c);
}

std::size_t scope_size(ScopeCore* c) noexcept {
  SpinGuard g(c->lock);
  return c->live;
}

}  // namespace detail
}  // namespace duet
