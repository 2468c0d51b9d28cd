// duet/dns/resolver.hpp: host names to addresses (c-ares, Debian's
// libc-ares-dev) and connecting by name, for coroutines and fibers alike.
//
// Example (coroutine):
//   auto r = duet::dns::Resolver::create({}).value();     // /etc/resolv.conf, /etc/hosts
//   auto addrs = co_await r.lookup("localhost", 8080, 2s);  // Result<vector<SocketAddr>>
//   auto s = co_await duet::dns::connect(r, "localhost", 8080);   // Happy Eyeballs
//
// Example (fiber):
//   duet::dns::ResolverConfig cfg;
//   cfg.servers = "127.0.0.1:5353";            // a resolver of the caller's choice
//   cfg.attempt_timeout = 500ms;
//   auto r = duet::dns::Resolver::create(cfg).value();
//   auto a = duet::wait(r.lookup("example.test", 443));
//   if (!a) use(a.error().message());         // "Domain name not found"...
//
// A lookup asks the hosts file first (/etc/hosts; c-ares honours the
// CARES_HOSTS variable), then the DNS servers, over UDP sockets that the
// lookup owns and waits on through the I/O driver (io_uring or epoll): no
// thread blocks, none of the blocking pool's threads is taken, and dropping
// the future cancels the query and closes its sockets. Each lookup has its
// own c-ares channel: lookups share nothing and may run on any worker.
//
// Errors: std::errc::timed_out when the servers did not answer in time or
// the lookup's deadline passed; otherwise c-ares's status in
// dns_category() with c-ares's message ("Domain name not found",
// "Misformatted domain name"...); a malformed `servers` list at create().
#pragma once

#include "duet/export.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "duet/names.hpp"
#include "duet/net/address.hpp"
#include "duet/net/tcp.hpp"
#include "duet/poll.hpp"
#include "duet/result.hpp"
#include "duet/time/sleep.hpp"

namespace duet::dns {

/// c-ares's status codes (ARES_E*), with c-ares's messages.
DUET_API const std::error_category& dns_category() noexcept;
/// Did the name not exist (NXDOMAIN, or no address of the family asked)?
DUET_API bool is_not_found(std::error_code e) noexcept;

enum class Family { any, v4, v6 };
constexpr std::array<Family, 3> enum_values(Family) noexcept {
  return {Family::any, Family::v4, Family::v6};
}
/// "any", "v4", "v6" (duet/names.hpp).
constexpr std::string_view to_string(Family f) noexcept {
  return f == Family::any ? "any" : f == Family::v4 ? "v4" : "v6";
}

struct DUET_API ResolverConfig {
  /// "host:port,host:port" ("127.0.0.1:5353,[::1]:53"); empty: the
  /// servers of /etc/resolv.conf.
  std::string servers;
  /// One try on one server gives up after this long.
  std::chrono::milliseconds attempt_timeout{2000};
  /// Tries per server.
  int tries = 2;
  Family family = Family::any;
  /// false: the DNS servers only (no hosts file).
  bool use_hosts_file = true;
};

namespace detail {
struct Lookup;
struct ResolverState;
}  // namespace detail

/// lookup(): Result<std::vector<net::SocketAddr>>, in the order to try
/// (RFC 6724's, as c-ares sorts them), each with the port asked for.
class [[nodiscard]] DUET_API LookupFuture {
 public:
  LookupFuture(std::shared_ptr<const detail::ResolverState> r, std::string host, std::uint16_t port,
               std::chrono::nanoseconds timeout);
  LookupFuture(LookupFuture&&) noexcept;
  LookupFuture& operator=(LookupFuture&&) = delete;
  ~LookupFuture();
  Poll<duet::Result<std::vector<net::SocketAddr>>> poll(Context& cx);

 private:
  std::unique_ptr<detail::Lookup> l_;
  std::optional<Sleep> deadline_;
};

/// Resolver settings, shared (cheap to copy) and usable from any thread.
class DUET_API Resolver {
 public:
  /// Errors: a `servers` list c-ares cannot parse (EINVAL).
  static duet::Result<Resolver> create(const ResolverConfig& cfg);
  /// The addresses of `host` (a name or an IP literal) with `port`.
  /// timeout 0: bounded by attempt_timeout x tries x servers only.
  LookupFuture lookup(std::string_view host, std::uint16_t port,
                      std::chrono::nanoseconds timeout = std::chrono::nanoseconds{0}) const {
    return LookupFuture(st_, std::string(host), port, timeout);
  }

 private:
  explicit Resolver(std::shared_ptr<const detail::ResolverState> s) noexcept : st_(std::move(s)) {}
  std::shared_ptr<const detail::ResolverState> st_;
};

struct DUET_API ConnectConfig {
  /// One address's connect gives up after this long; 0: none.
  std::chrono::nanoseconds attempt_timeout = std::chrono::seconds(5);
  /// The lookup's deadline; 0: none.
  std::chrono::nanoseconds lookup_timeout = std::chrono::seconds(10);
  /// Happy Eyeballs (RFC 8305): the next address's connect starts when
  /// this passes without a connection (or at once when an attempt fails),
  /// the earlier ones still running.
  std::chrono::nanoseconds attempt_delay = std::chrono::milliseconds(250);
};

/// connect(): Result<net::TcpStream>. The lookup, then Happy Eyeballs v2
/// (RFC 8305): the addresses in c-ares's order with the families
/// interleaved (IPv6, IPv4, IPv6...), a new attempt every attempt_delay or
/// as soon as one fails, the first to connect wins and the others are
/// cancelled; the last error when none connects.
class [[nodiscard]] DUET_API ConnectFuture {
 public:
  ConnectFuture(LookupFuture lookup, ConnectConfig opt) noexcept;
  Poll<duet::Result<net::TcpStream>> poll(Context& cx);

 private:
  void start_next();
  std::optional<LookupFuture> lookup_;
  ConnectConfig opt_;
  std::vector<net::SocketAddr> addrs_;
  std::size_t next_ = 0;
  // In flight; boxed, since a polled connect must not move.
  std::vector<std::unique_ptr<net::ConnectFuture>> attempts_;
  std::optional<Sleep> stagger_;
  std::error_code last_;
};

/// Resolves `host` and connects to its addresses in order.
inline ConnectFuture connect(const Resolver& r, std::string_view host, std::uint16_t port,
                             ConnectConfig opt = {}) {
  return ConnectFuture(r.lookup(host, port, opt.lookup_timeout), opt);
}

}  // namespace duet::dns
