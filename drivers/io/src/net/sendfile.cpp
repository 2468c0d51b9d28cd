// sendfile.cpp: TcpStream::send_file, sendfile(2) on the readiness path of
// either backend (duet/net/sendfile.hpp).
#include "duet/net/sendfile.hpp"

#include <sys/sendfile.h>

#include <algorithm>
#include <cerrno>

namespace duet::net {

SendFileFuture::SendFileFuture(io::detail::Source* sock, int file, std::uint64_t offset,
                               std::size_t count) noexcept
    : wait_{io::detail::OpKind::wait_writable}, file_(file), offset_(offset), count_(count) {
  wait_.src = sock;
}

Poll<io::Transferred> SendFileFuture::poll(Context& cx) {
  // sendfile sends at most 0x7ffff000 bytes a call.
  constexpr std::size_t kMaxChunk = 0x7ffff000;
  for (;;) {
    if (waiting_) {
      auto p = io::detail::poll_op(wait_, slot_, cx);
      if (p.is_pending()) return pending;
      waiting_ = false;
      if (p.value() < 0)
        return io::Transferred{sent_, io::errno_code(static_cast<int>(-p.value()))};
    }
    if (sent_ == count_) return io::Transferred{sent_, {}};
    auto off = static_cast<off_t>(offset_ + sent_);
    const ssize_t r =
        ::sendfile(wait_.src->fd.get(), file_, &off, std::min(count_ - sent_, kMaxChunk));
    if (r > 0) {
      sent_ += static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0) return io::Transferred{sent_, make_error_code(io::StreamErrc::unexpected_eof)};
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return io::Transferred{sent_, io::errno_code(errno)};
    waiting_ = true;  // the socket buffer is full: wait until it drains
  }
}

SendFileFuture TcpStream::send_file(const fs::File& file, std::uint64_t offset,
                                    std::size_t count) noexcept {
  return SendFileFuture(&src_, file.native_handle(), offset, count);
}

}  // namespace duet::net
