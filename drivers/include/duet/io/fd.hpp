// duet/io/fd.hpp: an owned file descriptor. Closing is RAII; every duet
// socket and file holds exactly one Fd.
#pragma once

#include <unistd.h>

#include <utility>

namespace duet::io {

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
    int r = 0;
    if (fd_ >= 0) r = ::close(fd_);
    fd_ = fd;
    return r;
  }

 private:
  int fd_ = -1;
};

}  // namespace duet::io
