// coroutines.cpp: kv_cache as coroutines (duet::Task, co_await): the
// accept loop, a connection, the MGET fan-out, the WATCH stream and the
// shards' owners. fibers.cpp is the same server as fibers, line for line;
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
duet::Task<bool> send(TcpStream& s, std::string_view text, duet::Instant deadline) {
  // io::Transferred: all of it, or the bytes sent and why not the rest
  // (duet::TimeoutErrc::elapsed at the deadline).
  auto w = co_await duet::timeout_at(deadline, s.write_all(std::as_bytes(std::span(text))));
  co_return w.ok();
}

/// A shard's owner: answers its requests in order and expires its entries
/// as their TTLs pass, until Store::close() (after the last connection
/// ended) and the queue is empty.
duet::Task<void> own(Shard& shard) {
  enum { request, expiry };
  for (;;) {
    std::optional<Request> r;
    if (!shard.has_expiries()) {
      r = co_await shard.next_request();  // nothing to expire: requests alone
    } else {
      auto m = co_await duet::select(shard.next_request(), shard.next_expiry());
      if (m.is<expiry>()) {
        if (auto e = std::move(m.get<expiry>())) shard.expire(*e);
        continue;
      }
      r = std::move(m.get<request>());
    }
    if (!r) co_return;
    shard.apply(std::move(*r));
  }
}

/// One MGET key, looked up by a child task of its own. The index puts the
/// answer back in the key's place (a scope's join() is in completion order).
struct Found {
  std::size_t index = 0;
  Reply reply{};
};

duet::Task<Found> lookup(Store& store, std::size_t index, std::string key) {
  Reply r = co_await store.ask(Request::get(std::move(key)));
  co_return Found{.index = index, .reply = std::move(r)};
}

/// MGET: one child per key, all in flight at once (each waits on its own
/// shard), and one deadline over them all. On a timeout the scope's end
/// cancels the lookups still waiting.
duet::Task<std::string> mget(Store& store, const std::vector<std::string>& keys,
                             duet::Instant deadline) {
  duet::TaskScope<Found> lookups;
  for (std::size_t i = 0; i < keys.size(); ++i) lookups.spawn(lookup(store, i, keys[i]));
  auto found = co_await duet::timeout_at(deadline, lookups.join());
  if (!found) co_return kTimeout;
  std::vector<Reply> replies(keys.size());
  for (Found& f : *found) replies[f.index] = std::move(f.reply);
  co_return values_text(replies);
}

/// WATCH: the connection becomes a stream of the key's changes. It ends
/// when the client closes (or sends anything), or when the server drains
/// (a last line "END").
duet::Task<void> watch(Reader& in, Store& store, const std::string& key,
                       duet::CancellationToken stop) {
  auto changes = store.shard_for(key).subscribe();  // before WATCHING: no change is missed
  if (!co_await send(in.get_ref(), "WATCHING\n", duet::Clock::now() + kRequestDeadline)) {
    co_return;
  }
  std::string input;
  enum { stopping, changed, spoke };  // the select's cases, in the order written
  for (;;) {
    auto m = co_await duet::select(duet::biased, stop.cancelled(), changes.recv(),
                                   in.read_line(input, kMaxLine));
    if (m.is<stopping>()) {
      (void)co_await send(in.get_ref(), "END\n", duet::Clock::now() + kRequestDeadline);
      co_return;
    }
    if (m.is<spoke>()) co_return;          // end of stream, an error, or a line: the watch is over
    auto c = std::move(m.get<changed>());  // duet::BroadcastRecv<Event>
    std::string text;
    if (c.status == duet::ChannelStatus::closed) co_return;
    if (c.status == duet::ChannelStatus::lagged) {
      text = "LAGGED " + std::to_string(c.missed) + "\n";  // fell behind: changes lost
    } else if (c.value->key == key) {
      text = event_text(*c.value);
    } else {
      continue;  // another key of the same shard
    }
    if (!co_await send(in.get_ref(), text, duet::Clock::now() + kRequestDeadline)) co_return;
  }
}

/// One connection: a request per line, each answered within its deadline,
/// until QUIT, the client's close, `o.idle` without a request, or a drain.
duet::Task<void> connection(TcpStream s, Store& store, const Options& o,
                            duet::CancellationToken stop) {
  Reader in(std::move(s));
  std::string line;
  enum { stopping, request, idle };
  for (;;) {
    // Between requests: a drain (first, so that pipelined input cannot
    // hold it off), the next line, or the idle timeout.
    line.clear();
    auto m = co_await duet::select(duet::biased, stop.cancelled(), in.read_line(line, kMaxLine),
                                   duet::sleep(o.idle));
    if (!m.is<request>()) co_return;  // draining, or idle too long: close
    auto n = std::move(m.get<request>());
    if (!n || *n == 0) co_return;  // an error, a line over kMaxLine, or the client closed

    // From here the request is in flight: a drain lets it finish.
    const duet::Instant deadline = duet::Clock::now() + kRequestDeadline;
    const Command cmd = parse(line);
    std::string reply;
    switch (cmd.verb) {
      case Verb::set:
      case Verb::get:
      case Verb::del: {
        auto r = co_await duet::timeout_at(deadline, store.ask(Request::of(cmd)));
        reply = r ? reply_text(cmd.verb, *r) : kTimeout;
        break;
      }
      case Verb::mget:
        reply = co_await mget(store, cmd.keys, deadline);
        break;
      case Verb::watch:
        co_await watch(in, store, cmd.keys[0], stop);
        co_return;
      case Verb::quit:
        (void)co_await send(in.get_ref(), "BYE\n", deadline);
        co_return;
      case Verb::invalid:
        reply = "ERROR " + cmd.error + "\n";
        break;
    }
    if (!co_await send(in.get_ref(), reply, deadline)) co_return;
  }
}

}  // namespace

duet::Task<void> serve_coroutines(duet::net::TcpListener& listener, const Options& o,
                                  duet::CancellationToken stop) {
  Store store(o.shards);
  duet::TaskScope<void> owners;
  for (Shard& shard : store.shards()) owners.spawn(own(shard));

  // The accept loop (docs/writing-a-server.md): the drain first, then a
  // new connection, then a finished one to reap (its outcome seen, so the
  // scope does not keep it). next_spawned(), not next(): with no connection
  // open it waits, where next() would answer "none" at once and spin.
  duet::TaskScope<void> connections;
  enum { stopping, accepted, reaped };
  for (;;) {
    auto m = co_await duet::select(duet::biased, stop.cancelled(), listener.accept(),
                                   connections.next_spawned());
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
      co_await duet::sleep(10ms);
      continue;
    }
    (void)c->set_nodelay(true);
    connections.spawn(connection(std::move(*c), store, o, stop));
  }
  // Draining: the connections see `stop` between requests and close;
  // those in a request finish it first. Then no one asks the shards.
  co_await connections.join();
  store.close();
  co_await owners.join();
}

}  // namespace kv
