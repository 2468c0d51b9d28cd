// child.cpp: a spawned child (duet/process/child.hpp): its stdio streams
// (socket operations on its socketpair ends), its exit awaited on its pidfd
// and reaped with waitid(P_PIDFD), and the kill and reap of a child dropped
// before its exit was awaited.
#include <sys/wait.h>
#include "process/pidfd.hpp"

#include <cerrno>

#include "duet/process/child.hpp"

namespace duet::process {
namespace {

// P_PIDFD (linux/wait.h, Linux 5.4): glibc 2.36's idtype_t lacks it.
constexpr auto kPidfd = static_cast<idtype_t>(3);

ExitStatus status_of(const siginfo_t& si) noexcept {
  if (si.si_code == CLD_EXITED) return {si.si_status, 0};
  return {-1, si.si_status};  // CLD_KILLED, CLD_DUMPED
}

}  // namespace

io::SizeFuture ChildStdin::write(std::span<const std::byte> data) noexcept {
  io::detail::OpRequest q{io::detail::OpKind::send};
  q.src = &src_;
  q.wbuf = data.data();
  q.len = data.size();
  return io::SizeFuture(q);
}

io::SizeFuture ChildOutput::read(std::span<std::byte> buf) noexcept {
  io::detail::OpRequest q{io::detail::OpKind::recv};
  q.src = &src_;
  q.rbuf = buf.data();
  q.len = buf.size();
  return io::SizeFuture(q);
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill_and_reap();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::move(o.pidfd_);
    status_ = std::exchange(o.status_, std::nullopt);
    stdin_pipe = std::move(o.stdin_pipe);
    stdout_pipe = std::move(o.stdout_pipe);
    stderr_pipe = std::move(o.stderr_pipe);
  }
  return *this;
}

duet::Result<void> Child::send_signal(int sig) noexcept {
  if (status_ || pidfd_.native_handle() < 0) return io::errno_code(ESRCH);
  if (detail::pidfd_send_signal(pidfd_.native_handle(), sig) < 0) {
    return io::errno_code(errno);
  }
  return {};
}

std::optional<duet::Result<ExitStatus>> Child::try_reap() noexcept {
  return reap_with(WNOHANG);
}

duet::Result<ExitStatus> Child::reap() noexcept {
  // Without WNOHANG waitid returns only once the child has exited (or
  // fails): never empty.
  std::optional<duet::Result<ExitStatus>> st = reap_with(0);
  return st ? std::move(*st) : duet::Result<ExitStatus>(io::errno_code(ECHILD));
}

std::optional<duet::Result<ExitStatus>> Child::reap_with(int flags) noexcept {
  if (status_) return duet::Result<ExitStatus>(*status_);
  if (pidfd_.native_handle() < 0) return duet::Result<ExitStatus>(io::errno_code(ECHILD));
  siginfo_t si{};
  int r = 0;
  do {
    r = ::waitid(kPidfd, static_cast<id_t>(pidfd_.native_handle()), &si, WEXITED | flags);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return duet::Result<ExitStatus>(io::errno_code(errno));
  if (si.si_pid == 0) return std::nullopt;  // still running
  status_ = status_of(si);
  pidfd_.reset();
  return duet::Result<ExitStatus>(*status_);
}

void Child::kill_and_reap() noexcept {
  if (status_ || pidfd_.native_handle() < 0) return;
  (void)detail::pidfd_send_signal(pidfd_.native_handle(), SIGKILL);
  (void)reap();
  pidfd_.reset();
}

Poll<duet::Result<ExitStatus>> WaitFuture::poll(Context& cx) {
  for (;;) {
    // The pidfd's wait ends before a reap closes the pidfd.
    if (ready_) {
      auto p = ready_->poll(cx);
      if (p.is_pending()) return pending;
      duet::Result<io::Readiness> r = std::move(p).value();
      ready_.reset();
      if (!r) return duet::Result<ExitStatus>(r.error());
    }
    if (auto st = child_->try_reap()) return std::move(*st);
    ready_.emplace(child_->pidfd_.readable());  // level: ready at once if it exited
  }
}

}  // namespace duet::process
