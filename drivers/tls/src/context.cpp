// context.cpp: TlsContext: building the SSL_CTX (trust, certificates, ALPN,
// SNI, the client's session cache) and starting a connection's handshake
// (in a simulated world, readied to replay: sim_replay.hpp).
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "connection.hpp"
#include "duet/tls/stream.hpp"
#include "sim_replay.hpp"

namespace duet::tls {
namespace {
using detail::ContextState;
using detail::SslCtxPtr;

/// "h2", "http/1.1" -> "\x02h2\x08http/1.1" (RFC 7301's wire format).
duet::Result<std::string> alpn_wire(const std::vector<std::string>& protos) {
  std::string w;
  for (const auto& p : protos) {
    if (p.empty() || p.size() > 255) return std::errc::invalid_argument;
    w += static_cast<char>(p.size());
    w += p;
  }
  return w;
}

/// The server picks the first of its own protocols that the client offers.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void* arg) {
  const auto* st = static_cast<const ContextState*>(arg);
  if (st->alpn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  const auto* ours = reinterpret_cast<const unsigned char*>(st->alpn_wire.data());
  if (SSL_select_next_proto(&chosen, outlen, ours, static_cast<unsigned>(st->alpn_wire.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // RFC 7301: no_application_protocol
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

/// SNI: switch the connection to the context of the name the client asked
/// for, if the server has one.
int select_name(SSL* ssl, int*, void* arg) {
  auto* st = static_cast<ContextState*>(arg);
  const char* host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (host == nullptr) return SSL_TLSEXT_ERR_OK;
  for (auto& [name, ctx] : st->names) {
    if (::strcasecmp(name.c_str(), host) == 0) {
      SSL_set_SSL_CTX(ssl, ctx.get());
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

/// The client's session cache: OpenSSL hands over each new session (TLS
/// 1.3 tickets arrive after the handshake, during a read); the newest per
/// server name is kept.
int save_session(SSL* ssl, SSL_SESSION* sess) {
  auto* c = static_cast<detail::Connection*>(SSL_get_app_data(ssl));
  if (c == nullptr || c->name.empty()) return 0;
  std::lock_guard<std::mutex> g(c->ctx->sessions_mu);
  auto& v = c->ctx->sessions;
  auto it = std::find_if(v.begin(), v.end(), [&](auto& p) { return p.first == c->name; });
  if (it != v.end()) {
    it->second.reset(sess);
  } else {
    v.emplace_back(c->name, detail::SessionPtr(sess));
  }
  return 1;  // the cache keeps OpenSSL's reference
}

/// A context of method `m`: TLS 1.2 at least, with the cipher policy
/// (CipherConfig; docs/io.md, "Cipher policy"). A list that selects no
/// suite is OpenSSL's "no cipher match".
duet::Result<SslCtxPtr> new_ctx(const SSL_METHOD* m, const CipherConfig& ciphers) {
  SslCtxPtr ctx(SSL_CTX_new(m));
  if (!ctx) return detail::queue_error();
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // OpenSSL gives back its record buffers whenever they are empty, so an
  // idle connection holds none (every SSL inherits the mode).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  const std::string& tls12 = ciphers.tls12_ciphers;
  if (SSL_CTX_set_cipher_list(ctx.get(), tls12.empty() ? default_tls12_ciphers : tls12.c_str()) !=
      1) {
    return detail::queue_error();
  }
  if (!ciphers.tls13_ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx.get(), ciphers.tls13_ciphersuites.c_str()) != 1) {
    return detail::queue_error();
  }
  return ctx;
}

duet::Result<void> load_pair(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return detail::queue_error();
  }
  return {};
}

/// A server SSL_CTX for one certificate, with the shared callbacks.
duet::Result<SslCtxPtr> server_ctx(ContextState* st, const std::string& cert,
                                   const std::string& key, const CipherConfig& ciphers) {
  auto ctx = new_ctx(TLS_server_method(), ciphers);
  if (!ctx) return ctx.error();
  if (auto r = load_pair(ctx->get(), cert, key); !r) return r.error();
  static constexpr unsigned char sid[] = "duet";
  SSL_CTX_set_session_id_context(ctx->get(), sid, sizeof sid - 1);
  SSL_CTX_set_alpn_select_cb(ctx->get(), select_alpn, st);
  return std::move(*ctx);
}

bool is_ip_literal(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

/// A connection on `st`'s context over `tcp`, its BIOs in place.
duet::Result<std::unique_ptr<detail::Connection>> new_connection(
    const std::shared_ptr<ContextState>& st, net::TcpStream tcp) {
  auto c = std::make_unique<detail::Connection>(st, std::move(tcp));
  c->ssl.reset(SSL_new(st->ctx.get()));
  if (!c->ssl) return detail::queue_error();
  // OpenSSL reads and writes our BIO over the connection's buffers
  // (connection.hpp), which the TCP futures receive into and send from.
  BIO* bio = BIO_new(detail::buffers_bio_method());
  if (bio == nullptr) return detail::queue_error();
  BIO_set_data(bio, c.get());
  SSL_set_bio(c->ssl.get(), bio, bio);  // one reference, for both directions
  SSL_set_app_data(c->ssl.get(), c.get());
  if (!detail::enter_world(*st, c->ssl.get())) return detail::queue_error();
  c->handshaking = true;
  return c;
}

}  // namespace

duet::Result<TlsContext> TlsContext::client(const ClientConfig& cfg) {
  detail::watch_worlds();
  auto st = std::make_shared<ContextState>();
  auto ctx = new_ctx(TLS_client_method(), cfg.ciphers);
  if (!ctx) return ctx.error();
  st->ctx = std::move(*ctx);
  SSL_CTX* c = st->ctx.get();
  if (cfg.verify) {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    int ok = cfg.ca_file.empty() ? SSL_CTX_set_default_verify_paths(c)
                                 : SSL_CTX_load_verify_locations(c, cfg.ca_file.c_str(), nullptr);
    if (ok != 1) return detail::queue_error();
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  auto w = alpn_wire(cfg.alpn);
  if (!w) return w.error();
  st->alpn_wire = std::move(*w);
  if (!st->alpn_wire.empty() &&
      SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(st->alpn_wire.data()),
                              static_cast<unsigned>(st->alpn_wire.size())) != 0) {
    return detail::queue_error();
  }
  if (!cfg.cert_file.empty()) {
    if (auto r = load_pair(c, cfg.cert_file, cfg.key_file); !r) return r.error();
  }
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c, save_session);
  return TlsContext(std::move(st));
}

duet::Result<TlsContext> TlsContext::server(const ServerConfig& cfg) {
  detail::watch_worlds();
  auto st = std::make_shared<ContextState>();
  st->server = true;
  auto w = alpn_wire(cfg.alpn);
  if (!w) return w.error();
  st->alpn_wire = std::move(*w);
  auto ctx = server_ctx(st.get(), cfg.cert_file, cfg.key_file, cfg.ciphers);
  if (!ctx) return ctx.error();
  st->ctx = std::move(*ctx);
  for (const auto& n : cfg.names) {
    auto nc = server_ctx(st.get(), n.cert_file, n.key_file, cfg.ciphers);
    if (!nc) return nc.error();
    st->names.emplace_back(n.host, std::move(*nc));
  }
  SSL_CTX_set_tlsext_servername_callback(st->ctx.get(), select_name);
  SSL_CTX_set_tlsext_servername_arg(st->ctx.get(), st.get());
  return TlsContext(std::move(st));
}

HandshakeFuture TlsContext::connect(net::TcpStream tcp, std::string_view server_name,
                                    std::chrono::nanoseconds timeout) const {
  auto c = new_connection(st_, std::move(tcp));
  if (!c) return HandshakeFuture(nullptr, c.error(), timeout);
  auto& conn = **c;
  SSL* ssl = conn.ssl.get();
  conn.name.assign(server_name);
  SSL_set_connect_state(ssl);
  bool ok = true;
  if (!conn.name.empty()) {
    if (is_ip_literal(conn.name)) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), conn.name.c_str()) == 1;
    } else {
      ok = SSL_set_tlsext_host_name(ssl, conn.name.c_str()) == 1 &&
           SSL_set1_host(ssl, conn.name.c_str()) == 1;
    }
  }
  if (!ok) return HandshakeFuture(nullptr, detail::queue_error(), timeout);
  {
    std::lock_guard<std::mutex> g(st_->sessions_mu);
    for (auto& [name, sess] : st_->sessions) {
      if (name == conn.name) SSL_set_session(ssl, sess.get());
    }
  }
  return HandshakeFuture(std::move(*c), {}, timeout);
}

HandshakeFuture TlsContext::accept(net::TcpStream tcp, std::chrono::nanoseconds timeout) const {
  auto c = new_connection(st_, std::move(tcp));
  if (!c) return HandshakeFuture(nullptr, c.error(), timeout);
  SSL_set_accept_state((*c)->ssl.get());
  return HandshakeFuture(std::move(*c), {}, timeout);
}

}  // namespace duet::tls
