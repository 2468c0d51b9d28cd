// duet/fs/file.hpp: files, positional I/O. On io_uring every operation is
// a ring request; on epoll (regular files have no readiness) they run on
// the drivers' small internal blocking pool (two threads, docs/io.md).
//
// Example (coroutine):
//   auto f = co_await duet::fs::File::open("/tmp/x", O_RDWR | O_CREAT, 0644);
//   if (!f) co_return;                                   // f.error(): the errno
//   auto w = co_await f->write_at(std::span(buf).first(16), 4096);  // Result<size_t>
//   auto n = co_await f->read_at(buf, 4096);
//   auto s = co_await f->sync_all();                     // fsync
//   auto c = f->close();
#pragma once

#include "duet/export.hpp"

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "duet/io/futures.hpp"

namespace duet::fs {

class File;

/// open(): Result<File>.
class [[nodiscard]] DUET_API OpenFuture {
 public:
  OpenFuture(std::string path, int flags, unsigned mode);
  OpenFuture(OpenFuture&& o) noexcept;
  Poll<duet::Result<File>> poll(Context& cx);

 private:
  std::string path_;
  io::detail::OpRequest q_;
  io::detail::OpSlot slot_;
};

class DUET_API File {
 public:
  File() noexcept = default;
  explicit File(io::Fd fd) noexcept : src_(std::move(fd)) {}
  /// open(2) flags (O_RDONLY, O_RDWR | O_CREAT | O_TRUNC, ...); O_CLOEXEC
  /// is always added.
  static OpenFuture open(std::string path, int flags = O_RDONLY, unsigned mode = 0644) {
    return OpenFuture(std::move(path), flags, mode);
  }
  /// Reads up to buf.size() bytes at `offset` (short at end of file).
  io::SizeFuture read_at(std::span<std::byte> buf, std::uint64_t offset) noexcept;
  /// Writes up to data.size() bytes at `offset`.
  io::SizeFuture write_at(std::span<const std::byte> data, std::uint64_t offset) noexcept;
  /// fsync(2) / fdatasync(2).
  io::VoidFuture sync_all() noexcept;
  io::VoidFuture sync_data() noexcept;
  duet::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }
  [[nodiscard]] bool is_open() const noexcept { return src_.fd.valid(); }

 private:
  io::detail::Source src_;
};

}  // namespace duet::fs
