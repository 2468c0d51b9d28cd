// duet/signal/signal.hpp: POSIX signals as an awaitable stream, from
// coroutines and fibers, on both I/O backends.
//
// Example (coroutine):
//   auto sub = duet::signal::subscribe(SIGTERM);   // Result<Subscription>
//   if (sub) {
//     auto n = co_await sub->recv();               // Result<std::uint64_t>
//     if (n) use(*n);                              // deliveries since the last recv
//   }
//
// Several subscribers, each sees each delivery (broadcast): every
// Subscription counts from its subscribe(), and recv() is ready once the
// signal arrived since the last recv of that Subscription, with how many
// times. A standard signal raised again while still pending is folded by the
// kernel into one delivery, so the count can be lower than the number of
// kill() calls; it is never zero and no delivery is lost between recvs.
//
// How: the first subscription of a signal installs duet's handler with
// sigaction (SA_RESTART), saving the previous disposition; the handler
// (async-signal-safe) counts the delivery and writes a process-wide eventfd,
// which recv() waits on through AsyncFd (duet/io/async_fd.hpp). When the
// last subscription of a signal goes, the saved disposition is restored.
// The process signal mask is never changed, unlike a signalfd: a signalfd
// sees only signals blocked in every thread, and a library cannot block a
// signal in threads that already exist (pthread_sigmask changes the calling
// thread only), so a process-directed signal would reach an unblocked
// thread's default action (SIGINT, SIGTERM, SIGHUP terminate) and a raise()
// in another thread would never reach the signalfd's reader. With a handler
// a delivery is seen whichever thread takes it: kill(getpid(), s), raise()
// on any thread, a signal from another process. A signal that the caller
// blocks in every thread stays pending and is not seen (unblock it).
//
// The eventfd is made by the first subscribe() and kept for the life of the
// process (a handler may run on another thread at any moment, so closing it
// could make the handler write into a reused descriptor). Signals that
// report a fault of the running code (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
// SIGTRAP, SIGSYS) and those that cannot be caught (SIGKILL, SIGSTOP) are
// EINVAL.
#pragma once

#include "duet/export.hpp"

#include <csignal>  // SIGINT, SIGTERM... for the callers
#include <cstdint>
#include <optional>

#include "duet/io/async_fd.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"
#include "duet/sync/detail/wait_list.hpp"

namespace duet::signal {

class Subscription;

/// recv(): Result<std::uint64_t>, the deliveries since the last recv (>= 1).
/// A pending recv's waker is held by the process's signal hub until a
/// delivery wakes it, the recv completes, or the future is destroyed
/// (dropping a recv gives its waker, and so its task's memory, back at
/// once).
class [[nodiscard]] DUET_API RecvFuture {
 public:
  explicit RecvFuture(Subscription* s) noexcept : sub_(s) {}
  RecvFuture(RecvFuture&& o) noexcept;
  RecvFuture& operator=(RecvFuture&&) = delete;
  ~RecvFuture();
  Poll<duet::Result<std::uint64_t>> poll(Context& cx);

 private:
  Subscription* sub_;
  std::optional<io::ReadyFuture> wait_;  // the eventfd's readiness, while pending
  duet::detail::WaitNode node_;          // linked in the process's signal hub while pending
};

class DUET_API Subscription {
 public:
  Subscription() noexcept = default;
  Subscription(Subscription&& o) noexcept;
  Subscription& operator=(Subscription&& o) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }

  /// The next deliveries of the signal (a future borrows this Subscription).
  RecvFuture recv() noexcept { return RecvFuture(this); }
  [[nodiscard]] int signo() const noexcept { return sig_; }
  /// Unsubscribes now (the destructor does too): the last subscription of a
  /// signal restores its previous disposition.
  void reset() noexcept;

 private:
  friend duet::Result<Subscription> subscribe(int sig) noexcept;
  friend class RecvFuture;
  Subscription(int sig, std::uint64_t seen) noexcept : sig_(sig), seen_(seen) {}
  int sig_ = 0;             // 0: empty (moved from, or reset)
  std::uint64_t seen_ = 0;  // the signal's delivery count at the last recv
};

/// Subscribes to `sig`: EINVAL for a signal that cannot be caught or that
/// reports a fault; the OS reason when the eventfd or sigaction fails.
DUET_API duet::Result<Subscription> subscribe(int sig) noexcept;

}  // namespace duet::signal
