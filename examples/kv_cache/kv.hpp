// kv.hpp: what both models of kv_cache share (main.cpp has the protocol):
// the command line's options, the request parser and the reply texts, and
// the store. The connection handling, the MGET fan-out, the WATCH stream and
// the accept loop are written once per model, in coroutines.cpp and
// fibers.cpp, against this header.
//
// The store is split into shards by a hash of the key. Each shard is owned
// by one task (a coroutine or a fiber, by model) that takes requests from a
// channel and answers each through a oneshot: the map needs no lock, a
// request to one shard never waits for another, and an MGET over keys of
// several shards really runs in parallel. The owner also expires the
// shard's entries when their TTLs pass, from a DelayQueue of keys (one
// timer per shard). A shard publishes every change of a key on a
// Broadcast, which WATCH streams subscribe to.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kv {

using namespace std::chrono_literals;

// ---- Options (main.cpp parses them) --------------------------------------

struct Options {
  std::uint16_t port = 0;  // 0: the kernel picks one (printed on "listening on")
  bool fibers = false;     // --model fiber; else coroutines
  std::string driver = "auto";
  unsigned workers = 2;
  std::size_t shards = 8;
  std::chrono::milliseconds idle = 30s;  // a connection with no request for this long closes
  std::chrono::milliseconds drain = 5s;  // how long SIGTERM waits for in-flight work
};

/// Every request has this long, from its line being read to its reply
/// written; the pieces of an MGET share it.
inline constexpr std::chrono::seconds kRequestDeadline{1};
/// A request line longer than this closes the connection.
inline constexpr std::size_t kMaxLine = 64 * 1024;
/// MGET takes at most this many keys (one child task each).
inline constexpr std::size_t kMaxKeys = 64;
/// The changes a shard keeps for a WATCH stream that falls behind.
inline constexpr std::size_t kWatchBacklog = 1024;

// ---- The protocol ----------------------------------------------------------

enum class Verb { set, get, del, mget, watch, quit, invalid };

struct Command {
  Verb verb = Verb::invalid;
  std::vector<std::string> keys{};   // one; MGET: one or more
  std::string value{};               // SET
  std::chrono::milliseconds ttl{0};  // SET: 0, no expiry
  std::string error{};               // invalid: why
};

/// The words of a request line, split at spaces (a trailing "\r\n" ends it).
inline std::vector<std::string_view> words(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  std::vector<std::string_view> out;
  while (!line.empty()) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    const auto end = std::min(line.find(' '), line.size());
    out.push_back(line.substr(0, end));
    line.remove_prefix(end);
  }
  return out;
}

/// Parses one request line; an invalid Command says why.
inline Command parse(std::string_view line) {
  const std::vector<std::string_view> w = words(line);
  Command c;
  const std::string_view verb = w.empty() ? std::string_view() : w[0];
  const std::size_t args = w.empty() ? 0 : w.size() - 1;
  if (verb == "SET" && (args == 2 || args == 3)) {
    c.verb = Verb::set;
    c.value = w[2];
    if (args == 3) {
      std::uint32_t ms = 0;
      const char* end = w[3].data() + w[3].size();
      const auto r = std::from_chars(w[3].data(), end, ms);
      if (r.ec != std::errc() || r.ptr != end || ms == 0) {
        c.verb = Verb::invalid;
        c.error = "ttl_ms must be a positive number";
        return c;
      }
      c.ttl = std::chrono::milliseconds(ms);
    }
    c.keys.emplace_back(w[1]);
    return c;
  }
  if (verb == "GET" && args == 1) c.verb = Verb::get;
  if (verb == "DEL" && args == 1) c.verb = Verb::del;
  if (verb == "WATCH" && args == 1) c.verb = Verb::watch;
  if (verb == "QUIT" && args == 0) c.verb = Verb::quit;
  if (verb == "MGET" && args >= 1 && args <= kMaxKeys) c.verb = Verb::mget;
  if (c.verb == Verb::invalid) {
    c.error = verb == "MGET" && args > kMaxKeys
                  ? "MGET takes at most " + std::to_string(kMaxKeys) + " keys"
                  : "unknown request, or wrong arguments";
    return c;
  }
  for (std::size_t i = 1; i < w.size(); ++i) c.keys.emplace_back(w[i]);
  return c;
}

/// A shard's answer: GET's value (found), DEL's "it was there" (found), or
/// an error that ends the request.
struct Reply {
  bool found = false;
  std::string value{};
  std::string error{};
};

inline const std::string kTimeout = "TIMEOUT\n";

/// The reply line of a SET, GET or DEL.
inline std::string reply_text(Verb verb, const Reply& r) {
  if (!r.error.empty()) return "ERROR " + r.error + "\n";
  if (verb == Verb::set) return "OK\n";
  if (!r.found) return "NOT_FOUND\n";
  return verb == Verb::get ? "VALUE " + r.value + "\n" : "DELETED\n";
}

/// An MGET's reply: "VALUES n", then one GET reply line per key, in order.
inline std::string values_text(const std::vector<Reply>& rs) {
  std::string out = "VALUES " + std::to_string(rs.size()) + "\n";
  for (const Reply& r : rs) out += reply_text(Verb::get, r);
  return out;
}

/// A change of a key, as a shard publishes it and a WATCH stream sends it.
struct Event {
  enum class Kind { set, del, expired } kind = Kind::set;
  std::string key{};
  std::string value{};  // set
};

inline std::string event_text(const Event& e) {
  switch (e.kind) {
    case Event::Kind::set:
      return "SET " + e.key + " " + e.value + "\n";
    case Event::Kind::del:
      return "DEL " + e.key + "\n";
    case Event::Kind::expired:
      return "EXPIRED " + e.key + "\n";
  }
  return {};
}

// ---- The store -------------------------------------------------------------

/// What a shard's owner is asked to do.
struct Request {
  enum class Op { get, set, del } op = Op::get;
  std::string key{};
  std::string value{};                                // set
  std::chrono::milliseconds ttl{0};                   // set
  std::optional<duet::OneshotSender<Reply>> reply{};  // set by Shard::ask

  static Request of(const Command& c) {
    const Op op = c.verb == Verb::set ? Op::set : c.verb == Verb::del ? Op::del : Op::get;
    return Request{.op = op, .key = c.keys[0], .value = c.value, .ttl = c.ttl};
  }
  static Request get(std::string key) { return Request{.op = Op::get, .key = std::move(key)}; }
};

/// A shard's answer to one request, as a future of its own: a Reply (an
/// error one when the shard ended without answering). Any type with
/// `duet::Poll<T> poll(duet::Context&)` is a future, so both models await
/// it, bound it with duet::timeout_at, or put it in a select, alike.
class Answer {
 public:
  explicit Answer(duet::OneshotReceiver<Reply> rx) : rx_(std::move(rx)) {}
  duet::Poll<Reply> poll(duet::Context& cx) {
    auto p = rx_.poll(cx);  // the oneshot keeps cx's waker until the reply
    if (p.is_pending()) return duet::pending;
    std::optional<Reply> r = std::move(p).value();  // empty: the sender was dropped
    if (!r) return Reply{.error = "the server is shutting down"};
    return std::move(*r);
  }

 private:
  duet::OneshotReceiver<Reply> rx_;
};

/// One shard: its entries and its expiries belong to the task that runs
/// its loop (the owner: apply, has_expiries, next_expiry, expire); anyone
/// may ask() or subscribe().
class Shard {
 public:
  /// Queues `r` for the owner (never waits: the channel is unbounded, and
  /// holds at most one request per waiting caller).
  Answer ask(Request r) {
    auto [tx, rx] = duet::oneshot<Reply>();
    r.reply.emplace(std::move(tx));
    // Closed (the server is ending): the request, and so its sender, is
    // dropped here, and the Answer says so.
    (void)requests_.try_send(std::move(r));
    return Answer(std::move(rx));
  }
  /// Every change from now on (WATCH streams filter by key).
  duet::BroadcastReceiver<Event> subscribe() { return events_.subscribe(); }
  /// No more requests: the owner answers those queued, then its loop ends.
  void close() { (void)requests_.close(); }

  // ---- The owner's side.

  /// The next request; empty once close() was called and the queue is empty.
  duet::Recv<Request> next_request() noexcept { return requests_.recv(); }
  /// Is an entry waiting to expire? (If not, next_expiry() would answer
  /// "nothing queued" at once: the owner waits on requests alone.)
  [[nodiscard]] bool has_expiries() const noexcept { return !expiries_.empty(); }
  /// The next entry whose TTL passed: the shard's one timer, a DelayQueue
  /// of keys (re-armed to the earliest expiry as entries come and go).
  duet::DelayQueueNext<std::string> next_expiry() noexcept { return expiries_.next(); }

  void apply(Request r) {
    Reply out;
    switch (r.op) {
      case Request::Op::get:
        if (Entry* e = find(r.key)) out = Reply{.found = true, .value = e->value};
        break;
      case Request::Op::set:
        set(std::move(r.key), std::move(r.value), r.ttl);
        break;
      case Request::Op::del:
        out.found = find(r.key) != nullptr;
        if (out.found) remove(r.key, Event::Kind::del);
        break;
    }
    if (r.reply) (void)r.reply->send(std::move(out));  // closed: the asker gave up
  }

  void expire(const duet::Expired<std::string>& e) {
    // An overwrite or a delete takes the key out of the queue, so the entry
    // is the one this expiry was set for; the check costs little.
    auto it = entries_.find(e.value);
    if (it != entries_.end() && it->second.expiry == e.key) remove(e.value, Event::Kind::expired);
  }

 private:
  struct Entry {
    std::string value;
    duet::DelayQueueKey expiry{};  // names no entry without a TTL
  };

  /// The live entry of `key`: one whose TTL passed is removed here, as the
  /// timer would a moment later, so a GET never sees it.
  Entry* find(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    const std::optional<duet::Instant> due = expiries_.deadline(it->second.expiry);
    if (due && *due <= duet::Clock::now()) {
      remove(key, Event::Kind::expired);
      return nullptr;
    }
    return &it->second;
  }

  void set(std::string key, std::string value, std::chrono::milliseconds ttl) {
    Entry& e = entries_[key];
    (void)expiries_.remove(e.expiry);  // an overwrite forgets the old TTL
    e.expiry = ttl.count() > 0 ? expiries_.insert(key, ttl) : duet::DelayQueueKey();
    e.value = value;
    publish(Event{.kind = Event::Kind::set, .key = std::move(key), .value = std::move(value)});
  }

  void remove(const std::string& key, Event::Kind why) {
    auto it = entries_.find(key);
    (void)expiries_.remove(it->second.expiry);
    entries_.erase(it);
    publish(Event{.kind = why, .key = key});
  }

  void publish(Event e) {
    // Never waits; closed only once the shard is destroyed.
    (void)events_.send(std::move(e));
  }

  duet::Channel<Request> requests_ = duet::Channel<Request>::unbounded();
  duet::Broadcast<Event> events_ = duet::Broadcast<Event>::create(kWatchBacklog);
  std::unordered_map<std::string, Entry> entries_;  // the owner's alone
  duet::DelayQueue<std::string> expiries_;          // the owner's alone: keys with a TTL
};

/// The shards, and which one holds a key.
class Store {
 public:
  explicit Store(std::size_t shards) : shards_(shards) {}

  std::vector<Shard>& shards() noexcept { return shards_; }
  Shard& shard_for(std::string_view key) {
    return shards_[std::hash<std::string_view>{}(key) % shards_.size()];
  }
  Answer ask(Request r) {
    Shard& s = shard_for(r.key);
    return s.ask(std::move(r));
  }
  /// Called once no connection is left: every owner finishes and ends.
  void close() {
    for (Shard& s : shards_) s.close();
  }

 private:
  std::vector<Shard> shards_;  // never resized: the owners hold references
};

// ---- The two servers -------------------------------------------------------

/// Serves `listener` until `stop` is cancelled (the runtime's shutdown
/// token: a drain began), then lets every connection finish its request,
/// and returns once the connections and the shards' owners have ended.
duet::Task<void> serve_coroutines(duet::net::TcpListener& listener, const Options& o,
                                  duet::CancellationToken stop);
/// The same, as fibers: call it in a fiber.
void serve_fibers(duet::net::TcpListener& listener, const Options& o, duet::CancellationToken stop);

}  // namespace kv
