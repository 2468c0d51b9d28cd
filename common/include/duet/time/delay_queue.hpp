// duet/time/delay_queue.hpp: many keyed expiries behind one timer
// (tokio-util's DelayQueue).
//
// Example (coroutine):
//   duet::DelayQueue<std::string> sessions;          // one task owns it
//   auto k = sessions.insert("alice", 30s);          // a Key: remove or reset it later
//   sessions.insert("bob", 10s);
//   sessions.reset(k, 60s);                          // alice was active: later now
//   while (auto e = co_await sessions.next()) {      // duet::wait(q.next()) in a fiber
//     use(e->value, e->deadline);                    // "bob" first, then "alice"
//   }                                                // empty: nothing left
//
// A DelayQueue<T> holds values, each with a deadline, and hands each back
// once its deadline has passed, earliest first. Entries with equal
// deadlines come out in the order their deadlines were set (by insert or
// reset): a reset puts the entry behind those already at its new deadline.
//
// insert(v, d) and reset(k, d) saturate the deadline (duet/time/clock.hpp,
// deadline_after): a duration too large for the clock gives Instant::max(),
// and an entry due then never expires (it stays until removed or cleared).
//
// insert / insert_at return a Key (two 32-bit words: a slot index and that
// slot's generation). A slot's generation changes whenever its entry
// leaves (expired, removed, cleared), so a key whose entry is gone never
// names the entry that reuses its slot: remove, reset, contains and
// deadline treat it as absent. A key belongs to the queue that issued it
// (moving the queue moves its keys with it); a key from another queue is
// not detected. A slot's generation wraps after 2^32 reuses.
//
// next() is a poll future (co_await, duet::wait, rt.spawn, a case of
// duet::select or duet::timeout) whose output is
// std::optional<Expired<T>>: the earliest entry once its deadline has
// passed (removed from the queue; its key is stale from then on), or, when
// the queue is empty as it is polled, std::nullopt at once (tokio-util's
// None). So a loop `while (auto e = co_await q.next())` ends when the queue
// runs dry. In a select loop that also inserts (the usual shape: a channel
// of new work beside the expiries) an empty queue would win every round at
// once and spin: select over next() only while !q.empty(), and wait on the
// other cases alone otherwise (docs/time.md, "Delay queue").
// A next() already waiting when the queue is emptied (remove, clear) is not
// woken to say so: it waits until an insert, as in tokio-util.
//
// One timer: the queue keeps one Sleep armed to its earliest deadline (the
// runtime's timer wheel, so a paused or manual test clock drives it; no
// thread of its own). Inserting or resetting an entry to a deadline earlier
// than the armed one wakes the waiting next(), whose next poll re-arms the
// Sleep there; removing the earliest entry leaves the Sleep where it is,
// and its early firing re-arms it to the new earliest deadline.
//
// Cost: insert, remove, reset and each expiry are O(log n) (a binary heap
// of (deadline, sequence, slot) with each slot's heap position kept in the
// slot); contains, deadline, peek and next_deadline O(1). Slots and heap
// grow geometrically and are reused; polling allocates nothing.
//
// Not thread-safe: one task (or thread) owns the queue and makes every
// call; the queue moves between workers with its task (a task's migration
// is a release/acquire hand-over). Tasks that share a queue must share one
// worker (duet::pin_to) or guard it with a duet::Mutex; the next() future
// borrows the queue, which must outlive it. Keep to one next() or
// poll_expired caller at a time: the queue remembers one waiter's waker.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "duet/poll.hpp"
#include "duet/time/clock.hpp"
#include "duet/time/sleep.hpp"
#include "duet/waker.hpp"

namespace duet {

template <class T>
class DelayQueue;

/// The handle of one entry of a DelayQueue: copyable, comparable, hashable.
/// A default-constructed key names no entry.
class DelayQueueKey {
 public:
  constexpr DelayQueueKey() noexcept = default;
  friend constexpr bool operator==(DelayQueueKey, DelayQueueKey) noexcept = default;
  /// The slot index and its generation (for hashing and logs).
  [[nodiscard]] constexpr std::uint32_t index() const noexcept { return index_; }
  [[nodiscard]] constexpr std::uint32_t generation() const noexcept { return gen_; }

 private:
  template <class>
  friend class DelayQueue;
  constexpr DelayQueueKey(std::uint32_t i, std::uint32_t g) noexcept : index_(i), gen_(g) {}
  std::uint32_t index_ = 0;
  std::uint32_t gen_ = 0;  // 0: no entry (slot generations skip 0)
};

/// An entry handed back by DelayQueue::next / poll_expired.
template <class T>
struct Expired {
  T value;
  DelayQueueKey key;  // the key it had: stale now
  Instant deadline;   // its deadline (passed by the time it is handed back)
};

template <class T>
class DelayQueueNext;

template <class T>
class DelayQueue {
 public:
  using Key = DelayQueueKey;

  DelayQueue() = default;
  DelayQueue(const DelayQueue&) = delete;
  DelayQueue& operator=(const DelayQueue&) = delete;
  /// Moves the entries (their keys stay valid on the new queue). The timer
  /// is not moved: the new queue arms its own on its first poll. Moving a
  /// queue while a next() on it is pending is a use after move.
  DelayQueue(DelayQueue&& o) noexcept
      : slots_(std::move(o.slots_)),
        heap_(std::move(o.heap_)),
        free_head_(std::exchange(o.free_head_, npos)),
        seq_(o.seq_),
        waker_(std::move(o.waker_)) {
    o.slots_.clear();
    o.heap_.clear();
    o.sleep_.reset();
  }
  DelayQueue& operator=(DelayQueue&& o) noexcept {
    if (this != &o) {
      sleep_.reset();
      slots_ = std::move(o.slots_);
      heap_ = std::move(o.heap_);
      free_head_ = std::exchange(o.free_head_, npos);
      seq_ = o.seq_;
      waker_ = std::move(o.waker_);
      o.slots_.clear();
      o.heap_.clear();
      o.sleep_.reset();
    }
    return *this;
  }
  ~DelayQueue() = default;

  /// Adds `value`, due at `deadline` (a deadline already past expires on
  /// the next poll). Wakes a waiting next() when it becomes the earliest.
  Key insert_at(T value, Instant deadline) {
    reserve_one();
    std::uint32_t i;
    if (free_head_ != npos) {
      i = free_head_;
      slots_[i].value.emplace(std::move(value));  // if it throws, the slot stays free
      free_head_ = slots_[i].link;
    } else {
      slots_.emplace_back(std::move(value));  // capacity reserved: only T's move can throw
      i = static_cast<std::uint32_t>(slots_.size() - 1);
    }
    const auto pos = static_cast<std::uint32_t>(heap_.size());
    heap_.push_back(HeapEntry{deadline, seq_++, i});  // capacity reserved: no throw
    slots_[i].link = pos;
    sift_up(pos);
    wake_if_earlier(deadline);
    return Key(i, slots_[i].gen);
  }
  /// Adds `value`, due `d` from now.
  template <class Rep, class Period>
  Key insert(T value, std::chrono::duration<Rep, Period> d) {
    return insert_at(std::move(value), deadline_after(d));
  }

  /// Takes the entry out; empty when `key`'s entry is gone (expired,
  /// removed, cleared) or never was.
  std::optional<T> remove(Key key) {
    if (!live(key)) return std::nullopt;
    Slot& s = slots_[key.index_];
    std::optional<T> out(std::move(*s.value));
    erase_heap(s.link);
    release(key.index_);
    if (heap_.empty()) sleep_.reset();  // nothing to wait for: withdraw the timer
    return out;
  }

  /// Gives the entry a new deadline (behind those already due then); false
  /// when `key`'s entry is gone. Wakes a waiting next() when the entry
  /// becomes the earliest.
  bool reset_at(Key key, Instant deadline) {
    if (!live(key)) return false;
    const std::uint32_t pos = slots_[key.index_].link;
    heap_[pos].deadline = deadline;
    heap_[pos].seq = seq_++;
    fix(pos);
    wake_if_earlier(deadline);
    return true;
  }
  template <class Rep, class Period>
  bool reset(Key key, std::chrono::duration<Rep, Period> d) {
    return reset_at(key, deadline_after(d));
  }

  [[nodiscard]] bool contains(Key key) const noexcept { return live(key); }
  /// The entry's deadline; empty when `key`'s entry is gone.
  [[nodiscard]] std::optional<Instant> deadline(Key key) const noexcept {
    if (!live(key)) return std::nullopt;
    return heap_[slots_[key.index_].link].deadline;
  }
  /// The key of the entry that expires next; empty when the queue is.
  [[nodiscard]] std::optional<Key> peek() const noexcept {
    if (heap_.empty()) return std::nullopt;
    const std::uint32_t i = heap_.front().slot;
    return Key(i, slots_[i].gen);
  }
  /// The earliest deadline; empty when the queue is.
  [[nodiscard]] std::optional<Instant> next_deadline() const noexcept {
    if (heap_.empty()) return std::nullopt;
    return heap_.front().deadline;
  }
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }
  [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }

  /// Drops every entry (their keys go stale) and withdraws the timer; the
  /// storage is kept for reuse.
  void clear() noexcept {
    for (const HeapEntry& e : heap_) release(e.slot);
    heap_.clear();
    sleep_.reset();
  }
  /// Room for `n` entries in all without allocating.
  void reserve(std::size_t n) {
    if (n > max_entries) throw std::length_error("duet::DelayQueue: too many entries");
    slots_.reserve(n);
    heap_.reserve(n);
  }

  /// The next expiry as a poll future (it borrows the queue).
  DelayQueueNext<T> next() noexcept { return DelayQueueNext<T>(*this); }

  /// Ready with the earliest entry once its deadline has passed, or with
  /// std::nullopt at once when the queue is empty; otherwise arms the
  /// queue's timer to the earliest deadline and remembers cx's waker.
  Poll<std::optional<Expired<T>>> poll_expired(Context& cx) {
    if (heap_.empty()) {
      waker_ = Waker();
      sleep_.reset();
      return std::optional<Expired<T>>();
    }
    const Instant due = heap_.front().deadline;
    if (due > Clock::now()) {
      if (!sleep_ || sleep_->deadline() != due) {
        sleep_.reset();  // withdraws a registered timer
        sleep_.emplace(due);
      }
      if (sleep_->poll(cx).is_pending()) {
        if (!waker_.will_wake(cx.waker())) waker_ = cx.waker();
        return pending;
      }
      // Fired: a timer never fires before its deadline, so `due` has passed.
    }
    waker_ = Waker();
    return std::optional<Expired<T>>(pop_front());
  }

 private:
  friend class DelayQueueNext<T>;

  static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::size_t max_entries = npos;  // slot indices stay below npos

  struct Slot {
    explicit Slot(T&& v) : value(std::move(v)) {}
    std::optional<T> value;  // engaged iff the slot holds an entry
    std::uint32_t gen = 1;   // the generation of the slot's current (or next) entry
    std::uint32_t link = 0;  // held: the entry's position in heap_; free: the next free slot
  };
  struct HeapEntry {
    Instant deadline;
    std::uint64_t seq;  // the order deadlines were set in: ties expire FIFO
    std::uint32_t slot;
  };
  static bool before(const HeapEntry& a, const HeapEntry& b) noexcept {
    return a.deadline < b.deadline || (a.deadline == b.deadline && a.seq < b.seq);
  }

  [[nodiscard]] bool live(Key k) const noexcept {
    return k.index_ < slots_.size() && slots_[k.index_].gen == k.gen_ &&
           slots_[k.index_].value.has_value();
  }

  /// Room for one more entry in both vectors, grown geometrically, so that
  /// nothing after it in insert_at allocates (or throws, but for T's move).
  void reserve_one() {
    if (heap_.size() >= max_entries) throw std::length_error("duet::DelayQueue: too many entries");
    grow(heap_);
    if (free_head_ == npos) grow(slots_);
  }
  template <class V>
  static void grow(V& v) {
    if (v.size() == v.capacity()) v.reserve(v.capacity() < 8 ? 8 : v.capacity() * 2);
  }

  /// Frees slot `i` (its value destroyed) and makes its keys stale.
  void release(std::uint32_t i) noexcept {
    Slot& s = slots_[i];
    s.value.reset();
    if (++s.gen == 0) s.gen = 1;
    s.link = free_head_;
    free_head_ = i;
  }

  Expired<T> pop_front() {
    const HeapEntry top = heap_.front();
    Slot& s = slots_[top.slot];
    Expired<T> e{std::move(*s.value), Key(top.slot, s.gen), top.deadline};
    erase_heap(0);
    release(top.slot);
    return e;
  }

  void wake_if_earlier(Instant d) {
    // A waiter whose timer is later than d (or was withdrawn when the queue
    // emptied) must poll again to re-arm it at d.
    if (waker_ && (!sleep_ || d < sleep_->deadline())) std::move(waker_).wake();
  }
  void forget_waker() noexcept { waker_ = Waker(); }

  void place(std::uint32_t pos, const HeapEntry& e) noexcept {
    heap_[pos] = e;
    slots_[e.slot].link = pos;
  }
  void sift_up(std::uint32_t pos) noexcept {
    const HeapEntry e = heap_[pos];
    while (pos > 0) {
      const std::uint32_t parent = (pos - 1) / 2;
      if (!before(e, heap_[parent])) break;
      place(pos, heap_[parent]);
      pos = parent;
    }
    place(pos, e);
  }
  void sift_down(std::uint32_t pos) noexcept {
    const HeapEntry e = heap_[pos];
    const auto n = static_cast<std::uint32_t>(heap_.size());
    for (;;) {
      std::uint32_t child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], e)) break;
      place(pos, heap_[child]);
      pos = child;
    }
    place(pos, e);
  }
  /// Restores the heap order around `pos` after its key changed.
  void fix(std::uint32_t pos) noexcept {
    if (pos > 0 && before(heap_[pos], heap_[(pos - 1) / 2])) {
      sift_up(pos);
    } else {
      sift_down(pos);
    }
  }
  /// Takes heap_[pos] out (the slot is left to the caller).
  void erase_heap(std::uint32_t pos) noexcept {
    const HeapEntry last = heap_.back();
    heap_.pop_back();
    if (pos < heap_.size()) {
      place(pos, last);
      fix(pos);
    }
  }

  std::vector<Slot> slots_;
  std::vector<HeapEntry> heap_;
  std::uint32_t free_head_ = npos;
  std::uint64_t seq_ = 0;
  Waker waker_;                 // the waiting poller's, while its poll was pending
  std::optional<Sleep> sleep_;  // armed to (or before) the earliest deadline, or empty
};

/// The poll future of DelayQueue::next(): Output std::optional<Expired<T>>.
/// Dropped while pending (a select that chose another case), it makes the
/// queue forget its waker, so a later insert does not wake the task for it.
template <class T>
class [[nodiscard]] DelayQueueNext {
 public:
  explicit DelayQueueNext(DelayQueue<T>& q) noexcept : q_(&q) {}
  DelayQueueNext(DelayQueueNext&& o) noexcept
      : q_(o.q_), waiting_(std::exchange(o.waiting_, false)) {}
  DelayQueueNext& operator=(DelayQueueNext&&) = delete;
  ~DelayQueueNext() {
    if (waiting_) q_->forget_waker();
  }

  Poll<std::optional<Expired<T>>> poll(Context& cx) {
    auto p = q_->poll_expired(cx);
    waiting_ = p.is_pending();
    return p;
  }

 private:
  DelayQueue<T>* q_;
  bool waiting_ = false;
};

}  // namespace duet

// A specialization of the standard library's, not duet's API: hidden from the reference.
/// @cond
template <>
struct std::hash<duet::DelayQueueKey> {
  std::size_t operator()(duet::DelayQueueKey k) const noexcept {
    return std::hash<std::uint64_t>{}((std::uint64_t{k.generation()} << 32) | k.index());
  }
};
/// @endcond
