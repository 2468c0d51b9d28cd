// resolver.cpp: duet::dns on c-ares. Each lookup owns a c-ares channel and
// the sockets c-ares opens through it (ares_set_socket_functions): a socket
// c-ares waits on is waited on through the I/O driver by a one-byte
// MSG_PEEK receive (readable: c-ares may read it), c-ares's retry timer is
// a duet Sleep, and ares_process_fd runs inside the future's poll. c-ares
// never blocks and never runs on a thread of its own.
//
// On a simulated world's worker (duet::sim, docs/simulation.md) a lookup
// asks the world instead (duet/io/detail/virtual_net.hpp, lookup_name): a simulated
// host's name answers with its address after the world's round trip to its
// resolver, an unknown name with ARES_ENOTFOUND (NXDOMAIN); an IPv4
// literal, and "localhost" with the hosts file, answer at once, as c-ares
// answers them without a query. The world has no IPv6: a v6-only lookup of
// a known name is ARES_ENODATA.
//
// Invariants: a Lookup lives on the heap (c-ares keeps pointers to it:
// the socket functions' user data, the query's callback argument); its
// sockets are closed only through `close_socket` (c-ares's aclose, or the
// channel's destruction), which first abandons the peek in flight on it.
#include "duet/dns/resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

#include "duet/io/detail/virtual_net.hpp"
#include "duet/io/op.hpp"

namespace duet::dns {
namespace {

class AresCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "c-ares"; }
  [[nodiscard]] std::string message(int v) const override { return ares_strerror(v); }
};

std::error_code status_error(int status) {
  if (status == ARES_ETIMEOUT) return std::make_error_code(std::errc::timed_out);
  if (status == ARES_ENOMEM) return std::make_error_code(std::errc::not_enough_memory);
  return {status, dns_category()};
}

void library_init() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

}  // namespace

const std::error_category& dns_category() noexcept {
  static const AresCategory c;
  return c;
}

bool is_not_found(std::error_code e) noexcept {
  return e.category() == dns_category() &&
         (e.value() == ARES_ENOTFOUND || e.value() == ARES_ENODATA);
}

namespace detail {

struct ResolverState {
  ResolverConfig cfg;
};

/// One socket c-ares opened, and the readiness wait on it.
struct Socket {
  explicit Socket(int fd) noexcept : src(io::Fd(fd)) {}
  io::detail::Source src;
  io::detail::OpRequest peek{io::detail::OpKind::recv};
  io::detail::OpSlot slot;
  std::byte byte{};
};

struct Lookup {
  Lookup(std::shared_ptr<const ResolverState> r, std::string h, std::uint16_t p)
      : resolver(std::move(r)), host(std::move(h)), port(std::to_string(p)), port_number(p) {}
  ~Lookup() {
    // Cancels the query (its callback sees ARES_EDESTRUCTION) and closes
    // every socket through close_socket, while `sockets` still exists.
    if (channel != nullptr) ares_destroy(channel);
  }
  Lookup(const Lookup&) = delete;
  Lookup& operator=(const Lookup&) = delete;

  duet::Result<void> start();
  Poll<duet::Result<std::vector<net::SocketAddr>>> poll(Context& cx);
  /// The lookup on a simulated world's worker: the world's answer, when
  /// its round trip is over.
  Poll<duet::Result<std::vector<net::SocketAddr>>> poll_simulated(io::detail::VirtualNet& world,
                                                                  Context& cx);
  /// Asks the world (or answers a literal or localhost at once).
  void ask_world(io::detail::VirtualNet& world);
  /// Polls the readiness waits; true when one socket became readable and
  /// c-ares processed it.
  bool poll_sockets(Context& cx);
  Socket* find(int fd) noexcept {
    for (auto& s : sockets) {
      if (s->src.fd.get() == fd) return s.get();
    }
    return nullptr;
  }

  std::shared_ptr<const ResolverState> resolver;
  std::string host, port;
  std::uint16_t port_number = 0;
  std::vector<std::unique_ptr<Socket>> sockets;
  ares_channel channel = nullptr;
  bool started = false, done = false;
  int status = ARES_SUCCESS;
  std::vector<net::SocketAddr> addrs;
  std::optional<Sleep> retry;  // c-ares's next timeout
  Instant retry_at{};
  std::optional<Sleep> world_answer;  // a simulated lookup's round trip
};

namespace {

ares_socket_t open_socket(int domain, int type, int protocol, void* ud) {
  int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return ARES_SOCKET_BAD;
  static_cast<Lookup*>(ud)->sockets.push_back(std::make_unique<Socket>(fd));
  return fd;
}

int close_socket(ares_socket_t fd, void* ud) {
  auto& v = static_cast<Lookup*>(ud)->sockets;
  auto it = std::find_if(v.begin(), v.end(), [fd](auto& s) { return s->src.fd.get() == fd; });
  if (it == v.end()) return ::close(fd);
  (*it)->slot.reset();  // the peek is abandoned (cancelled) before the close
  auto r = (*it)->src.close();
  v.erase(it);
  return r ? 0 : -1;
}

int connect_socket(ares_socket_t fd, const sockaddr* a, ares_socklen_t len, void*) {
  return ::connect(fd, a, len);
}

ares_ssize_t recv_from(ares_socket_t fd, void* p, size_t n, int flags, sockaddr* from,
                       ares_socklen_t* len, void*) {
  return ::recvfrom(fd, p, n, flags, from, len);
}

ares_ssize_t send_v(ares_socket_t fd, const iovec* v, int n, void*) {
  return ::writev(fd, v, n);
}

const ares_socket_functions socket_functions{open_socket, close_socket, connect_socket, recv_from,
                                             send_v};

void on_result(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
  auto* l = static_cast<Lookup*>(arg);
  l->done = true;
  l->status = status;
  if (status == ARES_SUCCESS && res != nullptr) {
    for (ares_addrinfo_node* n = res->nodes; n != nullptr; n = n->ai_next) {
      l->addrs.push_back(
          net::SocketAddr::from_raw(n->ai_addr, static_cast<socklen_t>(n->ai_addrlen)));
    }
    if (l->addrs.empty()) l->status = ARES_ENODATA;
  }
  if (res != nullptr) ares_freeaddrinfo(res);
}

}  // namespace

duet::Result<void> Lookup::start() {
  library_init();
  const ResolverConfig& cfg = resolver->cfg;
  ares_options o{};
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
  // UDP only: a truncated answer is used as it is (no TCP retry), so a
  // socket is only ever waited on for reading.
  o.flags = ARES_FLAG_IGNTC | ARES_FLAG_STAYOPEN;
  o.timeout = static_cast<int>(cfg.attempt_timeout.count());
  o.tries = cfg.tries;
  std::string lookups = cfg.use_hosts_file ? "fb" : "b";
  o.lookups = lookups.data();
  int st = ares_init_options(&channel, &o, mask);
  if (st != ARES_SUCCESS) return status_error(st);
  if (!cfg.servers.empty()) {
    st = ares_set_servers_ports_csv(channel, cfg.servers.c_str());
    if (st != ARES_SUCCESS) return std::make_error_code(std::errc::invalid_argument);
  }
  ares_set_socket_functions(channel, &socket_functions, this);
  return {};
}

bool Lookup::poll_sockets(Context& cx) {
  ares_socket_t fds[ARES_GETSOCK_MAXNUM];
  int bits = ares_getsock(channel, fds, ARES_GETSOCK_MAXNUM);
  for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
    if (ARES_GETSOCK_WRITABLE(bits, i)) {
      ares_process_fd(channel, ARES_SOCKET_BAD, fds[i]);  // UDP: writable at once
      return true;
    }
    if (!ARES_GETSOCK_READABLE(bits, i)) continue;
    Socket* s = find(fds[i]);
    if (s == nullptr) continue;
    s->peek.src = &s->src;
    s->peek.rbuf = &s->byte;
    s->peek.len = 1;
    s->peek.flags = MSG_PEEK;
    auto p = io::detail::poll_op(s->peek, s->slot, cx);
    if (p.is_pending()) continue;
    // Readable (or an error c-ares's own read will meet): let c-ares read.
    ares_process_fd(channel, fds[i], ARES_SOCKET_BAD);
    return true;
  }
  return false;
}

namespace {
bool is_localhost(const std::string& h) {
  return h.size() == 9 && std::equal(h.begin(), h.end(), "localhost", [](char a, char b) {
           return (a | 0x20) == b;  // ASCII letters without regard to case
         });
}
/// An IPv6 address with `port`.
net::SocketAddr v6_addr(const in6_addr& a, std::uint16_t port) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  in6.sin6_addr = a;
  return net::SocketAddr::from_raw(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
}

/// `a` (IPv4 or IPv6) with its port set to `port`.
net::SocketAddr with_port(net::SocketAddr a, std::uint16_t port) {
  if (a.family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(a.raw())->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(a.raw())->sin_port = htons(port);
  }
  return a;
}
}  // namespace

void Lookup::ask_world(io::detail::VirtualNet& world) {
  started = true;
  const Family f = resolver->cfg.family;
  in_addr literal4{};
  in6_addr literal6{};
  if (::inet_pton(AF_INET, host.c_str(), &literal4) == 1) {
    if (f == Family::v6) {
      status = ARES_ENODATA;  // an IPv4 literal has no IPv6 address
    } else {
      addrs.push_back(net::SocketAddr::v4(ntohl(literal4.s_addr), port_number));
    }
    return;
  }
  if (::inet_pton(AF_INET6, host.c_str(), &literal6) == 1) {
    if (f == Family::v4) {
      status = ARES_ENODATA;
    } else {
      addrs.push_back(v6_addr(literal6, port_number));
    }
    return;
  }
  if (resolver->cfg.use_hosts_file && is_localhost(host)) {
    // The hosts file's localhost: 127.0.0.1, and ::1 asked for IPv6.
    if (f != Family::v6) addrs.push_back(net::SocketAddr::v4(INADDR_LOOPBACK, port_number));
    if (f == Family::v6) addrs.push_back(net::SocketAddr::v6_loopback(port_number));
    return;
  }
  io::detail::VirtualNet::NameQuery q;
  q.tries = resolver->cfg.tries;
  q.attempt_timeout = resolver->cfg.attempt_timeout;
  q.family = f == Family::v4 ? AF_INET : f == Family::v6 ? AF_INET6 : AF_UNSPEC;
  io::detail::VirtualNet::NameAnswer a = world.lookup_name(host, q);
  status = a.error == 0              ? ARES_SUCCESS
           : a.error == ETIMEDOUT    ? ARES_ETIMEOUT
           : a.error == ECONNREFUSED ? ARES_ECONNREFUSED
           : a.error == ENODATA      ? ARES_ENODATA
                                     : ARES_ENOTFOUND;
  for (net::SocketAddr& x : a.addrs) {
    addrs.push_back(with_port(x, port_number));
  }
  world_answer.emplace(Clock::now() + std::chrono::duration_cast<Clock::duration>(a.after));
}

Poll<duet::Result<std::vector<net::SocketAddr>>> Lookup::poll_simulated(
    io::detail::VirtualNet& world, Context& cx) {
  using R = duet::Result<std::vector<net::SocketAddr>>;
  if (!started) ask_world(world);
  if (world_answer && world_answer->poll(cx).is_pending()) return pending;
  world_answer.reset();
  done = true;
  if (status != ARES_SUCCESS) return R(status_error(status));
  return R(std::move(addrs));
}

Poll<duet::Result<std::vector<net::SocketAddr>>> Lookup::poll(Context& cx) {
  using R = duet::Result<std::vector<net::SocketAddr>>;
  if (io::detail::on_virtual_driver()) {
    if (io::detail::VirtualNet* world = io::detail::virtual_net()) {
      return poll_simulated(*world, cx);
    }
  }
  if (!started) {
    started = true;
    if (auto r = start(); !r) {
      done = true;
      return R(r.error());
    }
    ares_addrinfo_hints h{};
    const Family f = resolver->cfg.family;
    h.ai_family = f == Family::v4 ? AF_INET : f == Family::v6 ? AF_INET6 : AF_UNSPEC;
    h.ai_socktype = SOCK_STREAM;
    h.ai_flags = ARES_AI_NUMERICSERV | ARES_AI_ENVHOSTS;  // CARES_HOSTS names the hosts file
    ares_getaddrinfo(channel, host.c_str(), port.c_str(), &h, on_result, this);
  }
  for (;;) {
    if (done) {
      if (status != ARES_SUCCESS) return R(status_error(status));
      return R(std::move(addrs));
    }
    if (poll_sockets(cx)) continue;
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) != nullptr) {
      Instant at =
          Clock::now() + std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
      // A later deadline than the one armed is not rearmed: firing early
      // only makes c-ares check its clock.
      if (!retry || at < retry_at) {
        retry.reset();
        retry.emplace(at);
        retry_at = at;
      }
      if (retry->poll(cx).is_ready()) {
        retry.reset();
        ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        continue;
      }
    }
    return pending;
  }
}

}  // namespace detail

// ---- Resolver ------------------------------------------------------------

duet::Result<Resolver> Resolver::create(const ResolverConfig& cfg) {
  if (cfg.tries < 1 || cfg.attempt_timeout.count() < 1) return std::errc::invalid_argument;
  if (!cfg.servers.empty()) {
    // Parsed once here so that a bad list is an error of create(), not of
    // every lookup.
    library_init();
    ares_channel ch = nullptr;
    ares_options o{};
    if (ares_init_options(&ch, &o, 0) != ARES_SUCCESS) return std::errc::not_enough_memory;
    int st = ares_set_servers_ports_csv(ch, cfg.servers.c_str());
    ares_destroy(ch);
    if (st != ARES_SUCCESS) return std::errc::invalid_argument;
  }
  auto st = std::make_shared<detail::ResolverState>();
  st->cfg = cfg;
  return Resolver(std::move(st));
}

// ---- LookupFuture --------------------------------------------------------

LookupFuture::LookupFuture(std::shared_ptr<const detail::ResolverState> r, std::string host,
                           std::uint16_t port, std::chrono::nanoseconds timeout)
    : l_(std::make_unique<detail::Lookup>(std::move(r), std::move(host), port)) {
  if (timeout.count() > 0) {
    deadline_.emplace(deadline_after(timeout));
  }
}
LookupFuture::LookupFuture(LookupFuture&&) noexcept = default;
LookupFuture::~LookupFuture() = default;

Poll<duet::Result<std::vector<net::SocketAddr>>> LookupFuture::poll(Context& cx) {
  using R = duet::Result<std::vector<net::SocketAddr>>;
  if (!l_) return R(std::errc::operation_canceled);  // polled after done
  auto p = l_->poll(cx);
  if (p.is_ready()) {
    l_.reset();  // closes the channel's sockets
    deadline_.reset();
    return p;
  }
  if (deadline_ && deadline_->poll(cx).is_ready()) {
    l_.reset();  // cancels the query, closes its sockets
    return R(std::errc::timed_out);
  }
  return pending;
}

// ---- ConnectFuture -------------------------------------------------------

namespace {
/// RFC 8305 section 4: alternate the families, starting with the first
/// address's, each family keeping its order.
std::vector<net::SocketAddr> interleave(const std::vector<net::SocketAddr>& in) {
  if (in.empty()) return {};
  std::vector<net::SocketAddr> first, other, out;
  for (const auto& a : in) (a.family() == in.front().family() ? first : other).push_back(a);
  for (std::size_t i = 0; i < first.size() || i < other.size(); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < other.size()) out.push_back(other[i]);
  }
  return out;
}
}  // namespace

ConnectFuture::ConnectFuture(LookupFuture lookup, ConnectConfig opt) noexcept
    : lookup_(std::move(lookup)), opt_(opt) {}

void ConnectFuture::start_next() {
  attempts_.push_back(std::make_unique<net::ConnectFuture>(
      net::TcpStream::connect(addrs_[next_++], opt_.attempt_timeout)));
  stagger_.reset();
  if (next_ < addrs_.size()) {
    stagger_.emplace(deadline_after(opt_.attempt_delay));
  }
}

Poll<duet::Result<net::TcpStream>> ConnectFuture::poll(Context& cx) {
  using R = duet::Result<net::TcpStream>;
  if (lookup_) {
    auto p = lookup_->poll(cx);
    if (p.is_pending()) return pending;
    lookup_.reset();
    if (!p.value()) return R(p.value().error());
    addrs_ = interleave(p.value().value());
  }
  for (;;) {
    if (attempts_.empty()) {
      if (next_ >= addrs_.size()) {
        return R(last_ ? last_ : std::make_error_code(std::errc::host_unreachable));
      }
      start_next();
    }
    bool failed = false;
    for (std::size_t i = 0; i < attempts_.size();) {
      auto p = attempts_[i]->poll(cx);
      if (p.is_pending()) {
        ++i;
        continue;
      }
      if (p.value()) {
        attempts_.clear();  // the others are cancelled
        stagger_.reset();
        return R(std::move(p.value().value()));
      }
      last_ = p.value().error();
      attempts_.erase(attempts_.begin() + static_cast<long>(i));
      failed = true;
    }
    // A failure starts the next address at once; so does the stagger.
    if (next_ < addrs_.size() && (failed || (stagger_ && stagger_->poll(cx).is_ready()))) {
      start_next();
      continue;
    }
    if (attempts_.empty()) continue;  // all failed: the next, or the error
    return pending;
  }
}

}  // namespace duet::dns
