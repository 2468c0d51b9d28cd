// duet/net/sendfile.hpp: a file's bytes to a TCP stream without copying
// them through user space (sendfile(2)), for serving files.
//
// Example (coroutine):
//   auto f = co_await duet::fs::File::open("index.html");
//   if (f) {
//     auto t = co_await stream.send_file(*f, 0, 4096);  // io::Transferred
//     if (!t) use(t.bytes, t.error().message());         // sent before the error
//   }
//
// How: sendfile(2) on the readiness path, on both backends. The socket is
// non-blocking, so sendfile sends what the socket buffer takes and says
// EAGAIN when it is full; the future then waits until the socket is
// writable (epoll: the fd's registration; io_uring: a POLL_ADD SQE) and
// sends on. The kernel copies page cache to the socket directly; no byte
// passes through a user buffer, so there is no buffer for a cancelled
// operation to write into. (io_uring has no sendfile operation; a splice
// through a pipe would take two linked SQEs and a pipe per transfer for
// the same kernel copy.) The file's own offset is not moved.
#pragma once

#include "duet/export.hpp"

#include <cstddef>
#include <cstdint>

#include "duet/fs/file.hpp"
#include "duet/io/stream.hpp"
#include "duet/net/tcp.hpp"

namespace duet::net {

/// send_file(): io::Transferred: all `count` bytes, or those sent and the
/// error (StreamErrc::unexpected_eof when the file ended first).
class [[nodiscard]] DUET_API SendFileFuture {
 public:
  SendFileFuture(io::detail::Source* sock, int file, std::uint64_t offset,
                 std::size_t count) noexcept;
  Poll<io::Transferred> poll(Context& cx);

 private:
  io::detail::OpRequest wait_;
  io::detail::OpSlot slot_;
  int file_;
  std::uint64_t offset_;
  std::size_t count_;
  std::size_t sent_ = 0;
  bool waiting_ = false;  // a wait for writability is in flight
};

}  // namespace duet::net
