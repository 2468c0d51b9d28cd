// file_pool.cpp: the file pool, two threads that run file operations for
// epoll (regular files have no readiness), through the same IoOp protocol
// as io_uring: the job's thread writes only into the IoOp's buffer, and a
// job whose future was dropped before it started is skipped.
#include <cerrno>

#include "duet/detail/fork.hpp"
#include "duet/detail/immortal.hpp"
#include "io/io_op.hpp"

namespace duet::io::detail {

namespace {

/// Stops the pool's threads when static destructors run, except in a forked
/// child, where they are not there and the pool's lock may be held
/// (duet/detail/fork.hpp).
struct StopAtExit {
  FilePool* pool;
  ~StopAtExit() {
    if (!duet::detail::in_forked_child()) pool->stop_and_join();
  }
};

}  // namespace

FilePool& FilePool::instance() {
  static duet::detail::Immortal<FilePool> storage;  // never destroyed
  static StopAtExit stop{storage.get()};
  return *stop.pool;
}

FilePool::FilePool() {
  duet::detail::fork_guard_arm();
  for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { run(); });
}

void FilePool::stop_and_join() noexcept {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void FilePool::submit(IoOp* op) {
  op->ref();
  {
    std::lock_guard lk(mu_);
    q_.push_back(op);
  }
  cv_.notify_one();
}

void FilePool::run() {
  for (;;) {
    IoOp* op = nullptr;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;
      op = q_.front();
      q_.pop_front();
    }
    op->lock.lock();
    const bool skip = op->abandoned;
    op->lock.unlock();
    op->complete(skip ? -ECANCELED : run_file_op_sync(op));
  }
}

Poll<long> start_on_file_pool(OpRequest& q, OpSlot& slot, Context& cx) {
  IoOp* op = build_op(q);
  op->waker = cx.waker();
  slot.op = op;
  FilePool::instance().submit(op);
  return pending;
}

}  // namespace duet::io::detail
