// fibers.cpp: kv_cache as fibers: plain functions that wait with
// duet::wait(...), each connection, MGET lookup and shard owner a fiber of
// its own. coroutines.cpp is the same server as coroutines, line for line;
// kv.hpp has what both share.
#include <cstdio>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kv.hpp"

namespace kv {
namespace {

using duet::net::TcpStream;
using Reader = duet::io::BufReader<TcpStream>;

/// Writes `text` whole, by `deadline`. False: the peer is gone or read too
/// slowly; the caller closes the connection (a write cut by the deadline
/// may have sent part of a line, so the stream cannot go on).
bool send(TcpStream& s, std::string_view text, duet::Instant deadline) {
  // io::Transferred: all of it, or the bytes sent and why not the rest
  // (duet::TimeoutErrc::elapsed at the deadline).
  auto w = duet::wait(duet::timeout_at(deadline, s.write_all(std::as_bytes(std::span(text)))));
  return w.ok();
}

/// A shard's owner: answers its requests in order and expires its entries
/// as their TTLs pass, until Store::close() (after the last connection
/// ended) and the queue is empty.
void own(Shard& shard) {
  enum { request, expiry };
  for (;;) {
    std::optional<Request> r;
    if (!shard.has_expiries()) {
      r = duet::wait(shard.next_request());  // nothing to expire: requests alone
    } else {
      auto m = duet::wait(duet::select(shard.next_request(), shard.next_expiry()));
      if (m.is<expiry>()) {
        if (auto e = std::move(m.get<expiry>())) shard.expire(*e);
        continue;
      }
      r = std::move(m.get<request>());
    }
    if (!r) return;
    shard.apply(std::move(*r));
  }
}

/// One MGET key's answer; the index puts it back in the key's place (a
/// scope's join() is in completion order).
struct Found {
  std::size_t index = 0;
  Reply reply{};
};

/// MGET: one child fiber per key, all in flight at once (each waits on its
/// own shard), and one deadline over them all. On a timeout the scope's end
/// cancels the lookups still waiting (their fibers unwind).
std::string mget(Store& store, const std::vector<std::string>& keys, duet::Instant deadline) {
  duet::TaskScope<Found> lookups;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    lookups.spawn(duet::stackful, [&store, i, key = keys[i]]() mutable {
      return Found{.index = i, .reply = duet::wait(store.ask(Request::get(std::move(key))))};
    });
  }
  auto found = duet::wait(duet::timeout_at(deadline, lookups.join()));
  if (!found) return kTimeout;
  std::vector<Reply> replies(keys.size());
  for (Found& f : *found) replies[f.index] = std::move(f.reply);
  return values_text(replies);
}

/// WATCH: the connection becomes a stream of the key's changes. It ends
/// when the client closes (or sends anything), or when the server drains
/// (a last line "END").
void watch(Reader& in, Store& store, const std::string& key, duet::CancellationToken stop) {
  auto changes = store.shard_for(key).subscribe();  // before WATCHING: no change is missed
  if (!send(in.get_ref(), "WATCHING\n", duet::Clock::now() + kRequestDeadline)) return;
  std::string input;
  enum { stopping, changed, spoke };  // the select's cases, in the order written
  for (;;) {
    auto m = duet::wait(duet::select(duet::biased, stop.cancelled(), changes.recv(),
                                     in.read_line(input, kMaxLine)));
    if (m.is<stopping>()) {
      (void)send(in.get_ref(), "END\n", duet::Clock::now() + kRequestDeadline);
      return;
    }
    if (m.is<spoke>()) return;             // end of stream, an error, or a line: the watch is over
    auto c = std::move(m.get<changed>());  // duet::BroadcastRecv<Event>
    std::string text;
    if (c.status == duet::ChannelStatus::closed) return;
    if (c.status == duet::ChannelStatus::lagged) {
      text = "LAGGED " + std::to_string(c.missed) + "\n";  // fell behind: changes lost
    } else if (c.value->key == key) {
      text = event_text(*c.value);
    } else {
      continue;  // another key of the same shard
    }
    if (!send(in.get_ref(), text, duet::Clock::now() + kRequestDeadline)) return;
  }
}

/// One connection: a request per line, each answered within its deadline,
/// until QUIT, the client's close, `o.idle` without a request, or a drain.
void connection(TcpStream s, Store& store, const Options& o, duet::CancellationToken stop) {
  Reader in(std::move(s));
  std::string line;
  enum { stopping, request, idle };
  for (;;) {
    // Between requests: a drain (first, so that pipelined input cannot
    // hold it off), the next line, or the idle timeout.
    line.clear();
    auto m = duet::wait(duet::select(duet::biased, stop.cancelled(), in.read_line(line, kMaxLine),
                                     duet::sleep(o.idle)));
    if (!m.is<request>()) return;  // draining, or idle too long: close
    auto n = std::move(m.get<request>());
    if (!n || *n == 0) return;  // an error, a line over kMaxLine, or the client closed

    // From here the request is in flight: a drain lets it finish.
    const duet::Instant deadline = duet::Clock::now() + kRequestDeadline;
    const Command cmd = parse(line);
    std::string reply;
    switch (cmd.verb) {
      case Verb::set:
      case Verb::get:
      case Verb::del: {
        auto r = duet::wait(duet::timeout_at(deadline, store.ask(Request::of(cmd))));
        reply = r ? reply_text(cmd.verb, *r) : kTimeout;
        break;
      }
      case Verb::mget:
        reply = mget(store, cmd.keys, deadline);
        break;
      case Verb::watch:
        watch(in, store, cmd.keys[0], stop);
        return;
      case Verb::quit:
        (void)send(in.get_ref(), "BYE\n", deadline);
        return;
      case Verb::invalid:
        reply = "ERROR " + cmd.error + "\n";
        break;
    }
    if (!send(in.get_ref(), reply, deadline)) return;
  }
}

}  // namespace

void serve_fibers(duet::net::TcpListener& listener, const Options& o,
                  duet::CancellationToken stop) {
  Store store(o.shards);
  duet::TaskScope<void> owners;
  for (Shard& shard : store.shards()) {
    owners.spawn(duet::stackful({.name = "kv_cache shard owner"}), [&shard] { own(shard); });
  }

  // The accept loop (docs/writing-a-server.md): the drain first, then a
  // new connection, then a finished one to reap (its outcome seen, so the
  // scope does not keep it). next_spawned(), not next(): with no connection
  // open it waits, where next() would answer "none" at once and spin.
  duet::TaskScope<void> connections;
  enum { stopping, accepted, reaped };
  for (;;) {
    auto m = duet::wait(duet::select(duet::biased, stop.cancelled(), listener.accept(),
                                     connections.next_spawned()));
    if (m.is<stopping>()) break;
    if (m.is<reaped>()) {
      try {
        m.get<reaped>()->take();  // rethrows what the connection threw
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kv_cache: connection failed: %s\n", e.what());
      }
      continue;
    }
    auto c = std::move(m.get<accepted>());
    if (!c) {  // EMFILE, ENFILE...: the listener stays usable; back off
      std::fprintf(stderr, "kv_cache: accept: %s\n", c.error().message().c_str());
      duet::wait(duet::sleep(10ms));
      continue;
    }
    (void)c->set_nodelay(true);
    connections.spawn(duet::stackful({.name = "kv_cache connection"}),
                      [s = std::move(*c), &store, &o, stop]() mutable {
                        connection(std::move(s), store, o, stop);
                      });
  }
  // Draining: the connections see `stop` between requests and close;
  // those in a request finish it first. Then no one asks the shards.
  duet::wait(connections.join());
  store.close();
  duet::wait(owners.join());
}

}  // namespace kv
