// duet/net/split.hpp: a TcpStream's read half and write half as separate
// owners, so that one task reads while another writes (Tokio's
// into_split). Each half holds a shared reference to the stream; the
// socket closes when both are gone. Dropping the write half sends FIN
// (shutdown(SHUT_WR)), as closing a stream's writing side would; reunite()
// joins the halves back into the stream without it.
//
// Example (coroutine):
//   auto halves = std::move(stream).into_split();  // no structured binding in
//   auto echo = duet::spawn([](duet::net::OwnedWriteHalf w) -> duet::Task<void> {
//     auto n = co_await w.write_all(std::as_bytes(std::span("pong", 4)));
//     use(n);
//   }(std::move(halves.second)));                 // a coroutine (docs/io.md)
//   auto n = co_await halves.first.read(buf);     // at the same time
//   co_await std::move(echo);
//
// Rules: one reader task per read half and one writer task per write half
// at a time (the halves are not clonable); a future borrows its half (keep
// the half alive until the future is done or dropped).
#pragma once

#include "duet/export.hpp"

#include <memory>
#include <span>
#include <utility>

#include "duet/net/tcp.hpp"

namespace duet::net {

class DUET_API OwnedReadHalf {
 public:
  OwnedReadHalf() noexcept = default;
  io::SizeFuture read(std::span<std::byte> buf) noexcept { return s_->read(buf); }
  io::SizeFuture read_vectored(std::span<const std::span<std::byte>> bufs) noexcept {
    return s_->read_vectored(bufs);
  }
  io::SizeFuture recv(std::span<std::byte> buf, int flags) noexcept { return s_->recv(buf, flags); }
  [[nodiscard]] duet::Result<SocketAddr> local_addr() const noexcept { return s_->local_addr(); }
  [[nodiscard]] duet::Result<SocketAddr> peer_addr() const noexcept { return s_->peer_addr(); }
  [[nodiscard]] bool is_open() const noexcept { return s_ != nullptr && s_->is_open(); }

 private:
  friend class TcpStream;
  friend duet::Result<TcpStream> reunite(OwnedReadHalf& r, OwnedWriteHalf& w) noexcept;
  explicit OwnedReadHalf(std::shared_ptr<TcpStream> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<TcpStream> s_;
};

class DUET_API OwnedWriteHalf {
 public:
  OwnedWriteHalf() noexcept = default;
  OwnedWriteHalf(OwnedWriteHalf&&) noexcept = default;
  OwnedWriteHalf& operator=(OwnedWriteHalf&& o) noexcept {
    if (this != &o) {
      finish();
      s_ = std::move(o.s_);
    }
    return *this;
  }
  ~OwnedWriteHalf() { finish(); }

  io::SizeFuture write(std::span<const std::byte> data) noexcept { return s_->write(data); }
  io::SizeFuture write_vectored(std::span<const std::span<const std::byte>> bufs) noexcept {
    return s_->write_vectored(bufs);
  }
  io::WriteAllFuture write_all(std::span<const std::byte> data) noexcept {
    return s_->write_all(data);
  }
  /// Sends FIN now (the read half goes on reading).
  duet::Result<void> shutdown() noexcept { return s_->shutdown(Shutdown::write); }
  [[nodiscard]] duet::Result<SocketAddr> local_addr() const noexcept { return s_->local_addr(); }
  [[nodiscard]] duet::Result<SocketAddr> peer_addr() const noexcept { return s_->peer_addr(); }

 private:
  friend class TcpStream;
  friend duet::Result<TcpStream> reunite(OwnedReadHalf& r, OwnedWriteHalf& w) noexcept;
  explicit OwnedWriteHalf(std::shared_ptr<TcpStream> s) noexcept : s_(std::move(s)) {}
  void finish() noexcept {
    // ENOTCONN when the peer is gone already: nothing to tell it.
    if (s_ != nullptr && s_->is_open()) (void)s_->shutdown(Shutdown::write);
    s_.reset();
  }
  std::shared_ptr<TcpStream> s_;
};

/// The stream again, when `r` and `w` came from the same into_split (both
/// are left empty); else EINVAL and both are left as they were. No future
/// of either half may be in flight.
inline duet::Result<TcpStream> reunite(OwnedReadHalf& r, OwnedWriteHalf& w) noexcept {
  if (r.s_ == nullptr || r.s_ != w.s_) return std::errc::invalid_argument;
  TcpStream s = std::move(*r.s_);
  r.s_.reset();
  w.s_.reset();
  return s;
}

}  // namespace duet::net
