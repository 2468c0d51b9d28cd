// tls_echo: TLS echo throughput through duet against the same OpenSSL work
// in a blocking loop (issue 35: duet within 10% of the blocking loop, the
// crypto being the cost). One process, one run, a ratio:
//   - blocking: a thread per connection, SSL_read then SSL_write on the
//     blocking socket (SSL_set_fd), until the client's close_notify;
//   - duet: a runtime (--driver, --model, --workers) whose server accepts
//     and echoes through duet::tls::TlsStream (its buffers, TcpStream).
// Both are driven by the same blocking OpenSSL client: --conns threads,
// each writing --chunk bytes and reading them back until --bytes have
// gone through; the handshake is not timed. Rounds alternate between the
// two servers (--rounds each); the self-signed P-256 certificate is made
// with the OpenSSL API. Prints one JSON record per server (MB/s, the
// median round) and their ratio (duet / blocking).
//
//   exp_tls_echo [--bytes N] [--chunk N] [--conns N] [--rounds N]
//                [--driver io_uring|epoll] [--model stackless|stackful] [--workers N]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <duet/tls.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lab.hpp"

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tls_echo: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::exit(3);
}

/// A self-signed certificate for localhost and its key, as PEM files in `dir`.
void make_cert(const std::string& cert, const std::string& key) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pk(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  if (!pk || !x) die("key generation");
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
  X509_set_pubkey(x.get(), pk.get());
  X509_NAME* n = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x.get(), n);
  if (X509_sign(x.get(), pk.get(), EVP_sha256()) == 0) die("X509_sign");
  FILE* f = std::fopen(cert.c_str(), "w");
  if (f == nullptr || PEM_write_X509(f, x.get()) != 1) die("write cert");
  std::fclose(f);
  f = std::fopen(key.c_str(), "w");
  if (f == nullptr || PEM_write_PrivateKey(f, pk.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    die("write key");
  std::fclose(f);
}

int listen_loopback(std::uint16_t* port) {
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(l, 128) != 0 ||
      ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("listen");
  }
  *port = ntohs(a.sin_port);
  return l;
}

/// The blocking server: a thread per connection, until `conns` are served.
void blocking_server(SSL_CTX* ctx, int l, int conns) {
  std::vector<std::thread> ts;
  for (int i = 0; i < conns; ++i) {
    int fd = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) die("accept");
    ts.emplace_back([ctx, fd] {
      SSL* s = SSL_new(ctx);
      SSL_set_fd(s, fd);
      if (SSL_accept(s) == 1) {
        std::vector<char> buf(64 * 1024);
        for (;;) {
          int n = SSL_read(s, buf.data(), static_cast<int>(buf.size()));
          if (n <= 0) break;
          if (SSL_write(s, buf.data(), n) != n) break;
        }
        SSL_shutdown(s);
      }
      SSL_free(s);
      ::close(fd);
    });
  }
  for (auto& t : ts) t.join();
}

duet::Task<void> duet_conn(duet::tls::TlsContext* ctx, duet::net::TcpStream tcp) {
  auto s = co_await ctx->accept(std::move(tcp));
  if (!s) co_return;
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    auto n = co_await s->read(buf.data(), buf.size());
    if (!n || *n == 0) break;
    if (!co_await s->write_all(buf.data(), *n)) break;
  }
  (void)co_await s->shutdown();
}

void duet_conn_fiber(duet::tls::TlsContext* ctx, duet::net::TcpStream tcp) {
  auto s = duet::wait(ctx->accept(std::move(tcp)));
  if (!s) return;
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    auto n = duet::wait(s->read(buf.data(), buf.size()));
    if (!n || *n == 0) break;
    if (!duet::wait(s->write_all(buf.data(), *n))) break;
  }
  (void)duet::wait(s->shutdown());
}

duet::Task<void> duet_server(duet::tls::TlsContext* ctx, duet::net::TcpListener* l, int conns,
                             bool fibers) {
  for (int i = 0; i < conns; ++i) {
    auto c = co_await l->accept();
    if (!c) die("duet accept");
    if (fibers) {
      duet::spawn(duet::stackful, [ctx, t = std::move(*c)]() mutable {
        duet_conn_fiber(ctx, std::move(t));
      }).detach();
    } else {
      duet::spawn(duet_conn(ctx, std::move(*c))).detach();
    }
  }
}

/// Adds the driver counters between `before` and `after` to `sum`.
void add_stats(duet::IoStats& sum, const duet::IoStats& before, const duet::IoStats& after) {
  sum.enters += after.enters - before.enters;
  sum.sqes += after.sqes - before.sqes;
  sum.cqes += after.cqes - before.cqes;
  sum.epoll_waits += after.epoll_waits - before.epoll_waits;
  sum.io_syscalls += after.io_syscalls - before.io_syscalls;
  sum.wake_writes += after.wake_writes - before.wake_writes;
  sum.recv_buffers += after.recv_buffers - before.recv_buffers;
}

/// The duet server's driver counters per MiB through it (each direction
/// counts): what the I/O costs in kernel crossings, beside the timing.
void emit_io_counts(const duet::IoStats& s, const std::string& impl, double mib, int conns,
                    const std::string& method) {
  const std::string m = method + "; duet server's driver counters per MiB sent plus received";
  lab::emit("tls_echo", impl, "io_uring_enters_per_mib", static_cast<double>(s.enters) / mib,
            "count", conns, m);
  lab::emit("tls_echo", impl, "sqes_per_mib", static_cast<double>(s.sqes) / mib, "count", conns, m);
  lab::emit("tls_echo", impl, "cqes_per_mib", static_cast<double>(s.cqes) / mib, "count", conns, m);
  lab::emit("tls_echo", impl, "epoll_waits_per_mib", static_cast<double>(s.epoll_waits) / mib,
            "count", conns, m);
  lab::emit("tls_echo", impl, "socket_syscalls_per_mib", static_cast<double>(s.io_syscalls) / mib,
            "count", conns, m);
}

/// The client side of one round: `conns` threads, each echoing `bytes` in
/// `chunk`s after its handshake. Returns MB/s over the timed part.
double client_round(SSL_CTX* cctx, std::uint16_t port, int conns, std::size_t bytes,
                    std::size_t chunk) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int i = 0; i < conns; ++i) {
    ts.emplace_back([&] {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(port);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      SSL* s = SSL_new(cctx);
      SSL_set_fd(s, fd);
      if (SSL_connect(s) != 1) die("SSL_connect");
      std::vector<char> out(chunk, 'x'), in(chunk);
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      for (std::size_t done = 0; done < bytes; done += chunk) {
        if (SSL_write(s, out.data(), static_cast<int>(chunk)) != static_cast<int>(chunk))
          die("SSL_write");
        std::size_t got = 0;
        while (got < chunk) {
          int n = SSL_read(s, in.data() + got, static_cast<int>(chunk - got));
          if (n <= 0) die("SSL_read");
          got += static_cast<std::size_t>(n);
        }
      }
      SSL_shutdown(s);
      SSL_free(s);
      ::close(fd);
    });
  }
  while (ready.load() < conns) std::this_thread::yield();
  auto t0 = lab::Clock::now();
  go.store(true);
  for (auto& t : ts) t.join();
  double s = lab::ns_since(t0) / 1e9;
  return static_cast<double>(bytes) * conns / s / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  lab::Args args(argc, argv);
  auto bytes = static_cast<std::size_t>(args.num("bytes", 64 << 20));
  auto chunk = static_cast<std::size_t>(args.num("chunk", 16 << 10));
  int conns = static_cast<int>(args.num("conns", 1));
  int rounds = static_cast<int>(args.num("rounds", 5));
  std::string driver = args.get("driver", "io_uring");
  std::string model = args.get("model", "stackless");
  auto workers = static_cast<unsigned>(args.num("workers", 1));

  auto dir = std::filesystem::temp_directory_path() / ("tls_echo_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  make_cert(cert, key);

  SSL_CTX* sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  if (SSL_CTX_use_certificate_chain_file(sctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(sctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    die("server certificate");
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, nullptr);

  duet::tls::ServerConfig sc;
  sc.cert_file = cert;
  sc.key_file = key;
  auto dctx = duet::tls::TlsContext::server(sc);
  if (!dctx) die(dctx.error().message().c_str());

  duet::RuntimeConfig cfg;
  cfg.workers = workers;
  cfg.io_driver = driver == "epoll" ? duet::IoDriver::epoll : duet::IoDriver::io_uring;
  duet::Runtime rt(cfg);

  std::vector<double> blocking, through_duet, ratios;
  duet::IoStats io_sum;  // the duet rounds' driver counters
  for (int r = 0; r < rounds; ++r) {
    std::uint16_t port = 0;
    int l = listen_loopback(&port);
    std::thread srv(blocking_server, sctx, l, conns);
    blocking.push_back(client_round(cctx, port, conns, bytes, chunk));
    srv.join();
    ::close(l);

    auto dl = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
    if (!dl) die("duet bind");
    const auto before = duet::io_stats();
    auto h = rt.spawn(duet_server(&*dctx, &*dl, conns, model == "stackful"));
    through_duet.push_back(client_round(cctx, dl->local_addr()->port(), conns, bytes, chunk));
    h.join();
    add_stats(io_sum, before, duet::io_stats());
    ratios.push_back(through_duet.back() / blocking.back());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::string method = "TLS 1.3 echo over loopback, " + std::to_string(conns) + " conn(s), " +
                       std::to_string(chunk) + " B chunks, " + std::to_string(bytes) +
                       " B each, median of " + std::to_string(rounds) + " alternating rounds";
  lab::emit("tls_echo", "blocking-openssl", "throughput", median(blocking), "MB/s", conns, method);
  lab::emit("tls_echo", "duet-" + driver + "-" + model, "throughput", median(through_duet), "MB/s",
            conns, method);
  lab::emit("tls_echo", "duet-" + driver + "-" + model, "ratio_vs_blocking", median(ratios), "x",
            conns, method + "; duet/blocking per round");
  emit_io_counts(io_sum, "duet-" + driver + "-" + model,
                 2.0 * static_cast<double>(bytes) * conns * rounds / (1 << 20), conns, method);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  std::filesystem::remove_all(dir);
  return 0;
}
