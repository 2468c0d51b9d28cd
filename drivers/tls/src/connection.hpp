// connection.hpp (private): one TLS connection's state, owned by its
// handshake future and then by its TlsStream, and the loop that runs an
// OpenSSL call over the connection's ciphertext buffers and the TCP
// stream's futures.
//
// Invariants:
//   - OpenSSL reads and writes a BIO of ours (one BIO_METHOD per process,
//     stream.cpp) over two buffers this object owns: `in`, ciphertext
//     received and not yet read by OpenSSL, and `out`, ciphertext OpenSSL
//     wrote and not yet sent. An OpenSSL call never blocks and never
//     touches the socket: an empty `in` is "retry later" until the socket
//     reports the end of the stream, a full `out` is "retry later" until
//     it is sent. A recv lands straight in `in` and a send leaves straight
//     from `out`, with no staging copy and no zero fill.
//   - Each buffer holds bytes [head, tail) of its memory. `out`'s memory
//     is taken by the first write and given back once it is empty with no
//     send in flight: a small block (kSmallBuffer, from the block cache)
//     where that write fits, else kBufferSize (two full records, so a
//     record never waits behind a half-sent one). A write that outgrows
//     the small block moves what it holds to kBufferSize, only with no
//     send in flight; with one, the small block takes what fits and the
//     rest waits for the send. `in` lives in `first`, kFirstRead
//     bytes inside this object, while the connection waits for the peer:
//     its memory (kBufferSize) is taken only when a record is in progress
//     beyond what `first` holds (the few bytes there copied once), and
//     given back once it is empty, with no recv in flight, at a record
//     boundary of the received stream (`rec_left`, `hdr_have`). So an
//     idle connection (waiting for the peer's next record, a read pending
//     or not) holds no ciphertext buffer; OpenSSL gives back its own
//     record buffers likewise (SSL_MODE_RELEASE_BUFFERS).
//   - A send in flight points at `out`'s bytes [head, tail) as they were
//     when it began; OpenSSL only appends after tail, and nothing moves,
//     resets or frees `out` while `send` is set.
//   - A recv in flight writes at `in`'s tail; OpenSSL only advances head,
//     and nothing moves, resets or frees `in` (or switches it between
//     `first` and its own memory) while `recv` is set.
//   - `send` and `recv` are the TCP futures in flight; they live here, not
//     in a TLS future, so a dropped TLS future loses no byte: the next
//     operation polls them on. They are declared after the buffers they
//     point into and the TcpStream they use, so they are destroyed (and
//     their operations abandoned) first.
//   - `broken`: a fatal error already returned; every later call returns
//     it again (OpenSSL forbids further use after SSL_ERROR_SSL).
//   - `handshaking`: from the connection's start until its handshake
//     future is done. Meanwhile flush() sends each flight of ours
//     (ServerHello to Finished and then the session tickets; a
//     ClientHello, the client's Finished) at once with a non-blocking
//     send(2), the TCP future taking only what the socket refused: the
//     peer can do nothing until the flight arrives, and the key exchange
//     and signature that made it keep this worker busy, so a send queued
//     behind the worker's other work (on io_uring, the submission at the
//     end of the worker's tick) would hold the flight as long as that
//     work runs. `handshake_sends` counts the sends the handshake's bytes
//     took (one per flight while the socket has room).
//   - `busy`: a poll is running drive(); a second poll at the same time
//     (a read and a write polled on two workers at once, which the stream
//     does not allow) gets EBUSY instead of racing inside OpenSSL.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
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

/// One full TLS record: 16 KiB of plaintext and its overhead.
inline constexpr std::size_t kRecordMax = 16 * 1024 + 512;
/// Each direction's buffer while in use: two full records, so a record
/// never waits for space behind a half-sent one.
inline constexpr std::size_t kBufferSize = 2 * kRecordMax;
/// The inline buffer a connection waiting for the peer receives into: a
/// short record (a request, an alert) arrives whole there.
inline constexpr std::size_t kFirstRead = 256;

/// The memory `out` takes first: a block of the block cache, room for the
/// records of a short answer. A write that needs more while no send is in
/// flight moves what `out` holds to kBufferSize.
inline constexpr std::size_t kSmallBuffer = 4096;

/// One direction's ciphertext: bytes [head, tail) of `mem` (or, inbound
/// without `mem`, of the connection's `first`). `mem` is `cap` bytes while
/// taken: kSmallBuffer (a block of the block cache) or kBufferSize (a
/// thread's spare buffer, stream.cpp); released, it goes back to where it
/// came from; destroyed, to the allocator (a connection may die where the
/// thread's spare list has already gone: at the thread's exit).
struct CipherBuf {
  CipherBuf() = default;
  CipherBuf(const CipherBuf&) = delete;
  CipherBuf& operator=(const CipherBuf&) = delete;
  ~CipherBuf();

  /// Takes `bytes` (kSmallBuffer or kBufferSize) of memory; none is held.
  void take(std::size_t bytes);
  /// Gives the memory back (a full buffer to the thread's spares); head
  /// and tail go to 0.
  void release() noexcept;
  /// Moves the bytes held to memory of `bytes`, at its start.
  void move_to(std::size_t bytes);
  /// Frees the memory, a full buffer to the thread's spares or not.
  void drop(bool to_spares) noexcept;

  char* mem = nullptr;
  std::size_t cap = 0;
  std::size_t head = 0, tail = 0;
  [[nodiscard]] std::size_t size() const noexcept { return tail - head; }
  /// The bytes held, from head to tail.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return {reinterpret_cast<const std::byte*>(mem) + head, size()};
  }
};

/// The process's BIO_METHOD over a Connection's buffers (made once, on
/// first use; never freed).
BIO_METHOD* buffers_bio_method() noexcept;

/// What a TlsContext shares: the SSL_CTX, the server's per-name contexts
/// (SNI), the ALPN lists in wire format, the client's saved sessions, and
/// the simulated world its ticket keys were drawn in.
struct ContextState {
  SslCtxPtr ctx;
  bool server = false;
  std::string alpn_wire;  // length-prefixed protocol names
  std::vector<std::pair<std::string, SslCtxPtr>> names;
  std::mutex sessions_mu;  // guards sessions (new-session callbacks run on any worker)
  std::vector<std::pair<std::string, SessionPtr>> sessions;
  /// The simulated world whose seeded ticket keys `ctx` holds, 0 for real
  /// ones (sim_replay.hpp); changed under world_mu.
  std::atomic<std::uint64_t> world{0};
  std::mutex world_mu;
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
  /// for a read) or an error. `reads`: `op` is a read, which is not called
  /// while it could only ask for the peer's bytes (starved()): the
  /// connection receives them first.
  template <class Op>
  Poll<duet::Result<std::size_t>> drive(Context& cx, Step& step, Op op, bool reads = false);
  /// A read could only ask for the peer's bytes: none received and not
  /// read by OpenSSL, none decrypted or buffered inside it, the stream not
  /// ended and no close_notify seen. (An OpenSSL read called then takes
  /// its record buffer and gives it back for nothing.)
  [[nodiscard]] bool starved() const noexcept {
    return in.size() == 0 && !eof && SSL_has_pending(ssl.get()) == 0 &&
           (SSL_get_shutdown(ssl.get()) & SSL_RECEIVED_SHUTDOWN) == 0;
  }

  /// Sends `out`'s bytes; ready once it is empty.
  Poll<duet::Result<void>> flush(Context& cx);
  /// Receives ciphertext into `in` (or marks the end of the stream).
  Poll<duet::Result<void>> fill(Context& cx);
  /// The BIO's write: appends up to `n` bytes to `out` (taking its
  /// memory); the count taken, 0 when it is full.
  std::size_t put(const char* p, std::size_t n) noexcept;
  /// The BIO's read: moves up to `n` bytes of `in` to `p`; the count.
  std::size_t take(char* p, std::size_t n) noexcept;
  /// Gives back each buffer that is empty with no TCP operation pointing
  /// into it (`in` only at a record boundary: see the invariants).
  void trim() noexcept;
  /// Bytes of buffer memory held (0 when idle; `first` not counted).
  [[nodiscard]] std::size_t held() const noexcept { return in.cap + out.cap; }
  /// Records that `n` received bytes at `p` passed, following the record
  /// headers (`rec_left`, `hdr_have`).
  void scan(const char* p, std::size_t n) noexcept;
  [[nodiscard]] bool at_record_boundary() const noexcept { return rec_left == 0 && hdr_have == 0; }
  [[nodiscard]] char* in_base() noexcept { return in.mem != nullptr ? in.mem : first; }
  /// Records a fatal error (returned again by every later call) and sends
  /// OpenSSL's pending alert, if any, without waiting.
  std::error_code fail(std::error_code e) noexcept;

  std::shared_ptr<ContextState> ctx;
  net::TcpStream tcp;
  SslPtr ssl;        // owns the BIO over `in` and `out`
  std::string name;  // the client's server name (session cache key)
  CipherBuf in, out;
  std::uint32_t rec_left = 0;  // bytes of the received stream's current record not yet received
  std::uint8_t hdr_have = 0;   // bytes of the next record header received (0-4)
  std::uint8_t rec_hi = 0;     // the high byte of that header's length
  char first[kFirstRead];      // `in`'s bytes while it has no memory of its own
  std::error_code broken;
  std::atomic<bool> busy{false};
  bool eof = false;          // the socket reported the end of the stream
  bool handshaking = false;  // the handshake future is not done (see the invariants)
  std::uint32_t handshake_sends = 0;
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
Poll<duet::Result<std::size_t>> Connection::drive(Context& cx, Step& step, Op op, bool reads) {
  BusyGuard guard(busy);
  if (!guard.taken()) return duet::Result<std::size_t>(std::errc::device_or_resource_busy);
  if (broken) return duet::Result<std::size_t>(broken);
  while (!step.done) {
    auto f = flush(cx);
    if (f.is_pending()) return pending;
    if (!f.value()) return duet::Result<std::size_t>(fail(f.value().error()));
    if (!reads || !starved()) {
      // SSL_get_error reads the thread's error queue, so it must hold
      // nothing from before the call. Peeked first: the queue is almost
      // always empty (this layer drains what it reads, queue_error), and
      // ERR_clear_error walks every slot of it.
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
        return duet::Result<std::size_t>(fail(ssl_error(ssl.get(), kind)));
    }
    // OpenSSL needs the peer's bytes: send what it wrote first (the peer
    // may be waiting for it), then receive.
    f = flush(cx);
    if (f.is_pending()) return pending;
    if (!f.value()) return duet::Result<std::size_t>(fail(f.value().error()));
    auto g = fill(cx);
    if (g.is_pending()) return pending;
    if (!g.value()) return duet::Result<std::size_t>(fail(g.value().error()));
  }
  auto f = flush(cx);
  if (f.is_pending()) return pending;
  if (!f.value()) return duet::Result<std::size_t>(fail(f.value().error()));
  trim();
  return duet::Result<std::size_t>(step.n);
}

}  // namespace duet::tls::detail
