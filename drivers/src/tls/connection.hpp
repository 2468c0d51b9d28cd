// connection.hpp (private): one TLS connection's state, owned by its
// handshake future and then by its TlsStream, and the loop that runs an
// OpenSSL call over a BIO pair and the TCP stream's futures.
//
// Invariants:
//   - OpenSSL reads and writes its half of a BIO pair (BIO_s_bio), whose
//     other half, `net`, is ours: an OpenSSL call never blocks and never
//     touches the socket. The ciphertext crosses each ring once: a recv
//     lands in the inbound ring and a send leaves from the outbound one
//     (BIO_nwrite0/BIO_nread0), with no staging copy and no zero fill.
//   - A send in flight points at the outbound ring's oldest unread bytes;
//     they stay unread (and so unmoved: OpenSSL only appends into the free
//     space) until the send completes and BIO_nread consumes what it took.
//   - A recv in flight points at the inbound ring's free space, which
//     only we write. OpenSSL may read the ring meanwhile; the write
//     position stays put unless it drains the ring, which restarts it at
//     the ring's start, so commit() moves the bytes there before
//     committing them.
//   - `send` and `recv` are the TCP futures in flight; they live here, not
//     in a TLS future, so a dropped TLS future loses no byte: the next
//     operation polls them on. They are declared after the buffers they
//     point into and the TcpStream they use, so they are destroyed (and
//     their operations abandoned) first.
//   - `broken`: a fatal error already returned; every later call returns
//     it again (OpenSSL forbids further use after SSL_ERROR_SSL).
//   - `busy`: a poll is running drive(); a second poll at the same time
//     (a read and a write polled on two workers at once, which the stream
//     does not allow) gets EBUSY instead of racing inside OpenSSL.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "duet/io/futures.hpp"
#include "duet/net/tcp.hpp"
#include "duet/tls/stream.hpp"

namespace duet::tls::detail {

struct SslFree {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct SessionFree {
  void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

/// Each direction's ring in the BIO pair: two full TLS records (16 KiB of
/// plaintext and their overhead), so a record never waits for ring space
/// behind a half-sent one.
inline constexpr std::size_t kRingSize = 2 * (16 * 1024 + 512);

/// What a TlsContext shares: the SSL_CTX, the server's per-name contexts
/// (SNI), the ALPN lists in wire format, and the client's saved sessions.
struct ContextState {
  SslCtxPtr ctx;
  bool server = false;
  std::string alpn_wire;  // length-prefixed protocol names
  std::vector<std::pair<std::string, SslCtxPtr>> names;
  std::mutex sessions_mu;  // guards sessions (new-session callbacks run on any worker)
  std::vector<std::pair<std::string, SessionPtr>> sessions;
};

/// The OpenSSL error of a failed call (SSL_get_error's `kind`), with the
/// reason from OpenSSL's error queue or the verify result.
std::error_code ssl_error(SSL* ssl, int kind) noexcept;
/// The error at the top of OpenSSL's queue (after a failed setup call).
std::error_code queue_error() noexcept;

struct Connection {
  Connection(std::shared_ptr<ContextState> c, net::TcpStream t) noexcept
      : ctx(std::move(c)), tcp(std::move(t)) {}

  /// Runs `op` (an OpenSSL call: 1 and *n on success, <= 0 on failure)
  /// until it succeeds and its output is sent. `step` keeps, across polls,
  /// that the call already succeeded. Ready with n (0 after close_notify
  /// for a read) or an error.
  template <class Op>
  Poll<io::Result<std::size_t>> drive(Context& cx, Step& step, Op op);

  /// Sends the outbound ring's bytes; ready once it is empty.
  Poll<io::Result<void>> flush(Context& cx);
  /// Receives ciphertext into the inbound ring (or marks its end).
  Poll<io::Result<void>> fill(Context& cx);
  /// Makes `n` bytes received at `at` (the inbound ring's write position
  /// when the recv began) readable by OpenSSL.
  void commit(char* at, std::size_t n) noexcept;
  /// Records a fatal error (returned again by every later call) and sends
  /// OpenSSL's pending alert, if any, without waiting.
  std::error_code fail(std::error_code e) noexcept;

  std::shared_ptr<ContextState> ctx;
  net::TcpStream tcp;
  SslPtr ssl;               // owns OpenSSL's half of the pair (the outbound ring)
  BioPtr net;               // our half (the inbound ring)
  std::string name;         // the client's server name (session cache key)
  char* recv_at = nullptr;  // where the recv in flight writes
  std::error_code broken;
  std::atomic<bool> busy{false};
  bool eof = false;  // the socket reported the end of the stream
  std::optional<io::SizeFuture> send;
  std::optional<io::SizeFuture> recv;
};

/// Holds `busy` for one poll. Acquire when taken and release when given
/// back: the next poll, on any worker, sees everything this one did to the
/// SSL object and the buffers.
class BusyGuard {
 public:
  explicit BusyGuard(std::atomic<bool>& b) noexcept
      : b_(b), taken_(!b.exchange(true, std::memory_order_acquire)) {}
  ~BusyGuard() {
    if (taken_) b_.store(false, std::memory_order_release);
  }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;
  [[nodiscard]] bool taken() const noexcept { return taken_; }

 private:
  std::atomic<bool>& b_;
  bool taken_;
};

template <class Op>
Poll<io::Result<std::size_t>> Connection::drive(Context& cx, Step& step, Op op) {
  BusyGuard guard(busy);
  if (!guard.taken()) return io::Result<std::size_t>(std::errc::device_or_resource_busy);
  if (broken) return io::Result<std::size_t>(broken);
  while (!step.done) {
    auto f = flush(cx);
    if (f.is_pending()) return pending;
    if (!f.value()) return io::Result<std::size_t>(fail(f.value().error()));
    // SSL_get_error reads the thread's error queue, so it must hold nothing
    // from before the call. Peeked first: the queue is almost always empty
    // (this layer drains what it reads, queue_error), and ERR_clear_error
    // walks every slot of it.
    if (ERR_peek_error() != 0) ERR_clear_error();
    std::size_t n = 0;
    int r = op(&n);
    if (r == 1) {
      step = Step{true, n};
      break;
    }
    int kind = SSL_get_error(ssl.get(), r);
    if (kind == SSL_ERROR_ZERO_RETURN) {
      step = Step{true, 0};  // the peer's close_notify
      break;
    }
    if (kind == SSL_ERROR_WANT_WRITE) continue;  // flushed at the loop's top
    if (kind != SSL_ERROR_WANT_READ)
      return io::Result<std::size_t>(fail(ssl_error(ssl.get(), kind)));
    // OpenSSL needs the peer's bytes: send what it wrote first (the peer
    // may be waiting for it), then receive.
    f = flush(cx);
    if (f.is_pending()) return pending;
    if (!f.value()) return io::Result<std::size_t>(fail(f.value().error()));
    auto g = fill(cx);
    if (g.is_pending()) return pending;
    if (!g.value()) return io::Result<std::size_t>(fail(g.value().error()));
  }
  auto f = flush(cx);
  if (f.is_pending()) return pending;
  if (!f.value()) return io::Result<std::size_t>(fail(f.value().error()));
  return io::Result<std::size_t>(step.n);
}

}  // namespace duet::tls::detail
