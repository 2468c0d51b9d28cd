// body_pump.hpp (private): a streamed request body's source, BodyPump: what
// the body reader (duet/http/body.hpp) reads through (Request::body_stream),
// and DecoderPump, its one implementation for HTTP/1.1 that the three
// engines share. (HTTP/2's is H2BodyPump, h2_session.hpp: a stream's DATA
// as the session received it.)
//
// DecoderPump: the engines differ only in how they hold their input (the
// coroutine engine's read buffer, the fiber engine's BufReader, the poll
// engine's buffers inside the connection): each lends its input through
// the four operations below (the seam), and the pump feeds it to the
// connection's decoder, hands out the decoded body, answers 100-continue
// at the first read, and keeps the reader's error.
//
// An engine keeps one pump per connection, opens it for a streamed
// request's turn (Request::body_stream points at it while the handler
// runs) and closes it when the handler returns; ended() then says whether
// the body was read to its end (else the connection closes).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <system_error>

#include "duet/http/codec.hpp"
#include "duet/result.hpp"
#include "duet/stackless/task.hpp"

namespace duet::http::detail {

/// The reader's face: the next bytes of a streamed body, or its next
/// piece; 0 (an empty piece) at its end.
class BodyPump {
 public:
  BodyPump(const BodyPump&) = delete;
  BodyPump& operator=(const BodyPump&) = delete;

  /// The next bytes of the body into `into`: a count, 0 at its end.
  virtual Task<duet::Result<std::size_t>> read(std::span<std::byte> into) = 0;
  /// The next piece of the body as it arrived (moved out, not copied):
  /// empty at its end.
  virtual Task<duet::Result<std::string>> read_piece() = 0;

 protected:
  BodyPump() = default;
  ~BodyPump() = default;
};

/// HTTP/1.1's: the connection's decoder over the engine's input.
class DecoderPump : public BodyPump {
 public:
  DecoderPump() = default;

  /// Opens the pump for one streamed request decoded by `dec` (its head
  /// just taken).
  void open(RequestDecoder& dec) noexcept;
  /// Ends the request's turn: a read after it is a lifetime error.
  void close() noexcept { open_ = false; }
  /// The body was read to its end (and the decoder is past it).
  [[nodiscard]] bool ended() const noexcept { return ended_; }
  /// The body failed (the peer, the framing, a limit, a deadline).
  [[nodiscard]] bool failed() const noexcept { return static_cast<bool>(error_); }

  Task<duet::Result<std::size_t>> read(std::span<std::byte> into) final;
  Task<duet::Result<std::string>> read_piece() final;

 protected:
  ~DecoderPump() = default;

  /// The engine's input read and not yet fed to the decoder.
  [[nodiscard]] virtual std::span<const std::byte> input() noexcept = 0;
  /// The first `n` bytes of input() were fed.
  virtual void consume(std::size_t n) noexcept = 0;
  /// Reads more input (input() empty before), within the body's read
  /// deadline: the count read, 0 at the peer's end of stream.
  virtual Task<duet::Result<std::size_t>> fill() = 0;
  /// Writes the answers already made, then continue_response(): false when
  /// the write failed.
  virtual Task<bool> send_continue() = 0;

 private:
  /// Hands out what the decoder holds of the body.
  std::size_t take(std::span<std::byte> into) noexcept;
  /// Hands out the rest of the decoder's piece whole.
  std::string take_piece();
  /// Bytes of the decoder's piece not handed out yet.
  [[nodiscard]] std::size_t available() const noexcept {
    return dec_->body_piece().size() - given_;
  }
  /// Decodes (reading and answering 100-continue as needed) until bytes are
  /// available, the body ended, or it failed.
  Task<void> more();
  /// Whether the pump is open to a read (else: aborts in a checked build).
  [[nodiscard]] bool check_turn() const noexcept;

  RequestDecoder* dec_ = nullptr;
  std::size_t given_ = 0;  // of dec_->body_piece(), handed out already
  std::error_code error_;
  bool ended_ = false;
  bool open_ = false;
};

}  // namespace duet::http::detail
