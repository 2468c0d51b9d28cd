// explorer.hpp: an interleaving explorer for small concurrent cases (in the
// manner of loom). A case is two or three threads of a few steps each; every
// operation on an ExploredAtomic or an ExploredCell is a point where the
// explorer may switch threads. explore() runs the case once per distinct
// schedule, depth first, until every interleaving of those points has run,
// and reports the first failure with the schedule that led to it.
//
// What it models: sequentially consistent interleavings of the points (one
// thread runs at a time; compare_exchange_weak never fails spuriously).
// Weaker memory orders are the sanitizers' part (TSan in tests/run).
// ExploredCell models a plain field: a write overlapping any other access
// is a data race, and an access after the owner is freed is a failure.
// ExploredMutex models a lock: a thread waiting for it is not scheduled
// until its holder unlocks, and a schedule in which every thread left waits
// for a lock is reported as a deadlock.
//
// The threads are real threads passing a baton (a mutex and a condition
// variable), so the cases also run unchanged under ASan and TSan.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace duet::test {

class Explorer {
 public:
  struct Result {
    std::size_t schedules = 0;  // interleavings run
    bool exhausted = false;     // every interleaving ran (not cut by the limit)
    std::string failure;        // empty: every schedule passed
    std::string trace;          // the failing schedule, a line per point
  };

  /// One run of the case: `add` each thread; `check` runs after they all
  /// ended (single-threaded), and may call fail().
  struct Case {
    std::vector<std::function<void()>> threads;
    std::function<void()> check;
  };

  /// Runs `make()` once per schedule; stops at the first failure or after
  /// `limit` schedules.
  static Result explore(const std::function<Case()>& make, std::size_t limit = 100000);

  /// A point where another thread may run next (no-op outside explore()).
  static void point(const char* what);
  /// A point after which this thread runs again only once `*held` is -1
  /// (a lock's holder; ExploredMutex). Returns the running thread's index
  /// (-2 outside the explored threads: the case's check).
  static int point_waiting(const char* what, const int* held);
  /// Records a failure of the current schedule (the first one wins).
  static void fail(const std::string& why);
  static void expect(bool ok, const char* why) {
    if (!ok) fail(why);
  }
};

/// An atomic whose every operation is an explorer point.
template <class T>
class ExploredAtomic {
 public:
  constexpr explicit ExploredAtomic(T v = T{}) noexcept : v_(v) {}
  T load(std::memory_order = std::memory_order_seq_cst) const {
    Explorer::point("load");
    return v_.load();
  }
  void store(T v, std::memory_order = std::memory_order_seq_cst) {
    Explorer::point("store");
    v_.store(v);
  }
  T exchange(T v, std::memory_order = std::memory_order_seq_cst) {
    Explorer::point("exchange");
    return v_.exchange(v);
  }
  T fetch_add(T d, std::memory_order = std::memory_order_seq_cst) {
    Explorer::point("fetch_add");
    return v_.fetch_add(d);
  }
  T fetch_sub(T d, std::memory_order = std::memory_order_seq_cst) {
    Explorer::point("fetch_sub");
    return v_.fetch_sub(d);
  }
  T fetch_or(T d, std::memory_order = std::memory_order_seq_cst) {
    Explorer::point("fetch_or");
    return v_.fetch_or(d);
  }
  T fetch_xor(T d, std::memory_order = std::memory_order_seq_cst) {
    Explorer::point("fetch_xor");
    return v_.fetch_xor(d);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order = std::memory_order_seq_cst,
                             std::memory_order = std::memory_order_seq_cst) {
    Explorer::point("compare_exchange");
    return v_.compare_exchange_strong(expected, desired);
  }
  bool compare_exchange_strong(T& expected, T desired,
                               std::memory_order = std::memory_order_seq_cst,
                               std::memory_order = std::memory_order_seq_cst) {
    Explorer::point("compare_exchange");
    return v_.compare_exchange_strong(expected, desired);
  }
  /// The value without a point: for a case's check, after the threads.
  T peek() const { return v_.load(); }

 private:
  std::atomic<T> v_;
};

/// The atomics policy of a structure under test (as duet's StdAtomics).
struct ExploredAtomics {
  template <class T>
  using atomic = ExploredAtomic<T>;
};

/// A plain field, tracked: each access is two points (begin, end), and an
/// access overlapping a write, or made after `alive` turned false, fails.
template <class T>
class ExploredCell {
 public:
  explicit ExploredCell(const bool* alive, T v = T{}) : alive_(alive), v_(v) {}
  T read() {
    begin("cell read", false);
    T v = v_;
    end(false);
    return v;
  }
  void write(T v) {
    begin("cell write", true);
    v_ = v;
    end(true);
  }
  T peek() const { return v_; }

 private:
  void begin(const char* what, bool write) {
    Explorer::point(what);
    if (!*alive_) Explorer::fail(std::string(what) + " after the owner was freed");
    if (writers_ > 0 || (write && readers_ > 0)) {
      Explorer::fail(std::string("data race: ") + what + " overlaps a write" +
                     (write && readers_ > 0 ? " or a read" : ""));
    }
    ++(write ? writers_ : readers_);
  }
  void end(bool write) {
    Explorer::point("cell access ends");
    --(write ? writers_ : readers_);
  }

  const bool* alive_;
  T v_;
  // Only one thread runs at a time under the explorer: plain counters.
  int readers_ = 0;
  int writers_ = 0;
};

/// A mutex (BasicLockable): lock() is a point at which the thread waits
/// while another thread holds it. Only for explored threads and the case's
/// check (which runs alone).
class ExploredMutex {
 public:
  void lock() {
    const int me = Explorer::point_waiting("lock", &owner_);
    if (owner_ != -1) Explorer::fail(owner_ == me ? "a lock taken twice" : "deadlock");
    owner_ = me;
  }
  void unlock() {
    // No point: what the holder did is ordered before the next holder's
    // lock() point, which the explorer may already choose next.
    owner_ = -1;
  }
  bool held() const { return owner_ != -1; }

 private:
  int owner_ = -1;  // the holder's thread index (-1: free, -2: the check)
};

}  // namespace duet::test
