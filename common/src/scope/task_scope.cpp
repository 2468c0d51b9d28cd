// scope/task_scope.cpp: the type-erased half of duet::TaskScope: children's
// slots, the completion list in completion order, the one waiter of
// next() and join(), the list of close() waiters, the
// failure policy, the end-of-scope rule (duet/scope/task_scope.hpp), and
// the owner's lane, spawn+next's path with no lock.
//
// Slots: each watched child has a 16-byte slot {task | state, next} in a
// 4 KiB chunk aligned to its size, whose first word names the scope. The
// slot's address, with the scope waker vtable below, is the child's join
// waker, so the child's completion (publish_completion waking its joiner)
// appends the slot to the completion list and wakes the scope's waiter.
// From a slot the scope is one mask away; no node per child. Chunks are
// carved from slabs (add_chunk_locked), so that their alignment costs no
// memory per chunk. A slot's states (each transition under the lock):
//   free -> pending     watch_new_locked: the waker published
//   free -> ready       watch_new_locked, when the child completed first
//   pending -> ready    child_done (its completion wake)
//   ready -> free       pop_ready_locked then free_slot_locked: taken
//
// The owner's lane (scope/owner_lane.hpp, where the handshake is). The
// owner is the task that made the scope (null on a plain thread, and no
// lane under cancel_rest, whose every completion must be seen, or where
// heavy_fence() is not supported). Its newest child may stay in the lane:
// no slot, no waker, no lock. `next()` on the owner runs that child in
// place (run_join_inline, the join hand-off of a JoinHandle) and takes it
// directly when it completed. Every other thread that must see the lane
// child (an await, a close or a cancel from anyone but the owner) closes
// the lane for good, under the lock (close_lane_locked): a child it finds
// in the lane it watches itself and records in `stolen`; one the owner
// holds in a window is counted as live, and a cancel meanwhile sets
// `cancel_held`, which the owner applies when its window ends without the
// child's completion. The owner settles its lane child under the lock
// whenever it takes the lock (settle_lane_locked), so the slots and the
// lane never hold the same child twice; after the close every operation
// takes the lock, as in a scope with no lane.
//
// Invariants: a waiter is registered only while the lane is empty or the
// gate is closed (the owner settles its lane child before it registers; a
// closer closed the gate); under cancel_rest every child is watched at its
// adoption. A child whose completion wakes nobody (the lane child) is
// found by the owner's next look at the lane, or by the closer's watch
// (then ready at once).
//
// Lifetime: the core is reference counted: the TaskScope holds one
// reference, every scope waker clone (the one a child's header holds) one
// more, so a child that ends after its scope did wakes a core that is still
// there; once `dead` (the scope ended) such a wake changes nothing.
// The scope holds a reference on its owner's task header until it ends, so
// that the owner, known by that address, keeps it: a scope moved out of
// its owner may outlive it, and a later task made in its memory must not
// pass for the owner.
//
// A slot turns ready only through its child's completion wake, or in
// watch_new_locked when the child ended before its waker was published
// (then no wake comes): so a slot is never freed and reused while a wake
// for it is still on its way.
//
// Every field below the lock is guarded by it, except the lane's atomics,
// which say who writes them. The owner of the scope (whoever awaits it) is
// the only one that frees slots, so a slot it read under the lock stays
// its own after the unlock.
#include "duet/scope/task_scope.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "duet/detail/current.hpp"
#include "duet/sync/detail/spin_lock.hpp"
#include "duet/sync/detail/wait_list.hpp"
#include "sched/thread_context.hpp"
#include "scope/owner_lane.hpp"
#include "sync/asymmetric_fence.hpp"

namespace duet {

ScopeClosed::ScopeClosed()
    : std::logic_error(
          "duet::TaskScope::spawn: the scope is closed (close(), a first failure under "
          "FailurePolicy::cancel_rest, or its end)") {}

namespace detail {

namespace {

constexpr std::uintptr_t st_free = 0;
constexpr std::uintptr_t st_pending = 1;  // running; its join waker is this slot
constexpr std::uintptr_t st_ready = 2;    // complete, in the completion list
constexpr std::uintptr_t st_mask = 63;    // task headers are 64-byte aligned

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
  ScopeCore(FailurePolicy p, ScopeFailedFn f, TaskHeader* o) noexcept
      : cancel_rest(p == FailurePolicy::cancel_rest),
        failed_fn(f),
        owner(o),
        lane(o != nullptr && !cancel_rest && heavy_fence_supported()) {}

  // Release on set, acquire on spawn's check: a spawn that sees the scope
  // closed sees everything the closing did (only a hint: adopt re-checks
  // under the lock).
  std::atomic<bool> closed{false};
  std::atomic<std::uint64_t> refs{1};

  // ---- the owner's lane (scope/owner_lane.hpp) ----
  const bool cancel_rest;
  const ScopeFailedFn failed_fn;
  TaskHeader* const owner;
  OwnerLane lane;
  // Hints the owner's lane reads without the lock (written under it): a
  // registered awaiter, a non-empty completion list.
  std::atomic<const void*> awaiter{nullptr};
  std::atomic<bool> has_ready{false};

  SpinLock lock;
  TaskHeader* stolen = nullptr;  // the lane child a closer watched
  bool cancel_held = false;      // a cancel found the lane child held by the owner
  bool dead = false;             // the scope ended: slots are the destructor's
  bool failed = false;           // cancel_rest fired
  bool cancelled = false;        // close() cancelled the children
  bool misuse = false;           // a child was watched while it waited on us
  std::vector<Slab> slabs;       // the memory of every chunk
  std::vector<Chunk*> chunks;    // in use, in order; the last one is filling
  std::byte* spare = nullptr;    // the last slab's chunks not in use yet
  std::size_t spare_chunks = 0;
  Slot* free_list = nullptr;
  Slot* ready_head = nullptr;
  Slot* ready_tail = nullptr;
  std::size_t live = 0;  // slots not free
  Waker waiter;
  TaskHeader* waiter_task = nullptr;
  // The close() futures waiting for the end, any number (the waiter list
  // protocol of duet/sync/detail/wait_list.hpp): the front one is woken at
  // each change that may end the scope (a completion, a take by next() or
  // join(), the front leaving) and drops what is ready; the one that finds
  // the end completes them all.
  WaitList<> closers;
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

TaskHeader* lane_task(std::uintptr_t w) noexcept {
  return OwnerLane::task(w);
}

bool is_owner(const ScopeCore* c, const TaskHeader* me) noexcept {
  return me != nullptr && me == c->owner;
}

template <class Fn>
void for_each_slot(ScopeCore* c, Fn fn) {
  for (auto& ch : c->chunks) {
    for (std::size_t i = 0; i < ch->used; ++i) fn(ch->slots[i]);
  }
}

/// The lane child the owner holds in a window, as a closer sees it (null:
/// none). Under the lock, with the gate closed.
TaskHeader* held_by_owner_locked(const ScopeCore* c) noexcept {
  return c->lane.held_child();
}

void cancel_pending_locked(ScopeCore* c) noexcept {
  for_each_slot(c, [](Slot& s) {
    if (s.state() == st_pending) cancel_task(s.task());
  });
  if (held_by_owner_locked(c) != nullptr) c->cancel_held = true;
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
  // Relaxed: a hint for the owner's lane (a completion racing with next()).
  c->has_ready.store(true, std::memory_order_relaxed);
  apply_policy_locked(c, t);
}

Slot* pop_ready_locked(ScopeCore* c) noexcept {
  Slot* s = c->ready_head;
  if (s == nullptr) return nullptr;
  c->ready_head = s->next;
  if (c->ready_head == nullptr) {
    c->ready_tail = nullptr;
    c->has_ready.store(false, std::memory_order_relaxed);  // relaxed: as in mark_ready_locked
  }
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

/// Makes sure the free list has a slot, so that the next watch_new_locked
/// cannot fail. May throw (no memory) before anything changed.
void reserve_slot_locked(ScopeCore* c) {
  if (c->free_list != nullptr) return;
  if (c->chunks.empty() || c->chunks.back()->used == Chunk::capacity) add_chunk_locked(c);
  Chunk& ch = *c->chunks.back();
  Slot* s = &ch.slots[ch.used++];
  s->next = nullptr;
  c->free_list = s;
}

/// Is the running task `t` one of c's children? Under c's lock, which c's
/// children's wakers are published under. The cell is read only with
/// JOIN_WAKER set (acquire): its writer, whoever joins `t`, stored it
/// before setting the flag. (A joiner that is no scope may re-publish a
/// waker of its own meanwhile; neither value is one of c's.)
bool is_child_locked(ScopeCore* c, TaskHeader* t) noexcept {
  // The lane child has no waker of ours. Relaxed: the caller is no owner,
  // so the gate is closed, and a lane child the closer did not take is
  // either held by the owner or not spawned yet as far as we can tell.
  if (lane_task(c->lane.word()) == t) return true;
  if (!t->load(std::memory_order_acquire).has_join_waker()) return false;
  const Waker& w = t->join_waker;
  return w.vtable() == &scope_waker_vtable && chunk_of(w.data())->core == c;
}

/// Watches the running child `t`, whose handle reference the scope takes
/// over: a slot (reserved by the caller) whose waker is published to `t`:
/// pending, or ready when `t` completed first (then no wake comes). A child
/// that already waits on the scope is that misuse: its waiter is woken to
/// fail (into `to_wake`).
void watch_new_locked(ScopeCore* c, TaskHeader* t, Waker& to_wake) noexcept {
  Slot* s = c->free_list;
  c->free_list = s->next;
  s->next = nullptr;
  ++c->live;
  s->set(t, st_pending);
  SlotWaker w(s);
  if (watch_join(t, w.get())) mark_ready_locked(c, s);
  if (c->waiter_task == t) {
    c->misuse = true;
    to_wake = std::move(c->waiter);
  } else if (c->ready_head != nullptr) {
    to_wake = std::move(c->waiter);
  }
}

/// The owner, under the lock: its lane child (never held here) becomes a
/// watched one, unless a closer watched it already. After it the lane is
/// empty. May throw (no memory for a slot) with the lane unchanged.
void settle_lane_locked(ScopeCore* c, Waker& to_wake) {
  const std::uintptr_t w = c->lane.word();
  if (w == 0) return;
  TaskHeader* t = lane_task(w);
  if (c->stolen == t) {
    c->stolen = nullptr;
  } else {
    reserve_slot_locked(c);
    // A cancel that found it held while the owner's hold was failing.
    if (std::exchange(c->cancel_held, false)) cancel_task(t);
    watch_new_locked(c, t, to_wake);
  }
  c->lane.set_locked(0);
}

/// Anyone but the owner, under the lock, before it looks at the children
/// (an await, a close, a cancel): closes the gate, so that no lane child
/// is left unseen. The lane child the owner has not taken is watched here
/// (recorded in `stolen`), in the slot the caller reserved; with none
/// reserved (a cancel that found no memory) it stays in the lane, cancelled,
/// for the owner to settle.
void close_lane_locked(ScopeCore* c, Waker& to_wake) noexcept {
  const std::uintptr_t w = c->lane.close([] {
    if (!heavy_fence()) {
      std::fputs("duet: TaskScope close_lane: membarrier failed after its registration\n", stderr);
      std::abort();
    }
  });
  if (w != 0 && (w & OwnerLane::held) == 0) {
    if (c->free_list != nullptr) {
      c->stolen = lane_task(w);
      watch_new_locked(c, c->stolen, to_wake);
    } else {
      cancel_task(lane_task(w));
    }
  }
}

/// close_lane_locked for a caller that may throw: the slot a lane child
/// needs is reserved first (no memory: nothing changed).
void close_lane_reserved_locked(ScopeCore* c, Waker& to_wake) {
  if (!c->lane.is_open()) return;  // relaxed: under the lock, only closers write the gate
  reserve_slot_locked(c);
  close_lane_locked(c, to_wake);
}

/// Every poll of next/join/close by anyone but the owner starts here: never
/// one of the scope's own children (checked first: a child's await is that
/// misuse whether or not its owner waits too), and one awaiter at a time.
/// Returns the calling task (null on a plain thread).
TaskHeader* check_awaiter_locked(ScopeCore* c, const void* awaiter, TaskHeader* me, Waker& dropped);

void forget_awaiter_locked(ScopeCore* c, Waker& out) noexcept {
  c->awaiter.store(nullptr, std::memory_order_relaxed);  // relaxed: a hint outside the lock
  c->misuse = false;
  c->waiter_task = nullptr;
  out = std::move(c->waiter);
}

TaskHeader* check_awaiter_locked(ScopeCore* c, const void* awaiter, TaskHeader* me,
                                 Waker& dropped) {
  const void* cur = c->awaiter.load(std::memory_order_relaxed);  // relaxed: under the lock
  const bool mine = cur == nullptr || cur == awaiter;
  if ((mine && c->misuse) || (me != nullptr && !is_owner(c, me) && is_child_locked(c, me))) {
    if (cur == awaiter) forget_awaiter_locked(c, dropped);
    throw std::logic_error(
        "duet::TaskScope: awaited from one of its own children (it would wait for itself)");
  }
  if (!mine) {
    throw std::logic_error("duet::TaskScope: awaited by two tasks at once (one waiter at a time)");
  }
  return me;
}

/// Every locked poll of next/join/close: the lane settled (the owner) or
/// closed (anyone else), then the awaiter's checks.
TaskHeader* enter_await_locked(ScopeCore* c, const void* awaiter, Waker& to_wake) {
  TaskHeader* me = running_task();
  if (is_owner(c, me)) {
    settle_lane_locked(c, to_wake);
  } else {
    close_lane_reserved_locked(c, to_wake);
  }
  return check_awaiter_locked(c, awaiter, me, to_wake);
}

/// Children whose outcome the scope holds or waits for, under the lock
/// after enter_await_locked: the slots, and a lane child the owner holds.
std::size_t live_locked(const ScopeCore* c) noexcept {
  return c->live + (held_by_owner_locked(c) != nullptr ? 1 : 0);
}

/// A clone of the front closer's waker, to wake after the unlock (none
/// when no close() waits): it drops what is ready and checks for the end.
void nudge_closer_locked(ScopeCore* c, Waker& out) {
  if (!c->closers.empty()) out = c->closers.front()->waker;
}

void child_done(ScopeCore* c, Slot* s) noexcept {
  Waker to_wake;
  Waker closer;
  {
    SpinGuard g(c->lock);
    if (c->dead || s->state() != st_pending) return;
    mark_ready_locked(c, s);
    to_wake = std::move(c->waiter);
    nudge_closer_locked(c, closer);
  }
  std::move(to_wake).wake();
  std::move(closer).wake();
}

/// The waiter a poll that returns pending leaves; a replaced waker goes to
/// `dropped`, released after the unlock.
void register_waiter_locked(ScopeCore* c, Context& cx, const void* awaiter, TaskHeader* me,
                            Waker& dropped) {
  if (!c->waiter.will_wake(cx.waker())) dropped = std::exchange(c->waiter, cx.waker());
  c->waiter_task = me;
  c->awaiter.store(awaiter, std::memory_order_relaxed);  // relaxed: a hint outside the lock
}

/// A take or an end of the wait: the awaiter is done.
ScopeTake finish_locked(ScopeCore* c, const void* awaiter, ScopeTake r, Waker& dropped) {
  if (c->awaiter.load(std::memory_order_relaxed) == awaiter) forget_awaiter_locked(c, dropped);
  return r;
}

/// What a poll of the completion list does when the scope holds no child.
enum class ScopeEmpty : unsigned char {
  ends,            // join(): ready, empty
  waits_for_spawn  // next(): pending while the scope is open
};

/// next() with the lock: the lane settled or closed, then the completion
/// list, the end, or a wait. With no child, the end is `empty` for join()
/// and for next() on a closed scope; next() on an open one waits (a spawn
/// leaves its waiter registered: the child's completion wakes it).
ScopeTake poll_next_locked(ScopeCore* c, Context& cx, const void* awaiter, ScopeEmpty on_empty,
                           Waker& to_wake) {
  TaskHeader* me = enter_await_locked(c, awaiter, to_wake);
  if (Slot* s = pop_ready_locked(c)) {
    return finish_locked(c, awaiter, {free_slot_locked(c, s), ScopeTake::got}, to_wake);
  }
  // Relaxed: under the lock, which every store that closes the scope holds.
  if (live_locked(c) == 0 &&
      (on_empty == ScopeEmpty::ends || c->closed.load(std::memory_order_relaxed))) {
    return finish_locked(c, awaiter, {nullptr, ScopeTake::empty}, to_wake);
  }
  register_waiter_locked(c, cx, awaiter, me, to_wake);
  return {nullptr, ScopeTake::pending};
}

/// The owner's window is over and the gate was not open: settle the child
/// `t` it ran under the lock. Complete, it is next()'s result (a waiter
/// registered meanwhile, by a closer, is woken if the scope is now empty,
/// so that it sees the end); not complete, it is watched (cancelled first
/// when a cancel found it held), and next() goes on with the lock.
ScopeTake end_window_locked(ScopeCore* c, TaskHeader* t, bool done, Context& cx,
                            const void* awaiter, ScopeEmpty on_empty, Waker& to_wake) {
  if (!done) {
    try {
      reserve_slot_locked(c);
    } catch (...) {  // no memory: `t` goes back to the lane, ours still
      c->lane.set_locked(OwnerLane::word_of(t));
      throw;
    }
  }
  c->lane.set_locked(0);
  const bool cancel = std::exchange(c->cancel_held, false);
  if (done) {
    if (c->live == 0 && c->ready_head == nullptr) to_wake = std::move(c->waiter);
    return {t, ScopeTake::got};
  }
  if (cancel) cancel_task(t);
  watch_new_locked(c, t, to_wake);
  return poll_next_locked(c, cx, awaiter, on_empty, to_wake);
}

}  // namespace

ScopeCore* scope_create(FailurePolicy p, ScopeFailedFn failed) {
  TaskHeader* o = running_task();
  auto c = std::make_unique<ScopeCore>(p, failed, o);
  // The owner is known by its header's address: the scope holds a
  // reference on it, so that a scope moved out of its owner, which may
  // outlive it, never takes a later task made in the same memory for its
  // owner. (Its lane and its misuse check would trust that task.)
  if (o != nullptr) o->ref();
  return c.release();
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
  drain_in_batches(c->lock, [c](WakeBatch& b) { return complete_into(c->closers, b, st_done); });
  // `dead`: no wake and no spawn touches a slot any more; they are ours.
  for_each_slot(c, [](Slot& s) {
    if (s.state() == st_free) return;
    if (s.state() != st_ready) cancel_task(s.task());
    drop_join_handle(s.task());
    s.word = st_free;
  });
  // The lane child, unless a closer watched it (then it had a slot). No
  // owner operation runs during the end: the word is the last one.
  const std::uintptr_t w = c->lane.word();
  if (w != 0 && lane_task(w) != c->stolen) {
    cancel_task(lane_task(w));
    drop_join_handle(lane_task(w));
  }
  // The owner's reference (scope_create). The last one when the scope
  // outlived its owner: that task completed or was cancelled before, so
  // only its memory goes.
  if (c->owner != nullptr) c->owner->unref();
  unref(c);
}

namespace {

/// A closer came while the owner put `t` in its lane: it watched `t`, or
/// the owner does now (settle_lane_locked).
[[gnu::noinline]] void adopt_after_close(ScopeCore* c, TaskHeader* t) {
  Waker to_wake;
  {
    SpinGuard g(c->lock);
    try {
      settle_lane_locked(c, to_wake);
    } catch (...) {  // no memory: the child must not run unowned
      c->lane.set_locked(0);
      cancel_task(t);
      drop_join_handle(t);
      throw;
    }
  }
  std::move(to_wake).wake();
}

/// scope_adopt with the lock: a spawn by anyone but the owner, or by the
/// owner when its lane is taken, a waiter waits or the gate is not open.
[[gnu::noinline]] void adopt_locked(ScopeCore* c, TaskHeader* t) {
  Waker to_wake;
  bool refused = false;
  try {
    SpinGuard g(c->lock);
    if (c->closed.load(std::memory_order_relaxed)) {  // relaxed: under the lock
      refused = true;
    } else {
      const bool owner = is_owner(c, running_task());
      // The owner's older lane child becomes a watched one; the newest
      // takes the lane when nothing else needs its completion.
      if (owner) settle_lane_locked(c, to_wake);
      reserve_slot_locked(c);
      // Relaxed: under the lock, and the owner's own view of the awaiter
      // it would have registered.
      if (owner && c->lane.is_open() && c->awaiter.load(std::memory_order_relaxed) == nullptr) {
        c->lane.set_locked(OwnerLane::word_of(t));
      } else {
        watch_new_locked(c, t, to_wake);
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

/// next() with the lock (the lane was no use: see scope_poll_next).
[[gnu::noinline]] ScopeTake poll_next_slow(ScopeCore* c, Context& cx, const void* awaiter,
                                           ScopeEmpty on_empty) {
  Waker to_wake;
  Waker closer;
  ScopeTake r{};
  {
    SpinGuard g(c->lock);
    r = poll_next_locked(c, cx, awaiter, on_empty, to_wake);
    if (r.kind == ScopeTake::got) nudge_closer_locked(c, closer);  // maybe the last child
  }
  std::move(to_wake).wake();
  std::move(closer).wake();
  return r;
}

/// The owner's window ended with the gate not open, or with `t` not
/// complete: settled under the lock (end_window_locked).
[[gnu::noinline]] ScopeTake end_window(ScopeCore* c, TaskHeader* t, bool done, Context& cx,
                                       const void* awaiter, ScopeEmpty on_empty) {
  Waker to_wake;
  Waker closer;
  ScopeTake r{};
  {
    SpinGuard g(c->lock);
    r = end_window_locked(c, t, done, cx, awaiter, on_empty, to_wake);
    if (r.kind == ScopeTake::got) nudge_closer_locked(c, closer);  // maybe the last child
  }
  std::move(to_wake).wake();
  std::move(closer).wake();
  return r;
}

}  // namespace

void scope_adopt(ScopeCore* c, TaskHeader* t) {
  // The owner's lane: an empty lane, an open gate and no waiter (whose
  // wake the lane child could not give) take the child with no lock.
  // Relaxed: a hint, which the gate's re-check in put() covers.
  if (c->lane.word() == 0 && c->lane.is_open() &&
      c->awaiter.load(std::memory_order_relaxed) == nullptr && is_owner(c, running_task()))
      [[likely]] {
    if (c->lane.put(t)) [[likely]] {
      return;
    }
    adopt_after_close(c, t);
    return;
  }
  adopt_locked(c, t);
}

namespace {

/// scope_poll_next and scope_poll_join: the lane, then the lock. `on_empty`
/// is a template argument so that the fast path carries no extra one.
template <ScopeEmpty on_empty>
ScopeTake poll_completions(ScopeCore* c, Context& cx, const void* awaiter) {
  // The owner's lane: its child runs here (the join hand-off) and, complete,
  // is taken with no lock. Relaxed: hints the gate's re-checks cover (a
  // completion racing with next() may come after).
  const std::uintptr_t w = c->lane.word();
  if (w != 0 && c->lane.is_open() && c->awaiter.load(std::memory_order_relaxed) == nullptr &&
      !c->has_ready.load(std::memory_order_relaxed) && is_owner(c, running_task())) [[likely]] {
    // Not held: a closer came before the run, and `t` is watched by it, or
    // by us now (settle_lane_locked).
    if (c->lane.hold(w)) [[likely]] {
      TaskHeader* t = lane_task(w);
      const bool done = run_join_inline(t);
      if (done && c->lane.release()) [[likely]] {
        return {t, ScopeTake::got};
      }
      return end_window(c, t, done, cx, awaiter, on_empty);
    }
  }
  return poll_next_slow(c, cx, awaiter, on_empty);
}

}  // namespace

ScopeTake scope_poll_next(ScopeCore* c, Context& cx, const void* awaiter) {
  return poll_completions<ScopeEmpty::waits_for_spawn>(c, cx, awaiter);
}

ScopeTake scope_poll_join(ScopeCore* c, Context& cx, const void* awaiter) {
  return poll_completions<ScopeEmpty::ends>(c, cx, awaiter);
}

namespace {

/// A close()'s poll with the lock: the lane settled (the owner) or closed
/// (anyone else), and never one of the scope's own children. Closers are
/// not the one awaiter of next() and join(): any number may wait.
void enter_close_locked(ScopeCore* c, WaitNode& node, Waker& to_wake) {
  TaskHeader* me = running_task();
  if (is_owner(c, me)) {
    settle_lane_locked(c, to_wake);
    return;
  }
  close_lane_reserved_locked(c, to_wake);
  if (me != nullptr && is_child_locked(c, me)) {
    // Relaxed: under the lock (status rule, wait_list.hpp).
    if (node.status.load(std::memory_order_relaxed) == st_queued) {
      c->closers.remove(&node);
      node.status.store(st_idle, std::memory_order_relaxed);
    }
    throw std::logic_error(
        "duet::TaskScope: awaited from one of its own children (it would wait for itself)");
  }
}

}  // namespace

bool scope_poll_close(ScopeCore* c, Context& cx, WaitNode& node) {
  if (node.load_status() == st_done) return true;  // another closer found the end
  // Woken (not only dropped) when the call ends, after the unlock: a next()
  // or join() waiter that a lane child's watch made ready.
  struct WakeAtExit {
    Waker w;
    ~WakeAtExit() { std::move(w).wake(); }
  } exit_wake;
  Waker& dropped = exit_wake.w;
  for (;;) {
    TaskHeader* t = nullptr;
    {
      SpinGuard g(c->lock);
      enter_close_locked(c, node, dropped);
      c->closed.store(true, std::memory_order_release);
      if (!c->cancelled) {
        c->cancelled = true;
        cancel_pending_locked(c);
      }
      // Relaxed: under the lock (status rule, wait_list.hpp).
      const bool queued = node.status.load(std::memory_order_relaxed) == st_queued;
      if (Slot* s = pop_ready_locked(c)) {
        t = free_slot_locked(c, s);
      } else if (live_locked(c) == 0) {
        if (queued) c->closers.remove(&node);
        node.status.store(st_done, std::memory_order_relaxed);
        break;  // the end: every other closer is completed below
      } else {
        if (queued) {
          node.update_waker(cx.waker());
        } else {
          node.waker = cx.waker();
          node.status.store(st_queued, std::memory_order_relaxed);
          c->closers.push_back(&node);
        }
        return false;
      }
    }
    drop_join_handle(t);  // outside the lock: it may report an exception
  }
  drain_in_batches(c->lock, [c](WakeBatch& b) { return complete_into(c->closers, b, st_done); });
  return true;
}

void scope_forget_closer(ScopeCore* c, WaitNode& node) noexcept {
  Waker next;
  {
    SpinGuard g(c->lock);
    // Relaxed: under the lock (status rule, wait_list.hpp).
    if (node.status.load(std::memory_order_relaxed) != st_queued) return;
    const bool front = c->closers.front() == &node;
    c->closers.remove(&node);
    node.status.store(st_idle, std::memory_order_relaxed);
    // The front closer drained what was ready: its successor takes over.
    if (front) nudge_closer_locked(c, next);
  }
  std::move(next).wake();
}

void scope_forget_awaiter(ScopeCore* c, const void* awaiter) noexcept {
  Waker dropped;
  SpinGuard g(c->lock);
  if (c->awaiter.load(std::memory_order_relaxed) == awaiter) forget_awaiter_locked(c, dropped);
}

void scope_move_awaiter(ScopeCore* c, const void* from, const void* to) noexcept {
  SpinGuard g(c->lock);
  // Relaxed: under the lock; outside it, only a hint.
  if (c->awaiter.load(std::memory_order_relaxed) == from) {
    c->awaiter.store(to, std::memory_order_relaxed);
  }
}

void scope_cancel(ScopeCore* c) noexcept {
  Waker to_wake;
  {
    SpinGuard g(c->lock);
    const bool owner = is_owner(c, running_task());
    try {
      if (owner) {
        settle_lane_locked(c, to_wake);
      } else {
        close_lane_reserved_locked(c, to_wake);
      }
    } catch (...) {
      // No memory for the lane child's slot: cancelled where it is.
      if (owner) {
        // Settle threw only with a child in the lane.
        if (TaskHeader* t = lane_task(c->lane.word())) cancel_task(t);
      } else {
        close_lane_locked(c, to_wake);
      }
    }
    cancel_pending_locked(c);
  }
  std::move(to_wake).wake();
}

std::size_t scope_size(ScopeCore* c) noexcept {
  SpinGuard g(c->lock);
  // Exact for the owner (its own word); a snapshot for anyone else.
  const std::uintptr_t w = c->lane.word();
  return c->live + (w != 0 && lane_task(w) != c->stolen ? 1 : 0);
}

}  // namespace detail
}  // namespace duet
