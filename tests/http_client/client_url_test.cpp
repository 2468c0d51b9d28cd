// client_url_test.cpp: duet::http::Client by URL. Url::parse's forms and
// refusals (ClientErrc::bad_url, also from send and send_now); the target
// and Host a URL sets; a host name resolved by duet::dns (localhost, from
// the hosts file) and an IP literal; https against a duet server with the
// TLS tests' certificates (verified against the test CA, a certificate for
// another name refused with the host name check's error, the system store
// refusing the test CA, verification turned off) and against nginx where
// it is installed. Every case with I/O runs on io_uring and epoll, in both
// faces (`send` awaited by a coroutine, `send_now` on a fiber).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "tls_peer.hpp"
#include "upstream.hpp"

namespace duet::httpclienttest {
namespace {

using duet::http::ClientErrc;
using duet::http::SendConfig;
using duet::http::Url;
using namespace std::chrono_literals;

#define URL_MATRIX()                                                                         \
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);      \
  const Model model = GENERATE(Model::stackless, Model::stackful);                           \
  INFO("driver " << duet::to_string(drv).data() << ", " << duet::iotest::model_name(model)); \
  if (!duet::iotest::driver_available(drv)) {                                                \
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");        \
    return;                                                                                  \
  }                                                                                          \
  duet::nettest::FdCheck fd_check

TEST_CASE("url: parse takes http and https URLs, IPv6 literals and default ports",
          "[http_client]") {
  auto a = Url::parse("http://example.org/a/b?c=d#frag");
  REQUIRE(a);
  CHECK(a->scheme == Url::Scheme::http);
  CHECK(a->host == "example.org");
  CHECK(a->port == 80);
  CHECK(a->target == "/a/b?c=d");
  CHECK(a->authority() == "example.org");
  CHECK(a->to_string() == "http://example.org/a/b?c=d");

  auto b = Url::parse("HTTPS://Example.ORG:8443");
  REQUIRE(b);
  CHECK(b->https());
  CHECK(b->host == "example.org");
  CHECK(b->port == 8443);
  CHECK(b->target == "/");
  CHECK(b->authority() == "example.org:8443");

  auto c = Url::parse("https://[::1]:8443/x");
  REQUIRE(c);
  CHECK(c->host == "::1");
  CHECK(c->port == 8443);
  CHECK(c->authority() == "[::1]:8443");

  auto d = Url::parse("https://127.0.0.1?q=1");
  REQUIRE(d);
  CHECK(d->port == 443);
  CHECK(d->target == "/?q=1");
  CHECK(d->authority() == "127.0.0.1");

  auto e = Url::parse("http://[::1]");
  REQUIRE(e);
  CHECK(e->authority() == "[::1]");
}

TEST_CASE("url: parse refuses userinfo, other schemes and malformed URLs with bad_url",
          "[http_client]") {
  for (std::string_view bad :
       {"", "example.org/x", "ftp://example.org/", "http://", "http:///x", "http://user@host/",
        "https://user:pw@host/", "http://host:0/", "http://host:65536/", "http://host:12a/",
        "http://host:123456/", "http://[::1/", "http://[not-v6]/", "http://[::1]x/",
        "http://ho st/", "http://host/a b", "http://host/\x01", "mailto:someone@example.org"}) {
    INFO("url '" << bad << "'");
    auto u = Url::parse(bad);
    REQUIRE_FALSE(u);
    CHECK(u.error() == ClientErrc::bad_url);
    CHECK(u.error().category() == duet::http::client_category());
  }
  CHECK(make_error_code(ClientErrc::bad_url).message() == "malformed or unsupported URL");
}

duet::Task<void> by_url(Model m, Client& c, Upstream& up, Failures& f) {
  auto acc = up.start();
  const std::string port = std::to_string(up.addr().port());
  // An IP literal: no lookup; the URL's target and Host go out.
  auto a = co_await call(m, c, "http://127.0.0.1:" + port + "/a/b?c=d#frag",
                         Request::make(Method::get, "/ignored"));
  HC_ENSURE_OK(f, a, 200, "/a/b?c=d");
  // A name: resolved (localhost, from the hosts file).
  auto b = co_await call(m, c, "http://LocalHost:" + port + "/named",
                         Request::make(Method::post, "/", "payload"));
  HC_ENSURE_OK(f, b, 200, "/named");
  // A malformed URL: an error, before any I/O.
  auto bad = co_await call(m, c, std::string("http://user@127.0.0.1:") + port + "/",
                           Request::make(Method::get, "/"));
  HC_EXPECT(f, !bad && bad.error() == ClientErrc::bad_url);
  const auto seen = up.seen();
  HC_EXPECT(f, seen.size() == 2);
  if (seen.size() != 2) co_return;
  HC_EXPECT(f, seen[0].head.rfind("GET /a/b?c=d HTTP/1.1\r\n", 0) == 0);
  HC_EXPECT(
      f, lowered(seen[0].head).find("\r\nhost: 127.0.0.1:" + port + "\r\n") != std::string::npos);
  HC_EXPECT(f, seen[1].head.rfind("POST /named HTTP/1.1\r\n", 0) == 0);
  HC_EXPECT(
      f, lowered(seen[1].head).find("\r\nhost: localhost:" + port + "\r\n") != std::string::npos);
  HC_EXPECT(f, seen[1].body == "payload");
  // Two origins (127.0.0.1 and localhost): a connection each.
  HC_EXPECT(f, c.stats().connects == 2);
  HC_EXPECT(f, up.accepted.load() == 2);
}

TEST_CASE("client: a URL sets the target and Host, a name is resolved, a bad URL is an error",
          "[http_client]") {
  URL_MATRIX();
  duet::iotest::Watchdog wd("http_client by url");
  run_scenario(
      drv, model, [](const Seen& s, int) { return Reply{ok(target_of(s.head))}; }, by_url);
}

TEST_CASE("client: a literal URL and its SocketAddr share one pool", "[http_client]") {
  URL_MATRIX();
  duet::iotest::Watchdog wd("http_client literal pool");
  run_scenario(
      drv, model, [](const Seen& s, int) { return Reply{ok(target_of(s.head))}; },
      [](Model m, Client& c, Upstream& up, Failures& f) -> duet::Task<void> {
        auto acc = up.start();
        auto a = co_await get(m, c, up.addr(), "/by-addr");
        HC_ENSURE_OK(f, a, 200, "/by-addr");
        auto b = co_await call(m, c, "http://" + up.addr().to_string() + "/by-url",
                               Request::make(Method::get, "/"));
        HC_ENSURE_OK(f, b, 200, "/by-url");
        HC_EXPECT(f, c.stats().connects == 1);
        HC_EXPECT(f, c.stats().reused == 1);
      });
}

// ---- https ------------------------------------------------------------------

/// The certificates of the TLS tests (tls_peer.hpp), or why there are none.
std::optional<std::string> no_certs() {
  if (!duet::tlstest::have_openssl()) {
    return "the openssl tool is not installed (it makes the test certificates)";
  }
  if (!duet::tlstest::certs().ok) return "openssl req could not make the test certificates";
  return std::nullopt;
}

duet::tls::TlsContext server_ctx(const std::string& cert, const std::string& key) {
  duet::tls::ServerConfig sc;
  sc.cert_file = cert;
  sc.key_file = key;
  auto ctx = duet::tls::TlsContext::server(sc);
  REQUIRE(ctx);
  return std::move(*ctx);
}

ClientConfig trusting_test_ca() {
  ClientConfig o;
  o.tls.ca_file = duet::tlstest::certs().ca;
  return o;
}

/// A duet HTTPS server on two loopback ports: `good` with the certificate
/// for localhost and 127.0.0.1, `wrong` with one for wrong.example. GET
/// /host answers the Host it got.
struct HttpsServer {
  explicit HttpsServer(duet::Runtime& rt)
      : good_ctx(server_ctx(duet::tlstest::certs().server, duet::tlstest::certs().server_key)),
        wrong_ctx(server_ctx(duet::tlstest::certs().wrong, duet::tlstest::certs().wrong_key)),
        server(routes(), duet::http::ServerConfig{}) {
    good = listen(rt, good_ctx);
    wrong = listen(rt, wrong_ctx);
  }
  static duet::http::Router routes() {
    duet::http::Router r;
    r.get("/host", [](Request& q) {
      return Response::text(200, std::string(q.headers.get("Host").value_or("")));
    });
    // Larger than a read: TLS records whose plaintext the stream holds
    // after a read took part of it.
    r.get("/big", [](Request&) { return Response::text(200, std::string(256 * 1024, 'b')); });
    // One TLS record, larger than the client's first read: its rest is
    // held by the stream, decrypted, with nothing left in the socket.
    r.get("/record", [](Request&) { return Response::text(200, std::string(10 * 1024, 'r')); });
    return r;
  }
  std::uint16_t listen(duet::Runtime& rt, const duet::tls::TlsContext& ctx) {
    auto l = duet::net::TcpListener::bind(SocketAddr::v4_loopback(0));
    REQUIRE(l);
    const std::uint16_t p = l->local_addr()->port();
    server.serve_tls(rt, std::move(*l), ctx);
    return p;
  }
  duet::tls::TlsContext good_ctx, wrong_ctx;
  duet::http::Server server;
  std::uint16_t good = 0, wrong = 0;
};

duet::Task<void> https_scenario(Model m, HttpsServer* s, Failures* f) {
  Client c(trusting_test_ca());
  const std::string good = std::to_string(s->good);
  // By name (SNI and the certificate's DNS entry), twice: the second
  // request on the pooled TLS connection.
  for (int i = 0; i < 2; ++i) {
    auto r =
        co_await call(m, c, "https://localhost:" + good + "/host", Request::make(Method::get, "/"));
    HC_ENSURE_OK(*f, r, 200, "localhost:" + good);
  }
  HC_EXPECT(*f, c.stats().connects == 1);
  HC_EXPECT(*f, c.stats().reused == 1);
  // By IP literal: checked against the certificate's IP entry; another origin.
  auto ip =
      co_await call(m, c, "https://127.0.0.1:" + good + "/host", Request::make(Method::get, "/"));
  HC_ENSURE_OK(*f, ip, 200, "127.0.0.1:" + good);
  HC_EXPECT(*f, c.stats().connects == 2);
  // A certificate for another name: refused by the host name check.
  auto wrong = co_await call(m, c, "https://localhost:" + std::to_string(s->wrong) + "/host",
                             Request::make(Method::get, "/"));
  HC_EXPECT(*f, !wrong);
  if (!wrong) {
    HC_EXPECT(*f, duet::tls::is_verify_error(wrong.error()));
    HC_EXPECT(*f, wrong.error().message() == "certificate verify failed: hostname mismatch");
  }
  // The system's store (the default) does not know the test CA.
  Client system;
  auto untrusted = co_await call(m, system, "https://localhost:" + good + "/host",
                                 Request::make(Method::get, "/"));
  HC_EXPECT(*f, !untrusted && duet::tls::is_verify_error(untrusted.error()));
  // Verification off (tests only): the wrong certificate is accepted.
  ClientConfig off;
  off.tls.verify = false;
  Client unverified(off);
  auto any = co_await call(m, unverified, "https://localhost:" + std::to_string(s->wrong) + "/host",
                           Request::make(Method::get, "/"));
  HC_ENSURE_OK(*f, any, 200, "localhost:" + std::to_string(s->wrong));
}

TEST_CASE("client: https from a duet server: verified by name and IP, a wrong name refused",
          "[http_client]") {
  if (auto why = no_certs()) DUET_SKIP(*why);
  URL_MATRIX();
  duet::iotest::Watchdog wd("http_client https duet");
  auto rt = duet::iotest::make_rt(drv);
  Failures f;
  {
    HttpsServer s(*rt);
    rt->block_on(https_scenario(model, &s, &f));
    rt->drain(5s);
  }
  f.report();
}

TEST_CASE("client: https on a plain thread reads what the TLS stream holds before poll(2)",
          "[http_client]") {
  if (auto why = no_certs()) DUET_SKIP(*why);
  const duet::IoDriver drv = GENERATE(duet::IoDriver::io_uring, duet::IoDriver::epoll);
  INFO("driver " << duet::to_string(drv).data());
  if (!duet::iotest::driver_available(drv)) {
    WARN("SKIP: " << duet::to_string(drv).data() << " not available on this kernel");
    return;
  }
  duet::nettest::FdCheck fd_check;
  duet::iotest::Watchdog wd("http_client https plain thread");
  auto rt = duet::iotest::make_rt(drv);
  {
    HttpsServer s(*rt);
    Client c(trusting_test_ca());
    // The test's thread is no worker: send_now waits in poll(2) for the
    // socket, unless the TLS stream already holds bytes (a record read in
    // part), which poll(2) would never report.
    for (const char* host : {"127.0.0.1", "localhost"}) {
      INFO("host " << host);
      const std::string base = "https://" + std::string(host) + ":" + std::to_string(s.good);
      auto r = c.send_now(base + "/record", Request::make(Method::get, "/"), {.timeout = 20s});
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == std::string(10 * 1024, 'r'));
      auto b = c.send_now(base + "/big", Request::make(Method::get, "/"), {.timeout = 20s});
      REQUIRE(b);
      CHECK(b->status == 200);
      CHECK(b->body == std::string(256 * 1024, 'b'));
    }
    c.clear();
    rt->drain(5s);
  }
}

// ---- nginx ------------------------------------------------------------------

/// A free loopback port (bound and closed: nginx then binds it).
std::uint16_t free_port() {
  auto l = duet::net::TcpListener::bind(SocketAddr::v4_loopback(0));
  REQUIRE(l);
  return l->local_addr()->port();
}

/// nginx in the foreground (no master process: the child is the server),
/// from a config in a temporary directory: `good` serves the certificate
/// for localhost, `wrong` the one for wrong.example; /plaintext answers
/// "Hello, World!", /host the Host it got.
class Nginx {
 public:
  Nginx() : dir_(make_dir()), good(free_port()), wrong(free_port()) {
    const auto& certs = duet::tlstest::certs();
    const std::string d = dir_.string();
    std::ofstream conf(dir_ / "nginx.conf");
    conf << "daemon off;\nmaster_process off;\npid " << d << "/nginx.pid;\n"
         << "error_log " << d << "/error.log warn;\nevents { worker_connections 64; }\n"
         << "http {\n  access_log off;\n  client_body_temp_path " << d << "/body;\n"
         << "  proxy_temp_path " << d << "/proxy;\n  fastcgi_temp_path " << d << "/fastcgi;\n"
         << "  uwsgi_temp_path " << d << "/uwsgi;\n  scgi_temp_path " << d << "/scgi;\n";
    const auto server = [&](std::uint16_t port, const std::string& cert, const std::string& key) {
      conf << "  server {\n    listen 127.0.0.1:" << port << " ssl;\n    ssl_certificate " << cert
           << ";\n    ssl_certificate_key " << key << ";\n"
           << "    location = /plaintext { default_type text/plain; return 200 'Hello, World!'; }\n"
           << "    location = /host { default_type text/plain; return 200 '$http_host'; }\n  }\n";
    };
    server(good, certs.server, certs.server_key);
    server(wrong, certs.wrong, certs.wrong_key);
    conf << "}\n";
    conf.close();
    child_.emplace(std::vector<std::string>{DUET_NGINX_BIN, "-p", d, "-e", d + "/error.log", "-c",
                                            d + "/nginx.conf"});
  }
  ~Nginx() {
    child_.reset();  // killed and reaped
    std::error_code e;
    std::filesystem::remove_all(dir_, e);
  }
  /// Waits until nginx accepts on both ports (false: not within the
  /// tries, as when it could not start: its log says why).
  bool ready() {
    for (std::uint16_t p : {good, wrong}) {
      int tries = 0;
      while (!accepts(p)) {
        if (++tries > 2000) return false;
        std::this_thread::sleep_for(5ms);
      }
    }
    return true;
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(dir_ / "error.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  static std::filesystem::path make_dir() {
    char tmpl[] = "/tmp/duet-nginx-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
  }
  static bool accepts(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }
  std::filesystem::path dir_;
  std::optional<duet::tlstest::Child> child_;

 public:
  const std::uint16_t good, wrong;
};

duet::Task<void> nginx_scenario(Model m, Nginx* n, Failures* f) {
  Client c(trusting_test_ca());
  const std::string good = std::to_string(n->good);
  for (int i = 0; i < 2; ++i) {
    auto r = co_await call(m, c, "https://localhost:" + good + "/plaintext",
                           Request::make(Method::get, "/"));
    HC_ENSURE_OK(*f, r, 200, "Hello, World!");
  }
  HC_EXPECT(*f, c.stats().connects == 1);  // kept alive by nginx, pooled here
  auto h =
      co_await call(m, c, "https://localhost:" + good + "/host", Request::make(Method::get, "/"));
  HC_ENSURE_OK(*f, h, 200, "localhost:" + good);
  auto wrong = co_await call(m, c, "https://localhost:" + std::to_string(n->wrong) + "/plaintext",
                             Request::make(Method::get, "/"));
  HC_EXPECT(*f, !wrong);
  if (!wrong) {
    HC_EXPECT(*f, wrong.error().message() == "certificate verify failed: hostname mismatch");
  }
}

TEST_CASE("client: https from nginx, and a certificate for another name refused", "[http_client]") {
  if (std::string_view(DUET_NGINX_BIN).find('/') == std::string_view::npos) {
    DUET_SKIP("nginx is not installed (apt-get install nginx-light)");
  }
  if (auto why = no_certs()) DUET_SKIP(*why);
  URL_MATRIX();
  duet::iotest::Watchdog wd("http_client https nginx");
  Failures f;
  {
    Nginx n;
    INFO("nginx's log: " << n.log());
    REQUIRE(n.ready());
    auto rt = duet::iotest::make_rt(drv);
    rt->block_on(nginx_scenario(model, &n, &f));
  }
  f.report();
}

}  // namespace
}  // namespace duet::httpclienttest
