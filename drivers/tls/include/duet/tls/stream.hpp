// duet/tls/stream.hpp: TLS (OpenSSL 3) over a duet TCP stream, client and
// server, for coroutines and fibers alike.
//
// Example (coroutine):
//   duet::tls::ClientConfig cc;                  // the system's CA store
//   cc.alpn = {"h2", "http/1.1"};
//   auto ctx = duet::tls::TlsContext::client(cc).value();
//   auto tcp = co_await duet::net::TcpStream::connect(duet::net::SocketAddr::v4_loopback(443));
//   auto s = co_await ctx.connect(std::move(*tcp), "localhost", 5s);   // Result<TlsStream>
//   auto w = co_await s->write_all("ping", 4);
//   auto n = co_await s->read(buf);              // 0: the peer sent close_notify
//   auto c = co_await s->shutdown();             // sends close_notify
//
// Example (fiber):
//   duet::tls::ServerConfig sc;
//   sc.cert_file = "server.pem";
//   sc.key_file = "server.key";
//   auto ctx = duet::tls::TlsContext::server(sc).value();
//   auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0)).value();
//   auto s = duet::wait(ctx.accept(duet::wait(l.accept()).value(), 5s));
//   if (s) use(s->alpn(), s->server_name());
//
// OpenSSL never touches the socket: it reads and writes a BIO over the
// stream's ciphertext buffers, and the stream moves their bytes through the
// TcpStream's own futures, so no worker ever blocks in OpenSSL and both I/O
// backends serve TLS unchanged. The buffers exist only while bytes are in
// flight: a stream waiting for the peer with nothing buffered holds none
// (buffered_capacity()). The bytes in flight (ciphertext received and not yet
// decrypted, ciphertext encrypted and not yet sent) belong to the stream,
// not to a future: dropping a read loses nothing the socket delivered, and
// dropping a write after it encrypted its bytes still sends them, before
// anything written later (its count is not reported to anyone).
//
// One operation at a time per stream: a read and a write may not be in
// flight together (an OpenSSL connection is one state machine); two polls
// that meet get EBUSY rather than a race. A handshake
// future owns its connection: dropping it (cancellation) or its deadline
// passing closes the socket; ETIMEDOUT for the deadline.
//
// Errors (duet/tls/error.hpp): OpenSSL's reason string in message(); a
// rejected certificate is_verify_error(); a peer that closes TCP without
// close_notify is_truncated() (a read returns 0 only after close_notify).
#pragma once

#include "duet/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "duet/io/stream.hpp"
#include "duet/net/tcp.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"
#include "duet/time/sleep.hpp"
#include "duet/tls/error.hpp"

namespace duet::tls {

namespace detail {
struct ContextState;
struct Connection;
/// Where one OpenSSL call stands inside a future: not done yet, or done
/// with `n` and waiting for its output to be sent.
struct DUET_API Step {
  bool done = false;
  std::size_t n = 0;
};
}  // namespace detail

/// The TLS 1.2 cipher list both kinds of context use unless told otherwise:
/// ECDHE (and for RSA keys DHE) key exchange with AES-GCM or
/// ChaCha20-Poly1305 only, the AEAD suites of Mozilla's "intermediate"
/// profile. No CBC suite (the padding-oracle family: Lucky Thirteen,
/// POODLE's TLS variant), no RSA key exchange (no forward secrecy), no
/// SHA-1 MAC. TLS 1.3 suites are all AEAD; OpenSSL's default set is kept.
inline constexpr const char* default_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

/// The cipher settings of a context (docs/io.md, "Cipher policy").
struct DUET_API CipherConfig {
  /// TLS 1.2 suites, in OpenSSL's cipher-list syntax
  /// (`openssl ciphers -v LIST` shows what a list selects); empty:
  /// default_tls12_ciphers. A list that selects nothing is an error.
  std::string tls12_ciphers;
  /// TLS 1.3 suites (SSL_CTX_set_ciphersuites syntax, e.g.
  /// "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"); empty:
  /// OpenSSL's default.
  std::string tls13_ciphersuites;
};

/// A client context's settings.
struct DUET_API ClientConfig {
  /// PEM file of trusted CAs; empty: the system store (/etc/ssl/certs).
  std::string ca_file;
  /// false: accept any certificate (no chain check, no host name check).
  bool verify = true;
  /// Protocols to offer by ALPN, in order of preference; empty: no ALPN.
  std::vector<std::string> alpn;
  /// A client certificate and its key (PEM), for servers that ask for one.
  std::string cert_file, key_file;
  /// The suites offered (default: AEAD only in TLS 1.2).
  CipherConfig ciphers;
};

/// A server context's settings.
struct DUET_API ServerConfig {
  /// The certificate chain and its private key (PEM).
  std::string cert_file, key_file;
  /// Protocols accepted by ALPN, in the server's order of preference; a
  /// client that offers none of them fails the handshake
  /// ("no application protocol"). Empty: ALPN ignored.
  std::vector<std::string> alpn;
  /// Further certificates, chosen by the host name the client sends (SNI);
  /// any other name, or none, gets cert_file.
  struct Name {
    std::string host, cert_file, key_file;
  };
  std::vector<Name> names;
  /// The suites accepted, for every certificate (default: AEAD only in
  /// TLS 1.2).
  CipherConfig ciphers;
};

class TlsStream;
class TlsContext;

/// A handshake in progress: Result<TlsStream>.
class [[nodiscard]] DUET_API HandshakeFuture {
 public:
  HandshakeFuture(HandshakeFuture&&) noexcept;
  HandshakeFuture& operator=(HandshakeFuture&&) = delete;
  ~HandshakeFuture();
  Poll<duet::Result<TlsStream>> poll(Context& cx);

 private:
  friend class TlsContext;
  HandshakeFuture(std::unique_ptr<detail::Connection> c, std::error_code setup_error,
                  std::chrono::nanoseconds timeout) noexcept;
  std::unique_ptr<detail::Connection> c_;
  std::error_code err_;
  std::chrono::nanoseconds timeout_;
  std::optional<Sleep> deadline_;
  detail::Step step_;
};

/// Shared OpenSSL settings (an SSL_CTX): certificates, trust, ALPN and the
/// client's session cache. Cheap to copy (shared); safe to use from any
/// number of threads at once.
class DUET_API TlsContext {
 public:
  /// Errors: a CA file that cannot be read (its OS or OpenSSL reason).
  static duet::Result<TlsContext> client(const ClientConfig& cfg);
  /// Errors: a certificate or key that cannot be read or do not match.
  static duet::Result<TlsContext> server(const ServerConfig& cfg);

  /// Client handshake over `tcp`. `server_name` is sent by SNI (unless it
  /// is an IP address) and checked against the certificate (a DNS name or
  /// an IP address). A session saved from an earlier connection to the
  /// same name is offered for resumption. timeout 0: none.
  HandshakeFuture connect(net::TcpStream tcp, std::string_view server_name,
                          std::chrono::nanoseconds timeout = std::chrono::nanoseconds{0}) const;
  /// Server handshake over an accepted `tcp`. timeout 0: none.
  HandshakeFuture accept(net::TcpStream tcp,
                         std::chrono::nanoseconds timeout = std::chrono::nanoseconds{0}) const;

 private:
  explicit TlsContext(std::shared_ptr<detail::ContextState> s) noexcept : st_(std::move(s)) {}
  std::shared_ptr<detail::ContextState> st_;
};

/// read(): Result<std::size_t>, 0 once the peer's close_notify arrived.
class [[nodiscard]] DUET_API ReadFuture {
 public:
  ReadFuture(detail::Connection* c, std::span<std::byte> buf) noexcept : c_(c), buf_(buf) {}
  Poll<duet::Result<std::size_t>> poll(Context& cx);

 private:
  detail::Connection* c_;
  std::span<std::byte> buf_;
  detail::Step step_;
};

/// write(): Result<std::size_t>, the bytes encrypted and sent (at most
/// 64 KiB a call).
class [[nodiscard]] DUET_API WriteFuture {
 public:
  WriteFuture(detail::Connection* c, std::span<const std::byte> data) noexcept
      : c_(c), data_(data) {}
  Poll<duet::Result<std::size_t>> poll(Context& cx);

 private:
  detail::Connection* c_;
  std::span<const std::byte> data_;
  detail::Step step_;
};

/// write_all(): io::Transferred, as every write_all: all of `data`, or the
/// bytes written into TLS records before the error. It cannot be cut: a
/// timeout drops it (its Transferred then counts no bytes), and a TLS
/// stream whose write was dropped mid-record must be closed.
class [[nodiscard]] DUET_API WriteAllFuture {
 public:
  WriteAllFuture(detail::Connection* c, std::span<const std::byte> data) noexcept
      : c_(c), data_(data) {}
  Poll<io::Transferred> poll(Context& cx);

 private:
  detail::Connection* c_;
  std::span<const std::byte> data_;
  std::size_t done_ = 0;
  detail::Step step_;
};

/// shutdown(): Result<void> once close_notify is sent and TCP's write half
/// is closed.
class [[nodiscard]] DUET_API ShutdownFuture {
 public:
  explicit ShutdownFuture(detail::Connection* c) noexcept : c_(c) {}
  Poll<duet::Result<void>> poll(Context& cx);

 private:
  detail::Connection* c_;
  detail::Step step_;
};

/// An established TLS connection. The read/write shape is TcpStream's.
class DUET_API TlsStream {
 public:
  TlsStream() noexcept;
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  ~TlsStream();

  /// Reads up to buf.size() bytes of plaintext; 0 at the end of the stream
  /// (the peer's close_notify). A peer that closes TCP without it: an
  /// error, is_truncated().
  ReadFuture read(std::span<std::byte> buf) noexcept { return ReadFuture(c_.get(), buf); }
  ReadFuture read(void* p, std::size_t n) noexcept {
    return read(std::span<std::byte>(static_cast<std::byte*>(p), n));
  }
  /// Writes some of `data` (up to 64 KiB).
  WriteFuture write(std::span<const std::byte> data) noexcept {
    return WriteFuture(c_.get(), data);
  }
  WriteFuture write(const void* p, std::size_t n) noexcept {
    return write(std::span<const std::byte>(static_cast<const std::byte*>(p), n));
  }
  /// Writes all of `data`.
  WriteAllFuture write_all(std::span<const std::byte> data) noexcept {
    return WriteAllFuture(c_.get(), data);
  }
  WriteAllFuture write_all(const void* p, std::size_t n) noexcept {
    return write_all(std::span<const std::byte>(static_cast<const std::byte*>(p), n));
  }
  /// Sends close_notify, then half-closes TCP (reads go on: the peer's
  /// close_notify makes a later read return 0).
  ShutdownFuture shutdown() noexcept { return ShutdownFuture(c_.get()); }
  /// Closes the socket now, without close_notify (the destructor too).
  duet::Result<void> close() noexcept;

  /// The protocol chosen by ALPN; empty when none.
  [[nodiscard]] std::string_view alpn() const noexcept;
  /// The host name the client sent by SNI (either side); empty when none.
  [[nodiscard]] std::string_view server_name() const noexcept;
  /// Was an earlier session resumed (no full handshake)?
  [[nodiscard]] bool session_reused() const noexcept;
  /// "TLSv1.3", "TLSv1.2".
  [[nodiscard]] std::string_view version() const noexcept;
  /// The TCP stream underneath (its addresses, its descriptor).
  [[nodiscard]] net::TcpStream& tcp() noexcept;
  [[nodiscard]] bool is_open() const noexcept;
  /// The sends (2) the handshake's own bytes took on this side. Each
  /// flight goes out in one send, at once, while the socket has room for
  /// it: a TLS 1.3 server's handshake takes 2 (ServerHello to Finished,
  /// then its session tickets), a client's 2 (ClientHello, then Finished).
  [[nodiscard]] std::uint32_t handshake_sends() const noexcept;
  /// Bytes of memory the stream holds for ciphertext in flight (received
  /// and not yet decrypted, encrypted and not yet sent), OpenSSL's own
  /// record buffers aside. 0 while the stream waits for the peer with
  /// nothing buffered (an idle keep-alive connection, a read pending or
  /// not); at most two buffers of two full records each while data moves.
  /// Call it between operations, not while one is polled elsewhere.
  [[nodiscard]] std::size_t buffered_capacity() const noexcept;
  /// Whether bytes that arrived wait in the stream (plaintext not read
  /// yet, or ciphertext not decrypted yet): a read may then complete
  /// without the socket becoming readable (a caller that waits for
  /// readiness itself, such as poll(2) on a plain thread, asks first).
  [[nodiscard]] bool buffered_input() const noexcept;

 private:
  friend class HandshakeFuture;
  explicit TlsStream(std::unique_ptr<detail::Connection> c) noexcept;
  std::unique_ptr<detail::Connection> c_;
};

}  // namespace duet::tls
