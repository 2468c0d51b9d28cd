// client.cpp: duet::http::Client (duet/http/client.hpp). Four parts:
// - the pool: idle keep-alive connections per origin, taken and given
//   back under a short lock, with its counters and, under a cap, the
//   connections open per origin and the wait for one to come back;
// - the exchange, free of I/O: the request's bytes, the response decoder
//   fed as bytes arrive, and the rules both faces share (when a connection
//   goes back to the pool, when a failed request is sent again, when a
//   redirect is followed);
// - the two faces, each written in its own model over the same pool and
//   exchange: `send` a coroutine with a co_await at each connect, write
//   and read; `send_now` the same steps as duet::wait calls on the calling
//   fiber (or plain thread);
// - URLs: parsing, and the origin a URL names.
//
// The one invariant of the pool: a connection is in it only between two
// whole exchanges. A connection is leased (detail::ClientLease) for one
// request; the lease closes it when destroyed unless it was released after
// a whole response on a reusable connection. A dropped `send` Task, a
// timeout or a select around it, a cancelled fiber: each destroys the
// lease where it waits, so a connection with a request half done is
// closed, never pooled. Under a cap (max_connections_per_origin) a lease
// is also one of its origin's open connections from the moment it is
// admitted (before its connect): its end, released or closed, is what a
// waiting request waits for.
#include "duet/http/client.hpp"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "body_writer.hpp"
#include "duet/detail/block_cache.hpp"
#include "duet/net/tcp.hpp"
#include "duet/runtime.hpp"
#include "duet/sync/notify.hpp"
#include "duet/time/clock.hpp"
#include "duet/time/timeout.hpp"
#include "duet/wait.hpp"
#include "h2_client.hpp"

namespace duet::http {

namespace detail {

/// Where a request goes: the pool's key, and what a new connection needs.
/// A SocketAddr request's origin is its address (no name, no TLS); a URL's
/// is its scheme, host and port, its host resolved at connect unless it is
/// an IP literal.
struct ClientOrigin {
  net::SocketAddr addr;  // where to connect, unless `named`
  /// https: the name sent by SNI and checked against the certificate (an
  /// IP literal too); `named`: the name to resolve; else empty.
  std::string host;
  std::uint16_t port = 0;  // `named`: the port to connect to
  bool secure = false;
  bool named = false;

  [[nodiscard]] bool same(const ClientOrigin& o) const noexcept {
    if (secure != o.secure || named != o.named || host != o.host) return false;
    return named ? port == o.port : addr == o.addr;
  }
};

/// One connection to an upstream, on the heap: the futures of a request
/// borrow its stream, so its address stays the same however the lease and
/// the pool move it (and never lies on a copy fiber's stack, which the
/// stackful rules forbid a suspended operation to point into). A plain
/// connection uses `tcp`, a TLS one `tls` (which owns its TCP stream).
struct ClientConn {
  explicit ClientConn(net::TcpStream s) noexcept : tcp(std::move(s)) {}
  explicit ClientConn(tls::TlsStream s) noexcept : tls(std::move(s)), secure(true) {}
  net::TcpStream tcp;
  tls::TlsStream tls;
  bool secure = false;
  Instant idle_since{};  // set when it goes back to the pool
};
using ClientConnPtr = std::unique_ptr<ClientConn>;

/// The idle connections to one origin, oldest first (the most recently
/// used is taken first: it is the least likely to have been closed).
struct ClientHost {
  ClientOrigin origin;
  std::vector<ClientConnPtr> idle;
  /// Under a cap only: the connections open to the origin (leased,
  /// connecting, idle), and the wait of the requests past the cap, woken
  /// (notify_all) whenever one of them goes back idle or closes. On the
  /// heap: a waiter holds it across the pool's growth.
  std::size_t open = 0;
  std::unique_ptr<Notify> changed;
  /// The origin's HTTP/2 connection, shared by its requests (when it
  /// speaks HTTP/2: ClientConfig::http2).
  std::shared_ptr<H2Client> h2{};
  /// Its TLS server chose HTTP/1.1 when offered h2: asked no more.
  bool h1 = false;
  /// A request is making the origin's HTTP/2 connection: the others wait
  /// for it on `h2_made` (notify_all when it is made, or failed).
  bool h2_making = false;
  std::unique_ptr<Notify> h2_made{};
};

/// RFC 9110 section 9.2.2: a request whose repetition has the effect of one.
bool client_idempotent(Method m) noexcept {
  switch (m) {
    case Method::get:
    case Method::head:
    case Method::put:
    case Method::delete_:
    case Method::options:
    case Method::trace:
      return true;
    default:
      return false;
  }
}

}  // namespace detail

namespace {

/// `o` with a field set under its name before 0.4 moved to its new name
/// (max_idle_per_host to max_idle_per_origin), so that the pool reads one.
ClientConfig with_current_names(ClientConfig o) noexcept {
  if (o.max_idle_per_host.set) o.max_idle_per_origin = *o.max_idle_per_host.set;
  o.max_idle_per_host.set.reset();
  return o;
}

class ClientCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "duet.http.client"; }
  [[nodiscard]] std::string message(int e) const override {
    switch (static_cast<ClientErrc>(e)) {
      case ClientErrc::bad_url:
        return "malformed or unsupported URL";
      case ClientErrc::too_many_redirects:
        return "too many redirects";
    }
    return "unknown HTTP client error";
  }
};

}  // namespace

const std::error_category& client_category() noexcept {
  static const ClientCategory c;
  return c;
}

struct Client::Pool {
  explicit Pool(ClientConfig o) : options(with_current_names(std::move(o))) {
    options.tls.alpn = {"http/1.1"};  // the HTTP/1.1 connections' (tls_context)
  }

  ClientConfig options;  // set before the first request, read only after

  /// The lock guards `hosts` and `counts` only. It is held for a lookup
  /// among the (few) origins and a move of a pointer or two, and never
  /// across a wait: no I/O happens under it, not even a close (the
  /// connections to close are moved out and destroyed after the unlock).
  /// A std::mutex held that briefly cannot stall a worker for long, and a
  /// duet::Mutex would cost a future per take; nothing here ever waits
  /// while holding it.
  mutable std::mutex mu;
  std::vector<detail::ClientHost> hosts;
  ClientStats counts;

  [[nodiscard]] bool capped() const noexcept { return options.max_connections_per_origin != 0; }

  detail::ClientHost* find(const detail::ClientOrigin& o) {
    for (auto& h : hosts) {
      if (h.origin.same(o)) return &h;
    }
    return nullptr;
  }
  detail::ClientHost& host(const detail::ClientOrigin& o) {
    detail::ClientHost* h = find(o);
    if (h == nullptr)
      h = &hosts.emplace_back(
          detail::ClientHost{o, {}, 0, nullptr, nullptr, false, false, nullptr});
    return *h;
  }

  /// The most recently pooled connection to `o` younger than idle_timeout
  /// (counted as a reuse), or null; older ones are closed.
  detail::ClientConnPtr take(const detail::ClientOrigin& o) {
    std::vector<detail::ClientConnPtr> expired;  // closed after the unlock
    detail::ClientConnPtr got;
    const Instant now = Clock::now();
    {
      std::lock_guard lock(mu);
      detail::ClientHost* h = find(o);
      if (h == nullptr) return nullptr;
      auto& idle = h->idle;
      // Oldest first: the expired ones are a prefix.
      auto fresh = std::find_if(idle.begin(), idle.end(), [&](const detail::ClientConnPtr& c) {
        return now - c->idle_since < options.idle_timeout;
      });
      expired.assign(std::make_move_iterator(idle.begin()), std::make_move_iterator(fresh));
      idle.erase(idle.begin(), fresh);
      counts.idle -= expired.size();
      if (capped()) h->open -= expired.size();
      if (!idle.empty()) {
        got = std::move(idle.back());
        idle.pop_back();
        --counts.idle;
        ++counts.reused;
      }
      if (h->changed && !expired.empty()) h->changed->notify_all();
    }
    return got;
  }

  /// Under a cap: the wait of `o`'s requests past it (made with the
  /// origin's record); null without a cap.
  Notify* waiters(const detail::ClientOrigin& o) {
    if (!capped()) return nullptr;
    std::lock_guard lock(mu);
    detail::ClientHost& h = host(o);
    if (!h.changed) h.changed = std::make_unique<Notify>();
    return h.changed.get();
  }

  /// Whether a new connection to `o` may open now (it then counts as
  /// open): always without a cap.
  bool admit(const detail::ClientOrigin& o) {
    if (!capped()) return true;
    std::lock_guard lock(mu);
    detail::ClientHost& h = host(o);
    if (h.open >= options.max_connections_per_origin) return false;
    ++h.open;
    return true;
  }

  /// Under a cap: one of `o`'s admitted connections closed (or never
  /// connected); its waiters may open another.
  void closed(const detail::ClientOrigin& o) {
    if (!capped()) return;
    std::lock_guard lock(mu);
    detail::ClientHost& h = host(o);
    --h.open;
    if (h.changed) h.changed->notify_all();
  }

  /// Pools `c` (after a whole response on a reusable connection); past
  /// max_idle_per_origin (for its origin) the oldest idle connection is
  /// closed.
  void put(const detail::ClientOrigin& o, detail::ClientConnPtr c) {
    if (options.max_idle_per_origin == 0) {
      c.reset();
      closed(o);
      return;
    }
    c->idle_since = Clock::now();
    detail::ClientConnPtr evicted;  // closed after the unlock
    std::lock_guard lock(mu);
    detail::ClientHost& h = host(o);
    if (h.idle.size() >= options.max_idle_per_origin) {
      evicted = std::move(h.idle.front());
      h.idle.erase(h.idle.begin());
      --counts.idle;
      if (capped()) --h.open;
    }
    h.idle.push_back(std::move(c));
    ++counts.idle;
    if (h.changed) h.changed->notify_all();
    // `lock` is released before `evicted` is destroyed (reverse order).
  }

  void connected() {
    std::lock_guard lock(mu);
    ++counts.connects;
  }

  /// A request found its origin at the cap and waits (counted once).
  void waiting() {
    std::lock_guard lock(mu);
    ++counts.waited;
  }

  /// `o`'s HTTP/2 connection if it takes new streams (counted as a
  /// reuse), else null (one that stopped taking them is let go).
  std::shared_ptr<detail::H2Client> h2_for(const detail::ClientOrigin& o) {
    std::shared_ptr<detail::H2Client> gone;  // let go after the unlock
    std::lock_guard lock(mu);
    detail::ClientHost* h = find(o);
    if (h == nullptr || !h->h2) return nullptr;
    if (!h->h2->usable()) {
      gone = std::move(h->h2);
      return nullptr;
    }
    ++counts.reused;
    return h->h2;
  }
  /// Whether the caller is to make `o`'s HTTP/2 connection (true), or
  /// another request is making it: then `wait` is where it is announced.
  bool claim_h2(const detail::ClientOrigin& o, Notify*& wait) {
    std::lock_guard lock(mu);
    detail::ClientHost& h = host(o);
    if (!h.h2_made) h.h2_made = std::make_unique<Notify>();
    wait = h.h2_made.get();
    if (h.h2_making) return false;
    h.h2_making = true;
    return true;
  }
  /// The claim ends: `c` (a new connection, counted) becomes `o`'s HTTP/2
  /// connection, or none was made (null); the waiters look again.
  void made_h2(const detail::ClientOrigin& o, std::shared_ptr<detail::H2Client> c) {
    std::shared_ptr<detail::H2Client> old;  // let go after the unlock
    std::lock_guard lock(mu);
    detail::ClientHost& h = host(o);
    if (c) {
      old = std::exchange(h.h2, std::move(c));
      ++counts.connects;
    }
    h.h2_making = false;
    h.h2_made->notify_all();
  }
  /// `o` answered an offer of h2 with HTTP/1.1 (ClientHost::h1).
  void mark_h1(const detail::ClientOrigin& o) {
    std::lock_guard lock(mu);
    host(o).h1 = true;
  }
  [[nodiscard]] bool speaks_h1(const detail::ClientOrigin& o) {
    std::lock_guard lock(mu);
    const detail::ClientHost* h = find(o);
    return h != nullptr && h->h1;
  }
  /// Lets `o`'s HTTP/2 connection go if it is still `c`.
  void forget_h2(const detail::ClientOrigin& o, const std::shared_ptr<detail::H2Client>& c) {
    std::shared_ptr<detail::H2Client> old;
    std::lock_guard lock(mu);
    detail::ClientHost* h = find(o);
    if (h != nullptr && h->h2 == c) old = std::move(h->h2);
  }

  /// Closes every idle connection (Client::clear); an HTTP/2 connection
  /// is let go, and closes once its streams are done.
  void clear() {
    std::vector<detail::ClientConnPtr> closing;  // closed after the unlock
    std::vector<std::shared_ptr<detail::H2Client>> multiplexed;
    std::lock_guard lock(mu);
    for (auto& h : hosts) {
      if (h.h2) multiplexed.push_back(std::move(h.h2));
      if (capped()) h.open -= h.idle.size();
      std::move(h.idle.begin(), h.idle.end(), std::back_inserter(closing));
      h.idle.clear();
      if (h.changed) h.changed->notify_all();
    }
    counts.idle = 0;
    // `lock` is released before `closing` is destroyed (reverse order).
  }

  /// The resolver for named origins, made at its first use.
  duet::Result<const dns::Resolver*> resolver() {
    return resolver_.get([&] { return dns::Resolver::create(options.dns); });
  }

  /// The TLS context for https origins, made at its first use (it reads
  /// the CA store): ALPN http/1.1.
  duet::Result<const tls::TlsContext*> tls_context() {
    return tls_.get([&] { return tls::TlsContext::client(options.tls); });
  }
  /// The same offering h2 first (ClientConfig::http2.over_tls).
  duet::Result<const tls::TlsContext*> tls_h2_context() {
    return tls_h2_.get([&] {
      tls::ClientConfig c = options.tls;
      c.alpn = {"h2", "http/1.1"};
      return tls::TlsContext::client(c);
    });
  }

 private:
  /// A value made once, at its first use, by a maker that may fail: every
  /// use after gets the value, or the maker's error.
  template <class T>
  class Lazy {
   public:
    template <class Make>
    duet::Result<const T*> get(Make&& make) {
      std::call_once(once_, [&] {
        auto r = make();
        if (r) {
          value_.emplace(std::move(*r));
        } else {
          error_ = r.error();
        }
      });
      if (!value_) return error_;
      return &*value_;
    }

   private:
    std::once_flag once_;
    std::optional<T> value_;
    std::error_code error_;
  };
  Lazy<dns::Resolver> resolver_;
  Lazy<tls::TlsContext> tls_;
  Lazy<tls::TlsContext> tls_h2_;
};

namespace detail {

/// A connection leased for one request, and under a cap one of its
/// origin's open connections from its admission on (before its connect,
/// `conn` null until then). Destroyed without release() (an error, a
/// response that ends the connection, a cancellation anywhere before the
/// response's last byte), it closes the connection.
class ClientLease {
 public:
  ClientLease(Client::Pool& pool, const ClientOrigin& origin, ClientConnPtr c, bool pooled)
      : pool_(&pool), origin_(origin), conn_(std::move(c)), pooled_(pooled) {}
  ClientLease(const ClientLease&) = delete;
  ClientLease& operator=(const ClientLease&) = delete;
  ~ClientLease() {
    if (held_) {
      conn_.reset();
      pool_->closed(origin_);
    }
  }

  void connected(ClientConnPtr c) noexcept { conn_ = std::move(c); }
  ClientConn& conn() noexcept { return *conn_; }
  /// Taken from the pool (not connected for this request).
  [[nodiscard]] bool pooled() const noexcept { return pooled_; }
  /// Gives the connection back to the pool: only after a whole response
  /// on a connection that may carry another.
  void release() {
    held_ = false;
    pool_->put(origin_, std::move(conn_));
  }

 private:
  Client::Pool* pool_;
  ClientOrigin origin_;
  ClientConnPtr conn_;
  bool pooled_;
  bool held_ = true;
};

/// An exchange's read buffer. The first one is a block of the block cache
/// (duet/detail/block_cache.hpp: a pop from the thread's free list, so an
/// exchange whose response fits it asks the C heap for nothing); a larger
/// one, for a response that fills it, comes from the heap.
class ExchangeBuffer {
 public:
  static constexpr std::size_t kBlockBytes = 4096;

  ExchangeBuffer() noexcept = default;
  ExchangeBuffer(ExchangeBuffer&& o) noexcept
      : heap_(std::move(o.heap_)),
        block_(std::exchange(o.block_, nullptr)),
        cap_(std::exchange(o.cap_, 0)) {}
  ExchangeBuffer& operator=(ExchangeBuffer&& o) noexcept {
    if (this != &o) {
      free_block();
      heap_ = std::move(o.heap_);
      block_ = std::exchange(o.block_, nullptr);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }
  ~ExchangeBuffer() { free_block(); }

  [[nodiscard]] char* data() const noexcept {
    return block_ != nullptr ? static_cast<char*>(block_) : heap_.get();
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  /// Room for `n` bytes (more than capacity()), the first `keep` kept.
  void grow(std::size_t n, std::size_t keep) {
    ExchangeBuffer b;
    if (n <= kBlockBytes) {
      b.block_ = duet::detail::block_alloc(kBlockBytes);
      b.cap_ = kBlockBytes;
    } else {
      b.heap_ = std::make_unique_for_overwrite<char[]>(n);  // never zero-filled: reads fill it
      b.cap_ = n;
    }
    if (keep > 0) std::memcpy(b.data(), data(), keep);
    *this = std::move(b);
  }

 private:
  void free_block() noexcept {
    if (block_ != nullptr) duet::detail::block_free(std::exchange(block_, nullptr), kBlockBytes);
  }

  std::unique_ptr<char[]> heap_;
  void* block_ = nullptr;
  std::size_t cap_ = 0;
};

/// One request's exchange over one connection, without I/O: where the
/// next read goes and what the bytes read mean. Both faces drive it the
/// same way: write the request, then read into read_buffer() and hand the
/// count to received() until it gives an outcome.
class ClientExchange {
 public:
  ClientExchange(const Limits& limits, Method m, bool keep_alive, bool stream = false)
      : decoder_(limits),
        method_(m),
        keep_alive_(keep_alive),
        max_buffered_(limits.max_header_bytes + limits.max_body_bytes + kReadChunk) {
    decoder_.expect(m);
    decoder_.stream_bodies(stream);
  }

  /// Where a streamed body stands after a feed.
  enum class BodyState : unsigned char { more, end, error };

  /// Feeds the bytes held after a streamed response's head (body_piece()
  /// gains what they hold of the body).
  BodyState feed_body() {
    for (;;) {
      const auto step = decoder_.feed(std::string_view(buf_.data(), used_));
      consume(step.consumed);
      switch (step.event) {
        case ResponseDecoder::Event::body_end:
          reusable_ = keep_alive_ && used_ == 0 && decoder_.reusable();
          return BodyState::end;
        case ResponseDecoder::Event::error:
          return BodyState::error;
        case ResponseDecoder::Event::body:
          if (used_ != 0) continue;
          return BodyState::more;
        default:
          return BodyState::more;
      }
    }
  }
  /// `n` more bytes of a streamed body arrived in read_buffer() (0: the
  /// upstream ended the stream).
  BodyState body_received(std::size_t n) {
    if (n != 0) {
      read_filled(n);
      used_ += n;
      return feed_body();
    }
    const auto step = decoder_.finish();
    if (step.event != ResponseDecoder::Event::body_end) return BodyState::error;
    reusable_ = false;  // delimited by the close
    return BodyState::end;
  }
  [[nodiscard]] std::string& body_piece() noexcept { return decoder_.body_piece(); }

  /// Where the next read puts its bytes (after those the decoder left):
  /// room for a block's worth at first, for kReadChunk once a read has
  /// filled the room it was given (a response larger than a block).
  std::span<std::byte> read_buffer() {
    if (buf_.capacity() < used_ + chunk_) {
      buf_.grow(std::max(used_ + chunk_, 2 * buf_.capacity()), used_);
    }
    offered_ = buf_.capacity() - used_;
    return {reinterpret_cast<std::byte*>(buf_.data()) + used_, offered_};
  }

  /// `n` bytes arrived in read_buffer() (0: the upstream ended the
  /// stream). Empty: read more. Else the exchange's outcome: the response,
  /// bad_message for one malformed or over the limits, connection_reset
  /// for a stream that ended before the response was whole.
  std::optional<duet::Result<Response>> received(std::size_t n) {
    if (n == 0) return ended();
    started_ = true;
    read_filled(n);
    used_ += n;
    for (;;) {
      const auto step = decoder_.feed(std::string_view(buf_.data(), used_));
      consume(step.consumed);
      switch (step.event) {
        case ResponseDecoder::Event::need_more:
          // The decoder's limits bound what it holds back; this bounds a
          // decoder that would hold back without end.
          if (used_ > max_buffered_) return duet::Result<Response>(std::errc::bad_message);
          return std::nullopt;
        case ResponseDecoder::Event::error:
          return duet::Result<Response>(std::errc::bad_message);
        case ResponseDecoder::Event::head:  // streamed: the body is read after
          return duet::Result<Response>(decoder_.take());
        case ResponseDecoder::Event::body:
        case ResponseDecoder::Event::body_end:
          return duet::Result<Response>(std::errc::bad_message);  // never before a head
        case ResponseDecoder::Event::response: {
          Response r = decoder_.take();
          if (interim(r.status)) {  // 1xx before the final response: skip it
            decoder_.expect(method_);
            continue;
          }
          // Bytes after the response were never asked for: the connection's
          // framing is not what this client thinks, so it is not reused.
          reusable_ = keep_alive_ && used_ == 0 && decoder_.reusable() && r.status != 101;
          return duet::Result<Response>(std::move(r));
        }
      }
    }
  }

  /// Whether any byte of the response arrived (a request that failed
  /// before is safe to send again, if idempotent).
  [[nodiscard]] bool started() const noexcept { return started_; }
  /// After a response: whether the connection may carry another request.
  [[nodiscard]] bool reusable() const noexcept { return reusable_ && !cut_; }
  /// The upstream cut the request's write (client_cut): what it answered
  /// before is still read, and the connection is never reused.
  void write_cut() noexcept { cut_ = true; }

 private:
  static constexpr std::size_t kReadChunk = 16 * 1024;

  static bool interim(int status) noexcept {
    return status >= 100 && status < 200 && status != 101;
  }

  std::optional<duet::Result<Response>> ended() {
    if (!started_) return duet::Result<Response>(std::errc::connection_reset);
    const auto step = decoder_.finish();
    if (step.event == ResponseDecoder::Event::response) {
      reusable_ = false;  // delimited by the close
      return duet::Result<Response>(decoder_.take());
    }
    return duet::Result<Response>(std::errc::connection_reset);  // cut short
  }

  void consume(std::size_t k) {
    k = std::min(k, used_);
    if (k == 0) return;
    std::memmove(buf_.data(), buf_.data() + k, used_ - k);
    used_ -= k;
  }

  /// A read of `n` bytes into read_buffer(): one that filled it asks for
  /// kReadChunk of room from the next read on.
  void read_filled(std::size_t n) noexcept {
    if (n >= offered_) chunk_ = kReadChunk;
  }

  ResponseDecoder decoder_;
  Method method_;
  bool keep_alive_;
  std::size_t max_buffered_;
  ExchangeBuffer buf_;  // [0, used_): bytes read, not yet used by the decoder
  std::size_t used_ = 0;
  std::size_t chunk_ = ExchangeBuffer::kBlockBytes;  // the room a read asks for
  std::size_t offered_ = 0;                          // the room the last read was given
  bool started_ = false;
  bool reusable_ = false;
  bool cut_ = false;
};

/// Whether a write that failed with `e` may have been cut by an upstream
/// that answered early: it reset the connection, or closed it, after
/// answering (a 413 before reading the whole body, then a close). RFC 9112
/// section 9.5 asks a client to watch for such a response while it
/// sends; this client reads it after the failed write instead, which
/// gives the same answer at no cost to a request that is not cut: the
/// response arrived before the reset, so the socket still holds it, and
/// on a reset or closed socket a read never waits.
bool client_cut(std::error_code e) noexcept {
  return e == std::errc::connection_reset || e == std::errc::broken_pipe;
}

/// An exchange's outcome after the write was cut with `cut` (none: not
/// cut): a whole response that arrived before the cut, else the write's
/// error when no byte of a response came (so that the caller sees why the
/// request failed, and an idempotent one is sent again as before).
duet::Result<Response> client_outcome(duet::Result<Response> r, const ClientExchange& ex,
                                      std::error_code cut) {
  if (cut && !r && !ex.started()) return cut;
  return r;
}

/// Whether a request that failed with `e` is sent once more, on a new
/// connection: it went out on a pooled connection (which the upstream may
/// have closed while it was idle), no byte of the response came back, and
/// sending it twice has the effect of once. A deadline is never retried.
bool client_retry(const ClientLease& lease, const ClientExchange& ex, Method m, std::error_code e,
                  bool has_source) noexcept {
  return lease.pooled() && !ex.started() && client_idempotent(m) && e != std::errc::timed_out &&
         !has_source;  // a source is spent by the first attempt
}

/// How a request's body source follows its head (none without one).
BodyToWrite client_body(const Request& req) {
  if (!req.source) return {};
  return BodyToWrite{req.source, req.source->length ? BodyFraming::length : BodyFraming::chunked};
}

/// The request's bytes, with Host `host` (unless the request has its own).
std::string client_wire(const Request& req, std::string_view host) {
  std::string wire;
  write_request(wire, req, host);
  return wire;
}

/// Whether the request itself lets the connection stay open after it.
bool client_keep_alive(const Request& req) noexcept {
  return req.keep_alive();
}

/// A connect's or a handshake's own timeout: connect_timeout, or less
/// when the request's deadline comes first (zero or less: it has passed).
std::chrono::nanoseconds client_connect_timeout(const ClientConfig& o, Instant deadline) noexcept {
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
  return std::min<std::chrono::nanoseconds>(o.connect_timeout, left);
}

/// What is left of the request's deadline, for a body's writes.
std::chrono::milliseconds client_left(Instant deadline) noexcept {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

/// The request's deadline: its own timeout, else the client's.
Instant client_deadline(const ClientConfig& o, const SendConfig& opt) noexcept {
  return deadline_after(opt.timeout.value_or(o.request_timeout));
}

std::error_code client_elapsed() noexcept {
  return make_error_code(TimeoutErrc::elapsed);
}

/// A request's error as its caller reads it: an operation of its own that
/// timed out (a connect, a handshake, a poll(2)) once the request's
/// deadline had passed is the deadline's, TimeoutErrc::elapsed.
std::error_code client_error(std::error_code e, Instant deadline) noexcept {
  if (e == std::errc::timed_out && Clock::now() >= deadline) return client_elapsed();
  return e;
}

/// Happy Eyeballs' bounds for a named origin: each address's connect
/// within connect_timeout, the lookup within the request's deadline.
dns::ConnectConfig client_dns(const ClientConfig& o, Instant deadline) noexcept {
  const auto left =
      std::max(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()),
               std::chrono::nanoseconds(1));
  dns::ConnectConfig c;
  c.attempt_timeout = std::min<std::chrono::nanoseconds>(o.connect_timeout, left);
  c.lookup_timeout = left;
  return c;
}

/// The IP address `host` writes with `port`, when it is an IP literal.
std::optional<net::SocketAddr> client_literal(const std::string& host, std::uint16_t port) {
  in_addr a4{};
  in6_addr a6{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    return net::SocketAddr::parse(host + ":" + std::to_string(port));
  }
  if (::inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    return net::SocketAddr::parse("[" + host + "]:" + std::to_string(port));
  }
  return std::nullopt;
}

/// A SocketAddr request's origin: the address alone.
ClientOrigin client_origin(const net::SocketAddr& a) noexcept {
  ClientOrigin o;
  o.addr = a;
  return o;
}

/// A URL's origin: an IP literal's address (for plain http the same
/// origin as a SocketAddr request to it), else its name and port.
ClientOrigin client_origin(const Url& u) {
  ClientOrigin o;
  o.secure = u.https();
  if (auto lit = client_literal(u.host, u.port)) {
    o.addr = *lit;
    if (o.secure) o.host = u.host;  // checked against the certificate's IP entries
  } else {
    o.named = true;
    o.host = u.host;
    o.port = u.port;
  }
  return o;
}

// ---- redirects ------------------------------------------------------------

bool client_same_origin(const Url& a, const Url& b) noexcept {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

/// Whether every byte of a target may go on the request line.
bool client_target_ok(std::string_view t) noexcept {
  return std::all_of(t.begin(), t.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
}

/// The URL a Location field names, read against `base` (RFC 9110 section
/// 10.2.2, RFC 3986 section 5): absolute, scheme-relative ("//host/p"),
/// absolute-path, query-only or path-relative; a fragment dropped.
duet::Result<Url> client_location(const Url& base, std::string_view loc) {
  const auto end = loc.find_first_of("/?#");
  if (loc.substr(0, end).find(':') != std::string_view::npos) return Url::parse(loc);
  if (loc.starts_with("//"))
    return Url::parse(std::string(to_string(base.scheme)) + ":" + std::string(loc));
  loc = loc.substr(0, loc.find('#'));
  if (!client_target_ok(loc)) return make_error_code(ClientErrc::bad_url);
  Url next = base;
  const std::string_view path = std::string_view(base.target).substr(0, base.target.find('?'));
  if (loc.starts_with('/')) {
    next.target = loc;
  } else if (loc.starts_with('?')) {
    next.target = std::string(path) + std::string(loc);
  } else {
    next.target = std::string(path.substr(0, path.rfind('/') + 1)) + std::string(loc);
  }
  if (next.target.empty()) next.target = "/";
  return next;
}

/// After a response `res` to `req` sent to `url`, `hop` redirects
/// followed already, `max` allowed: true when it is a redirect to follow
/// (`url` and `req` are then the next request's), false when `res` is the
/// result, or an error (too_many_redirects, a Location that is no URL).
duet::Result<bool> client_redirect(const Response& res, Url& url, Request& req, int hop, int max) {
  if (max <= 0) return false;
  const int s = res.status;
  if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) return false;
  const auto loc = res.headers.get("Location");
  if (!loc) return false;
  // 307 and 308 send the same request again: a body from a source was
  // spent by the first, so the redirect is the result.
  if ((s == 307 || s == 308) && req.source) return false;
  if (hop >= max) return make_error_code(ClientErrc::too_many_redirects);
  auto next = client_location(url, *loc);
  if (!next) return next.error();
  if (s != 307 && s != 308 && req.method != Method::get && req.method != Method::head) {
    // RFC 9110 section 15.4: a POST (or any other) becomes a GET without
    // a body, as browsers, curl -L and Go do.
    req.method = Method::get;
    req.method_name = "GET";
    req.body.clear();
    req.source.reset();
    req.headers.erase("Content-Length");
    req.headers.erase("Transfer-Encoding");
    req.headers.erase("Content-Type");
  }
  if (!client_same_origin(url, *next)) {
    // Credentials and the Host named for the first origin are not the
    // next one's.
    req.headers.erase("Authorization");
    req.headers.erase("Cookie");
    req.headers.erase("Host");
  }
  url = std::move(*next);
  return true;
}

// ---- send: the coroutine face ---------------------------------------------

/// Where one request's attempts keep their connection and exchange: in the
/// caller's frame for send, in the ResponseStream for open (which reads the
/// body from them after the head).
struct ClientSlots {
  std::optional<ClientLease> lease;
  std::optional<ClientExchange> ex;
};

/// What a request is, for its attempts.
struct ClientAsk {
  Method method;
  bool keep_alive;
  bool stream;  // open: the exchange ends at the response's head
  BodyToWrite body;
};

/// One attempt over `stream` (a connection's TCP or TLS stream): the
/// request written (its body from its source, if any), then reads until
/// the exchange has an outcome.
template <class S>
Task<duet::Result<Response>> client_attempt(S& stream, const std::string& wire, ClientExchange& ex,
                                            const BodyToWrite& body, Instant deadline) {
  std::error_code cut;  // the write's error, when the upstream cut it (client_cut)
  if (body.source) {
    std::string out = wire;
    std::error_code why;
    const auto timeout = client_left(deadline);
    if (!co_await write_body(stream, out, body, timeout, &why) ||
        !co_await write_out(stream, out, timeout, &why)) {
      if (!client_cut(why)) co_return std::errc::connection_reset;
      cut = why;
    }
  } else {
    auto w = co_await stream.write_all(wire.data(), wire.size());
    if (!w) {
      if (!client_cut(w.error())) co_return w.error();
      cut = w.error();
    }
  }
  if (cut) ex.write_cut();
  for (;;) {
    auto n = co_await stream.read(ex.read_buffer());
    if (!n) co_return client_outcome(n.error(), ex, cut);
    auto done = ex.received(*n);
    if (done) co_return client_outcome(std::move(*done), ex, cut);
  }
}

/// A new connection to a named or https origin: the name resolved and
/// its addresses tried (Happy Eyeballs), then the TLS handshake.
Task<duet::Result<ClientConnPtr>> client_connect(Client::Pool& pool, const ClientOrigin& o,
                                                 Instant deadline, bool offer_h2 = false) {
  const auto limit = client_connect_timeout(pool.options, deadline);
  if (limit.count() <= 0) co_return client_elapsed();
  duet::Result<net::TcpStream> tcp = std::errc::io_error;
  if (o.named) {
    auto r = pool.resolver();
    if (!r) co_return r.error();
    tcp = co_await dns::connect(**r, o.host, o.port, client_dns(pool.options, deadline));
  } else {
    tcp = co_await net::TcpStream::connect(o.addr, limit);
  }
  if (!tcp) co_return client_error(tcp.error(), deadline);
  if (!o.secure) co_return std::make_unique<ClientConn>(std::move(*tcp));
  auto ctx = offer_h2 ? pool.tls_h2_context() : pool.tls_context();
  if (!ctx) co_return ctx.error();
  const auto hs = client_connect_timeout(pool.options, deadline);
  if (hs.count() <= 0) co_return client_elapsed();
  auto s = co_await (*ctx)->connect(std::move(*tcp), o.host, hs);
  if (!s) co_return client_error(s.error(), deadline);
  co_return std::make_unique<ClientConn>(std::move(*s));
}

Task<duet::Result<Response>> client_exchange(Client::Pool& pool, const ClientOrigin& origin,
                                             std::string wire, ClientAsk ask, ClientSlots& slots,
                                             Instant deadline, ClientConnPtr fresh = nullptr) {
  ClientConnPtr conn = fresh ? nullptr : pool.take(origin);
  for (;;) {
    slots.ex.reset();
    slots.lease.reset();  // a failed attempt's connection closes (under a cap: room for one)
    if (!conn && !fresh) {
      // Under a cap: a pooled connection, or room for a new one, or wait
      // for either (the request's deadline bounds the wait).
      Notify* changed = pool.waiters(origin);
      bool waited = false;
      while (changed != nullptr) {
        auto next = changed->notified();  // made before the checks: no change after them is missed
        if ((conn = pool.take(origin)) != nullptr || pool.admit(origin)) break;
        if (!std::exchange(waited, true)) pool.waiting();
        co_await std::move(next);
      }
    }
    const bool pooled = conn != nullptr;
    slots.lease.emplace(pool, origin, std::move(conn), pooled);
    if (fresh) {  // made for this request already (and counted)
      slots.lease->connected(std::move(fresh));
    } else if (!pooled) {
      if (!origin.named && !origin.secure) {
        const auto limit = client_connect_timeout(pool.options, deadline);
        if (limit.count() <= 0) co_return client_elapsed();
        auto c = co_await net::TcpStream::connect(origin.addr, limit);
        if (!c) co_return client_error(c.error(), deadline);
        slots.lease->connected(std::make_unique<ClientConn>(std::move(*c)));
      } else {
        auto c = co_await client_connect(pool, origin, deadline);
        if (!c) co_return c.error();
        slots.lease->connected(std::move(*c));
      }
      pool.connected();
    }
    slots.ex.emplace(pool.options.limits, ask.method, ask.keep_alive, ask.stream);
    ClientConn& c = slots.lease->conn();
    duet::Result<Response> r = std::errc::io_error;
    if (c.secure) {
      r = co_await client_attempt(c.tls, wire, *slots.ex, ask.body, deadline);
    } else {
      r = co_await client_attempt(c.tcp, wire, *slots.ex, ask.body, deadline);
    }
    if (r) {
      if (!ask.stream && slots.ex->reusable()) slots.lease->release();
      co_return std::move(r);
    }
    if (!client_retry(*slots.lease, *slots.ex, ask.method, r.error(), ask.body.source != nullptr)) {
      co_return std::move(r);
    }
    // The next round closes the failed connection and connects.
  }
}

/// Whether a request to `origin` goes by HTTP/2 (ClientConfig::http2):
/// its scheme's switch, a whole body, no cap on connections.
bool client_may_h2(Client::Pool& pool, const ClientOrigin& origin, const Request& req) {
  const ClientHttp2& h = pool.options.http2;
  return (origin.secure ? h.over_tls : h.prior_knowledge) && !req.source && !pool.capped() &&
         !pool.speaks_h1(origin);
}

/// A new connection to `origin` for HTTP/2: TLS offering h2, or TCP by
/// prior knowledge. Null when the server chose HTTP/1.1: that connection
/// is left in `h1` for the request.
Task<duet::Result<std::shared_ptr<H2Client>>> client_connect_h2(Client::Pool& pool,
                                                                const ClientOrigin& origin,
                                                                Instant deadline,
                                                                ClientConnPtr& h1) {
  ClientConnPtr c;
  if (!origin.named && !origin.secure) {
    const auto limit = client_connect_timeout(pool.options, deadline);
    if (limit.count() <= 0) co_return client_elapsed();
    auto tcp = co_await net::TcpStream::connect(origin.addr, limit);
    if (!tcp) co_return client_error(tcp.error(), deadline);
    c = std::make_unique<ClientConn>(std::move(*tcp));
  } else {
    auto r = co_await client_connect(pool, origin, deadline, true);
    if (!r) co_return r.error();
    c = std::move(*r);
  }
  if (c->secure && c->tls.alpn() != "h2") {
    pool.connected();
    pool.mark_h1(origin);
    h1 = std::move(c);
    co_return std::shared_ptr<H2Client>();
  }
  co_return c->secure ? H2Client::start(std::move(c->tls), pool.options)
                      : H2Client::start(std::move(c->tcp), pool.options);
}

/// `req` over `origin`'s HTTP/2 connection (one made if none): the
/// response, or nothing when the request goes by HTTP/1.1 instead (the
/// origin chose it: the connection made is left in `h1`). A request the
/// server took no part of is sent once more on a new connection. `req` is
/// given back as it was.
Task<std::optional<duet::Result<Response>>> client_h2(Client::Pool& pool,
                                                      const ClientOrigin& origin, Request& req,
                                                      std::string authority, Instant deadline,
                                                      ClientConnPtr& h1) {
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<H2Client> conn = pool.h2_for(origin);
    if (!conn) {
      // One request makes the connection; the others wait for it.
      Notify* made_wait = nullptr;
      if (!pool.claim_h2(origin, made_wait)) {
        Notify::Notified next = made_wait->notified();  // before the look: no announcement missed
        if ((conn = pool.h2_for(origin)) == nullptr && !pool.speaks_h1(origin)) {
          co_await next;
        }
        if (!conn) conn = pool.h2_for(origin);
        if (!conn && pool.speaks_h1(origin)) co_return std::nullopt;
        if (!conn) continue;  // the maker failed: claim again
      } else {
        /// Ends the claim on every way out (an error, a cancellation).
        struct Claim {
          Client::Pool& pool;
          const ClientOrigin& origin;
          std::shared_ptr<H2Client> made;
          ~Claim() { pool.made_h2(origin, std::move(made)); }
        } claim{pool, origin, nullptr};
        auto made = co_await client_connect_h2(pool, origin, deadline, h1);
        if (!made) co_return duet::Result<Response>(made.error());
        if (!*made) co_return std::nullopt;
        conn = *made;
        claim.made = std::move(*made);
      }
    }
    auto call = std::make_shared<H2Call>();
    call->req = std::move(req);
    if (auto host = call->req.headers.get("Host")) authority = *host;
    call->authority = authority;
    co_await conn->send(call);
    req = std::move(call->req);
    if (call->refused && attempt == 0) {
      pool.forget_h2(origin, conn);
      continue;
    }
    if (call->error) co_return duet::Result<Response>(call->error);
    co_return duet::Result<Response>(std::move(call->res));
  }
}

/// A request that failed before it started (a malformed URL).
template <class T>
Task<duet::Result<T>> client_failed(std::error_code e) {
  co_return e;
}

// ---- send_now: the fiber face -----------------------------------------------

/// On a plain thread an I/O future blocks inside its own poll, where a
/// timeout around it is never polled: the deadline is kept by waiting for
/// readiness in poll(2) first, bounded by it (real time, as a blocking
/// call's timeout). On a worker (a fiber), duet::timeout_at keeps it.
bool client_on_thread() noexcept {
  return Runtime::current() == nullptr;
}

duet::Result<void> client_thread_ready(int fd, short events, Instant deadline) {
  for (;;) {
    const auto left = deadline - Clock::now();
    if (left <= left.zero()) return client_elapsed();
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    pollfd p{fd, events, 0};
    const int r =
        ::poll(&p, 1, static_cast<int>(std::min<long long>(ms, std::numeric_limits<int>::max())));
    if (r > 0) return {};
    if (r < 0 && errno != EINTR) return std::error_code(errno, std::generic_category());
  }
}

/// A stream's descriptor, for poll(2), and whether a read may complete
/// without it (a TLS stream holding bytes that arrived).
int client_fd(net::TcpStream& s) noexcept {
  return s.native_handle();
}
int client_fd(tls::TlsStream& s) noexcept {
  return s.tcp().native_handle();
}
bool client_buffered(net::TcpStream&) noexcept {
  return false;
}
bool client_buffered(tls::TlsStream& s) noexcept {
  return s.buffered_input();
}

template <class S>
duet::Result<void> client_write_all(S& s, const std::string& wire, Instant deadline) {
  if (client_on_thread()) {
    std::size_t off = 0;
    while (off < wire.size()) {
      auto ready = client_thread_ready(client_fd(s), POLLOUT, deadline);
      if (!ready) return ready.error();
      auto n = duet::wait(s.write(wire.data() + off, wire.size() - off));
      if (!n) return n.error();
      off += *n;
    }
    return {};
  }
  auto t = duet::wait(timeout_at(deadline, s.write_all(wire.data(), wire.size())));
  if (!t) return t.error();
  return {};
}

template <class S>
duet::Result<std::size_t> client_read(S& s, std::span<std::byte> buf, Instant deadline) {
  if (client_on_thread()) {
    if (!client_buffered(s)) {
      auto ready = client_thread_ready(client_fd(s), POLLIN, deadline);
      if (!ready) return ready.error();
    }
    return duet::wait(s.read(buf));
  }
  return duet::wait(timeout_at(deadline, s.read(buf)));
}

/// A read of a leased connection, TCP or TLS.
duet::Result<std::size_t> client_read(ClientConn& c, std::span<std::byte> buf, Instant deadline) {
  return c.secure ? client_read(c.tls, buf, deadline) : client_read(c.tcp, buf, deadline);
}

template <class S>
duet::Result<Response> client_attempt_plain(S& stream, const std::string& wire, ClientExchange& ex,
                                            const BodyToWrite& body, Instant deadline) {
  std::error_code cut;  // the write's error, when the upstream cut it (client_cut)
  auto w = client_write_all(stream, wire, deadline);
  if (!w) {
    if (!client_cut(w.error())) return w.error();
    cut = w.error();
  }
  if (body.source && !cut) {
    // The source is a coroutine: its pieces written by the shared writer
    // (on a worker the request's deadline keeps it; the head went first).
    std::string out;
    std::error_code why;
    bool ok = duet::wait(write_body(stream, out, body, client_left(deadline), &why));
    if (ok) {
      auto last = client_write_all(stream, out, deadline);
      if (!last) why = last.error();
      ok = last.has_value();
    }
    if (!ok) {
      if (!client_cut(why)) return std::errc::connection_reset;
      cut = why;
    }
  }
  if (cut) ex.write_cut();
  for (;;) {
    auto n = client_read(stream, ex.read_buffer(), deadline);
    if (!n) return client_outcome(n.error(), ex, cut);
    if (auto done = ex.received(*n)) return client_outcome(std::move(*done), ex, cut);
  }
}

/// client_connect as plain calls.
duet::Result<ClientConnPtr> client_connect_now(Client::Pool& pool, const ClientOrigin& o,
                                               Instant deadline) {
  const auto limit = client_connect_timeout(pool.options, deadline);
  if (limit.count() <= 0) return client_elapsed();
  duet::Result<net::TcpStream> tcp = std::errc::io_error;
  if (o.named) {
    auto r = pool.resolver();
    if (!r) return r.error();
    tcp = duet::wait(dns::connect(**r, o.host, o.port, client_dns(pool.options, deadline)));
  } else {
    // On a worker the connect's timeout is a duet::Sleep (the test clock
    // drives it); on a plain thread it bounds the connect's poll(2).
    tcp = duet::wait(net::TcpStream::connect(o.addr, limit));
  }
  if (!tcp) return client_error(tcp.error(), deadline);
  if (!o.secure) return std::make_unique<ClientConn>(std::move(*tcp));
  auto ctx = pool.tls_context();
  if (!ctx) return ctx.error();
  const auto hs = client_connect_timeout(pool.options, deadline);
  if (hs.count() <= 0) return client_elapsed();
  auto s = duet::wait((*ctx)->connect(std::move(*tcp), o.host, hs));
  if (!s) return client_error(s.error(), deadline);
  return std::make_unique<ClientConn>(std::move(*s));
}

/// The fiber face of an exchange: the attempts of client_exchange as plain
/// calls.
duet::Result<Response> client_exchange_now(Client::Pool& pool, const ClientOrigin& origin,
                                           const std::string& wire, const ClientAsk& ask,
                                           ClientSlots& slots, Instant deadline) {
  ClientConnPtr conn = pool.take(origin);
  for (;;) {
    slots.ex.reset();
    slots.lease.reset();  // a failed attempt's connection closes (under a cap: room for one)
    if (!conn) {
      Notify* changed = pool.waiters(origin);
      bool waited = false;
      while (changed != nullptr) {
        auto next = changed->notified();  // made before the checks: no change after them is missed
        if ((conn = pool.take(origin)) != nullptr || pool.admit(origin)) break;
        if (!std::exchange(waited, true)) pool.waiting();
        if (!duet::wait(timeout_at(deadline, std::move(next)))) return client_elapsed();
      }
    }
    const bool pooled = conn != nullptr;
    slots.lease.emplace(pool, origin, std::move(conn), pooled);
    if (!pooled) {
      auto c = client_connect_now(pool, origin, deadline);
      if (!c) return c.error();
      slots.lease->connected(std::move(*c));
      pool.connected();
    }
    slots.ex.emplace(pool.options.limits, ask.method, ask.keep_alive, ask.stream);
    ClientConn& c = slots.lease->conn();
    auto r = c.secure ? client_attempt_plain(c.tls, wire, *slots.ex, ask.body, deadline)
                      : client_attempt_plain(c.tcp, wire, *slots.ex, ask.body, deadline);
    if (r) {
      if (!ask.stream && slots.ex->reusable()) slots.lease->release();
      return r;
    }
    if (!client_retry(*slots.lease, *slots.ex, ask.method, r.error(), ask.body.source != nullptr)) {
      return r;
    }
  }
}

ClientAsk client_ask(const Request& req, bool stream) {
  return ClientAsk{req.method, client_keep_alive(req), stream, client_body(req)};
}

/// What one exchange of send or open takes from its target and request:
/// where it goes, the request's bytes, and what it asks for (`stream`:
/// open's, which ends at the response's head).
struct ClientCall {
  ClientOrigin origin;
  std::string wire;
  ClientAsk ask;
};

ClientCall client_call(const net::SocketAddr& upstream, const Request& req, bool stream) {
  return ClientCall{client_origin(upstream), client_wire(req, upstream.to_string()),
                    client_ask(req, stream)};
}

/// The request's target becomes the URL's.
ClientCall client_call(const Url& url, Request& req, bool stream) {
  req.target = url.target;
  return ClientCall{client_origin(url), client_wire(req, url.authority()), client_ask(req, stream)};
}

}  // namespace detail

Client::Client(ClientConfig options) : pool_(std::make_unique<Pool>(std::move(options))) {}

Client::~Client() = default;

Task<duet::Result<Response>> Client::send(net::SocketAddr upstream, Request req, SendConfig opt) {
  Pool& pool = *pool_;
  const Instant deadline = detail::client_deadline(pool.options, opt);
  const detail::ClientOrigin origin = detail::client_origin(upstream);
  detail::ClientConnPtr h1;  // a connection made for HTTP/2 that the upstream took for HTTP/1.1
  if (detail::client_may_h2(pool, origin, req)) {
    duet::Result<std::optional<duet::Result<Response>>> r = co_await timeout_at(
        deadline, detail::client_h2(pool, origin, req, upstream.to_string(), deadline, h1));
    if (!r) co_return r.error();
    if (*r) co_return std::move(**r);
  }
  detail::ClientCall call = detail::client_call(upstream, req, false);
  detail::ClientSlots slots;
  // The whole exchange under one deadline: when it passes, the exchange's
  // frame is destroyed where it waits, and its lease closes the connection.
  co_return co_await timeout_at(
      deadline, detail::client_exchange(pool, call.origin, std::move(call.wire), call.ask, slots,
                                        deadline, std::move(h1)));
}

Task<duet::Result<Response>> Client::send(Url url, Request req, SendConfig opt) {
  Pool& pool = *pool_;
  const Instant deadline = detail::client_deadline(pool.options, opt);
  const int max = opt.max_redirects.value_or(pool.options.max_redirects);
  for (int hop = 0;; ++hop) {
    duet::Result<Response> r = std::errc::io_error;
    const detail::ClientOrigin origin = detail::client_origin(url);
    bool done = false;
    detail::ClientConnPtr h1;  // made for HTTP/2, taken for HTTP/1.1 by the upstream
    if (detail::client_may_h2(pool, origin, req)) {
      req.target = url.target;
      duet::Result<std::optional<duet::Result<Response>>> h2 = co_await timeout_at(
          deadline, detail::client_h2(pool, origin, req, url.authority(), deadline, h1));
      if (!h2) co_return h2.error();
      if (*h2) {
        r = std::move(**h2);
        done = true;
      }
    }
    if (!done) {
      detail::ClientCall call = detail::client_call(url, req, false);
      detail::ClientSlots slots;
      r = co_await timeout_at(
          deadline, detail::client_exchange(pool, call.origin, std::move(call.wire), call.ask,
                                            slots, deadline, std::move(h1)));
    }
    if (!r) co_return r;
    auto follow = detail::client_redirect(*r, url, req, hop, max);
    if (!follow) co_return follow.error();
    if (!*follow) co_return r;
  }
}

Task<duet::Result<Response>> Client::send(std::string_view url, Request req, SendConfig opt) {
  auto u = Url::parse(url);
  if (!u) return detail::client_failed<Response>(u.error());
  return send(std::move(*u), std::move(req), opt);
}

duet::Result<Response> Client::send_now(net::SocketAddr upstream, Request req, SendConfig opt) {
  Pool& pool = *pool_;
  if (!detail::client_on_thread() &&
      detail::client_may_h2(pool, detail::client_origin(upstream), req)) {
    return duet::wait(send(upstream, std::move(req), opt));  // HTTP/2: its connection's task
  }
  const Instant deadline = detail::client_deadline(pool.options, opt);
  const detail::ClientCall call = detail::client_call(upstream, req, false);
  detail::ClientSlots slots;
  return detail::client_exchange_now(pool, call.origin, call.wire, call.ask, slots, deadline);
}

duet::Result<Response> Client::send_now(const Url& first, Request req, SendConfig opt) {
  Pool& pool = *pool_;
  if (!detail::client_on_thread() &&
      detail::client_may_h2(pool, detail::client_origin(first), req)) {
    return duet::wait(send(first, std::move(req), opt));  // HTTP/2: its connection's task
  }
  const Instant deadline = detail::client_deadline(pool.options, opt);
  const int max = opt.max_redirects.value_or(pool.options.max_redirects);
  Url url = first;
  for (int hop = 0;; ++hop) {
    const detail::ClientCall call = detail::client_call(url, req, false);
    duet::Result<Response> r = std::errc::io_error;
    {
      detail::ClientSlots slots;
      r = detail::client_exchange_now(pool, call.origin, call.wire, call.ask, slots, deadline);
    }
    if (!r) return r;
    auto follow = detail::client_redirect(*r, url, req, hop, max);
    if (!follow) return follow.error();
    if (!*follow) return r;
  }
}

duet::Result<Response> Client::send_now(std::string_view url, Request req, SendConfig opt) {
  auto u = Url::parse(url);
  if (!u) return u.error();
  return send_now(*u, std::move(req), opt);
}

// ---- open: a response body in pieces ----------------------------------------

struct ResponseStream::Impl {
  Response head;
  detail::ClientSlots slots;  // the request's connection and exchange
  Instant deadline{};
  std::size_t given = 0;  // of the exchange's body_piece(), handed out
  std::error_code error;
  bool primed = false;  // the bytes held after the head were fed
  bool ended = false;

  /// Hands out what the exchange holds of the body.
  std::size_t take(std::span<std::byte> into) noexcept {
    std::string& piece = slots.ex->body_piece();
    const std::size_t n = std::min(into.size(), piece.size() - given);
    std::memcpy(into.data(), piece.data() + given, n);
    given += n;
    if (given == piece.size()) {
      piece.clear();
      given = 0;
    }
    return n;
  }
  /// Where a feed left the body.
  void apply(detail::ClientExchange::BodyState st, std::errc cut) {
    using BodyState = detail::ClientExchange::BodyState;
    if (st == BodyState::end) {
      ended = true;
      if (slots.ex->reusable()) slots.lease->release();  // back to the pool
    } else if (st == BodyState::error) {
      error = std::make_error_code(cut);
    }
  }
  /// Hands out the rest of the exchange's piece whole (empty when none).
  std::string take_piece() {
    std::string& piece = slots.ex->body_piece();
    std::string out = given == 0 ? std::move(piece) : piece.substr(given);
    piece.clear();
    given = 0;
    return out;
  }
  /// Before a read: hand out with `take` (an empty result: nothing held),
  /// or say it is over (`end`, or the error); nullopt: read more.
  template <class T, class Take>
  std::optional<duet::Result<T>> ready(Take take, T end) {
    for (;;) {
      if (T got = take(); got != T{}) return got;
      if (ended) return end;
      if (error) return error;
      if (primed) return std::nullopt;
      prime();
    }
  }
  std::optional<duet::Result<std::size_t>> ready(std::span<std::byte> into) {
    if (into.empty()) return std::size_t{0};
    return ready([&] { return take(into); }, std::size_t{0});
  }
  std::optional<duet::Result<std::string>> ready_piece() {
    return ready([&] { return take_piece(); }, std::string());
  }
  /// At the head: feeds what arrived with it, so that a response with no
  /// body (to HEAD, a 204 or 304) or one read whole already gives its
  /// connection back to the pool now, not at a read the caller may never
  /// make.
  void prime() {
    primed = true;
    apply(slots.ex->feed_body(), std::errc::bad_message);
  }
  void received(duet::Result<std::size_t> n) {
    if (!n) {
      error = n.error();
      return;
    }
    apply(slots.ex->body_received(*n),
          *n == 0 ? std::errc::connection_reset : std::errc::bad_message);
  }
};

ResponseStream::ResponseStream() noexcept = default;
ResponseStream::~ResponseStream() = default;
ResponseStream::ResponseStream(ResponseStream&&) noexcept = default;
ResponseStream& ResponseStream::operator=(ResponseStream&&) noexcept = default;
ResponseStream::ResponseStream(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

Response& ResponseStream::head() noexcept {
  return impl_->head;
}

namespace detail {

/// The next bytes of a leased connection, TCP or TLS, within `deadline`
/// (coroutine).
Task<duet::Result<std::size_t>> client_read_async(ClientConn& c, std::span<std::byte> buf,
                                                  Instant deadline) {
  if (c.secure) co_return co_await timeout_at(deadline, c.tls.read(buf));
  co_return co_await timeout_at(deadline, c.tcp.read(buf));
}

}  // namespace detail

Task<duet::Result<std::size_t>> ResponseStream::read(std::span<std::byte> into) {
  if (!impl_) co_return std::size_t{0};
  Impl& d = *impl_;
  for (;;) {
    if (auto r = d.ready(into)) co_return std::move(*r);
    duet::Result<std::size_t> n = co_await detail::client_read_async(
        d.slots.lease->conn(), d.slots.ex->read_buffer(), d.deadline);
    d.received(std::move(n));
  }
}

duet::Result<std::size_t> ResponseStream::read_now(std::span<std::byte> into) {
  if (!impl_) return std::size_t{0};
  Impl& d = *impl_;
  for (;;) {
    if (auto r = d.ready(into)) return std::move(*r);
    d.received(detail::client_read(d.slots.lease->conn(), d.slots.ex->read_buffer(), d.deadline));
  }
}

Task<duet::Result<std::string>> ResponseStream::read_piece() {
  if (!impl_) co_return std::string();
  Impl& d = *impl_;
  for (;;) {
    if (auto r = d.ready_piece()) co_return std::move(*r);
    duet::Result<std::size_t> n = co_await detail::client_read_async(
        d.slots.lease->conn(), d.slots.ex->read_buffer(), d.deadline);
    d.received(std::move(n));
  }
}

duet::Result<std::string> ResponseStream::read_piece_now() {
  if (!impl_) return std::string();
  Impl& d = *impl_;
  for (;;) {
    if (auto r = d.ready_piece()) return std::move(*r);
    d.received(detail::client_read(d.slots.lease->conn(), d.slots.ex->read_buffer(), d.deadline));
  }
}

namespace detail {

/// open's steps: the exchange to the response's head, then the bytes
/// that came with it fed (coroutine).
Task<duet::Result<ResponseStream>> client_open(Client::Pool& pool, ClientCall call,
                                               std::unique_ptr<ResponseStream::Impl> impl) {
  duet::Result<Response> h =
      co_await timeout_at(impl->deadline, client_exchange(pool, call.origin, std::move(call.wire),
                                                          call.ask, impl->slots, impl->deadline));
  if (!h) co_return h.error();
  impl->head = std::move(*h);
  impl->prime();
  co_return ResponseStream(std::move(impl));
}

duet::Result<ResponseStream> client_open_now(Client::Pool& pool, const ClientCall& call,
                                             std::unique_ptr<ResponseStream::Impl> impl) {
  duet::Result<Response> h =
      client_exchange_now(pool, call.origin, call.wire, call.ask, impl->slots, impl->deadline);
  if (!h) return h.error();
  impl->head = std::move(*h);
  impl->prime();
  return ResponseStream(std::move(impl));
}

/// A response stream's state for one open, its deadline set.
std::unique_ptr<ResponseStream::Impl> client_stream(const ClientConfig& o, const SendConfig& opt) {
  auto impl = std::make_unique<ResponseStream::Impl>();
  impl->deadline = client_deadline(o, opt);
  return impl;
}

}  // namespace detail

Task<duet::Result<ResponseStream>> Client::open(net::SocketAddr upstream, Request req,
                                                SendConfig opt) {
  return detail::client_open(*pool_, detail::client_call(upstream, req, true),
                             detail::client_stream(pool_->options, opt));
}

Task<duet::Result<ResponseStream>> Client::open(Url url, Request req, SendConfig opt) {
  return detail::client_open(*pool_, detail::client_call(url, req, true),
                             detail::client_stream(pool_->options, opt));
}

Task<duet::Result<ResponseStream>> Client::open(std::string_view url, Request req, SendConfig opt) {
  auto u = Url::parse(url);
  if (!u) return detail::client_failed<ResponseStream>(u.error());
  return open(std::move(*u), std::move(req), opt);
}

duet::Result<ResponseStream> Client::open_now(net::SocketAddr upstream, Request req,
                                              SendConfig opt) {
  return detail::client_open_now(*pool_, detail::client_call(upstream, req, true),
                                 detail::client_stream(pool_->options, opt));
}

duet::Result<ResponseStream> Client::open_now(const Url& url, Request req, SendConfig opt) {
  return detail::client_open_now(*pool_, detail::client_call(url, req, true),
                                 detail::client_stream(pool_->options, opt));
}

duet::Result<ResponseStream> Client::open_now(std::string_view url, Request req, SendConfig opt) {
  auto u = Url::parse(url);
  if (!u) return u.error();
  return open_now(*u, std::move(req), opt);
}

ClientStats Client::stats() const noexcept {
  std::lock_guard lock(pool_->mu);
  return pool_->counts;
}

void Client::clear() noexcept {
  pool_->clear();
}

// ---- URLs -------------------------------------------------------------------

namespace {

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

/// A host name's bytes (RFC 3986's reg-name without percent-encoding):
/// letters, digits, "-._~" and the sub-delimiters.
bool host_byte(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

}  // namespace

duet::Result<Url> Url::parse(std::string_view text) {
  const auto bad = make_error_code(ClientErrc::bad_url);
  Url u;
  if (starts_with_nocase(text, "http://")) {
    text.remove_prefix(7);
  } else if (starts_with_nocase(text, "https://")) {
    u.scheme = Scheme::https;
    u.port = 443;
    text.remove_prefix(8);
  } else {
    return bad;
  }
  const std::size_t end = std::min(text.find_first_of("/?#"), text.size());
  std::string_view authority = text.substr(0, end);
  std::string_view rest = text.substr(end);
  if (authority.find('@') != std::string_view::npos) return bad;  // userinfo: refused
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad;
    u.host = std::string(authority.substr(1, close - 1));
    in6_addr a6{};
    if (::inet_pton(AF_INET6, u.host.c_str(), &a6) != 1) return bad;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad;
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    if (!std::all_of(u.host.begin(), u.host.end(), host_byte)) return bad;
  }
  if (u.host.empty()) return bad;
  std::transform(u.host.begin(), u.host.end(), u.host.begin(), lower);
  if (!port.empty()) {
    if (port.size() > 5) return bad;
    unsigned long n = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return bad;
      n = n * 10 + static_cast<unsigned long>(c - '0');
    }
    if (n == 0 || n > 65535) return bad;
    u.port = static_cast<std::uint16_t>(n);
  }
  rest = rest.substr(0, rest.find('#'));  // a fragment is never sent
  if (!detail::client_target_ok(rest)) return bad;
  if (rest.empty()) {
    u.target = "/";
  } else if (rest.starts_with('?')) {
    u.target = "/" + std::string(rest);
  } else {
    u.target = std::string(rest);
  }
  return u;
}

std::string Url::authority() const {
  std::string a;
  const bool v6 = host.find(':') != std::string::npos;
  if (v6) a.push_back('[');
  a += host;
  if (v6) a.push_back(']');
  if (port != (https() ? 443 : 80)) {
    a.push_back(':');
    a += std::to_string(port);
  }
  return a;
}

std::string Url::to_string() const {
  return std::string(http::to_string(scheme)) + "://" + authority() + target;
}

}  // namespace duet::http
