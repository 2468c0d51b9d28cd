// stream.cpp: the BIO over a connection's ciphertext buffers, and
// TlsStream and its futures: each runs one OpenSSL call through
// Connection::drive (connection.hpp), which moves the buffers' bytes over
// the TCP stream.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "connection.hpp"
#include "duet/detail/block_cache.hpp"
#include "duet/tls/stream.hpp"

namespace duet::tls {
namespace detail {

namespace {

Connection* conn_of(BIO* b) noexcept {
  return static_cast<Connection*>(BIO_get_data(b));
}

int bio_write(BIO* b, const char* p, std::size_t n, std::size_t* done) {
  BIO_clear_retry_flags(b);
  *done = conn_of(b)->put(p, n);
  if (*done > 0 || n == 0) return 1;
  BIO_set_retry_write(b);  // full until flush() sends it
  return 0;
}

int bio_read(BIO* b, char* p, std::size_t n, std::size_t* done) {
  BIO_clear_retry_flags(b);
  Connection* c = conn_of(b);
  *done = c->take(p, n);
  if (*done > 0 || n == 0) return 1;
  // Empty: more may come (retry), unless the socket reported the end of
  // the stream (then OpenSSL reports "unexpected eof" unless a
  // close_notify came first).
  if (!c->eof) BIO_set_retry_read(b);
  return 0;
}

long bio_ctrl(BIO* b, int cmd, long, void*) {
  const Connection* c = conn_of(b);
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // flush() sends, outside OpenSSL
    case BIO_CTRL_PENDING:
      return static_cast<long>(c->in.size());
    case BIO_CTRL_WPENDING:
      return static_cast<long>(c->out.size());
    case BIO_CTRL_EOF:
      return c->eof && c->in.size() == 0 ? 1 : 0;
    default:
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int bio_destroy(BIO*) {
  return 1;  // the buffers belong to the Connection
}

/// The full buffers (kBufferSize) a worker thread keeps for its
/// connections' next takes: a connection gives its buffer back whenever it
/// goes idle, so a few spare ones per thread save a large malloc and free
/// each time (a short write's small block comes from the block cache, not
/// from here). At most kSpares per thread; the
/// memory is no connection's, so buffered_capacity() does not count it.
class Spares {
 public:
  static constexpr std::size_t kSpares = 4;
  /// A buffer's memory, uninitialised: only received or written bytes
  /// are ever read from it.
  std::unique_ptr<char[]> take() {
    if (n_ > 0) return std::move(v_[--n_]);
    return std::make_unique_for_overwrite<char[]>(kBufferSize);
  }
  void give(std::unique_ptr<char[]> m) noexcept {
    if (n_ < kSpares) v_[n_++] = std::move(m);
  }

 private:
  std::array<std::unique_ptr<char[]>, kSpares> v_;
  std::size_t n_ = 0;
};

Spares& spares() noexcept {
  static thread_local Spares s;
  return s;
}

}  // namespace

void CipherBuf::take(std::size_t bytes) {
  mem = bytes == kSmallBuffer ? static_cast<char*>(duet::detail::block_alloc(kSmallBuffer))
                              : spares().take().release();
  cap = bytes;
  head = tail = 0;
}

void CipherBuf::release() noexcept {
  drop(true);
}

void CipherBuf::drop(bool to_spares) noexcept {
  if (mem == nullptr) return;
  if (cap == kSmallBuffer) {
    duet::detail::block_free(mem, kSmallBuffer);
  } else if (to_spares) {
    spares().give(std::unique_ptr<char[]>(mem));
  } else {
    std::unique_ptr<char[]> gone(mem);
  }
  mem = nullptr;
  cap = 0;
  head = tail = 0;
}

CipherBuf::~CipherBuf() {
  drop(false);
}

void CipherBuf::move_to(std::size_t bytes) {
  CipherBuf to;
  to.take(bytes);
  if (mem != nullptr) std::memcpy(to.mem, mem + head, size());
  to.tail = size();
  release();
  std::swap(mem, to.mem);
  std::swap(cap, to.cap);
  head = 0;
  tail = to.tail;
}

BIO_METHOD* buffers_bio_method() noexcept {
  // Made once per process (a function-local static: thread-safe
  // initialisation); OpenSSL keeps a pointer to it in every BIO.
  static BIO_METHOD* const m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "duet tls buffers");
    if (bm != nullptr) {
      BIO_meth_set_write_ex(bm, bio_write);
      BIO_meth_set_read_ex(bm, bio_read);
      BIO_meth_set_ctrl(bm, bio_ctrl);
      BIO_meth_set_create(bm, bio_create);
      BIO_meth_set_destroy(bm, bio_destroy);
    }
    return bm;
  }();
  return m;
}

std::size_t Connection::put(const char* p, std::size_t n) noexcept {
  if (out.mem == nullptr) {
    out.take(n <= kSmallBuffer ? kSmallBuffer : kBufferSize);
  } else if (!send && out.cap - out.tail < n) {
    // No send points into it: the unsent bytes move to the start, of a
    // full buffer where the small one has no room for these.
    if (out.cap == kSmallBuffer && out.size() + n > kSmallBuffer) {
      out.move_to(kBufferSize);
    } else if (out.head > 0) {
      std::memmove(out.mem, out.mem + out.head, out.size());
      out.tail -= out.head;
      out.head = 0;
    }
  }
  const std::size_t k = std::min(n, out.cap - out.tail);
  std::memcpy(out.mem + out.tail, p, k);
  out.tail += k;
  return k;
}

std::size_t Connection::take(char* p, std::size_t n) noexcept {
  const std::size_t k = std::min(n, in.size());
  std::memcpy(p, in_base() + in.head, k);
  in.head += k;
  if (in.head == in.tail && !recv) in.head = in.tail = 0;
  return k;
}

void Connection::trim() noexcept {
  if (out.mem != nullptr && out.size() == 0 && !send) out.release();
  if (in.mem != nullptr && in.size() == 0 && !recv && at_record_boundary()) in.release();
}

void Connection::scan(const char* p, std::size_t n) noexcept {
  // A record is a 5-byte header (type, version, 16-bit length) and the
  // length's bytes.
  while (n > 0) {
    if (rec_left > 0) {
      const std::size_t k = std::min<std::size_t>(rec_left, n);
      rec_left -= static_cast<std::uint32_t>(k);
      p += k;
      n -= k;
      continue;
    }
    const auto byte = static_cast<unsigned char>(*p);
    if (hdr_have == 3) rec_hi = byte;
    if (hdr_have == 4) {
      rec_left = (std::uint32_t{rec_hi} << 8) | byte;
      hdr_have = 0;
    } else {
      ++hdr_have;
    }
    ++p;
    --n;
  }
}

Poll<duet::Result<void>> Connection::flush(Context& cx) {
  for (;;) {
    if (!send) {
      if (out.size() == 0) return duet::Result<void>();  // nothing to send
      if (handshaking) {
        ++handshake_sends;
        // A flight of the handshake leaves now (the invariants): a direct,
        // non-blocking send, ahead of nothing (no send is in flight).
        const duet::Result<std::size_t> k = tcp.try_write(out.bytes());
        if (!k) return duet::Result<void>(k.error());
        if (*k > 0) {
          out.head += *k;
          if (out.head == out.tail) out.head = out.tail = 0;
          continue;  // all sent, or the rest through the TCP future
        }
        // The socket's buffer is full: the TCP future waits for room.
      }
      send.emplace(tcp.write(out.mem + out.head, out.size()));
    }
    auto p = send->poll(cx);
    if (p.is_pending()) return pending;
    auto r = std::move(p).value();
    send.reset();
    if (!r) return duet::Result<void>(r.error());
    if (*r == 0) return duet::Result<void>(std::errc::broken_pipe);
    out.head += *r;  // consumes what the send took
    if (out.head == out.tail) out.head = out.tail = 0;
  }
}

Poll<duet::Result<void>> Connection::fill(Context& cx) {
  if (eof) {
    // OpenSSL asked for more after the end of the stream was reported.
    return duet::Result<void>(std::errc::connection_aborted);
  }
  if (!recv) {
    if (in.size() == 0 && at_record_boundary()) {
      // Waiting for the peer's next record with nothing buffered (drive
      // flushed `out` first): the recv waits in `first`, and both
      // buffers' memory goes back.
      trim();
      in.head = in.tail = 0;
    } else if (in.mem == nullptr) {
      // A record in progress beyond `first`: take the memory, with the
      // bytes `first` still holds.
      const std::size_t held = in.size();
      const std::size_t from = in.head;
      in.take(kBufferSize);
      std::memcpy(in.mem, first + from, held);
      in.tail = held;
    } else if (in.head > 0 && in.cap - in.tail < kRecordMax) {
      // Less than a record of room at the end: the unread bytes (part of
      // one record: OpenSSL asks for more only then) move to the start.
      std::memmove(in.mem, in.mem + in.head, in.size());
      in.tail -= in.head;
      in.head = 0;
    }
    const std::size_t cap = in.mem != nullptr ? in.cap : kFirstRead;
    // OpenSSL asks for bytes only with a record incomplete, which fits.
    if (in.tail >= cap) return duet::Result<void>(std::errc::no_buffer_space);
    recv.emplace(tcp.read(in_base() + in.tail, cap - in.tail));
  }
  auto p = recv->poll(cx);
  if (p.is_pending()) return pending;
  auto r = std::move(p).value();
  recv.reset();
  if (!r) return duet::Result<void>(r.error());
  if (*r == 0) {
    // From now on an empty `in` is the end of the stream: OpenSSL reports
    // "unexpected eof" unless a close_notify came first.
    eof = true;
  } else {
    scan(in_base() + in.tail, *r);
    in.tail += *r;
  }
  return duet::Result<void>();
}

std::error_code Connection::fail(std::error_code e) noexcept {
  broken = e;
  // Best effort: an alert OpenSSL wrote (bad certificate, decode error)
  // tells the peer why. Never waits: the connection is done.
  if (!send && out.size() > 0) {
    (void)tcp.try_write(out.bytes());
  }
  return e;
}

}  // namespace detail

// ---- HandshakeFuture -----------------------------------------------------

HandshakeFuture::HandshakeFuture(std::unique_ptr<detail::Connection> c, std::error_code setup_error,
                                 std::chrono::nanoseconds timeout) noexcept
    : c_(std::move(c)), err_(setup_error), timeout_(timeout) {
  if (timeout.count() > 0) {
    deadline_.emplace(deadline_after(timeout));
  }
}
HandshakeFuture::HandshakeFuture(HandshakeFuture&&) noexcept = default;
HandshakeFuture::~HandshakeFuture() = default;

Poll<duet::Result<TlsStream>> HandshakeFuture::poll(Context& cx) {
  if (err_) return duet::Result<TlsStream>(err_);
  if (!c_) return duet::Result<TlsStream>(std::errc::operation_canceled);  // polled after done
  SSL* ssl = c_->ssl.get();
  auto p = c_->drive(cx, step_, [ssl](std::size_t*) { return SSL_do_handshake(ssl); });
  if (p.is_ready()) {
    deadline_.reset();
    c_->handshaking = false;
    if (!p.value()) {
      err_ = p.value().error();
      c_.reset();  // closes the socket
      return duet::Result<TlsStream>(err_);
    }
    return duet::Result<TlsStream>(TlsStream(std::move(c_)));
  }
  if (deadline_ && deadline_->poll(cx).is_ready()) {
    err_ = std::make_error_code(std::errc::timed_out);
    c_.reset();  // abandons the TCP operations in flight, closes the socket
    return duet::Result<TlsStream>(err_);
  }
  return pending;
}

// ---- the stream's futures ------------------------------------------------

namespace {
constexpr std::size_t max_write = 64 * 1024;
duet::Result<std::size_t> closed() {
  return std::make_error_code(std::errc::bad_file_descriptor);
}
}  // namespace

Poll<duet::Result<std::size_t>> ReadFuture::poll(Context& cx) {
  if (c_ == nullptr) return closed();
  if (buf_.empty()) return duet::Result<std::size_t>(std::size_t{0});
  SSL* ssl = c_->ssl.get();
  return c_->drive(
      cx, step_,
      [ssl, b = buf_](std::size_t* n) { return SSL_read_ex(ssl, b.data(), b.size(), n); }, true);
}

Poll<duet::Result<std::size_t>> WriteFuture::poll(Context& cx) {
  if (c_ == nullptr) return closed();
  if (data_.empty()) return duet::Result<std::size_t>(std::size_t{0});
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

Poll<duet::Result<void>> ShutdownFuture::poll(Context& cx) {
  if (c_ == nullptr) return duet::Result<void>(std::errc::bad_file_descriptor);
  SSL* ssl = c_->ssl.get();
  // SSL_shutdown returns 0 once our close_notify is written and the
  // peer's has not arrived: enough for a half-close.
  auto p = c_->drive(cx, step_, [ssl](std::size_t*) {
    int r = SSL_shutdown(ssl);
    return r >= 0 ? 1 : r;
  });
  if (p.is_pending()) return pending;
  if (!p.value()) return duet::Result<void>(p.value().error());
  return c_->tcp.shutdown(net::Shutdown::write);
}

// ---- TlsStream -----------------------------------------------------------

TlsStream::TlsStream() noexcept = default;
TlsStream::TlsStream(std::unique_ptr<detail::Connection> c) noexcept : c_(std::move(c)) {}
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() = default;

duet::Result<void> TlsStream::close() noexcept {
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

std::uint32_t TlsStream::handshake_sends() const noexcept {
  return c_ ? c_->handshake_sends : 0;
}

std::size_t TlsStream::buffered_capacity() const noexcept {
  return c_ ? c_->held() : 0;
}

bool TlsStream::buffered_input() const noexcept {
  return c_ && (c_->in.size() > 0 || SSL_pending(c_->ssl.get()) > 0);
}

bool TlsStream::is_open() const noexcept {
  return c_ && c_->tcp.is_open();
}

}  // namespace duet::tls
