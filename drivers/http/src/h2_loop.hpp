// h2_loop.hpp (private): an HTTP/2 connection's I/O, written once for the
// server's connections (h2_connection.cpp) and the client's
// (h2_client.cpp): a coroutine that feeds what it reads to its machine,
// writes what the machine produces, and otherwise waits for the first of:
// bytes from the peer, a post to the machine (its tasks' answers, its
// senders' requests), the machine's nearest deadline, the drain. A read
// that loses the race is withdrawn and loses no byte (docs/io.md: a
// dropped read takes nothing; a TLS stream keeps what it received), so the
// wait never overlaps a write (a TLS stream allows one operation at a
// time).
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "duet/cancel/token.hpp"
#include "duet/channel/select.hpp"
#include "duet/io/stream.hpp"
#include "duet/poll.hpp"
#include "duet/stackless/task.hpp"
#include "duet/sync/notify.hpp"
#include "duet/time/clock.hpp"
#include "duet/time/sleep.hpp"
#include "duet/time/timeout.hpp"

namespace duet::http::detail {

/// What the loop drives (H2Session, H2ClientSession): nghttp2's session
/// and what it serves, with no I/O of its own.
template <class M>
concept H2Machine = requires(M& m, std::span<const std::byte> in, std::string& out, Instant t) {
  { m.feed(in) } -> std::same_as<bool>;                     // false: close (a GOAWAY may be queued)
  {m.take_events()};                                        // what was posted to it
  { m.produce(out, std::size_t{}) } -> std::same_as<bool>;  // frames to send; false: close
  { m.over() } -> std::same_as<bool>;                       // nothing more to read or send
  { m.draining() } -> std::same_as<bool>;
  {m.drain()};  // GOAWAY: no new stream
  { m.next_deadline() } -> std::same_as<Instant>;
  { m.expire(t) } -> std::same_as<bool>;  // deadlines passed by t; false: close
  {m.touched(t)};                         // woke at t
  { m.idle() } -> std::same_as<bool>;     // no stream open
};

namespace h2_loop_detail {
/// The reads' buffers, and what is produced before a write. A read goes
/// into kIdleRead bytes inside the loop's frame unless the last one filled
/// the buffer it had: then into kRead bytes made for it, given back once a
/// read leaves it unfilled. A wait holds the buffer of the read it races,
/// so a connection whose streams all wait (idle or parked: the peer has
/// sent what it had) holds none; a burst past the small buffer costs one
/// more read.
inline constexpr std::size_t kRead = 16 * 1024;
inline constexpr std::size_t kIdleRead = 256;
inline constexpr std::size_t kFlush = 64 * 1024;
/// Output room kept past a write while the connection is idle.
inline constexpr std::size_t kIdleOut = 1024;
enum Case { drained, posted, bytes, timer };  // the select's cases, in the order written

/// The drain as a select case: the token's future until the machine has
/// drained, then a case that never completes. The token stays cancelled,
/// so its future, once ready, is ready at every poll: waited on again
/// after the drain it would win every select, and the loop would spin
/// without ever suspending, starving the streams it waits for on its own
/// worker. After the drain the other cases (bytes, posts, the deadline)
/// wake the loop.
class DrainCase {
 public:
  DrainCase(CancelledFuture& f, bool drained) noexcept : f_(f), drained_(drained) {}
  Poll<void> poll(Context& cx) { return drained_ ? Poll<void>(pending) : f_.poll(cx); }

 private:
  CancelledFuture& f_;
  bool drained_;
};

template <class S>
Task<bool> write_out(S& s, const std::string& out, std::chrono::milliseconds io_timeout) {
  const io::Transferred t =
      co_await timeout_at(deadline_after(io_timeout), s.write_all(std::as_bytes(std::span(out))));
  co_return t.ok();
}
}  // namespace h2_loop_detail

/// Runs the connection over `s` until the machine is over, the peer ends
/// it, or a write fails or passes `io_timeout`. `input`: bytes read before
/// (the server's preface). `wake`: notified by whoever posts to the
/// machine. `drain`: cancelled, the machine drains.
template <class S, H2Machine M>
Task<void> h2_loop(S& s, M& m, Notify& wake, CancellationToken drain_token,
                   std::chrono::milliseconds io_timeout, std::string input) {
  using namespace h2_loop_detail;
  CancelledFuture drain = drain_token.cancelled();
  std::string out;
  std::unique_ptr<std::byte[]> big;  // kRead bytes, while reads fill their buffers
  std::array<std::byte, kIdleRead> small;
  bool filled = false;  // the last read filled the buffer it had
  bool open = m.feed(std::as_bytes(std::span(input)));
  std::string().swap(input);
  while (open) {
    m.take_events();
    out.clear();
    open = m.produce(out, kFlush);
    if (!out.empty()) {
      const bool ok = co_await write_out(s, out, io_timeout);
      if (!ok) break;
      m.touched(Clock::now());
      continue;  // the machine may have more to send
    }
    if (!open || m.over()) break;
    if (m.idle() && out.capacity() > kIdleOut) std::string().swap(out);
    if (!filled) {
      big.reset();
    } else if (!big) {
      big = std::make_unique_for_overwrite<std::byte[]>(kRead);
    }
    const std::span<std::byte> into = filled ? std::span(big.get(), kRead) : std::span(small);
    if (!m.draining() && drain_token.is_cancelled()) {
      m.drain();
      continue;
    }
    auto wait = select(biased, DrainCase(drain, m.draining()), wake.notified(), s.read(into),
                       sleep_until(m.next_deadline()));
    auto r = co_await wait;
    m.touched(Clock::now());
    if (r.template is<drained>()) {
      m.drain();
    } else if (r.template is<bytes>()) {
      duet::Result<std::size_t> n = std::move(r.template get<bytes>());
      if (!n || *n == 0) break;  // the peer's end, or an error
      filled = *n == into.size();
      open = m.feed(into.first(*n));
    } else if (r.template is<timer>()) {
      open = m.expire(Clock::now());
    }
    if (!open) {  // a GOAWAY may be queued: out, best effort, before the close
      out.clear();
      (void)m.produce(out, kFlush);
      if (!out.empty()) (void)co_await write_out(s, out, io_timeout);
    }
  }
}

}  // namespace duet::http::detail
