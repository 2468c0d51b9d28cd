// error.cpp: the two error categories of duet::tls (OpenSSL's error queue
// and certificate verification) and the mapping from a failed OpenSSL call
// to a std::error_code.
#include "duet/tls/error.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

#include "connection.hpp"
#include "duet/io/result.hpp"
#include "duet/result.hpp"

namespace duet::tls {
namespace {

class OpensslCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "openssl"; }
  [[nodiscard]] std::string message(int v) const override {
    auto e = static_cast<unsigned long>(static_cast<unsigned>(v));
    const char* lib = ERR_lib_error_string(e);
    const char* reason = ERR_reason_error_string(e);
    std::string s = lib != nullptr ? std::string(lib) + ": " : std::string();
    if (reason != nullptr) return s + reason;
    return s + "OpenSSL error " + std::to_string(ERR_GET_REASON(e));
  }
};

class VerifyCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "x509-verify"; }
  [[nodiscard]] std::string message(int v) const override {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
  }
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const OpensslCategory c;
  return c;
}
const std::error_category& verify_category() noexcept {
  static const VerifyCategory c;
  return c;
}

bool is_verify_error(std::error_code e) noexcept {
  return e.category() == verify_category();
}

bool is_truncated(std::error_code e) noexcept {
  auto v = static_cast<unsigned long>(static_cast<unsigned>(e.value()));
  return e.category() == tls_category() && ERR_GET_LIB(v) == ERR_LIB_SSL &&
         ERR_GET_REASON(v) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

namespace detail {

std::error_code queue_error() noexcept {
  // The first error queued is the cause; later ones are the callers'
  // context ("system lib", "PEM lib").
  unsigned long e = ERR_peek_error();
  ERR_clear_error();
  if (e == 0) return std::make_error_code(std::errc::protocol_error);
  if (ERR_SYSTEM_ERROR(e)) return io::errno_code(ERR_GET_REASON(e));
  // Library and reason fit in 31 bits (OpenSSL 3 packs lib << 23 | reason).
  auto packed = static_cast<int>(ERR_PACK(ERR_GET_LIB(e), 0, ERR_GET_REASON(e)));
  return {packed, tls_category()};
}

std::error_code ssl_error(SSL* ssl, int kind) noexcept {
  unsigned long e = ERR_peek_error();
  if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
      ERR_clear_error();
      return {static_cast<int>(v), verify_category()};
    }
  }
  if (e == 0 && kind == SSL_ERROR_SYSCALL) {
    // Nothing queued: the transport failed under OpenSSL (our BIOs report
    // only EOF, which OpenSSL 3 queues itself).
    return std::make_error_code(std::errc::connection_aborted);
  }
  return queue_error();
}

}  // namespace detail
}  // namespace duet::tls
