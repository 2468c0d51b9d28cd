// h2_connection.cpp: an HTTP/2 connection's task (h2_session.hpp): one
// coroutine under every engine, which feeds what it reads to the session,
// writes what the session produces, and otherwise waits for the first of:
// bytes from the peer, a stream task's post, the nearest deadline, the
// drain. A read that loses the race is withdrawn and loses no byte
// (docs/io.md: a dropped read takes nothing; a TLS stream keeps what it
// received), so the wait never overlaps a write (a TLS stream allows one
// operation at a time).
#include <memory>
#include <utility>

#include "duet/channel/select.hpp"
#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
#include "duet/time/sleep.hpp"
#include "duet/time/timeout.hpp"
#include "h2_session.hpp"

namespace duet::http::detail {

namespace {

/// Bytes read at a time, and what is produced before a write.
constexpr std::size_t kH2Read = 16 * 1024;
constexpr std::size_t kH2Flush = 64 * 1024;

enum H2Case { drained, posted, bytes, timer };  // the select's cases, in the order written

template <class S>
Task<bool> write_out(S& s, const std::string& out, const State& st) {
  const io::Transferred t = co_await timeout_at(deadline_after(st.options.limits.io_timeout),
                                                s.write_all(std::as_bytes(std::span(out))));
  co_return t.ok();
}

template <class S>
Task<void> serve_h2(OpenSlot slot, S stream, std::string input) {
  State& st = *slot;
  S s = std::move(stream);  // after slot: closed before the slot is given back
  auto inbox = std::make_shared<H2Inbox>();
  H2Session h(st, inbox);
  CancelledFuture drain = st.shutdown.cancelled();
  std::string out;
  auto buf = std::make_unique_for_overwrite<std::byte[]>(kH2Read);
  bool open = h.feed(std::as_bytes(std::span(input)));
  std::string().swap(input);
  while (open) {
    h.take_events();
    out.clear();
    open = h.produce(out, kH2Flush);
    if (!out.empty()) {
      const bool ok = co_await write_out(s, out, st);
      if (!ok) break;
      h.touched(Clock::now());
      continue;  // the session may have more to send
    }
    if (!open || h.over()) break;
    if (!h.draining() && st.shutdown.is_cancelled()) {
      h.drain();
      continue;
    }
    auto wait = select(biased, drain, inbox->wake.notified(), s.read(std::span(buf.get(), kH2Read)),
                       sleep_until(h.next_deadline()));
    auto m = co_await wait;
    h.touched(Clock::now());
    if (m.template is<drained>()) {
      h.drain();
    } else if (m.template is<bytes>()) {
      duet::Result<std::size_t> r = std::move(m.template get<bytes>());
      if (!r || *r == 0) break;  // the peer's end, or an error
      open = h.feed(std::span<const std::byte>(buf.get(), *r));
    } else if (m.template is<timer>()) {
      open = h.expire(Clock::now());
    }
    if (!open) {  // a GOAWAY may be queued: out, best effort, before the close
      out.clear();
      (void)h.produce(out, kH2Flush);
      if (!out.empty()) (void)co_await write_out(s, out, st);
    }
  }
}

template <class S>
void spawn_h2(OpenSlot slot, S s, std::string input) {
  try {
    spawn(serve_h2(std::move(slot), std::move(s), std::move(input))).detach();
  } catch (const SpawnRefused&) {
    // The runtime shuts down: the refused task closed the stream and gave
    // the slot back.
  }
}

}  // namespace

void start_h2(OpenSlot slot, net::TcpStream s, std::string input) {
  spawn_h2(std::move(slot), std::move(s), std::move(input));
}

void start_h2(OpenSlot slot, tls::TlsStream s, std::string input) {
  spawn_h2(std::move(slot), std::move(s), std::move(input));
}

}  // namespace duet::http::detail
