// buffers_test.cpp: where a TLS connection keeps the ciphertext OpenSSL
// writes (drivers/tls/src/connection.hpp, Connection::put): a short
// answer's records in a small block, a longer write's in a full buffer,
// the bytes held moved whole between the two, and a send in flight never
// moved under. The connection is driven through its BIO's entry points,
// without a socket or a runtime; and when a read is starved (nothing for
// OpenSSL to read), so that it is not handed to OpenSSL.
#include <catch2/catch.hpp>
#include <cstddef>
#include <memory>
#include <string>

#include "../../drivers/tls/src/connection.hpp"  // private: the connection's buffers

namespace {

using duet::tls::detail::Connection;
using duet::tls::detail::kBufferSize;
using duet::tls::detail::kSmallBuffer;

std::string pattern_bytes(std::size_t n, std::size_t from) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((from + i) * 131 % 251);
  return s;
}

std::string held_bytes(const Connection& c) {
  const auto b = c.out.bytes();
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace

TEST_CASE("tls buffers: a short answer waits in a small block, a longer write moves to a full one",
          "[tls][buffers]") {
  Connection c(nullptr, duet::net::TcpStream{});
  const std::string a = pattern_bytes(200, 0);
  CHECK(c.put(a.data(), a.size()) == a.size());
  CHECK(c.out.cap == kSmallBuffer);
  CHECK(c.held() == kSmallBuffer);

  const std::string b = pattern_bytes(3000, 200);
  CHECK(c.put(b.data(), b.size()) == b.size());
  CHECK(c.out.cap == kSmallBuffer);

  // Past the small block with no send in flight: the bytes held move.
  const std::string d = pattern_bytes(5000, 3200);
  CHECK(c.put(d.data(), d.size()) == d.size());
  CHECK(c.out.cap == kBufferSize);
  CHECK(held_bytes(c) == a + b + d);

  // Sent: the memory goes back.
  c.out.head = c.out.tail;
  c.trim();
  CHECK(c.held() == 0);
  CHECK(c.out.mem == nullptr);

  // A first write longer than the small block takes a full buffer at once.
  const std::string e = pattern_bytes(6000, 0);
  CHECK(c.put(e.data(), e.size()) == e.size());
  CHECK(c.out.cap == kBufferSize);
  CHECK(held_bytes(c) == e);
}

TEST_CASE("tls buffers: a send in flight keeps the small block, which takes only what fits",
          "[tls][buffers]") {
  Connection c(nullptr, duet::net::TcpStream{});
  const std::string a = pattern_bytes(3000, 0);
  REQUIRE(c.put(a.data(), a.size()) == a.size());
  // A send points into the block (never polled here): nothing may move.
  c.send.emplace(c.tcp.write(c.out.mem + c.out.head, c.out.size()));
  char* const at = c.out.mem;
  const std::string b = pattern_bytes(2000, 3000);
  CHECK(c.put(b.data(), b.size()) == kSmallBuffer - a.size());
  CHECK(c.out.mem == at);
  CHECK(c.out.cap == kSmallBuffer);
  CHECK(c.put(b.data(), b.size()) == 0);  // full: the BIO says retry
  CHECK(held_bytes(c) == a + b.substr(0, kSmallBuffer - a.size()));
  c.send.reset();
  c.trim();  // bytes still to send: kept
  CHECK(c.held() == kSmallBuffer);
}

TEST_CASE("tls buffers: a read starves only with nothing received, buffered or ending",
          "[tls][buffers]") {
  // A read is not handed to OpenSSL while starved() (Connection::drive):
  // each thing a read could still return without the peer's next bytes
  // makes it false.
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  REQUIRE(ctx);
  Connection c(nullptr, duet::net::TcpStream{});
  c.ssl.reset(SSL_new(ctx.get()));
  REQUIRE(c.ssl);
  CHECK(c.starved());
  c.in.tail = 5;  // ciphertext received, in `first`
  CHECK_FALSE(c.starved());
  c.in.tail = 0;
  c.eof = true;  // OpenSSL reports the end (or the truncation)
  CHECK_FALSE(c.starved());
  c.eof = false;
  CHECK(c.starved());
  SSL_set_shutdown(c.ssl.get(), SSL_RECEIVED_SHUTDOWN);  // a close_notify came
  CHECK_FALSE(c.starved());
}
