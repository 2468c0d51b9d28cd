// pool.cpp: the blocking pool behind duet::spawn_blocking.
//
// One mutex-protected FIFO of jobs (intrusive through TaskHeader::next) and
// threads started on demand up to max_threads. A thread that waits
// keep_alive without getting a job exits. The mutex is fine here: a job is
// a blocking call that costs microseconds at least; what matters is that no
// worker thread ever runs one.
//
// Process exit: the pool is never destroyed (its threads may outlive every
// static destructor, blocked in a system call); an exit hook stops it
// instead. From then on no queued job starts, and no running job is waited
// for, so a job stuck in read(2) cannot hold the exit.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

#include "duet/blocking.hpp"
#include "duet/detail/fork.hpp"
#include "duet/detail/immortal.hpp"
#include "duet/runtime.hpp"
#include "sched/scheduler.hpp"
#include "task/harness.hpp"

namespace duet::detail {
namespace {

class BlockingPool {
 public:
  /// At process exit: queued jobs never start, idle threads leave, running
  /// jobs are not waited for (the process ends with them).
  void stop_at_exit() noexcept {
    std::lock_guard g(mu_);
    stop_ = true;
    cv_.notify_all();
  }

  void configure(std::size_t max_threads, std::chrono::nanoseconds keep_alive) {
    std::lock_guard g(mu_);
    max_threads_ = max_threads == 0 ? 1 : max_threads;
    keep_alive_ = keep_alive;
    cv_.notify_all();  // idle threads re-read keep_alive
  }

  void submit(BlockingTaskBase* t, const RuntimeConfig* cfg) {
    std::unique_lock lk(mu_);
    if (cfg != nullptr) {
      max_threads_ = cfg->max_blocking_threads == 0 ? 1 : cfg->max_blocking_threads;
      keep_alive_ = cfg->blocking_keep_alive;
    }
    t->next = nullptr;
    if (tail_ != nullptr) {
      tail_->next = t;
    } else {
      head_ = t;
    }
    tail_ = t;
    ++queued_;
    // Every queued job needs a thread: an idle one, or a new one within
    // the limit (waiting idle threads may all be spoken for already).
    if (idle_ > 0) cv_.notify_one();
    if (queued_ > idle_ && threads_ < max_threads_) {
      ++threads_;
      ++spawned_;
      if (threads_ > peak_) peak_ = threads_;
      fork_guard_arm();
      std::thread([this] { run(); }).detach();
    }
  }

  BlockingPoolStats stats() {
    std::lock_guard g(mu_);
    return {threads_, idle_, queued_, max_threads_, peak_, spawned_, reclaimed_};
  }

 private:
  void run() {
    std::unique_lock lk(mu_);
    for (;;) {
      if (stop_) break;
      if (head_ != nullptr) {
        auto* t = static_cast<BlockingTaskBase*>(head_);
        head_ = t->next;
        if (head_ == nullptr) tail_ = nullptr;
        t->next = nullptr;
        --queued_;
        lk.unlock();
        blocking_run(t);
        lk.lock();
        continue;
      }
      // Idle: wait for a job, at most keep_alive (re-read on every wake, so
      // that configure() applies to threads already waiting).
      ++idle_;
      const auto since = std::chrono::steady_clock::now();
      bool timed_out = false;
      while (head_ == nullptr && !stop_) {
        if (cv_.wait_until(lk, since + keep_alive_) == std::cv_status::timeout &&
            std::chrono::steady_clock::now() >= since + keep_alive_) {
          timed_out = head_ == nullptr && !stop_;
          break;
        }
      }
      --idle_;
      if (timed_out) {
        ++reclaimed_;
        break;  // idle for keep_alive: reclaim this thread
      }
    }
    --threads_;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  TaskHeader* head_ = nullptr;
  TaskHeader* tail_ = nullptr;
  std::size_t queued_ = 0, threads_ = 0, idle_ = 0, peak_ = 0;
  std::uint64_t spawned_ = 0, reclaimed_ = 0;
  std::size_t max_threads_ = 512;
  std::chrono::nanoseconds keep_alive_ = std::chrono::seconds(10);
  bool stop_ = false;
};

/// Stops the pool when static destructors run (exit, or main returning):
/// constructed after the pool, destroyed before anything constructed
/// earlier.
struct StopAtExit {
  BlockingPool* pool;
  ~StopAtExit() {
    // A forked child's copy may have its lock held by a thread that is
    // not there (duet/detail/fork.hpp): left alone.
    if (!in_forked_child()) pool->stop_at_exit();
  }
};

BlockingPool& pool() {
  static Immortal<BlockingPool> storage;  // constructed on first use, never destroyed
  static StopAtExit stop{storage.get()};
  return *stop.pool;
}

}  // namespace

void blocking_submit(BlockingTaskBase* t) {
  Worker* w = current_worker();
  pool().submit(t, w != nullptr ? &w->scheduler().cfg : nullptr);
}

void blocking_run(BlockingTaskBase* t) noexcept {
  TaskSnapshot prev = start_run<RunStart::queued>(t);
  if (prev.is_cancelled()) {
    t->vtable->cancel(t);
  } else {
    t->body(t);
  }
  publish_completion(t);
  t->unref();  // the pool's reference (a blocking job is never listed)
}

}  // namespace duet::detail

namespace duet {

BlockingPoolStats blocking_pool_stats() {
  return detail::pool().stats();
}

void configure_blocking_pool(std::size_t max_threads, std::chrono::nanoseconds keep_alive) {
  detail::pool().configure(max_threads, keep_alive);
}

}  // namespace duet
