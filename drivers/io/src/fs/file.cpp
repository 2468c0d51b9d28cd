#include "duet/fs/file.hpp"

namespace duet::fs {
using io::detail::OpKind;
using io::detail::OpRequest;

OpenFuture::OpenFuture(std::string path, int flags, unsigned mode)
    : path_(std::move(path)), q_{OpKind::openat} {
  q_.path = path_.c_str();
  q_.flags = flags;
  q_.mode = mode;
}

OpenFuture::OpenFuture(OpenFuture&& o) noexcept
    : path_(std::move(o.path_)), q_(o.q_), slot_(std::move(o.slot_)) {
  q_.path = path_.c_str();
}

Poll<duet::Result<File>> OpenFuture::poll(Context& cx) {
  q_.path = path_.c_str();
  auto p = io::detail::poll_op(q_, slot_, cx);
  if (p.is_pending()) return pending;
  long r = p.value();
  if (r < 0) return duet::Result<File>(io::errno_code(static_cast<int>(-r)));
  return duet::Result<File>(File(io::Fd(static_cast<int>(r))));
}

io::SizeFuture File::read_at(std::span<std::byte> buf, std::uint64_t offset) noexcept {
  OpRequest q{OpKind::read_at};
  q.src = &src_;
  q.rbuf = buf.data();
  q.len = buf.size();
  q.off = offset;
  return io::SizeFuture(q);
}

io::SizeFuture File::write_at(std::span<const std::byte> data, std::uint64_t offset) noexcept {
  OpRequest q{OpKind::write_at};
  q.src = &src_;
  q.wbuf = data.data();
  q.len = data.size();
  q.off = offset;
  return io::SizeFuture(q);
}

io::VoidFuture File::sync_all() noexcept {
  OpRequest q{OpKind::fsync};
  q.src = &src_;
  return io::VoidFuture(q);
}

io::VoidFuture File::sync_data() noexcept {
  OpRequest q{OpKind::fsync};
  q.src = &src_;
  q.flags = 1;
  return io::VoidFuture(q);
}

}  // namespace duet::fs
