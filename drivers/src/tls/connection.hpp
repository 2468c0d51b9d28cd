// connection.hpp (private): one TLS connection's state, owned by its
// handshake future and then by its TlsStream, and the loop that runs an
// OpenSSL call over memory BIOs and the TCP stream's futures.
//
// Invariants:
//   - OpenSSL reads `rbio` and writes `wbio`, both memory BIOs: an OpenSSL
//     call never blocks and never touches the socket.
//   - `out` holds ciphertext taken from wbio and not yet sent; it is
//     appended to only while no send is in flight (`send` empty), since a
//     send's request points into it.
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

#include <array>
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
struct SessionFree {
  void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;

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

  /// Sends `out`; ready once it is all sent.
  Poll<io::Result<void>> flush(Context& cx);
  /// Receives ciphertext into rbio (or marks its end).
  Poll<io::Result<void>> fill(Context& cx);
  /// Moves wbio's bytes to `out` (no send in flight).
  void stage();
  /// Records a fatal error (returned again by every later call) and sends
  /// OpenSSL's pending alert, if any, without waiting.
  std::error_code fail(std::error_code e) noexcept;

  std::shared_ptr<ContextState> ctx;
  net::TcpStream tcp;
  SslPtr ssl;
  BIO* rbio = nullptr;  // owned by ssl
  BIO* wbio = nullptr;  // owned by ssl
  std::string name;     // the client's server name (session cache key)
  std::vector<std::byte> out;
  std::size_t out_sent = 0;
  std::array<std::byte, 32 * 1024> in{};
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
    ERR_clear_error();
    std::size_t n = 0;
    int r = op(&n);
    stage();
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
