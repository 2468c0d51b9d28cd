// duet/io/fd.hpp: an owned file descriptor. Closing is RAII; every duet
// socket and file holds exactly one Fd.
//
// A descriptor at or above kVirtualFdBase is virtual: a socket of a
// simulated network (duet::sim, docs/simulation.md), a number that never
// reaches the kernel. The kernel hands out the lowest free number, below
// fs.nr_open (2^20 by default): a real descriptor reaches 2^30 only in a
// process with a billion open, so none is mistaken for a virtual one.
// Closing goes through the descriptor's socket table
// (duet/io/detail/socket_ops.hpp): the kernel's for a real descriptor, the
// simulated network's for a virtual one.
#pragma once

#include "duet/export.hpp"

#include <unistd.h>

#include <utility>

namespace duet::io {

/// The first virtual descriptor (above every descriptor the kernel hands out).
inline constexpr int kVirtualFdBase = 1 << 30;

namespace detail {
/// Closes `fd` through its socket table (duet/io/detail/socket_ops.hpp): the
/// kernel's close, or the simulated network's (a no-op once that network
/// is gone). 0, or -1 with errno.
DUET_API int close_fd(int fd) noexcept;
/// The same as close_fd, for programs built against an earlier 0.1 header,
/// whose inline Fd::reset calls it for a virtual descriptor.
DUET_API int close_virtual_fd(int fd) noexcept;
}  // namespace detail

class Fd {
 public:
  constexpr Fd() noexcept = default;
  /// Adopts `fd` (closes it on destruction).
  constexpr explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  /// Gives up ownership.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the current descriptor (if any) and adopts `fd`. Returns
  /// close's result (0 or -1 with errno).
  int reset(int fd = -1) noexcept {
    const int r = fd_ >= 0 ? detail::close_fd(fd_) : 0;
    fd_ = fd;
    return r;
  }

 private:
  int fd_ = -1;
};

}  // namespace duet::io
