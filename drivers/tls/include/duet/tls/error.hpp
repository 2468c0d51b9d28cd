// duet/tls/error.hpp: the errors of duet::tls, as std::error_code values in
// duet::Result (the same Result as every other I/O operation).
//
// Three kinds of error reach a caller. OpenSSL's own errors are in
// tls_category(): the value is OpenSSL's packed error (library and reason)
// and message() OpenSSL's string, such as "SSL routines: unexpected eof
// while reading". A failed certificate check is in verify_category(): the
// value is OpenSSL's X509_V_ERR_* code and message() reads "certificate
// verify failed: hostname mismatch". The operating system's errors
// (ECONNRESET from the socket, ENOENT for a missing certificate file) and
// duet's own (ETIMEDOUT for a handshake past its deadline, EBUSY for two
// operations at once) are in std::generic_category().
//
// Example (coroutine):
//   duet::tls::TlsContext ctx = duet::tls::TlsContext::client({}).value();
//   auto s = co_await ctx.connect(std::move(stream), "example.org", 5s);
//   if (!s && duet::tls::is_verify_error(s.error())) use(s.error().message());
#pragma once

#include "duet/export.hpp"

#include <system_error>

namespace duet::tls {

/// OpenSSL's errors (ERR_get_error values, library and reason kept).
DUET_API const std::error_category& tls_category() noexcept;
/// Certificate verification failures (X509_V_ERR_* values).
DUET_API const std::error_category& verify_category() noexcept;

/// Did the handshake fail because the peer's certificate was rejected
/// (untrusted, expired, wrong host name...)?
DUET_API bool is_verify_error(std::error_code e) noexcept;
/// Did the peer close the TCP connection without a TLS close_notify (a
/// truncated stream: the data read so far may be incomplete)?
DUET_API bool is_truncated(std::error_code e) noexcept;

}  // namespace duet::tls
