// signal.cpp: signal subscriptions (duet/signal/signal.hpp). The handler
// counts deliveries per signal and writes one process-wide eventfd; the
// hub keeps, under its mutex, the subscriber count and saved disposition of
// each signal, the AsyncFd on the eventfd (while any subscription lives) and
// the wakers of the pending recvs, one per future: a recv that completes or
// is dropped removes its own, so no waker outlives its future.
//
// Lost-wake rule: a recv registers its waker in the hub BEFORE it reads the
// delivery count, and whichever recv drains the eventfd wakes every
// registered waker AFTER draining. So a recv whose registration came after a
// drain reads a count that includes every delivery that drain consumed (the
// handler counts before it writes), and one that registered before is woken.
#include "duet/signal/signal.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <utility>
#include <vector>

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
  // The pending recvs' wakers, one per future (keyed by its address), so
  // that a recv that completes or is dropped takes its own back.
  struct Waiter {
    const RecvFuture* owner;
    Waker waker;
  };
  std::vector<Waiter> waiters;
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

void add_waiter(Hub& h, const RecvFuture* owner, const Waker& w) {
  std::lock_guard lk(h.mu);
  for (Hub::Waiter& o : h.waiters) {
    if (o.owner != owner) continue;
    if (!o.waker.will_wake(w)) o.waker = w;
    return;
  }
  h.waiters.push_back({owner, w});
}

/// Takes `owner`'s waker out of the list, if a drain has not already.
void remove_waiter(Hub& h, const RecvFuture* owner) noexcept {
  Waker gone;  // dropped after the lock
  std::lock_guard lk(h.mu);
  auto& v = h.waiters;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it->owner != owner) continue;
    gone = std::move(it->waker);
    *it = std::move(v.back());
    v.pop_back();
    return;
  }
}

/// Moves `from`'s entry to `to` (a pending recv moved to a new address).
void rekey_waiter(Hub& h, const RecvFuture* from, const RecvFuture* to) noexcept {
  std::lock_guard lk(h.mu);
  for (Hub::Waiter& o : h.waiters) {
    if (o.owner == from) o.owner = to;
  }
}

/// Empties the eventfd, then wakes every registered recv (see the rule).
void drain_and_wake(Hub& h) {
  std::uint64_t v = 0;
  (void)!::read(g_wake_fd.load(), &v, sizeof v);
  std::vector<Hub::Waiter> ws;
  {
    std::lock_guard lk(h.mu);
    ws.swap(h.waiters);
  }
  for (Hub::Waiter& w : ws) std::move(w.waker).wake();
}

}  // namespace

io::Result<Subscription> subscribe(int sig) noexcept {
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

RecvFuture::RecvFuture(RecvFuture&& o) noexcept
    : sub_(o.sub_), wait_(std::move(o.wait_)), registered_(std::exchange(o.registered_, false)) {
  if (registered_) rekey_waiter(hub(), &o, this);
}

RecvFuture::~RecvFuture() {
  if (registered_) remove_waiter(hub(), this);
}

Poll<io::Result<std::uint64_t>> RecvFuture::poll(Context& cx) {
  if (sub_->sig_ == 0) return io::Result<std::uint64_t>(io::errno_code(EBADF));
  Hub& h = hub();
  for (;;) {
    add_waiter(h, this, cx.waker());  // before the count: the lost-wake rule
    registered_ = true;
    const std::uint64_t c = g_count[static_cast<std::size_t>(sub_->sig_)].load();
    if (c != sub_->seen_) {
      wait_.reset();
      remove_waiter(h, this);
      registered_ = false;
      return io::Result<std::uint64_t>(c - std::exchange(sub_->seen_, c));
    }
    // h.wake lives while this subscription does (total > 0).
    if (!wait_) wait_.emplace(h.wake->readable());
    auto p = wait_->poll(cx);
    if (p.is_pending()) return pending;
    wait_.reset();
    if (!p.value()) return io::Result<std::uint64_t>(p.value().error());
    drain_and_wake(h);
  }
}

}  // namespace duet::signal
