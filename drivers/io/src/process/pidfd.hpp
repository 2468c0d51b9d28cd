// pidfd.hpp: the pidfd syscalls, called directly: glibc 2.36's
// <sys/pidfd.h> declares them without C linkage (no __BEGIN_DECLS), so C++
// cannot link against its wrappers.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <csignal>

namespace duet::process::detail {

inline int pidfd_open(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

inline int pidfd_send_signal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

}  // namespace duet::process::detail
