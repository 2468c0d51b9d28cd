// duet/io/futures.hpp: the futures that socket and file methods return.
//
// Every I/O method returns a poll future (duet::Future), so one type serves
// both models:
//
// Example (coroutine):
//   auto n = co_await stream.read(buf);       // in a coroutine (Task<T>)
//   auto m = duet::wait(stream.read(buf));    // in a fiber: parks the fiber
//
// Outside the runtime (a plain thread) duet::wait runs the syscall
// blocking. A future may be dropped at any point: an operation in flight is
// cancelled in the kernel (io_uring async cancel; epoll: the wait is simply
// forgotten) and the caller's buffer is never written after the drop
// (duet/io/op.hpp). A future borrows the socket or file it came from: keep
// that alive (and open) until the future is done or dropped.
#pragma once

#include <cerrno>
#include <cstddef>
#include <optional>
#include <span>

#include "duet/io/op.hpp"
#include "duet/io/result.hpp"
#include "duet/io/stream.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"

namespace duet::io {

namespace detail {
/// poll_op's result as a byte count or an error.
inline Poll<duet::Result<std::size_t>> size_result(Poll<long> p) {
  if (p.is_pending()) return pending;
  const long r = p.value();
  if (r < 0) return duet::Result<std::size_t>(errno_code(static_cast<int>(-r)));
  return duet::Result<std::size_t>(static_cast<std::size_t>(r));
}
}  // namespace detail

/// A future of duet::Result<std::size_t>: a byte count (0 from a read: end of
/// stream) or an error. Cuttable (duet/poll.hpp): cut, it ends with the
/// count of an operation that finished first, else with `why`.
class [[nodiscard]] SizeFuture {
 public:
  explicit SizeFuture(detail::OpRequest q) noexcept : q_(q) {}
  Poll<duet::Result<std::size_t>> poll(Context& cx) {
    return detail::size_result(detail::poll_op(q_, slot_, cx));
  }
  Poll<duet::Result<std::size_t>> poll_cut(Context& cx, std::error_code why) {
    auto p = detail::poll_cut_op(q_, slot_, cx);
    if (p.is_ready() && p.value() == -ECANCELED) return duet::Result<std::size_t>(why);
    return detail::size_result(p);
  }

 private:
  detail::OpRequest q_;
  detail::OpSlot slot_;
};

/// send_to(): duet::Result<std::size_t>, the bytes sent to the address, which the
/// future keeps a copy of.
class [[nodiscard]] SendToFuture {
 public:
  SendToFuture(detail::OpRequest q, const net::SocketAddr& to) noexcept : q_(q), to_(to) {}
  Poll<duet::Result<std::size_t>> poll(Context& cx) {
    q_.addr = &to_;  // the future may have moved since the last poll
    return detail::size_result(detail::poll_op(q_, slot_, cx));
  }

 private:
  detail::OpRequest q_;
  detail::OpSlot slot_;
  net::SocketAddr to_;
};

/// A future of duet::Result<void>.
class [[nodiscard]] VoidFuture {
 public:
  explicit VoidFuture(detail::OpRequest q) noexcept : q_(q) {}
  Poll<duet::Result<void>> poll(Context& cx) {
    auto p = detail::poll_op(q_, slot_, cx);
    if (p.is_pending()) return pending;
    long r = p.value();
    if (r < 0) return duet::Result<void>(errno_code(static_cast<int>(-r)));
    return duet::Result<void>();
  }

 private:
  detail::OpRequest q_;
  detail::OpSlot slot_;
};

/// Writes all of `data` with as many writes as it takes: Transferred (all
/// of it; or the bytes handed to the socket before the error that stopped
/// it). Cuttable: cut, the write in flight is stopped and `bytes` counts
/// what reached the socket, `why` the error unless all of it had.
class [[nodiscard]] WriteAllFuture {
 public:
  WriteAllFuture(detail::Source* s, std::span<const std::byte> data) noexcept
      : src_(s), data_(data) {}
  Poll<Transferred> poll(Context& cx) { return step(cx, nullptr); }
  Poll<Transferred> poll_cut(Context& cx, std::error_code why) { return step(cx, &why); }

 private:
  /// Writes on (cut == null), or finishes the write in flight after a cut.
  Poll<Transferred> step(Context& cx, const std::error_code* cut) {
    while (done_ < data_.size()) {
      if (!inner_) {
        if (cut != nullptr) return Transferred{done_, *cut};
        detail::OpRequest q{detail::OpKind::send};
        q.src = src_;
        q.wbuf = data_.data() + done_;
        q.len = data_.size() - done_;
        inner_.emplace(q);
      }
      auto p = cut == nullptr ? inner_->poll(cx) : inner_->poll_cut(cx, *cut);
      if (p.is_pending()) return pending;
      inner_.reset();
      auto r = std::move(p).value();
      if (!r) return Transferred{done_, r.error()};
      if (*r == 0) return Transferred{done_, make_error_code(StreamErrc::write_zero)};
      done_ += *r;
    }
    return Transferred{done_, {}};
  }

  detail::Source* src_;
  std::span<const std::byte> data_;
  std::size_t done_ = 0;
  std::optional<SizeFuture> inner_;
};

}  // namespace duet::io
