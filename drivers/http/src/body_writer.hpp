// body_writer.hpp (private): a response body from a source (Response::source,
// duet/http/body.hpp) written after its head, the one writer the three
// engines share: a coroutine over the connection's stream, what it holds
// written before the source is waited for (the connection holds one piece
// at a time, or the pieces ready at once up to kGatherBytes), framed as
// body_framing says.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include "duet/channel/select.hpp"
#include "duet/http/body.hpp"
#include "duet/http/codec.hpp"
#include "duet/io/futures.hpp"
#include "duet/poll.hpp"
#include "duet/stackless/task.hpp"
#include "duet/time/clock.hpp"
#include "duet/time/timeout.hpp"

namespace duet::http::detail {

/// What an engine writes after a response's head: the source (null: none,
/// the common case, tested by one pointer) and its framing. `close` is set
/// when the framing ends the body with the connection (HTTP/1.0); call it
/// before the head is written, so that the head says so.
struct BodyToWrite {
  std::shared_ptr<BodySource> source;
  BodyFraming framing = BodyFraming::none;
};
[[nodiscard]] inline BodyToWrite body_to_write(const Request& req, const Response& res,
                                               bool& close) {
  if (!res.source) return {};
  Answering a = Answering::to(req);
  a.close = a.close || close;
  const BodyFraming f = body_framing(res, a);
  if (f == BodyFraming::none) return {};
  if (f == BodyFraming::close) close = true;
  return BodyToWrite{res.source, f};
}

/// Writes `out` whole within `timeout`, then clears it: false when the
/// write failed or its deadline passed (its error in `*why`, when given).
template <class S>
Task<bool> write_out(S& stream, std::string& out, std::chrono::milliseconds timeout,
                     std::error_code* why = nullptr) {
  const Instant deadline = deadline_after(timeout);
  const io::Transferred t =
      co_await timeout_at(deadline, stream.write_all(std::as_bytes(std::span(out))));
  out.clear();
  if (!t && why != nullptr) *why = t.error();
  co_return t.ok();
}

/// Output gathered before a write while a source's pieces are ready at
/// once (write_body; performance log, "The proxy's answer in one write").
inline constexpr std::size_t kGatherBytes = 16 * 1024;

/// A Task already polled, awaited again as the poll future it now is (a
/// Task once polled is only polled again).
template <class T>
struct PolledAgain {
  Task<T>* task;
  Poll<T> poll(Context& cx) { return task->poll(cx); }
};

/// The source's next piece. With `out` holding bytes to write (the head,
/// pieces gathered) and under kGatherBytes, the piece is asked for once
/// where nothing waits for it: ready at once (a proxied body that came
/// with its head), it goes into `out` and the two leave in one write;
/// otherwise `out` is written first, so that the peer never waits on the
/// source for bytes already made. False: a write failed.
template <class S>
Task<bool> next_piece(S& stream, std::string& out, BodySource& src,
                      std::chrono::milliseconds timeout, std::error_code* why,
                      duet::Result<std::string>& piece) {
  using Piece = duet::Result<std::string>;
  Task<Piece> next;
  bool polled = false;
  try {
    next = src.next();
    if (!out.empty() && out.size() < kGatherBytes) {
      polled = true;
      Context now(duet::detail::noop_waker());
      Poll<Piece> p = next.poll(now);
      if (p.is_ready()) {
        piece = std::move(p).value();
        co_return true;
      }
    }
  } catch (...) {
    piece = std::errc::io_error;  // the source threw: as an error
    co_return true;
  }
  if (!out.empty() && !co_await write_out(stream, out, timeout, why)) co_return false;
  try {
    if (polled) {
      piece = co_await PolledAgain<Piece>{&next};
    } else {
      piece = co_await std::move(next);
    }
  } catch (...) {
    piece = std::errc::io_error;
  }
  co_return true;
}

/// Writes the body of `b` after the head (and any answers before it) in
/// `out`: the head goes first, then the pieces as the source gives them,
/// those ready at once gathered into one write (next_piece). The body's
/// end (the last chunk) is left in `out` for the engine's next write.
/// False: the source failed, its pieces disagreed with its length, or a
/// write failed (its error in `*why`, when given; a source's failure
/// leaves it as it was): the connection closes, the body cut short.
template <class S>
Task<bool> write_body(S& stream, std::string& out, const BodyToWrite& b,
                      std::chrono::milliseconds timeout, std::error_code* why = nullptr) {
  BodySource& src = *b.source;
  std::size_t sent = 0;
  for (;;) {
    duet::Result<std::string> piece = std::errc::io_error;
    if (!co_await next_piece(stream, out, src, timeout, why, piece)) co_return false;
    if (!piece) co_return false;
    if (piece->empty()) break;
    sent += piece->size();
    if (b.framing == BodyFraming::length && sent > *src.length) co_return false;
    if (b.framing == BodyFraming::chunked) {
      char size[20];
      const int n = std::snprintf(size, sizeof size, "%zx\r\n", piece->size());
      out.append(size, static_cast<std::size_t>(n));
      out.append(*piece);
      out.append("\r\n");
    } else {
      out.append(*piece);
    }
  }
  if (b.framing == BodyFraming::length && sent != *src.length) co_return false;
  if (b.framing == BodyFraming::chunked) out.append("0\r\n\r\n");
  co_return true;
}

}  // namespace duet::http::detail
