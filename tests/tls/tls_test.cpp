// tls_test.cpp: duet::tls on both drivers x both models, against Debian's
// openssl tool (s_server, s_client) and against itself, on loopback.
//
// Every case runs four times (io_uring, epoll) x (stackless, stackful) and
// checks that no descriptor leaked (/proc/self/fd before and after; the
// openssl children are reaped first). Certificates are made at run time
// (tls_peer.hpp).
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <duet/tls.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "io_util.hpp"
#include "tls_peer.hpp"

#include "tls_shared.hpp"

#define DUET_SCENARIOS "../tls/tls_scenarios.inc"
#include "both_models.inc"

using duet::IoDriver;
using duet::iotest::Model;
using duet::net::SocketAddr;
using duet::net::TcpListener;
using duet::tls::ClientConfig;
using duet::tls::ServerConfig;
using duet::tls::TlsContext;
using duet::tlstest::certs;
using duet::tlstest::Child;
using duet::tlstest::SServer;
using shared::Seen;
using namespace std::chrono_literals;

/// Both drivers x both models, the openssl tool present, the certificates
/// made; the fd count checked at the end of the case.
#define TLS_MATRIX()                                                                         \
  if (!duet::tlstest::have_openssl()) DUET_SKIP("the openssl tool is not installed");        \
  if (!certs().ok) FAIL("could not make the test certificates with openssl req");            \
  const IoDriver drv = GENERATE(IoDriver::io_uring, IoDriver::epoll);                        \
  const Model model = GENERATE(Model::stackless, Model::stackful);                           \
  INFO("driver " << duet::to_string(drv).data() << ", " << duet::iotest::model_name(model)); \
  if (!duet::iotest::driver_available(drv)) {                                                \
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");        \
    return;                                                                                  \
  }                                                                                          \
  struct FdCheck {                                                                           \
    int before = duet::iotest::fd_count();                                                   \
    ~FdCheck() { CHECK(duet::iotest::settled_fd_count(before) == before); }                  \
  } fd_check

namespace {

TlsContext client_ctx(std::vector<std::string> alpn = {}) {
  ClientConfig cc;
  cc.ca_file = certs().ca;
  cc.alpn = std::move(alpn);
  return TlsContext::client(cc).value();
}

TlsContext server_ctx(std::vector<std::string> alpn = {}) {
  ServerConfig sc;
  sc.cert_file = certs().server;
  sc.key_file = certs().server_key;
  sc.alpn = std::move(alpn);
  sc.names.push_back({"wrong.example", certs().wrong, certs().wrong_key});
  return TlsContext::server(sc).value();
}

/// A handshake against `openssl s_server` with `cert` that must fail.
std::error_code failed_against(IoDriver drv, Model model, const std::string& cert,
                               const std::string& key, const std::string& name) {
  SServer peer(cert, key);
  REQUIRE(peer.port() != 0);
  auto rt = duet::iotest::make_rt(drv);
  auto ctx = client_ctx();
  std::error_code e;
  CHECK(
      SPAWN_MODEL(*rt, model, failing_client, &ctx, SocketAddr::v4_loopback(peer.port()), name, &e)
          .join() == "");
  return e;
}

}  // namespace

TEST_CASE("client against openssl s_server: verified, SNI, ALPN, data, close_notify",
          "[tls][s_server]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls s_server");
  SServer peer(certs().server, certs().server_key, {"-alpn", "h2,http/1.1"});
  REQUIRE(peer.port() != 0);
  auto rt = duet::iotest::make_rt(drv);
  auto ctx = client_ctx({"http/1.1", "h2"});
  Seen seen;
  CHECK(SPAWN_MODEL(*rt, model, rev_client, &ctx, SocketAddr::v4_loopback(peer.port()),
                    std::string("localhost"), &seen)
            .join() == "");
  CHECK(seen.alpn == "h2");  // s_server's preference
  CHECK(seen.version == "TLSv1.3");
  // An IP address is checked against the certificate's IP entries.
  SServer peer2(certs().server, certs().server_key);
  REQUIRE(peer2.port() != 0);
  CHECK(SPAWN_MODEL(*rt, model, rev_client, &ctx, SocketAddr::v4_loopback(peer2.port()),
                    std::string("127.0.0.1"), &seen)
            .join() == "");
}

TEST_CASE("server against openssl s_client: SNI, ALPN, echo, close_notify both ways",
          "[tls][s_client]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls s_client");
  auto rt = duet::iotest::make_rt(drv);
  auto ctx = server_ctx({"h2"});
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  Seen seen[1];
  auto server = SPAWN_MODEL(*rt, model, echo_server, &ctx, &*l, 1, &seen[0]);
  Child client({DUET_OPENSSL_BIN, "s_client", "-connect",
                "127.0.0.1:" + std::to_string(l->local_addr()->port()), "-CAfile", certs().ca,
                "-verify_return_error", "-servername", "localhost", "-alpn", "h2", "-quiet",
                "-no_ign_eof"});
  client.write("ping over tls\n");
  CHECK(client.read_until("ping over tls\n"));
  client.close_stdin();  // s_client sends close_notify and exits
  CHECK(client.wait() == 0);
  CHECK(server.join() == "");
  CHECK(seen[0].error.message() == std::error_code().message());
  CHECK(seen[0].sni == "localhost");
  CHECK(seen[0].alpn == "h2");
}

TEST_CASE("a self-signed certificate fails verification with OpenSSL's reason", "[tls][verify]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls self-signed");
  auto e = failed_against(drv, model, certs().self, certs().self_key, "localhost");
  INFO(e.message());
  CHECK(duet::tls::is_verify_error(e));
  CHECK(e.message().find("self-signed certificate") != std::string::npos);
}

TEST_CASE("a certificate for another host name fails the host name check", "[tls][verify]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls wrong host");
  auto e = failed_against(drv, model, certs().wrong, certs().wrong_key, "localhost");
  INFO(e.message());
  CHECK(duet::tls::is_verify_error(e));
  CHECK(e.message() == "certificate verify failed: hostname mismatch");
}

TEST_CASE("a peer that stops mid-handshake: ETIMEDOUT, and a dropped handshake cleans up",
          "[tls][timeout]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls stalled peer");
  // The peer is a plain blocking socket on this thread: it reads the
  // ClientHello and answers nothing.
  duet::io::Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddr addr = SocketAddr::v4_loopback(0);
  REQUIRE(::bind(l.get(), addr.raw(), addr.len()) == 0);
  REQUIRE(::listen(l.get(), 4) == 0);
  socklen_t len = addr.len();
  REQUIRE(::getsockname(l.get(), addr.raw(), &len) == 0);
  auto rt = duet::iotest::make_rt(drv);
  auto ctx = client_ctx();
  std::atomic<int> stage{0};
  auto client = SPAWN_MODEL(*rt, model, stalled_client, &ctx, addr, &stage);
  for (int i = 0; i < 2; ++i) {
    duet::io::Fd c(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(c);
    char hello[512];
    CHECK(::recv(c.get(), hello, sizeof hello, 0) > 0);  // the ClientHello
    CHECK(hello[0] == 0x16);                             // a handshake record
    while (stage.load() == i) std::this_thread::yield();
  }
  CHECK(client.join() == "");
}

TEST_CASE("a peer that closes TCP without close_notify: every byte read, then a truncation error",
          "[tls][truncated]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls truncated");
  auto rt = duet::iotest::make_rt(drv);
  auto sctx = server_ctx();
  auto cctx = client_ctx();
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const std::string msg = "last words before the cut";
  auto server = SPAWN_MODEL(*rt, model, truncating_server, &sctx, &*l, msg);
  std::error_code e;
  CHECK(SPAWN_MODEL(*rt, model, truncated_client, &cctx, l->local_addr().value(), msg, &e).join() ==
        "");
  CHECK(server.join() == "");
  INFO(e.message());
  CHECK(duet::tls::is_truncated(e));
  CHECK(e.message() == "SSL routines: unexpected eof while reading");
}

TEST_CASE("duet to duet: 1 MiB echoed, session resumed, SNI picks the certificate",
          "[tls][resume]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls resume");
  auto rt = duet::iotest::make_rt(drv);
  auto sctx = server_ctx({"h2", "http/1.1"});
  auto cctx = client_ctx({"http/1.1"});
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const SocketAddr addr = l->local_addr().value();
  Seen srv[3], cli[3];
  auto server = SPAWN_MODEL(*rt, model, echo_server, &sctx, &*l, 3, &srv[0]);
  const std::size_t total = duet::iotest::sanitized ? (256u << 10) : (1u << 20);
  CHECK(SPAWN_MODEL(*rt, model, echo_client, &cctx, addr, std::string("localhost"), total, &cli[0])
            .join() == "");
  // The first connection's read received the server's session ticket.
  CHECK(SPAWN_MODEL(*rt, model, echo_client, &cctx, addr, std::string("localhost"), 1000u, &cli[1])
            .join() == "");
  // SNI: the server answers "wrong.example" with that name's certificate,
  // which the client verifies (a full handshake: a new name).
  CHECK(SPAWN_MODEL(*rt, model, echo_client, &cctx, addr, std::string("wrong.example"), 1000u,
                    &cli[2])
            .join() == "");
  CHECK(server.join() == "");
  CHECK_FALSE(cli[0].reused);
  CHECK(cli[1].reused);
  CHECK(srv[1].reused);
  CHECK_FALSE(cli[2].reused);
  CHECK(srv[2].sni == "wrong.example");
  CHECK(cli[0].alpn == "http/1.1");
  CHECK(srv[0].alpn == "http/1.1");
}

TEST_CASE("each TLS 1.3 handshake flight leaves in one send, full handshake and resumed",
          "[tls][flight]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls flights");
  auto rt = duet::iotest::make_rt(drv);
  auto sctx = server_ctx();
  auto cctx = client_ctx();
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const SocketAddr addr = l->local_addr().value();
  Seen srv[2], cli[2];
  auto server = SPAWN_MODEL(*rt, model, echo_server, &sctx, &*l, 2, &srv[0]);
  for (Seen& c : cli) {
    CHECK(SPAWN_MODEL(*rt, model, echo_client, &cctx, addr, std::string("localhost"), 1000u, &c)
              .join() == "");
  }
  CHECK(server.join() == "");
  CHECK(cli[1].reused);
  for (int i = 0; i < 2; ++i) {
    INFO("connection " << i);
    CHECK(srv[i].version == "TLSv1.3");
    // The server: ServerHello to Finished, then its session tickets.
    CHECK(srv[i].handshake_sends == 2);
    // The client: its ClientHello, then its Finished.
    CHECK(cli[i].handshake_sends == 2);
  }
}

TEST_CASE("TLS 1.2 takes AEAD suites only unless the cipher settings say otherwise",
          "[tls][ciphers]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls ciphers");
  auto rt = duet::iotest::make_rt(drv);
  const std::vector<std::string> cbc{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"};
  const std::vector<std::string> gcm{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"};
  // The client, by default: no CBC suite offered, so a TLS 1.2 server that
  // has only one fails the handshake; an AEAD one succeeds.
  auto ctx = client_ctx();
  {
    SServer peer(certs().server, certs().server_key, cbc);
    REQUIRE(peer.port() != 0);
    std::error_code e;
    CHECK(SPAWN_MODEL(*rt, model, failing_client, &ctx, SocketAddr::v4_loopback(peer.port()),
                      std::string("localhost"), &e)
              .join() == "");
    INFO(e.message());
    CHECK(e.category() == duet::tls::tls_category());
  }
  // A handshake with `c` against a TLS 1.2 s_server limited by `args`
  // succeeds, in TLS 1.2.
  auto negotiates_tls12 = [&](const TlsContext& c, const std::vector<std::string>& args) {
    SServer peer(certs().server, certs().server_key, args);
    REQUIRE(peer.port() != 0);
    Seen seen;
    CHECK(SPAWN_MODEL(*rt, model, rev_client, &c, SocketAddr::v4_loopback(peer.port()),
                      std::string("localhost"), &seen)
              .join() == "");
    CHECK(seen.version == "TLSv1.2");
  };
  negotiates_tls12(ctx, gcm);
  // Asked for, a CBC suite is offered.
  ClientConfig cc;
  cc.ca_file = certs().ca;
  cc.ciphers.tls12_ciphers = "ECDHE-ECDSA-AES128-SHA";
  negotiates_tls12(TlsContext::client(cc).value(), cbc);
  // The server, by default: a TLS 1.2 client that offers only CBC is
  // refused; the server goes on serving.
  auto sctx = server_ctx();
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  Seen seen[1];
  auto server = SPAWN_MODEL(*rt, model, echo_server, &sctx, &*l, 1, &seen[0]);
  std::vector<std::string> args{
      DUET_OPENSSL_BIN, "s_client",
      "-connect",       "127.0.0.1:" + std::to_string(l->local_addr()->port()),
      "-CAfile",        certs().ca,
      "-servername",    "localhost",
      "-quiet"};
  args.insert(args.end(), cbc.begin(), cbc.end());
  Child client(args);
  client.close_stdin();
  CHECK(client.wait() != 0);
  CHECK(server.join() == "");
  INFO(seen[0].error.message());
  CHECK(seen[0].error.category() == duet::tls::tls_category());
}

TEST_CASE("configuration errors carry the OS or OpenSSL reason", "[tls][config]") {
  if (!certs().ok) FAIL("could not make the test certificates with openssl req");
  ServerConfig sc;
  sc.cert_file = "/nonexistent/server.pem";
  sc.key_file = certs().server_key;
  auto a = TlsContext::server(sc);
  REQUIRE_FALSE(a);
  CHECK(a.error() == std::errc::no_such_file_or_directory);
  sc.cert_file = certs().wrong;  // a key that is not this certificate's
  auto b = TlsContext::server(sc);
  REQUIRE_FALSE(b);
  INFO(b.error().message());
  CHECK(b.error().category() == duet::tls::tls_category());
  CHECK(b.error().message().find("key values mismatch") != std::string::npos);
  ClientConfig cc;
  cc.alpn = {""};
  CHECK(TlsContext::client(cc).error() == std::errc::invalid_argument);
  // A cipher list that selects nothing, for either kind of context.
  ClientConfig bad;
  bad.ciphers.tls12_ciphers = "NO-SUCH-CIPHER";
  auto c = TlsContext::client(bad);
  REQUIRE_FALSE(c);
  CHECK(c.error().message().find("no cipher match") != std::string::npos);
  ServerConfig bad_server;
  bad_server.cert_file = certs().server;
  bad_server.key_file = certs().server_key;
  bad_server.ciphers.tls13_ciphersuites = "TLS_NO_SUCH_SUITE";
  auto d = TlsContext::server(bad_server);
  REQUIRE_FALSE(d);
  CHECK(d.error().category() == duet::tls::tls_category());
}

namespace {

/// A TCP relay on the test thread between a client and `to`: bytes go
/// through both ways as they come, except that the end of the first
/// server record longer than 8 KiB (the test's one large message; the
/// handshake's records are smaller) is held back until *stage is 1. Runs
/// until both sides closed.
void relay_holding_back(int listener, const SocketAddr& to, const std::atomic<int>& stage) {
  duet::io::Fd a(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(a);
  duet::io::Fd b(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(b.get(), to.raw(), to.len()) == 0);
  std::string down;                  // every server-to-client byte received
  std::size_t rec_start = 0;         // where the next record header starts in `down`
  std::size_t hold_from = SIZE_MAX;  // the offset held back from
  std::size_t sent = 0;              // server-to-client bytes forwarded
  bool a_open = true, b_open = true;
  while (a_open || b_open) {
    pollfd p[2] = {{a.get(), static_cast<short>(a_open ? POLLIN : 0), 0},
                   {b.get(), static_cast<short>(b_open ? POLLIN : 0), 0}};
    ::poll(p, 2, 10);
    char buf[65536];
    if (a_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(a.get(), buf, sizeof buf, 0);
      if (n <= 0) {
        a_open = false;
        ::shutdown(b.get(), SHUT_WR);
      } else {
        REQUIRE(::send(b.get(), buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) == n);
      }
    }
    if (b_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(b.get(), buf, sizeof buf, 0);
      if (n <= 0) {
        b_open = false;
      } else {
        down.append(buf, static_cast<std::size_t>(n));
        // Follow the record headers to find the large record.
        while (hold_from == SIZE_MAX && rec_start + 5 <= down.size()) {
          const std::size_t len =
              (static_cast<std::size_t>(static_cast<unsigned char>(down[rec_start + 3])) << 8) |
              static_cast<unsigned char>(down[rec_start + 4]);
          if (len > 8192) hold_from = rec_start + 5 + len - 100;
          rec_start += 5 + len;
        }
      }
    }
    const std::size_t limit = std::min(down.size(), stage.load() == 1 ? SIZE_MAX : hold_from);
    if (limit > sent) {
      const std::size_t can = limit - sent;
      REQUIRE(::send(a.get(), down.data() + sent, can, MSG_NOSIGNAL) == static_cast<ssize_t>(can));
      sent += can;
    }
    if (!b_open && sent == down.size() && a_open) ::shutdown(a.get(), SHUT_WR);
  }
}

}  // namespace

TEST_CASE("an idle TLS connection holds no ciphertext buffer, a busy one a bounded pair",
          "[tls][buffers]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls idle buffers");
  auto rt = duet::iotest::make_rt(drv);
  auto sctx = server_ctx();
  auto cctx = client_ctx();
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  const SocketAddr addr = l->local_addr().value();
  const std::size_t total = duet::iotest::sanitized ? (256u << 10) : (1u << 20);
  {
    Seen srv[1];
    auto server = SPAWN_MODEL(*rt, model, echo_server, &sctx, &*l, 1, &srv[0]);
    CHECK(SPAWN_MODEL(*rt, model, idle_client, &cctx, addr, total).join() == "");
    CHECK(server.join() == "");
  }
  // A large write to a slow reader: both sides stay within two buffers.
  auto server = SPAWN_MODEL(*rt, model, bulk_server, &sctx, &*l, total);
  CHECK(SPAWN_MODEL(*rt, model, slow_reader, &cctx, addr, total).join() == "");
  CHECK(server.join() == "");
}

TEST_CASE("buffered_input: a record read in part is held, then read whole", "[tls][buffers]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls buffered input");
  auto rt = duet::iotest::make_rt(drv);
  auto sctx = server_ctx();
  auto cctx = client_ctx();
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  std::string msg(12000, '\0');
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>(shared::pattern(i));
  auto server = SPAWN_MODEL(*rt, model, one_record_server, &sctx, &*l, msg);
  auto client = SPAWN_MODEL(*rt, model, split_record_client, &cctx, l->local_addr().value(), msg);
  CHECK(client.join() == "");
  CHECK(server.join() == "");
}

TEST_CASE("a read dropped mid-record loses no byte", "[tls][buffers]") {
  TLS_MATRIX();
  duet::iotest::Watchdog wd("tls mid-record");
  auto rt = duet::iotest::make_rt(drv);
  auto sctx = server_ctx();
  auto cctx = client_ctx();
  auto l = TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  duet::io::Fd relay(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddr raddr = SocketAddr::v4_loopback(0);
  REQUIRE(::bind(relay.get(), raddr.raw(), raddr.len()) == 0);
  REQUIRE(::listen(relay.get(), 4) == 0);
  socklen_t len = raddr.len();
  REQUIRE(::getsockname(relay.get(), raddr.raw(), &len) == 0);
  std::string msg(12000, '\0');
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>(shared::pattern(i));
  std::atomic<int> stage{0};
  auto server = SPAWN_MODEL(*rt, model, one_record_server, &sctx, &*l, msg);
  auto client = SPAWN_MODEL(*rt, model, mid_record_client, &cctx, raddr, msg, &stage);
  relay_holding_back(relay.get(), l->local_addr().value(), stage);
  CHECK(client.join() == "");
  CHECK(server.join() == "");
}
