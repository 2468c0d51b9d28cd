// stream.cpp: TlsStream and its futures: each runs one OpenSSL call through
// Connection::drive (connection.hpp), which moves the BIO pair's bytes
// over the TCP stream.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "duet/tls/stream.hpp"
#include "tls/connection.hpp"

namespace duet::tls {
namespace detail {

Poll<io::Result<void>> Connection::flush(Context& cx) {
  for (;;) {
    if (!send) {
      char* p = nullptr;
      const int n = BIO_nread0(net.get(), &p);  // the contiguous run before the ring wraps
      if (n <= 0) return io::Result<void>();    // nothing to send
      send.emplace(tcp.write(p, static_cast<std::size_t>(n)));
    }
    auto p = send->poll(cx);
    if (p.is_pending()) return pending;
    auto r = std::move(p).value();
    send.reset();
    if (!r) return io::Result<void>(r.error());
    if (*r == 0) return io::Result<void>(std::errc::broken_pipe);
    char* sent = nullptr;
    BIO_nread(net.get(), &sent, static_cast<int>(*r));  // consumes what the send took
  }
}

Poll<io::Result<void>> Connection::fill(Context& cx) {
  if (eof) {
    // OpenSSL asked for more after the end of the stream was reported.
    return io::Result<void>(std::errc::connection_aborted);
  }
  if (!recv) {
    char* p = nullptr;
    const int room = BIO_nwrite0(net.get(), &p);
    // OpenSSL asks for bytes only with a record incomplete, which fits.
    if (room <= 0) return io::Result<void>(std::errc::no_buffer_space);
    recv_at = p;
    recv.emplace(tcp.read(p, static_cast<std::size_t>(room)));
  }
  auto p = recv->poll(cx);
  if (p.is_pending()) return pending;
  auto r = std::move(p).value();
  recv.reset();
  if (!r) return io::Result<void>(r.error());
  if (*r == 0) {
    // From now on an empty ring is the end of the stream: OpenSSL reports
    // "unexpected eof" unless a close_notify came first.
    eof = true;
    BIO_shutdown_wr(net.get());
  } else {
    commit(recv_at, *r);
  }
  return io::Result<void>();
}

void Connection::commit(char* at, std::size_t n) noexcept {
  char* pos = nullptr;
  BIO_nwrite0(net.get(), &pos);
  if (pos != at) std::memmove(pos, at, n);  // OpenSSL drained the ring meanwhile
  BIO_nwrite(net.get(), &pos, static_cast<int>(n));
}

std::error_code Connection::fail(std::error_code e) noexcept {
  broken = e;
  // Best effort: an alert OpenSSL wrote (bad certificate, decode error)
  // tells the peer why. Never waits: the connection is done.
  char* p = nullptr;
  if (!send) {
    if (const int n = BIO_nread0(net.get(), &p); n > 0) {
      (void)::send(tcp.native_handle(), p, static_cast<std::size_t>(n),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
    }
  }
  return e;
}

}  // namespace detail

// ---- HandshakeFuture -----------------------------------------------------

HandshakeFuture::HandshakeFuture(std::unique_ptr<detail::Connection> c, std::error_code setup_error,
                                 std::chrono::nanoseconds timeout) noexcept
    : c_(std::move(c)), err_(setup_error), timeout_(timeout) {
  if (timeout.count() > 0) {
    deadline_.emplace(Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout));
  }
}
HandshakeFuture::HandshakeFuture(HandshakeFuture&&) noexcept = default;
HandshakeFuture::~HandshakeFuture() = default;

Poll<io::Result<TlsStream>> HandshakeFuture::poll(Context& cx) {
  if (err_) return io::Result<TlsStream>(err_);
  if (!c_) return io::Result<TlsStream>(std::errc::operation_canceled);  // polled after done
  SSL* ssl = c_->ssl.get();
  auto p = c_->drive(cx, step_, [ssl](std::size_t*) { return SSL_do_handshake(ssl); });
  if (p.is_ready()) {
    deadline_.reset();
    if (!p.value()) {
      err_ = p.value().error();
      c_.reset();  // closes the socket
      return io::Result<TlsStream>(err_);
    }
    return io::Result<TlsStream>(TlsStream(std::move(c_)));
  }
  if (deadline_ && deadline_->poll(cx).is_ready()) {
    err_ = std::make_error_code(std::errc::timed_out);
    c_.reset();  // abandons the TCP operations in flight, closes the socket
    return io::Result<TlsStream>(err_);
  }
  return pending;
}

// ---- the stream's futures ------------------------------------------------

namespace {
constexpr std::size_t max_write = 64 * 1024;
io::Result<std::size_t> closed() {
  return std::make_error_code(std::errc::bad_file_descriptor);
}
}  // namespace

Poll<io::Result<std::size_t>> ReadFuture::poll(Context& cx) {
  if (c_ == nullptr) return closed();
  if (buf_.empty()) return io::Result<std::size_t>(std::size_t{0});
  SSL* ssl = c_->ssl.get();
  return c_->drive(cx, step_, [ssl, b = buf_](std::size_t* n) {
    return SSL_read_ex(ssl, b.data(), b.size(), n);
  });
}

Poll<io::Result<std::size_t>> WriteFuture::poll(Context& cx) {
  if (c_ == nullptr) return closed();
  if (data_.empty()) return io::Result<std::size_t>(std::size_t{0});
  SSL* ssl = c_->ssl.get();
  auto d = data_.first(std::min(data_.size(), max_write));
  return c_->drive(cx, step_,
                   [ssl, d](std::size_t* n) { return SSL_write_ex(ssl, d.data(), d.size(), n); });
}

Poll<io::Transferred> WriteAllFuture::poll(Context& cx) {
  if (c_ == nullptr)
    return io::Transferred{0, std::make_error_code(std::errc::bad_file_descriptor)};
  SSL* ssl = c_->ssl.get();
  while (done_ < data_.size()) {
    auto d = data_.subspan(done_, std::min(data_.size() - done_, max_write));
    auto p = c_->drive(
        cx, step_, [ssl, d](std::size_t* n) { return SSL_write_ex(ssl, d.data(), d.size(), n); });
    if (p.is_pending()) return pending;
    if (!p.value()) return io::Transferred{done_, p.value().error()};
    done_ += *p.value();
    step_ = detail::Step{};
  }
  return io::Transferred{done_, {}};
}

Poll<io::Result<void>> ShutdownFuture::poll(Context& cx) {
  if (c_ == nullptr) return io::Result<void>(std::errc::bad_file_descriptor);
  SSL* ssl = c_->ssl.get();
  // SSL_shutdown returns 0 once our close_notify is written and the
  // peer's has not arrived: enough for a half-close.
  auto p = c_->drive(cx, step_, [ssl](std::size_t*) {
    int r = SSL_shutdown(ssl);
    return r >= 0 ? 1 : r;
  });
  if (p.is_pending()) return pending;
  if (!p.value()) return io::Result<void>(p.value().error());
  return c_->tcp.shutdown(net::Shutdown::write);
}

// ---- TlsStream -----------------------------------------------------------

TlsStream::TlsStream() noexcept = default;
TlsStream::TlsStream(std::unique_ptr<detail::Connection> c) noexcept : c_(std::move(c)) {}
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() = default;

io::Result<void> TlsStream::close() noexcept {
  if (!c_) return {};
  c_->send.reset();
  c_->recv.reset();
  return c_->tcp.close();
}

std::string_view TlsStream::alpn() const noexcept {
  if (!c_) return {};
  const unsigned char* p = nullptr;
  unsigned n = 0;
  SSL_get0_alpn_selected(c_->ssl.get(), &p, &n);
  return {reinterpret_cast<const char*>(p), n};
}

std::string_view TlsStream::server_name() const noexcept {
  if (!c_) return {};
  const char* s = SSL_get_servername(c_->ssl.get(), TLSEXT_NAMETYPE_host_name);
  return s != nullptr ? std::string_view(s) : std::string_view();
}

bool TlsStream::session_reused() const noexcept {
  return c_ && SSL_session_reused(c_->ssl.get()) == 1;
}

std::string_view TlsStream::version() const noexcept {
  return c_ ? std::string_view(SSL_get_version(c_->ssl.get())) : std::string_view();
}

net::TcpStream& TlsStream::tcp() noexcept {
  return c_->tcp;
}

bool TlsStream::is_open() const noexcept {
  return c_ && c_->tcp.is_open();
}

}  // namespace duet::tls
