// signal.cpp: signal subscriptions (duet/signal/signal.hpp). The handler
// counts deliveries per signal and writes one process-wide eventfd; the
// hub keeps, under its mutex, the subscriber count and saved disposition of
// each signal, the AsyncFd on the eventfd (while any subscription lives) and
// the pending recvs, each a waiter node of the sync primitives' protocol
// (duet/sync/detail/wait_list.hpp) linked in the hub's list: a recv that
// completes or is dropped unlinks its own, so no waker outlives its future.
//
// Lost-wake rule: a recv links its node in the hub BEFORE it reads the
// delivery count, and whichever recv drains the eventfd completes every
// linked node AFTER draining (drain_in_batches). So a recv linked after a
// drain reads a count that includes every delivery that drain consumed (the
// handler counts before it writes), and one linked before is woken.
// A recv woken by a drain that links itself again while the drain goes on
// may be completed by it once more: a spurious wake (it reads the count,
// finds nothing new, and waits again), never a lost one.
#include "duet/signal/signal.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <utility>

#include "duet/waker.hpp"

namespace duet::signal {
namespace {

constexpr int kSignals = NSIG;

// Deliveries per signal, written by the handler. Seq_cst (the default) on
// both sides: the handler's count must be visible to a recv that saw its
// eventfd write, an order that passes through the kernel, not a C++ edge.
std::array<std::atomic<std::uint64_t>, kSignals> g_count{};
// The eventfd the handler writes: -1 until the first subscribe(), then never
// changes (nor closes). Seq_cst for the same reason as the counts.
std::atomic<int> g_wake_fd{-1};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the handler needs lock-free atomics");

extern "C" void on_signal(int sig) {
  const int saved = errno;
  g_count[static_cast<std::size_t>(sig)].fetch_add(1);
  const std::uint64_t one = 1;
  (void)!::write(g_wake_fd.load(), &one, sizeof one);
  errno = saved;
}

struct Hub {
  std::mutex mu;
  std::array<int, kSignals> subscribers{};
  std::array<struct sigaction, kSignals> saved{};
  int total = 0;
  std::optional<io::AsyncFd> wake;  // borrows g_wake_fd while total > 0
  // The pending recvs' nodes (guarded by mu: the status rule's lock).
  duet::detail::WaitList<> waiters;
};

Hub& hub() {
  static Hub h;
  return h;
}

bool catchable(int sig) {
  if (sig <= 0 || sig >= kSignals) return false;
  switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
      return false;
    default:
      return true;
  }
}

/// Under the hub's lock: the eventfd, made once.
int wake_fd_locked() {
  int fd = g_wake_fd.load();
  if (fd >= 0) return fd;
  fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd >= 0) g_wake_fd.store(fd);
  return fd;
}

/// Links `n` with `w`, or keeps the freshest waker where it is linked
/// (a node a drain completed is linked again: it waits for the next one).
void link_waiter(Hub& h, duet::detail::WaitNode& n, const Waker& w) {
  std::lock_guard lk(h.mu);
  // Relaxed: the status rule (accesses under the hub's lock).
  if (n.status.load(std::memory_order_relaxed) == duet::detail::st_queued) {
    n.update_waker(w);
    return;
  }
  n.waker = w;
  n.status.store(duet::detail::st_queued, std::memory_order_relaxed);
  h.waiters.push_back(&n);
}

/// Unlinks `n`, if a drain has not already.
void unlink_waiter(Hub& h, duet::detail::WaitNode& n) noexcept {
  Waker gone;  // dropped after the lock
  std::lock_guard lk(h.mu);
  if (n.status.load(std::memory_order_relaxed) == duet::detail::st_queued) {
    h.waiters.remove(&n);
    gone = std::move(n.waker);
  }
  n.status.store(duet::detail::st_idle, std::memory_order_relaxed);
}

/// Empties the eventfd, then wakes every linked recv (see the rule).
void drain_and_wake(Hub& h) {
  std::uint64_t v = 0;
  (void)!::read(g_wake_fd.load(), &v, sizeof v);
  duet::detail::drain_in_batches(h.mu, [&h](duet::detail::WakeBatch& b) {
    return duet::detail::complete_into(h.waiters, b, duet::detail::st_done);
  });
}

}  // namespace

duet::Result<Subscription> subscribe(int sig) noexcept {
  if (!catchable(sig)) return io::errno_code(EINVAL);
  Hub& h = hub();
  std::lock_guard lk(h.mu);
  const int fd = wake_fd_locked();
  if (fd < 0) return io::errno_code(errno);
  auto s = static_cast<std::size_t>(sig);
  if (h.subscribers[s] == 0) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(sig, &sa, &h.saved[s]) < 0) return io::errno_code(errno);
  }
  if (h.total == 0) {
    auto a = io::AsyncFd::borrow(fd);
    if (!a) {
      if (h.subscribers[s] == 0) ::sigaction(sig, &h.saved[s], nullptr);
      return a.error();
    }
    h.wake.emplace(std::move(*a));
  }
  ++h.subscribers[s];
  ++h.total;
  return Subscription(sig, g_count[s].load());
}

Subscription::Subscription(Subscription&& o) noexcept
    : sig_(std::exchange(o.sig_, 0)), seen_(o.seen_) {}

Subscription& Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    reset();
    sig_ = std::exchange(o.sig_, 0);
    seen_ = o.seen_;
  }
  return *this;
}

void Subscription::reset() noexcept {
  if (sig_ == 0) return;
  Hub& h = hub();
  std::lock_guard lk(h.mu);
  auto s = static_cast<std::size_t>(std::exchange(sig_, 0));
  if (--h.subscribers[s] == 0) ::sigaction(static_cast<int>(s), &h.saved[s], nullptr);
  if (--h.total == 0) h.wake.reset();
}

RecvFuture::RecvFuture(RecvFuture&& o) noexcept : sub_(o.sub_), wait_(std::move(o.wait_)) {
  // A pending recv moved: its place in the hub's list goes to the new node.
  // Acquire: the status rule (a drain may have completed it meanwhile).
  if (o.node_.load_status() == duet::detail::st_idle) return;
  Hub& h = hub();
  std::lock_guard lk(h.mu);
  if (o.node_.status.load(std::memory_order_relaxed) == duet::detail::st_queued) {
    h.waiters.remove(&o.node_);
    node_.waker = std::move(o.node_.waker);
    node_.status.store(duet::detail::st_queued, std::memory_order_relaxed);
    h.waiters.push_back(&node_);
  }
  o.node_.status.store(duet::detail::st_idle, std::memory_order_relaxed);
}

RecvFuture::~RecvFuture() {
  // Acquire: the status rule (a node no longer queued skips the lock).
  if (node_.load_status() == duet::detail::st_queued) unlink_waiter(hub(), node_);
}

Poll<duet::Result<std::uint64_t>> RecvFuture::poll(Context& cx) {
  if (sub_->sig_ == 0) return duet::Result<std::uint64_t>(io::errno_code(EBADF));
  Hub& h = hub();
  for (;;) {
    link_waiter(h, node_, cx.waker());  // before the count: the lost-wake rule
    const std::uint64_t c = g_count[static_cast<std::size_t>(sub_->sig_)].load();
    if (c != sub_->seen_) {
      wait_.reset();
      unlink_waiter(h, node_);
      return duet::Result<std::uint64_t>(c - std::exchange(sub_->seen_, c));
    }
    // h.wake lives while this subscription does (total > 0).
    if (!wait_) wait_.emplace(h.wake->readable());
    auto p = wait_->poll(cx);
    if (p.is_pending()) return pending;
    wait_.reset();
    if (!p.value()) return duet::Result<std::uint64_t>(p.value().error());
    drain_and_wake(h);
  }
}

}  // namespace duet::signal
