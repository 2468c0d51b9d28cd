// kernel_faults_test.cpp: the seeded faults of the simulated kernel that
// stage 2 adds (docs/simulation.md): EMFILE from accept (a server loop of
// its own and duet::http's server keep serving), EAGAIN storms (an echo
// comes back whole on a coroutine and a fiber; try_write's bound of eight
// in a row) and file write, read and sync errors on the simulated disk
// (seen as error codes, a failed read leaving its buffer untouched,
// replayed by the seed); each the same trace for the same seed. And duet::http's seed-sweep
// population under EAGAIN storms and EMFILE together: every request
// answered right on each engine.
#include <catch2/catch.hpp>

#include <duet/http.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "http_scenario.hpp"
#include "sim_util.hpp"

using namespace duet::simtest;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

// ---- EMFILE from accept ------------------------------------------------------

/// One connection's task: reads an 8-byte request "req-NNNN" and answers
/// "ans-NNNN".
duet::Task<void> answer_request(duet::net::TcpStream s) {
  char req[8];
  std::size_t got = 0;
  while (got < sizeof req) {
    auto n = co_await s.read(req + got, sizeof req - got);
    if (!n || *n == 0) co_return;
    got += *n;
  }
  req[0] = 'a';
  req[1] = 'n';
  req[2] = 's';
  auto w = co_await s.write_all(req, sizeof req);
  (void)w;
}

/// The accept loop of docs/writing-a-server.md: a failed accept (EMFILE:
/// the listener stays usable) is counted, backs off 10 ms and accepts
/// again; each connection is a task of the server's host.
duet::Task<void> emfile_tolerant_server(Host self, duet::net::TcpListener l, int* emfiles) {
  for (;;) {
    auto s = co_await l.accept();
    if (!s) {
      if (s.error() == code(EMFILE)) ++*emfiles;
      co_await duet::sleep(std::chrono::milliseconds(10));
      continue;
    }
    duet::sim::spawn(self, answer_request(std::move(*s))).detach();
  }
}

/// Sends request `i` and reads its answer: true when it is "ans-<i>".
duet::Task<bool> ask(duet::net::SocketAddr to, int i) {
  auto c = co_await duet::net::TcpStream::connect(to);
  if (!c) co_return false;
  char req[9];
  std::snprintf(req, sizeof req, "req-%04d", i);
  auto w = co_await c->write_all(req, 8);
  if (!w) co_return false;
  char ans[8];
  std::size_t got = 0;
  while (got < sizeof ans) {
    auto n = co_await c->read(ans + got, sizeof ans - got);
    if (!n || *n == 0) co_return false;
    got += *n;
  }
  co_return std::string(ans, 8) == "ans-" + std::string(req + 4, 4);
}

struct EmfileRun {
  int answered = 0;
  int emfiles = 0;
  std::string fingerprint;
};

/// Twelve clients on four hosts ask the server at once, under the EMFILE
/// fault at rate `rate`; the fingerprint is read on the world's worker when
/// the last client is done.
EmfileRun emfile_scenario(std::uint64_t seed, double rate) {
  WorldConfig cfg{.seed = seed};
  cfg.link = {.latency = std::chrono::milliseconds(2), .jitter = std::chrono::milliseconds(1)};
  cfg.faults.emfile = rate;
  EmfileRun out;  // the server writes into it: it outlives the world
  World w(cfg);
  Host server = w.add_host("server");
  std::vector<Host> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(w.add_host("client" + std::to_string(i)));
  auto l = duet::sim::as_host(
      server, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(80)); });
  REQUIRE(l);
  w.spawn(server, emfile_tolerant_server(server, std::move(*l), &out.emfiles)).detach();
  out.answered = w.run(
      clients[0],
      [](World* w, Host server, std::vector<Host> clients, std::string* fp) -> duet::Task<int> {
        std::vector<duet::JoinHandle<bool>> hs;
        for (int i = 0; i < 12; ++i) {
          hs.push_back(duet::sim::spawn(clients[static_cast<std::size_t>(i) % clients.size()],
                                        ask(server.addr(80), i)));
        }
        int answered = 0;
        for (auto& h : hs) {
          const bool ok = co_await std::move(h);
          answered += ok ? 1 : 0;
        }
        *fp = w->fingerprint();
        co_return answered;
      }(&w, server, clients, &out.fingerprint));
  return out;
}

}  // namespace

TEST_CASE("sim: under EMFILE from accept a server loop keeps serving every client") {
  const EmfileRun a = emfile_scenario(5, 0.5);
  INFO(a.fingerprint);
  CHECK(a.answered == 12);
  CHECK(a.emfiles > 0);  // the fault bit, and the loop went on
  const EmfileRun b = emfile_scenario(5, 0.5);
  CHECK(b.fingerprint == a.fingerprint);
  CHECK(b.emfiles == a.emfiles);
  // Left at 0 the fault draws nothing: no EMFILE, and another trace.
  const EmfileRun none = emfile_scenario(5, 0.0);
  CHECK(none.answered == 12);
  CHECK(none.emfiles == 0);
  CHECK(none.fingerprint != a.fingerprint);
}

TEST_CASE("sim: duet::http's server backs off EMFILE from accept and answers every GET") {
  const duet::http::Engine engine =
      GENERATE(duet::http::Engine::coroutine, duet::http::Engine::fiber, duet::http::Engine::poll);
  auto once = [engine](std::uint64_t seed) {
    duet::http::Router routes;
    routes.get("/hello", [](duet::http::Request&) -> duet::Task<duet::http::Response> {
      co_return duet::http::Response::text(200, "hello");
    });
    int accept_errors = 0;
    duet::http::ServerConfig opts;
    opts.engine = engine;
    opts.hooks.on_accept_error = [&accept_errors](std::error_code e) {
      if (e == code(EMFILE)) ++accept_errors;
    };
    duet::http::Server srv(std::move(routes), opts);  // outlives the world's runtime
    WorldConfig cfg{.seed = seed};
    cfg.faults.emfile = 0.6;
    World w(cfg);
    Host s = w.add_host("server");
    std::vector<Host> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(w.add_host("c" + std::to_string(i)));
    auto listener = duet::sim::as_host(
        s, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(8080)); });
    REQUIRE(listener);
    srv.serve(w.runtime(), std::move(*listener));
    std::string fp;
    const int ok = w.run(
        clients[0],
        [](World* w, Host s, std::vector<Host> clients, std::string* fp) -> duet::Task<int> {
          std::vector<duet::JoinHandle<bool>> hs;
          for (std::size_t i = 0; i < 9; ++i) {
            hs.push_back(
                duet::sim::spawn(clients[i % clients.size()], [](Host s) -> duet::Task<bool> {
                  duet::http::Client client;  // its own connection
                  auto r = co_await client.send(
                      s.addr(8080), duet::http::Request::make(duet::http::Method::get, "/hello"));
                  client.clear();
                  co_return r && r->status == 200 && r->body == "hello";
                }(s)));
          }
          int n = 0;
          for (auto& h : hs) {
            const bool got = co_await std::move(h);
            n += got ? 1 : 0;
          }
          *fp = w->fingerprint();
          co_return n;
        }(&w, s, clients, &fp));
    return std::make_tuple(ok, accept_errors, fp);
  };
  const auto a = once(8);
  INFO(std::get<2>(a));
  CHECK(std::get<0>(a) == 9);
  CHECK(std::get<1>(a) > 0);
  const auto b = once(8);
  CHECK(std::get<2>(b) == std::get<2>(a));
  CHECK(std::get<1>(b) == std::get<1>(a));
}

namespace {

// ---- EAGAIN storms -----------------------------------------------------------

struct StormRun {
  bool whole = false;       // the echo came back byte for byte
  std::size_t eagains = 0;  // operations that could proceed and reported would-block
  std::size_t wakes = 0;    // waits woken for nothing
  std::string fingerprint;
};

/// Counts the fault's trace lines: read on the world's worker.
StormRun storm_summary(const World& w, bool whole) {
  StormRun out;
  out.whole = whole;
  for (const std::string& l : w.trace()) {
    out.eagains += l.find(" fault-eagain ") != std::string::npos ? 1 : 0;
    out.wakes += l.find(" fault-wake ") != std::string::npos ? 1 : 0;
  }
  out.fingerprint = w.fingerprint();
  return out;
}

duet::Task<StormRun> coro_storm_client(World* w, Host b, const std::vector<std::byte>* msg) {
  auto srv = duet::sim::spawn(b, coro_echo_server(80, 1));
  auto r = co_await coro_echo_client(b.addr(80), *msg);
  co_await std::move(srv);
  const bool whole = r.has_value() && *r == *msg;
  co_return storm_summary(*w, whole);
}

/// 100 KB echoed between two hosts under spurious_eagain at `rate`: more
/// than the socket buffer, so sends wait for the window as well, and less
/// than both directions' buffers together (the client writes everything
/// before it reads: beyond them the echo would wait on itself).
StormRun storm_echo(std::uint64_t seed, double rate, bool fiber) {
  WorldConfig cfg{.seed = seed, .keep_trace = true};
  cfg.link = {.latency = std::chrono::milliseconds(1), .jitter = std::chrono::milliseconds(1)};
  cfg.faults.spurious_eagain = rate;
  World w(cfg);
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  const auto msg = bytes(100 * 1024, 3);
  // The server starts inside the run's task: spawned from the test's
  // thread it would take its first draw (its accept's wait) while the test's
  // thread goes on, at a moment no seed fixes.
  if (fiber) {
    return w.run(a, duet::stackful, [&w, b, &msg] {
      auto srv = duet::sim::spawn(b, duet::stackful, [] { fiber_echo_server(80, 1); });
      auto r = fiber_echo_client(b.addr(80), msg);
      srv.join();
      return storm_summary(w, r.has_value() && *r == msg);
    });
  }
  return w.run(a, coro_storm_client(&w, b, &msg));
}

}  // namespace

TEST_CASE("sim: an echo of 100 KB under an EAGAIN storm comes back whole, same seed same trace") {
  const bool fiber = GENERATE(false, true);
  INFO((fiber ? "fiber" : "coroutine"));
  const StormRun a = storm_echo(31, 0.7, fiber);
  INFO(a.fingerprint);
  CHECK(a.whole);
  CHECK(a.eagains > 0);
  CHECK(a.wakes > 0);
  const StormRun b = storm_echo(31, 0.7, fiber);
  CHECK(b.fingerprint == a.fingerprint);
  CHECK(b.eagains == a.eagains);
  // Even at a rate of 1 the socket goes on (every ninth draw is honest).
  const StormRun all = storm_echo(31, 1.0, fiber);
  CHECK(all.whole);
  // Left at 0 the fault draws nothing.
  const StormRun none = storm_echo(31, 0.0, fiber);
  CHECK(none.whole);
  CHECK(none.eagains + none.wakes == 0);
}

TEST_CASE("sim: at an EAGAIN rate of 1 try_write finds no room eight times, then takes the bytes") {
  WorldConfig cfg{.seed = 32};
  cfg.faults.spurious_eagain = 1.0;
  World w(cfg);
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.run(a, [](Host b) -> duet::Task<void> {
    auto l = duet::sim::as_host(
        b, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(81)); });
    REQUIRE(l);
    auto c = co_await duet::net::TcpStream::connect(b.addr(81));
    REQUIRE(c);
    const auto msg = bytes(100);
    int no_room = 0;
    std::size_t took = 0;
    while (took == 0) {
      auto k = c->try_write(msg);
      REQUIRE(k);
      took = *k;
      no_room += took == 0 ? 1 : 0;
    }
    CHECK(no_room == 8);
    CHECK(took == 100);
    // The accept and the reads storm too, and still the bytes arrive whole.
    auto s = co_await l->accept();
    REQUIRE(s);
    std::byte buf[100];
    std::size_t got = 0;
    while (got < sizeof buf) {
      auto n = co_await s->read(std::span(buf).subspan(got));
      REQUIRE(n);
      REQUIRE(*n > 0);
      got += *n;
    }
    CHECK(std::equal(buf, buf + 100, msg.begin()));
  }(b));
}

namespace {

// ---- file write errors -----------------------------------------------------

struct FileRun {
  std::vector<int> outcomes;  // per write: 0, or the errno it failed with
  std::size_t traced = 0;     // fault-file-write lines in the trace
  std::string fingerprint;
  bool content_ok = false;  // every write that succeeded is in the file
};

/// Writes 40 blocks of 512 bytes at their offsets into a file from a
/// task of the world, under file_write_error at `rate`, then reads back
/// the blocks whose write succeeded.
duet::Task<FileRun> write_blocks(World* w, std::string path) {
  FileRun out;
  auto f = co_await duet::fs::File::open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (!f) co_return out;
  constexpr std::size_t kBlock = 512;
  for (std::uint32_t i = 0; i < 40; ++i) {
    const auto data = bytes(kBlock, i);
    auto r = co_await f->write_at(data, i * kBlock);
    if (r) {
      out.outcomes.push_back(*r == kBlock ? 0 : -1);
    } else {
      out.outcomes.push_back(r.error().value());
    }
  }
  out.content_ok = true;
  for (std::uint32_t i = 0; i < 40; ++i) {
    if (out.outcomes[i] != 0) continue;
    std::vector<std::byte> back(kBlock);
    auto r = co_await f->read_at(back, i * kBlock);
    if (!r || *r != kBlock || back != bytes(kBlock, i)) out.content_ok = false;
  }
  for (const std::string& l : w->trace()) {
    out.traced += l.find(" fault-file-write ") != std::string::npos ? 1 : 0;
  }
  out.fingerprint = w->fingerprint();
  co_return out;
}

/// Runs `scenario(&w, path)` as the task of host "disk" in a world of
/// `cfg`, over a fresh file of the host's simulated disk (nothing of the
/// machine's: the world's disk is gone with it).
template <class Scenario>
auto on_disk(const WorldConfig& cfg, const char* name, Scenario scenario) {
  World w(cfg);
  Host h = w.add_host("disk");
  return w.run(h, scenario(&w, std::string("/data/duet-sim-") + name));
}

FileRun file_scenario(std::uint64_t seed, double rate) {
  WorldConfig cfg{.seed = seed, .keep_trace = true};
  cfg.faults.file_write_error = rate;
  return on_disk(cfg, "file", write_blocks);
}

}  // namespace

TEST_CASE(
    "sim: file writes under the write-error fault fail with EIO or ENOSPC, as the seed replays") {
  const FileRun a = file_scenario(41, 0.3);
  INFO(a.fingerprint);
  REQUIRE(a.outcomes.size() == 40);
  const auto eio = std::count(a.outcomes.begin(), a.outcomes.end(), EIO);
  const auto enospc = std::count(a.outcomes.begin(), a.outcomes.end(), ENOSPC);
  const auto ok = std::count(a.outcomes.begin(), a.outcomes.end(), 0);
  CHECK(eio > 0);
  CHECK(enospc > 0);
  CHECK(eio + enospc + ok == 40);  // nothing else: a failed write fails whole
  CHECK(a.traced == static_cast<std::size_t>(eio + enospc));
  CHECK(a.content_ok);
  const FileRun b = file_scenario(41, 0.3);
  CHECK(b.outcomes == a.outcomes);
  CHECK(b.fingerprint == a.fingerprint);
  const FileRun none = file_scenario(41, 0.0);
  CHECK(std::count(none.outcomes.begin(), none.outcomes.end(), 0) == 40);
  CHECK(none.traced == 0);
  CHECK(none.content_ok);
}

namespace {

/// The seed sweep's population (http_scenario.hpp) with the EAGAIN storm
/// and EMFILE faults alone, at high rates.
ScenarioConfig storm_config() {
  ScenarioConfig cfg;
  cfg.faults = duet::sim::Faults{};
  cfg.faults.spurious_eagain = 0.5;
  cfg.faults.emfile = 0.3;
  cfg.loss = 0.0;
  return cfg;
}

}  // namespace

TEST_CASE("sim: duet::http under EAGAIN storms replays its seed from the process's first world") {
  // The servers start in a task of the world: started from the test's
  // thread, the accept loop's first wait (and its spurious-wake draw) fell
  // before or after the clients' first draws as the threads' timing went,
  // and the first world of a process (its threads cold) drew apart from
  // the next ones under the same seed.
  const Verdict a =
      run_http_scenario(1, duet::http::Engine::poll, Handling::correct, storm_config());
  const Verdict b =
      run_http_scenario(1, duet::http::Engine::poll, Handling::correct, storm_config());
  CHECK(a.passed());
  CHECK(a.fingerprint == b.fingerprint);
}

TEST_CASE("sim: duet::http under EAGAIN storms and EMFILE answers every request on each engine") {
  // With these two faults nothing is lost, so every request is answered
  // right, and every descriptor comes back.
  const ScenarioConfig cfg = storm_config();
  for (const duet::http::Engine engine :
       {duet::http::Engine::coroutine, duet::http::Engine::fiber, duet::http::Engine::poll}) {
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
      const Verdict v = run_http_scenario(seed, engine, Handling::correct, cfg);
      INFO(v.fingerprint << " engine " << static_cast<int>(engine));
      for (const std::string& x : v.violations) UNSCOPED_INFO(x);
      for (const auto& [what, n] : v.error_kinds) UNSCOPED_INFO(what << " x" << n);
      CHECK(v.passed());
      CHECK(v.errors == 0);
      CHECK(v.ok > 0);
    }
  }
}

namespace {

struct ReadSyncRun {
  std::vector<int> syncs;  // per sync: 0, or the errno it failed with
  std::vector<int> reads;  // per read: 0 (the block read back whole), or the errno
  bool untouched = true;   // every failed read left its buffer as it was
  std::size_t traced_reads = 0, traced_syncs = 0;
  std::string fingerprint;
};

/// Writes 30 blocks of 512 bytes, each followed by a sync (sync_data and
/// sync_all in turn), then reads each back, under file_read_error and
/// file_sync_error at `rate`.
duet::Task<ReadSyncRun> write_sync_read(World* w, std::string path) {
  ReadSyncRun out;
  auto f = co_await duet::fs::File::open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (!f) co_return out;
  constexpr std::size_t kBlock = 512;
  for (std::uint32_t i = 0; i < 30; ++i) {
    const auto data = bytes(kBlock, i);
    auto wr = co_await f->write_at(data, i * kBlock);
    if (!wr || *wr != kBlock) co_return out;
    // Each await on its own statement (GCC 12: no temporaries of a
    // conditional inside a co_await).
    duet::Result<void> s;
    if (i % 2 == 0) {
      s = co_await f->sync_data();
    } else {
      s = co_await f->sync_all();
    }
    out.syncs.push_back(s ? 0 : s.error().value());
  }
  for (std::uint32_t i = 0; i < 30; ++i) {
    std::vector<std::byte> back(kBlock, std::byte{0xee});
    auto r = co_await f->read_at(back, i * kBlock);
    if (r) {
      out.reads.push_back(*r == kBlock && back == bytes(kBlock, i) ? 0 : -1);
    } else {
      out.reads.push_back(r.error().value());
      const bool same = back == std::vector<std::byte>(kBlock, std::byte{0xee});
      out.untouched = out.untouched && same;
    }
  }
  for (const std::string& l : w->trace()) {
    out.traced_reads += l.find(" fault-file-read ") != std::string::npos ? 1 : 0;
    out.traced_syncs += l.find(" fault-file-sync ") != std::string::npos ? 1 : 0;
  }
  out.fingerprint = w->fingerprint();
  co_return out;
}

ReadSyncRun read_sync_scenario(std::uint64_t seed, double rate) {
  WorldConfig cfg{.seed = seed, .keep_trace = true};
  cfg.faults.file_read_error = rate;
  cfg.faults.file_sync_error = rate;
  return on_disk(cfg, "sync", write_sync_read);
}

}  // namespace

TEST_CASE("sim: file reads and syncs under their faults fail with EIO, as the seed replays") {
  const ReadSyncRun a = read_sync_scenario(43, 0.3);
  INFO(a.fingerprint);
  REQUIRE(a.syncs.size() == 30);
  REQUIRE(a.reads.size() == 30);
  const auto sync_eio = std::count(a.syncs.begin(), a.syncs.end(), EIO);
  const auto read_eio = std::count(a.reads.begin(), a.reads.end(), EIO);
  CHECK(sync_eio > 0);
  CHECK(read_eio > 0);
  CHECK(sync_eio + std::count(a.syncs.begin(), a.syncs.end(), 0) == 30);
  CHECK(read_eio + std::count(a.reads.begin(), a.reads.end(), 0) == 30);  // whole, or nothing
  CHECK(a.untouched);
  CHECK(a.traced_syncs == static_cast<std::size_t>(sync_eio));
  CHECK(a.traced_reads == static_cast<std::size_t>(read_eio));
  const ReadSyncRun b = read_sync_scenario(43, 0.3);
  CHECK(b.syncs == a.syncs);
  CHECK(b.reads == a.reads);
  CHECK(b.fingerprint == a.fingerprint);
  const ReadSyncRun none = read_sync_scenario(43, 0.0);
  CHECK(std::count(none.syncs.begin(), none.syncs.end(), 0) == 30);
  CHECK(std::count(none.reads.begin(), none.reads.end(), 0) == 30);
  CHECK(none.traced_reads + none.traced_syncs == 0);
}
