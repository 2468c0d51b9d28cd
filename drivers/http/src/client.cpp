// client.cpp: duet::http::Client (duet/http/client.hpp). Three parts:
// - the pool: idle keep-alive connections per upstream, taken and given
//   back under a short lock, with its counters;
// - the exchange, free of I/O: the request's bytes, the response decoder
//   fed as bytes arrive, and the rules both faces share (when a connection
//   goes back to the pool, when a failed request is sent again);
// - the two faces, each written in its own model over the same pool and
//   exchange: `send` a coroutine with a co_await at each connect, write
//   and read; `fetch` the same steps as duet::wait calls on the calling
//   fiber (or plain thread).
//
// The one invariant of the pool: a connection is in it only between two
// whole exchanges. A connection is leased (detail::ClientLease) for one
// request; the lease closes it when destroyed unless it was released after
// a whole response on a reusable connection. A dropped `send` Task, a
// timeout or a select around it, a cancelled fiber: each destroys the
// lease where it waits, so a connection with a request half done is
// closed, never pooled.
#include "duet/http/client.hpp"

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
#include "duet/time/clock.hpp"
#include "duet/time/timeout.hpp"
#include "duet/wait.hpp"

namespace duet::http {

namespace detail {

/// One connection to an upstream, on the heap: the futures of a request
/// borrow its stream, so its address stays the same however the lease and
/// the pool move it (and never lies on a copy fiber's stack, which the
/// stackful rules forbid a suspended operation to point into).
struct ClientConn {
  explicit ClientConn(net::TcpStream s) noexcept : stream(std::move(s)) {}
  net::TcpStream stream;
  Instant idle_since{};  // set when it goes back to the pool
};
using ClientConnPtr = std::unique_ptr<ClientConn>;

/// The idle connections to one upstream, oldest first (the most recently
/// used is taken first: it is the least likely to have been closed).
struct ClientHost {
  net::SocketAddr addr;
  std::vector<ClientConnPtr> idle;
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

}  // namespace

struct Client::Pool {
  explicit Pool(ClientConfig o) : options(with_current_names(std::move(o))) {}

  const ClientConfig options;

  /// The lock guards `hosts` and `counts` only. It is held for a lookup
  /// among the (few) upstreams and a move of a pointer or two, and never
  /// across a wait: no I/O happens under it, not even a close (the
  /// connections to close are moved out and destroyed after the unlock).
  /// A std::mutex held that briefly cannot stall a worker for long, and a
  /// duet::Mutex would cost a future per take; nothing here ever waits
  /// while holding it.
  mutable std::mutex mu;
  std::vector<detail::ClientHost> hosts;
  ClientStats counts;

  detail::ClientHost* find(const net::SocketAddr& addr) {
    for (auto& h : hosts) {
      if (h.addr == addr) return &h;
    }
    return nullptr;
  }

  /// The most recently pooled connection to `addr` younger than
  /// idle_timeout (counted as a reuse), or null; older ones are closed.
  detail::ClientConnPtr take(const net::SocketAddr& addr) {
    std::vector<detail::ClientConnPtr> expired;  // closed after the unlock
    detail::ClientConnPtr got;
    const Instant now = Clock::now();
    {
      std::lock_guard lock(mu);
      detail::ClientHost* h = find(addr);
      if (h == nullptr) return nullptr;
      auto& idle = h->idle;
      // Oldest first: the expired ones are a prefix.
      auto fresh = std::find_if(idle.begin(), idle.end(), [&](const detail::ClientConnPtr& c) {
        return now - c->idle_since < options.idle_timeout;
      });
      expired.assign(std::make_move_iterator(idle.begin()), std::make_move_iterator(fresh));
      idle.erase(idle.begin(), fresh);
      counts.idle -= expired.size();
      if (!idle.empty()) {
        got = std::move(idle.back());
        idle.pop_back();
        --counts.idle;
        ++counts.reused;
      }
    }
    return got;
  }

  /// Pools `c` (after a whole response on a reusable connection); past
  /// max_idle_per_origin (for its address and port) the oldest idle
  /// connection is closed.
  void put(const net::SocketAddr& addr, detail::ClientConnPtr c) {
    if (options.max_idle_per_origin == 0) return;  // `c` closes here
    c->idle_since = Clock::now();
    detail::ClientConnPtr evicted;  // closed after the unlock
    std::lock_guard lock(mu);
    detail::ClientHost* h = find(addr);
    if (h == nullptr) h = &hosts.emplace_back(detail::ClientHost{addr, {}});
    if (h->idle.size() >= options.max_idle_per_origin) {
      evicted = std::move(h->idle.front());
      h->idle.erase(h->idle.begin());
      --counts.idle;
    }
    h->idle.push_back(std::move(c));
    ++counts.idle;
    // `lock` is released before `evicted` is destroyed (reverse order).
  }

  void connected() {
    std::lock_guard lock(mu);
    ++counts.connects;
  }
};

namespace detail {

/// A connection leased for one request. Destroyed without release() (an
/// error, a response that ends the connection, a cancellation anywhere
/// before the response's last byte), it closes the connection.
class ClientLease {
 public:
  ClientLease(Client::Pool& pool, const net::SocketAddr& addr, ClientConnPtr c,
              bool pooled) noexcept
      : pool_(&pool), addr_(addr), conn_(std::move(c)), pooled_(pooled) {}
  ClientLease(const ClientLease&) = delete;
  ClientLease& operator=(const ClientLease&) = delete;

  net::TcpStream& stream() noexcept { return conn_->stream; }
  /// Taken from the pool (not connected for this request).
  [[nodiscard]] bool pooled() const noexcept { return pooled_; }
  /// Gives the connection back to the pool: only after a whole response
  /// on a connection that may carry another.
  void release() { pool_->put(addr_, std::move(conn_)); }

 private:
  Client::Pool* pool_;
  net::SocketAddr addr_;
  ClientConnPtr conn_;
  bool pooled_;
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

/// The request's bytes, with Host naming the upstream.
std::string client_wire(const Request& req, const net::SocketAddr& upstream) {
  std::string wire;
  write_request(wire, req, upstream.to_string());
  return wire;
}

/// Whether the request itself lets the connection stay open after it.
bool client_keep_alive(const Request& req) noexcept {
  return req.keep_alive();
}

/// A connect's own timeout: connect_timeout, or less when the request's
/// deadline comes first (zero or less: the deadline has passed).
std::chrono::nanoseconds client_connect_timeout(const ClientConfig& o, Instant deadline) noexcept {
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
  return std::min<std::chrono::nanoseconds>(o.connect_timeout, left);
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

/// One attempt over `lease`: the request written (its body from its
/// source, if any), then reads until the exchange has an outcome.
Task<duet::Result<Response>> client_attempt(ClientLease& lease, const std::string& wire,
                                            ClientExchange& ex, const BodyToWrite& body,
                                            std::chrono::milliseconds timeout) {
  std::error_code cut;  // the write's error, when the upstream cut it (client_cut)
  if (body.source) {
    std::string out = wire;
    std::error_code why;
    if (!co_await write_body(lease.stream(), out, body, timeout, &why) ||
        !co_await write_out(lease.stream(), out, timeout, &why)) {
      if (!client_cut(why)) co_return std::errc::connection_reset;
      cut = why;
    }
  } else {
    auto w = co_await lease.stream().write_all(wire.data(), wire.size());
    if (!w) {
      if (!client_cut(w.error())) co_return w.error();
      cut = w.error();
    }
  }
  if (cut) ex.write_cut();
  for (;;) {
    auto n = co_await lease.stream().read(ex.read_buffer());
    if (!n) co_return client_outcome(n.error(), ex, cut);
    auto done = ex.received(*n);
    if (done) co_return client_outcome(std::move(*done), ex, cut);
  }
}

Task<duet::Result<Response>> client_exchange(Client::Pool& pool, net::SocketAddr upstream,
                                             std::string wire, ClientAsk ask, ClientSlots& slots,
                                             Instant deadline) {
  ClientConnPtr conn = pool.take(upstream);
  for (;;) {
    const bool pooled = conn != nullptr;
    if (!pooled) {
      const auto limit = client_connect_timeout(pool.options, deadline);
      if (limit.count() <= 0) co_return std::errc::timed_out;
      auto c = co_await net::TcpStream::connect(upstream, limit);
      if (!c) co_return c.error();
      pool.connected();
      conn = std::make_unique<ClientConn>(std::move(*c));
    }
    slots.ex.reset();
    slots.lease.emplace(pool, upstream, std::move(conn), pooled);
    slots.ex.emplace(pool.options.limits, ask.method, ask.keep_alive, ask.stream);
    auto r = co_await client_attempt(*slots.lease, wire, *slots.ex, ask.body,
                                     pool.options.request_timeout);
    if (r) {
      if (!ask.stream && slots.ex->reusable()) slots.lease->release();
      co_return std::move(r);
    }
    if (!client_retry(*slots.lease, *slots.ex, ask.method, r.error(), ask.body.source != nullptr)) {
      co_return std::move(r);
    }
    // The lease closes the failed connection; the next round connects.
  }
}

// ---- fetch: the fiber face ------------------------------------------------

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
    if (left <= left.zero()) return std::errc::timed_out;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    pollfd p{fd, events, 0};
    const int r =
        ::poll(&p, 1, static_cast<int>(std::min<long long>(ms, std::numeric_limits<int>::max())));
    if (r > 0) return {};
    if (r < 0 && errno != EINTR) return std::error_code(errno, std::generic_category());
  }
}

duet::Result<void> client_write_all(net::TcpStream& s, const std::string& wire, Instant deadline) {
  if (client_on_thread()) {
    std::size_t off = 0;
    while (off < wire.size()) {
      auto ready = client_thread_ready(s.native_handle(), POLLOUT, deadline);
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

duet::Result<std::size_t> client_read(net::TcpStream& s, std::span<std::byte> buf,
                                      Instant deadline) {
  if (client_on_thread()) {
    auto ready = client_thread_ready(s.native_handle(), POLLIN, deadline);
    if (!ready) return ready.error();
    return duet::wait(s.read(buf));
  }
  return duet::wait(timeout_at(deadline, s.read(buf)));
}

duet::Result<Response> client_attempt_plain(ClientLease& lease, const std::string& wire,
                                            ClientExchange& ex, const BodyToWrite& body,
                                            Instant deadline) {
  std::error_code cut;  // the write's error, when the upstream cut it (client_cut)
  auto w = client_write_all(lease.stream(), wire, deadline);
  if (!w) {
    if (!client_cut(w.error())) return w.error();
    cut = w.error();
  }
  if (body.source && !cut) {
    // The source is a coroutine: its pieces written by the shared writer
    // (on a worker the request's deadline keeps it; the head went first).
    std::string out;
    std::error_code why;
    bool ok = duet::wait(write_body(
        lease.stream(), out, body,
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()), &why));
    if (ok) {
      auto last = client_write_all(lease.stream(), out, deadline);
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
    auto n = client_read(lease.stream(), ex.read_buffer(), deadline);
    if (!n) return client_outcome(n.error(), ex, cut);
    if (auto done = ex.received(*n)) return client_outcome(std::move(*done), ex, cut);
  }
}

}  // namespace detail

Client::Client(ClientConfig options) : pool_(std::make_unique<Pool>(std::move(options))) {}

Client::~Client() = default;

Task<duet::Result<Response>> Client::send(net::SocketAddr upstream, Request req) {
  Pool& pool = *pool_;
  const Instant deadline = deadline_after(pool.options.request_timeout);
  std::string wire = detail::client_wire(req, upstream);
  const detail::ClientAsk ask{req.method, detail::client_keep_alive(req), false,
                              detail::client_body(req)};
  detail::ClientSlots slots;
  // The whole exchange under one deadline: when it passes, the exchange's
  // frame is destroyed where it waits, and its lease closes the connection.
  co_return co_await timeout_at(
      deadline, detail::client_exchange(pool, upstream, std::move(wire), ask, slots, deadline));
}

namespace detail {

/// The fiber face of an exchange: the attempts of client_exchange as plain
/// calls.
duet::Result<Response> client_fetch(Client::Pool& pool, net::SocketAddr upstream,
                                    const std::string& wire, const detail::ClientAsk& ask,
                                    detail::ClientSlots& slots, Instant deadline) {
  detail::ClientConnPtr conn = pool.take(upstream);
  for (;;) {
    const bool pooled = conn != nullptr;
    if (!pooled) {
      const auto limit = detail::client_connect_timeout(pool.options, deadline);
      if (limit.count() <= 0) return std::errc::timed_out;
      // On a worker the connect's timeout is a duet::Sleep (the test clock
      // drives it); on a plain thread it bounds the connect's poll(2).
      auto c = duet::wait(net::TcpStream::connect(upstream, limit));
      if (!c) return c.error();
      pool.connected();
      conn = std::make_unique<detail::ClientConn>(std::move(*c));
    }
    slots.ex.reset();
    slots.lease.emplace(pool, upstream, std::move(conn), pooled);
    slots.ex.emplace(pool.options.limits, ask.method, ask.keep_alive, ask.stream);
    auto r = detail::client_attempt_plain(*slots.lease, wire, *slots.ex, ask.body, deadline);
    if (r) {
      if (!ask.stream && slots.ex->reusable()) slots.lease->release();
      return r;
    }
    if (!detail::client_retry(*slots.lease, *slots.ex, ask.method, r.error(),
                              ask.body.source != nullptr)) {
      return r;
    }
  }
}

}  // namespace detail

duet::Result<Response> Client::fetch(net::SocketAddr upstream, Request req) {
  Pool& pool = *pool_;
  const Instant deadline = deadline_after(pool.options.request_timeout);
  const std::string wire = detail::client_wire(req, upstream);
  const detail::ClientAsk ask{req.method, detail::client_keep_alive(req), false,
                              detail::client_body(req)};
  detail::ClientSlots slots;
  return detail::client_fetch(pool, upstream, wire, ask, slots, deadline);
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

Task<duet::Result<std::size_t>> ResponseStream::read(std::span<std::byte> into) {
  if (!impl_) co_return std::size_t{0};
  Impl& d = *impl_;
  for (;;) {
    if (auto r = d.ready(into)) co_return std::move(*r);
    duet::Result<std::size_t> n =
        co_await timeout_at(d.deadline, d.slots.lease->stream().read(d.slots.ex->read_buffer()));
    d.received(std::move(n));
  }
}

duet::Result<std::size_t> ResponseStream::read_now(std::span<std::byte> into) {
  if (!impl_) return std::size_t{0};
  Impl& d = *impl_;
  for (;;) {
    if (auto r = d.ready(into)) return std::move(*r);
    d.received(detail::client_read(d.slots.lease->stream(), d.slots.ex->read_buffer(), d.deadline));
  }
}

Task<duet::Result<std::string>> ResponseStream::read_piece() {
  if (!impl_) co_return std::string();
  Impl& d = *impl_;
  for (;;) {
    if (auto r = d.ready_piece()) co_return std::move(*r);
    duet::Result<std::size_t> n =
        co_await timeout_at(d.deadline, d.slots.lease->stream().read(d.slots.ex->read_buffer()));
    d.received(std::move(n));
  }
}

duet::Result<std::string> ResponseStream::read_piece_now() {
  if (!impl_) return std::string();
  Impl& d = *impl_;
  for (;;) {
    if (auto r = d.ready_piece()) return std::move(*r);
    d.received(detail::client_read(d.slots.lease->stream(), d.slots.ex->read_buffer(), d.deadline));
  }
}

Task<duet::Result<ResponseStream>> Client::open(net::SocketAddr upstream, Request req) {
  Pool& pool = *pool_;
  auto impl = std::make_unique<ResponseStream::Impl>();
  impl->deadline = deadline_after(pool.options.request_timeout);
  std::string wire = detail::client_wire(req, upstream);
  const detail::ClientAsk ask{req.method, detail::client_keep_alive(req), true,
                              detail::client_body(req)};
  duet::Result<Response> h = co_await timeout_at(
      impl->deadline,
      detail::client_exchange(pool, upstream, std::move(wire), ask, impl->slots, impl->deadline));
  if (!h) co_return h.error();
  impl->head = std::move(*h);
  impl->prime();
  co_return ResponseStream(std::move(impl));
}

duet::Result<ResponseStream> Client::open_now(net::SocketAddr upstream, Request req) {
  Pool& pool = *pool_;
  auto impl = std::make_unique<ResponseStream::Impl>();
  impl->deadline = deadline_after(pool.options.request_timeout);
  const std::string wire = detail::client_wire(req, upstream);
  const detail::ClientAsk ask{req.method, detail::client_keep_alive(req), true,
                              detail::client_body(req)};
  duet::Result<Response> h =
      detail::client_fetch(pool, upstream, wire, ask, impl->slots, impl->deadline);
  if (!h) return h.error();
  impl->head = std::move(*h);
  impl->prime();
  return ResponseStream(std::move(impl));
}

ClientStats Client::stats() const noexcept {
  std::lock_guard lock(pool_->mu);
  return pool_->counts;
}

void Client::clear() noexcept {
  std::vector<detail::ClientHost> hosts;  // closed after the unlock
  {
    std::lock_guard lock(pool_->mu);
    hosts.swap(pool_->hosts);
    pool_->counts.idle = 0;
  }
}

}  // namespace duet::http
