// body.cpp: the body reader (duet/http/body.hpp) and the pump every engine
// shares (body_pump.hpp): the decoder fed from the engine's input on
// demand, the decoded bytes handed out, 100-continue at the first read,
// and the body's errors kept for the handler.
#include "duet/http/body.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include <sys/stat.h>

#include <memory>

#include "body_pump.hpp"
#include "duet/detail/check_mode.hpp"
#include "duet/fs/file.hpp"
#include "duet/wait.hpp"

namespace duet::http {

namespace detail {

void DecoderPump::open(RequestDecoder& dec) noexcept {
  dec_ = &dec;
  given_ = 0;
  error_ = {};
  ended_ = false;
  open_ = true;
}

std::size_t DecoderPump::take(std::span<std::byte> into) noexcept {
  std::string& piece = dec_->body_piece();
  const std::size_t n = std::min(into.size(), piece.size() - given_);
  std::memcpy(into.data(), piece.data() + given_, n);
  given_ += n;
  if (given_ == piece.size()) {
    piece.clear();
    given_ = 0;
  }
  return n;
}

std::string DecoderPump::take_piece() {
  std::string& piece = dec_->body_piece();
  std::string out = given_ == 0 ? std::move(piece) : piece.substr(given_);
  piece.clear();
  given_ = 0;
  return out;
}

bool DecoderPump::check_turn() const noexcept {
  if (open_) return true;
  // The reader is the connection's for the handler's turn only.
  if constexpr (DUET_CHECK_TRANSITIONS != 0) {
    std::fputs("duet::http: a request body read after its handler's turn\n", stderr);
    std::abort();
  }
  return false;
}

Task<void> DecoderPump::more() {
  while (available() == 0 && !ended_ && !error_) {
    const std::span<const std::byte> in = input();
    // With no input left, read more only while the decoder is inside the
    // body: a body that ended in the feed that gave its head (a chunked one
    // that ran past buffered_body_bytes, whole in one read) has its end
    // pending in the decoder, which an empty feed hands out.
    if (in.empty() && dec_->in_body()) {
      if (dec_->take_continue() && !co_await send_continue()) {
        error_ = std::make_error_code(std::errc::connection_reset);
        continue;
      }
      duet::Result<std::size_t> got = co_await fill();
      if (!got) {
        error_ = got.error();
      } else if (*got == 0) {
        error_ = std::make_error_code(std::errc::connection_reset);  // cut mid-body
      }
      continue;
    }
    const auto step =
        dec_->feed(std::string_view(reinterpret_cast<const char*>(in.data()), in.size()));
    consume(step.consumed);
    switch (step.event) {
      case RequestDecoder::Event::body_end:
        ended_ = true;
        break;
      case RequestDecoder::Event::error:
        error_ = std::make_error_code(dec_->error_status() == 413 ? std::errc::message_size
                                                                  : std::errc::bad_message);
        break;
      default:  // body or need_more: hand out what came, or read on
        break;
    }
  }
}

Task<duet::Result<std::size_t>> DecoderPump::read(std::span<std::byte> into) {
  if (!check_turn()) co_return std::errc::operation_not_permitted;
  if (into.empty()) co_return std::size_t{0};
  if (available() == 0) co_await more();
  if (const std::size_t n = take(into); n != 0) co_return n;
  if (ended_) co_return std::size_t{0};
  co_return error_;
}

Task<duet::Result<std::string>> DecoderPump::read_piece() {
  if (!check_turn()) co_return std::errc::operation_not_permitted;
  if (available() == 0) co_await more();
  if (available() != 0) co_return take_piece();
  if (ended_) co_return std::string();
  co_return error_;
}

}  // namespace detail

Task<duet::Result<std::size_t>> read_body(Request& req, std::span<std::byte> into) {
  if (req.body_stream == nullptr) {
    const std::size_t n = std::min(into.size(), req.body.size());
    std::memcpy(into.data(), req.body.data(), n);
    req.body.erase(0, n);
    co_return n;
  }
  co_return co_await req.body_stream->read(into);
}

duet::Result<std::size_t> read_body_now(Request& req, std::span<std::byte> into) {
  return duet::wait(read_body(req, into));
}

Task<duet::Result<std::string>> read_body_piece(Request& req) {
  if (req.body_stream == nullptr) co_return std::exchange(req.body, std::string());
  co_return co_await req.body_stream->read_piece();
}

duet::Result<std::string> read_body_piece_now(Request& req) {
  return duet::wait(read_body_piece(req));
}

Task<duet::Result<void>> read_whole_body(Request& req, std::size_t cap) {
  if (req.body_stream == nullptr) {
    if (req.body.size() > cap) co_return std::errc::message_size;
    co_return duet::Result<void>{};
  }
  std::string whole;
  for (;;) {
    if (whole.size() == whole.capacity())
      whole.reserve(std::max<std::size_t>(16 * 1024, 2 * whole.size()));
    const std::size_t room = std::min(whole.capacity() - whole.size(), cap + 1 - whole.size());
    const std::size_t at = whole.size();
    whole.resize(at + room);
    duet::Result<std::size_t> n =
        co_await req.body_stream->read(std::as_writable_bytes(std::span(whole).subspan(at)));
    if (!n) co_return n.error();
    whole.resize(at + *n);
    if (*n == 0) break;
    if (whole.size() > cap) co_return std::errc::message_size;
  }
  req.body = std::move(whole);
  req.body_stream = nullptr;
  co_return duet::Result<void>{};
}

duet::Result<void> read_whole_body_now(Request& req, std::size_t cap) {
  return duet::wait(read_whole_body(req, cap));
}

Response streamed_response(int status, BodyProducer next, std::optional<std::size_t> length) {
  Response r;
  r.status = status;
  r.source = std::make_shared<BodySource>(BodySource{std::move(next), length});
  return r;
}

namespace {

/// file_response's piece size: one read of the file per piece written.
constexpr std::size_t kFilePiece = 64 * 1024;

/// The answer to a file that could not be opened or sized, by its errno.
Response file_refused(const std::error_code& ec) {
  int code = status::internal_server_error;
  if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory ||
      ec == std::errc::is_a_directory) {
    code = status::not_found;
  } else if (ec == std::errc::permission_denied) {
    code = status::forbidden;
  }
  std::string body(reason(code));
  body += '\n';
  return Response::text(code, std::move(body));
}

}  // namespace

Task<Response> file_response(std::string path, std::string content_type) {
  duet::Result<fs::File> opened = co_await fs::File::open(std::move(path), O_RDONLY);
  if (!opened) co_return file_refused(opened.error());
  struct stat st {};
  if (::fstat(opened->native_handle(), &st) != 0) {
    co_return file_refused(std::error_code(errno, std::generic_category()));
  }
  if (!S_ISREG(st.st_mode)) co_return file_refused(std::make_error_code(std::errc::is_a_directory));
  struct Reading {
    fs::File file;
    std::uint64_t at = 0;
    std::uint64_t size = 0;
  };
  auto r = std::make_shared<Reading>(
      Reading{std::move(*opened), 0, static_cast<std::uint64_t>(st.st_size)});
  Response res = streamed_response(
      status::ok,
      [r]() -> Task<duet::Result<std::string>> {
        if (r->at >= r->size) co_return std::string();
        std::string piece(
            static_cast<std::size_t>(std::min<std::uint64_t>(kFilePiece, r->size - r->at)), '\0');
        duet::Result<std::size_t> n =
            co_await r->file.read_at(std::as_writable_bytes(std::span(piece)), r->at);
        if (!n) co_return n.error();
        if (*n == 0) co_return std::make_error_code(std::errc::io_error);  // the file shrank
        piece.resize(*n);
        r->at += *n;
        co_return piece;
      },
      static_cast<std::size_t>(st.st_size));
  res.headers.set("Content-Type", content_type);
  co_return res;
}

Response file_response_now(std::string path, std::string content_type) {
  return duet::wait(file_response(std::move(path), std::move(content_type)));
}

}  // namespace duet::http
