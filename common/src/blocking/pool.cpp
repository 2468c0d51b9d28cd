// pool.cpp: the blocking pool behind duet::spawn_blocking.
//
// One mutex-protected FIFO of jobs ready to run (intrusive through
// TaskHeader::next) and threads started on demand, shared by the process.
// Each job counts against a quota (quota.hpp): its runtime's, or the
// process's for a job spawned off every worker. A job whose quota has room
// goes to the ready FIFO (and holds one of the quota's slots until it
// ends); one over its quota's limit waits in the quota's own FIFO and takes
// the slot its quota's next finished job gives back. A thread is started
// only for a ready job that no idle thread will take, so the threads never
// outnumber the most slots held at once (the sum of the quotas' limits at
// most) and the services running. A thread that waits its keep-alive (that of its last job's quota,
// capped by the process's) without a job exits.
//
// The mutex is fine here: a job is a blocking call that costs microseconds
// at least; what matters is that no worker thread ever runs one. Every
// field of the pool and of every quota is guarded by it.
//
// The pool also runs duet's own loops (service.hpp): they go first, hold no
// slot and count as ready work for starting and waking threads.
//
// Process exit: the pool is never destroyed (its threads may outlive every
// static destructor, blocked in a system call); an exit hook stops it
// instead. From then on no queued job starts, and no running job is waited
// for, so a job stuck in read(2) cannot hold the exit.
#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>

#include "blocking/quota.hpp"
#include "blocking/service.hpp"
#include "duet/blocking.hpp"
#include "duet/detail/fork.hpp"
#include "duet/detail/immortal.hpp"
#include "duet/runtime.hpp"
#include "task/harness.hpp"

namespace duet::detail {

/// A share of the pool: its limit, its keep-alive, the slots its jobs hold,
/// the jobs over its limit (FIFO). Guarded by the pool's mutex.
struct BlockingQuota {
  std::size_t max_running = 512;
  std::chrono::nanoseconds keep_alive = std::chrono::seconds(10);
  std::size_t running = 0, peak = 0, waiting = 0;
  TaskHeader* head = nullptr;
  TaskHeader* tail = nullptr;
  /// The owner's (a runtime's; the process's is never dropped) and one per
  /// job submitted and not yet ended.
  std::size_t refs = 1;
};

namespace {

/// A FIFO through the nodes' `next` (jobs, services).
template <class Node>
void push(Node*& head, Node*& tail, std::type_identity_t<Node>* t) noexcept {
  t->next = nullptr;
  if (tail != nullptr) {
    tail->next = t;
  } else {
    head = t;
  }
  tail = t;
}

template <class Node>
Node* pop(Node*& head, Node*& tail) noexcept {
  Node* t = head;
  head = t->next;
  if (head == nullptr) tail = nullptr;
  t->next = nullptr;
  return t;
}

std::size_t at_least_one(std::size_t n) noexcept {
  return n == 0 ? 1 : n;
}

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
    process_.max_running = at_least_one(max_threads);
    process_.keep_alive = keep_alive;
    promote(process_);  // a higher limit lets waiting jobs start
    cv_.notify_all();   // idle threads re-read the keep-alive
  }

  BlockingQuota* open(const RuntimeConfig& cfg) {
    auto q = std::make_unique<BlockingQuota>();
    q->max_running = at_least_one(cfg.max_blocking_threads);
    q->keep_alive = cfg.blocking_keep_alive;
    return q.release();  // freed by the last release()
  }

  void close(BlockingQuota* q) noexcept {
    std::lock_guard g(mu_);
    release(q);
  }

  void submit(BlockingTaskBase* t, BlockingQuota* q) {
    std::lock_guard g(mu_);
    if (q == nullptr) q = &process_;
    t->quota = q;
    ++q->refs;
    if (q->running < q->max_running) {
      start(*q, t);
    } else {
      push(q->head, q->tail, t);
      ++q->waiting;
      ++waiting_;
    }
  }

  void serve(BlockingService* s) {
    std::lock_guard g(mu_);
    if (stop_) return;
    push(svc_head_, svc_tail_, s);
    ++queued_;
    ++services_;
    dispatch(0);
  }

  BlockingPoolStats stats() {
    std::lock_guard g(mu_);
    return {threads_, idle_,     queued_ - services_ + waiting_, process_.max_running, peak_,
            spawned_, reclaimed_};
  }

  BlockingPoolStats stats(const BlockingQuota* q) {
    std::lock_guard g(mu_);
    return {q->running, 0, q->waiting, q->max_running, q->peak, 0, 0};
  }

 private:
  /// `t` takes a slot of `q` and joins the ready FIFO; a thread is woken or
  /// started for it (waiting idle threads may all be spoken for already).
  /// `takers`: pool threads about to look for a job without waiting (the
  /// caller, when a job of its own just ended).
  void start(BlockingQuota& q, TaskHeader* t, std::size_t takers = 0) {
    ++q.running;
    q.peak = std::max(q.peak, q.running);
    push(head_, tail_, t);
    ++queued_;
    dispatch(takers);
  }

  /// Ready work was queued: an idle thread is woken for it, or a thread is
  /// started when every thread that will look is spoken for.
  void dispatch(std::size_t takers) {
    if (queued_ <= takers) return;
    if (idle_ > 0) cv_.notify_one();
    // Threads started and not yet looking for a job will take one each.
    if (queued_ > idle_ + starting_ + takers) {
      ++threads_;
      ++starting_;
      ++spawned_;
      peak_ = std::max(peak_, threads_);
      fork_guard_arm();
      std::thread([this] { run(); }).detach();
    }
  }

  /// Starts `q`'s waiting jobs while it has room.
  void promote(BlockingQuota& q, std::size_t takers = 0) {
    while (q.waiting > 0 && q.running < q.max_running) {
      --q.waiting;
      --waiting_;
      start(q, pop(q.head, q.tail), takers);
    }
  }

  /// A job of `q` ended on the calling pool thread: its slot goes to `q`'s
  /// next waiting job, which the caller takes itself (it looks for a job
  /// next) unless another thread does first.
  void finished(BlockingQuota* q) {
    --q->running;
    promote(*q, 1);
    release(q);
  }

  void release(BlockingQuota* q) noexcept {
    if (--q->refs == 0 && q != &process_) {
      std::unique_ptr<BlockingQuota> gone(q);
    }
  }

  void run() {
    std::unique_lock lk(mu_);
    --starting_;
    std::chrono::nanoseconds keep = process_.keep_alive;
    for (;;) {
      if (stop_) break;
      if (svc_head_ != nullptr) {
        BlockingService* s = pop(svc_head_, svc_tail_);
        --queued_;
        --services_;
        keep = process_.keep_alive;
        lk.unlock();
        s->run(s);
        lk.lock();
        continue;
      }
      if (head_ != nullptr) {
        auto* t = static_cast<BlockingTaskBase*>(pop(head_, tail_));
        --queued_;
        BlockingQuota* q = t->quota;  // read before the run: it may free t
        keep = q->keep_alive;
        lk.unlock();
        blocking_run(t);
        lk.lock();
        finished(q);
        continue;
      }
      if (idle_wait(lk, keep)) {
        ++reclaimed_;
        break;  // idle for its keep-alive: reclaim this thread
      }
    }
    --threads_;
  }

  /// Waits for a job, at most the keep-alive (its last quota's, capped by
  /// the process's, re-read on every wake so that configure() applies to
  /// threads already waiting): true when it ran out with nothing to do.
  bool idle_wait(std::unique_lock<std::mutex>& lk, std::chrono::nanoseconds keep) {
    ++idle_;
    const auto since = std::chrono::steady_clock::now();
    bool timed_out = false;
    while (queued_ == 0 && !stop_) {
      const auto until = since + std::min(keep, process_.keep_alive);
      if (cv_.wait_until(lk, until) == std::cv_status::timeout &&
          std::chrono::steady_clock::now() >= since + std::min(keep, process_.keep_alive)) {
        timed_out = queued_ == 0 && !stop_;
        break;
      }
    }
    --idle_;
    return timed_out;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  TaskHeader* head_ = nullptr;  // ready: each holds a slot of its quota
  TaskHeader* tail_ = nullptr;
  BlockingService* svc_head_ = nullptr;  // ready services (service.hpp)
  BlockingService* svc_tail_ = nullptr;
  BlockingQuota process_;  // jobs spawned off every worker
  std::size_t queued_ = 0, waiting_ = 0, threads_ = 0, idle_ = 0, peak_ = 0;
  std::size_t services_ = 0;  // of queued_, services (not jobs: not in the stats)
  std::size_t starting_ = 0;  // threads started that have not looked for a job yet
  std::uint64_t spawned_ = 0, reclaimed_ = 0;
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
  pool().submit(t, current_blocking_quota());
}

void blocking_serve(BlockingService* s) {
  pool().serve(s);
}

BlockingQuotaRef::BlockingQuotaRef(const RuntimeConfig& cfg) : q_(pool().open(cfg)) {}

BlockingQuotaRef::~BlockingQuotaRef() {
  pool().close(q_);
}

BlockingPoolStats BlockingQuotaRef::stats() const {
  return pool().stats(q_);
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

void configure_blocking_pool(BlockingPoolConfig config) {
  detail::pool().configure(config.max_threads, config.keep_alive);
}

}  // namespace duet
