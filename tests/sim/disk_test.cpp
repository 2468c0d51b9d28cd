// disk_test.cpp: each host's simulated disk (DiskConfig,
// docs/simulation.md, "A simulated disk"): open, write, read and close
// answer as the kernel does (errors included), each host has its own
// files, a synced write survives a crash while a pending one is kept,
// torn or lost by the seed's draws, descriptors die with their host, the
// latency is the world's clock and the capacity a real ENOSPC; and a
// planted bug: a store that acknowledges an update before its fsync
// loses it at a crash for some seed of a sweep, which replays the loss
// and its trace, while the store that syncs first never loses one, in a
// coroutine and in a fiber.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "duet/fs/file.hpp"
#include "sim_util.hpp"

using namespace duet::simtest;
using duet::fs::File;
using duet::sim::DiskConfig;
using duet::sim::Host;
using duet::sim::World;
using duet::sim::WorldConfig;

namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// A read of up to `n` bytes at `off` as a string, or the errno's text
/// ("errno N").
duet::Task<std::string> read_text(File& f, std::size_t n, std::uint64_t off) {
  std::vector<std::byte> b(n);
  auto r = co_await f.read_at(b, off);
  if (!r) co_return "errno " + std::to_string(r.error().value());
  co_return std::string(reinterpret_cast<const char*>(b.data()), *r);
}

/// The errno of an open (0: it opened, and the file is closed again).
duet::Task<int> open_errno(std::string path, int flags) {
  auto f = co_await File::open(std::move(path), flags);
  if (!f) co_return f.error().value();
  co_return 0;
}

struct Semantics {
  int missing = -1, excl = -1, bad_mode = -1;
  bool virtual_fd = false;
  long gap_write = -1;
  std::string whole, tail, past_end;
  int write_on_rdonly = -1, read_on_wronly = -1;
  std::string after_trunc, after_append;
  bool closed = false;
  int after_close = -1;
};

duet::Task<Semantics> semantics() {
  Semantics s;
  s.missing = co_await open_errno("/data/x", O_RDONLY);
  auto f = co_await File::open("/data/x", O_RDWR | O_CREAT, 0644);
  if (!f) co_return s;
  s.virtual_fd = f->native_handle() >= duet::io::kVirtualFdBase;
  s.excl = co_await open_errno("/data/x", O_RDWR | O_CREAT | O_EXCL);
  s.bad_mode = co_await open_errno("/data/x", O_ACCMODE);
  auto w1 = co_await f->write_at(as_bytes("hello"), 0);
  auto w2 = co_await f->write_at(as_bytes("w"), 10);  // past the end: a gap of zeros
  if (!w1 || *w1 != 5 || !w2) co_return s;
  s.gap_write = static_cast<long>(*w2);
  s.whole = co_await read_text(*f, 64, 0);     // short at the end of the file
  s.tail = co_await read_text(*f, 100, 8);     // from inside, short
  s.past_end = co_await read_text(*f, 8, 11);  // at the end: nothing
  {
    auto ro = co_await File::open("/data/x", O_RDONLY);
    if (!ro) co_return s;
    auto w = co_await ro->write_at(as_bytes("no"), 0);
    s.write_on_rdonly = w ? 0 : w.error().value();
    auto wo = co_await File::open("/data/x", O_WRONLY);
    if (!wo) co_return s;
    std::vector<std::byte> b(4);
    auto r = co_await wo->read_at(b, 0);
    s.read_on_wronly = r ? 0 : r.error().value();
  }
  {
    auto t = co_await File::open("/data/x", O_RDWR | O_TRUNC);
    if (!t) co_return s;
    s.after_trunc = co_await read_text(*t, 64, 0);
    auto ap = co_await File::open("/data/x", O_WRONLY | O_APPEND);
    if (!ap) co_return s;
    auto a1 = co_await ap->write_at(as_bytes("ab"), 0);
    auto a2 = co_await ap->write_at(as_bytes("cd"), 0);  // Linux: O_APPEND ignores the offset
    if (!a1 || !a2) co_return s;
    s.after_append = co_await read_text(*t, 64, 0);
  }
  s.closed = static_cast<bool>(f->close());
  std::vector<std::byte> b(4);
  auto r = co_await f->read_at(b, 0);
  s.after_close = r ? 0 : r.error().value();
  co_return s;
}

}  // namespace

TEST_CASE("sim disk: open, write, read and close answer as the kernel does") {
  World w;
  Host a = w.add_host("a");
  const Semantics s = w.run(a, semantics());
  CHECK(s.missing == ENOENT);
  CHECK(s.virtual_fd);
  CHECK(s.excl == EEXIST);
  CHECK(s.bad_mode == EINVAL);
  CHECK(s.gap_write == 1);
  CHECK(s.whole == std::string("hello\0\0\0\0\0w", 11));
  CHECK(s.tail == std::string("\0\0w", 3));
  CHECK(s.past_end.empty());
  CHECK(s.write_on_rdonly == EBADF);
  CHECK(s.read_on_wronly == EBADF);
  CHECK(s.after_trunc.empty());
  CHECK(s.after_append == "abcd");
  CHECK(s.closed);
  CHECK(s.after_close == EBADF);
  CHECK(w.read_file(a, "/data/x") == std::optional<std::string>("abcd"));
  CHECK(w.read_file(a, "/data/y") == std::nullopt);
}

TEST_CASE("sim disk: each host has its own files, and the world's setup is read by the host") {
  World w;
  Host a = w.add_host("a");
  Host b = w.add_host("b");
  w.write_file(a, "/etc/conf", "from setup");
  const std::string a_saw = w.run(a, []() -> duet::Task<std::string> {
    auto c = co_await File::open("/etc/conf", O_RDONLY);
    if (!c) co_return "no conf";
    std::string got = co_await read_text(*c, 64, 0);
    auto f = co_await File::open("/data/x", O_WRONLY | O_CREAT);
    if (!f) co_return "no file";
    auto n = co_await f->write_at(as_bytes("a's"), 0);
    if (!n) co_return "no write";
    co_return got;
  }());
  CHECK(a_saw == "from setup");
  // The fiber model: b has neither file until it makes its own.
  const int b_missing = w.run(b, duet::stackful, [] {
    auto c = duet::wait(File::open("/etc/conf", O_RDONLY));
    if (c) return 0;
    auto x = duet::wait(File::open("/data/x", O_RDONLY));
    if (x) return 0;
    auto f = duet::wait(File::open("/data/x", O_WRONLY | O_CREAT));
    if (!f) return 0;
    auto n = duet::wait(f->write_at(as_bytes("b's"), 0));
    return n ? c.error().value() : 0;
  });
  CHECK(b_missing == ENOENT);
  CHECK(w.read_file(a, "/data/x") == std::optional<std::string>("a's"));
  CHECK(w.read_file(b, "/data/x") == std::optional<std::string>("b's"));
  CHECK(w.read_file(b, "/etc/conf") == std::nullopt);
}

namespace {

/// On host h: writes "durable" to /data/kept and syncs it, then "-pending"
/// after it unsynced; creates /data/new unsynced; keeps /data/kept's
/// descriptor open in `*held` (it outlives the crash).
duet::Task<bool> write_then_hold(std::optional<File>* held) {
  auto f = co_await File::open("/data/kept", O_RDWR | O_CREAT);
  if (!f) co_return false;
  auto w1 = co_await f->write_at(as_bytes("durable"), 0);
  auto s = co_await f->sync_data();
  auto w2 = co_await f->write_at(as_bytes("-pending"), 7);
  auto n = co_await File::open("/data/new", O_WRONLY | O_CREAT);
  if (!w1 || !s || !w2 || !n) co_return false;
  auto w3 = co_await n->write_at(as_bytes("fresh"), 0);
  held->emplace(std::move(*f));
  co_return static_cast<bool>(w3);
}

struct AfterCrash {
  std::optional<std::string> kept, fresh;
  int stale_read = -1;  // the old descriptor's read after the restart
  bool stale_close = false;
};

AfterCrash crash_with(double survive) {
  World w(WorldConfig{.seed = 3, .disk = DiskConfig{.survive = survive}});
  Host h = w.add_host("h");
  std::optional<File> held;
  REQUIRE(w.run(h, write_then_hold(&held)));
  REQUIRE(w.read_file(h, "/data/kept") == std::optional<std::string>("durable-pending"));
  w.crash(h);
  w.restart(h);
  AfterCrash out;
  out.kept = w.read_file(h, "/data/kept");
  out.fresh = w.read_file(h, "/data/new");
  out.stale_read = w.run(h, [](File* f) -> duet::Task<int> {
    std::vector<std::byte> b(4);
    auto r = co_await f->read_at(b, 0);
    co_return r ? 0 : r.error().value();
  }(&*held));
  out.stale_close = static_cast<bool>(held->close());
  return out;
}

}  // namespace

TEST_CASE("sim disk: a synced write survives a crash, a pending one as the draws say") {
  const AfterCrash none = crash_with(0.0);  // every pending change lost
  CHECK(none.kept == std::optional<std::string>("durable"));
  CHECK(none.fresh == std::nullopt);  // created, never synced: gone with its name
  CHECK(none.stale_read == EBADF);    // its process died with the host
  CHECK(none.stale_close);
  const AfterCrash all = crash_with(1.0);  // every pending change kept
  CHECK(all.kept == std::optional<std::string>("durable-pending"));
  CHECK(all.fresh == std::optional<std::string>("fresh"));
  CHECK(all.stale_read == EBADF);
}

namespace {

/// Over a durable file of 4096 'o', one pending write of 2048 'n' at 512,
/// then a crash that keeps no pending change whole: the file after it.
std::string torn_scenario(std::uint64_t seed, std::uint64_t* hash) {
  World w(WorldConfig{.seed = seed, .disk = DiskConfig{.survive = 0.0, .tear = true}});
  Host h = w.add_host("h");
  w.write_file(h, "/data/f", std::string(4096, 'o'));
  const bool wrote = w.run(h, []() -> duet::Task<bool> {
    auto f = co_await File::open("/data/f", O_RDWR);
    if (!f) co_return false;
    auto n = co_await f->write_at(as_bytes(std::string(2048, 'n')), 512);
    co_return n&&* n == 2048;
  }());
  REQUIRE(wrote);
  w.crash(h);
  *hash = w.trace_hash();
  return w.read_file(h, "/data/f").value_or("");
}

}  // namespace

TEST_CASE("sim disk: a torn write keeps a prefix up to a sector boundary, as the seed replays") {
  int torn = 0;
  int lost = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    std::uint64_t hash = 0;
    const std::string f = torn_scenario(seed, &hash);
    INFO("seed " << seed);
    REQUIRE(f.size() == 4096);
    const std::size_t k = f.find_first_not_of('n', 512) - 512;  // new bytes kept
    CHECK(f.substr(0, 512) == std::string(512, 'o'));
    CHECK(f.substr(512 + k) == std::string(4096 - 512 - k, 'o'));
    CHECK(k % 512 == 0);
    CHECK(k < 2048);  // never whole: survive is 0
    torn += k > 0 ? 1 : 0;
    lost += k == 0 ? 1 : 0;
    std::uint64_t again = 0;
    CHECK(torn_scenario(seed, &again) == f);
    CHECK(again == hash);
  }
  CHECK(torn > 0);
  CHECK(lost > 0);
}

TEST_CASE("sim disk: reads, writes and syncs take their latency on the world's clock") {
  WorldConfig cfg;
  cfg.disk.read_latency = std::chrono::milliseconds(1);
  cfg.disk.write_latency = std::chrono::milliseconds(2);
  cfg.disk.sync_latency = std::chrono::milliseconds(5);
  World w(cfg);
  Host h = w.add_host("h");
  struct Took {
    duet::Clock::duration write{}, sync{}, read{};
    std::string got;
  };
  const Took t = w.run(h, []() -> duet::Task<Took> {
    Took t;
    auto f = co_await File::open("/data/f", O_RDWR | O_CREAT);  // an open is at once
    if (!f) co_return t;
    auto t0 = duet::Clock::now();
    auto n = co_await f->write_at(as_bytes("late"), 0);
    auto t1 = duet::Clock::now();
    auto s = co_await f->sync_all();
    auto t2 = duet::Clock::now();
    t.got = co_await read_text(*f, 16, 0);
    auto t3 = duet::Clock::now();
    if (!n || !s) co_return t;
    t.write = t1 - t0;
    t.sync = t2 - t1;
    t.read = t3 - t2;
    co_return t;
  }());
  CHECK(near(t.write, std::chrono::milliseconds(2)));
  CHECK(near(t.sync, std::chrono::milliseconds(5)));
  CHECK(near(t.read, std::chrono::milliseconds(1)));
  CHECK(t.got == "late");
}

TEST_CASE("sim disk: a host's capacity shortens a write, then fails it with ENOSPC") {
  World w(WorldConfig{.disk = DiskConfig{.capacity = 1000}});
  Host h = w.add_host("h");
  Host other = w.add_host("other");
  auto fill = []() -> duet::Task<std::vector<long>> {
    std::vector<long> out;
    auto f = co_await File::open("/data/f", O_RDWR | O_CREAT);
    if (!f) co_return out;
    const std::string block(800, 'x');
    for (std::uint64_t off : {0, 800, 1000, 0}) {
      auto n = co_await f->write_at(as_bytes(block).first(off == 1000 ? 1 : 400 + off / 2), off);
      out.push_back(n ? static_cast<long>(*n) : -n.error().value());
    }
    co_return out;
  };
  CHECK(w.run(h, fill()) == std::vector<long>{400, 200, -ENOSPC, 400});
  CHECK(w.run(other, fill()) == std::vector<long>{400, 200, -ENOSPC, 400});  // its own disk
}

// ---- a planted bug: acknowledged before its fsync ----------------------------

namespace {

/// The store's one record, rewritten in place at offset 0: the value in
/// its first 8 bytes, a check of it in its last 8, so that a torn record
/// (its first sector new, its second old) reads as corrupt.
constexpr std::size_t kRecord = 1024;
constexpr std::uint16_t kPort = 7000;
constexpr std::uint64_t kUpdates = 4;

std::uint64_t check_of(std::uint64_t v) {
  return (v ^ 0x5bd1e995u) * 0x9e3779b97f4a7c15ULL;
}

std::vector<std::byte> record(std::uint64_t v) {
  std::vector<std::byte> r(kRecord);
  const std::uint64_t c = check_of(v);
  std::memcpy(r.data(), &v, 8);
  std::memcpy(r.data() + kRecord - 8, &c, 8);
  return r;
}

/// The value a record holds; 0 for none or a corrupt one.
std::uint64_t value_of(const std::vector<std::byte>& r, std::size_t n) {
  if (n != kRecord) return 0;
  std::uint64_t v = 0;
  std::uint64_t c = 0;
  std::memcpy(&v, r.data(), 8);
  std::memcpy(&c, r.data() + kRecord - 8, 8);
  return c == check_of(v) ? v : 0;
}

/// The store (coroutine): recovers its value from /data/store, then
/// serves one connection at a time: an 8-byte request, a put of that
/// value (0: a get), answered with the value now held. `sync`: the fix,
/// fsync before the acknowledgement.
duet::Task<void> coro_store(duet::net::TcpListener l, bool sync) {
  auto f = co_await File::open("/data/store", O_RDWR | O_CREAT, 0644);
  if (!f) co_return;
  std::vector<std::byte> r(kRecord);
  auto n = co_await f->read_at(r, 0);
  std::uint64_t value = n ? value_of(r, *n) : 0;
  for (;;) {
    auto s = co_await l.accept();
    if (!s) co_return;
    for (;;) {
      std::uint64_t req = 0;
      auto got = co_await s->read(&req, sizeof req);
      if (!got || *got != sizeof req) break;  // 8 bytes come in one segment
      if (req != 0) {
        auto w = co_await f->write_at(record(req), 0);
        if (!w || *w != kRecord) co_return;
        if (sync) {
          auto y = co_await f->sync_data();
          if (!y) co_return;
        }
        value = req;
      }
      auto a = co_await s->write_all(&value, sizeof value);
      if (!a) break;
    }
  }
}

/// The same store as a fiber.
void fiber_store(const std::shared_ptr<duet::net::TcpListener>& l, bool sync) {
  auto f = duet::wait(File::open("/data/store", O_RDWR | O_CREAT, 0644));
  if (!f) return;
  std::vector<std::byte> r(kRecord);
  auto n = duet::wait(f->read_at(r, 0));
  std::uint64_t value = n ? value_of(r, *n) : 0;
  for (;;) {
    auto s = duet::wait(l->accept());
    if (!s) return;
    for (;;) {
      std::uint64_t req = 0;
      auto got = duet::wait(s->read(&req, sizeof req));
      if (!got || *got != sizeof req) break;
      if (req != 0) {
        auto w = duet::wait(f->write_at(record(req), 0));
        if (!w || *w != kRecord) return;
        if (sync && !duet::wait(f->sync_data())) return;
        value = req;
      }
      if (!duet::wait(s->write_all(&value, sizeof value))) break;
    }
  }
}

/// One request on `c`: the answer, or nullopt.
duet::Task<std::optional<std::uint64_t>> ask(duet::net::TcpStream& c, std::uint64_t req) {
  auto w = co_await c.write_all(&req, sizeof req);
  if (!w) co_return std::nullopt;
  std::uint64_t back = 0;
  auto n = co_await c.read(&back, sizeof back);
  if (!n || *n != sizeof back) co_return std::nullopt;
  co_return back;
}

struct StoreRun {
  std::uint64_t acked = 0;      // the last update the store acknowledged
  std::uint64_t recovered = 0;  // what it answered after the crash and restart
  bool answered = false;        // the get after the restart was answered
  std::string fingerprint;
  [[nodiscard]] bool lost() const { return answered && recovered != acked; }
};

/// The client (coroutine, on its own host): starts the store with its
/// boot function `boot` (from the world's worker, so that the store's
/// first steps and the client's keep one order); kUpdates puts, each
/// waiting for its acknowledgement; a crash and restart of the store; a
/// get.
duet::Task<StoreRun> client(World& w, Host store, std::function<void()> boot) {
  StoreRun out;
  w.on_boot(store, std::move(boot));
  {
    auto c = co_await duet::net::TcpStream::connect(store.addr(kPort));
    if (!c) co_return out;
    for (std::uint64_t v = 1; v <= kUpdates; ++v) {
      auto a = co_await ask(*c, v);
      if (!a || *a != v) co_return out;
      out.acked = v;
    }
    w.crash(store);  // nothing in flight: every update was acknowledged
    w.restart(store);
  }
  auto c = co_await duet::net::TcpStream::connect(store.addr(kPort));
  if (!c) co_return out;
  auto got = co_await ask(*c, 0);
  out.answered = got.has_value();
  out.recovered = got.value_or(0);
  out.fingerprint = w.fingerprint();  // on the worker, at a point the seed fixes
  co_return out;
}

enum class Model { coroutine, fiber };

/// The store on host "store" (its boot function binds and starts it, so
/// a restart recovers it), the client on host "client".
StoreRun store_scenario(std::uint64_t seed, Model model, bool sync) {
  World w(WorldConfig{.seed = seed});
  Host store = w.add_host("store");
  Host cl = w.add_host("client");
  std::function<void()> boot = [&w, store, model, sync] {
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(kPort));
    if (!l) return;
    if (model == Model::coroutine) {
      w.spawn(store, coro_store(std::move(*l), sync)).detach();
    } else {
      auto shared = std::make_shared<duet::net::TcpListener>(std::move(*l));
      w.spawn(store, duet::stackful, [shared, sync] { fiber_store(shared, sync); }).detach();
    }
  };
  return w.run(cl, client(w, store, std::move(boot)));
}

/// Sweeps seeds 1-50 of the store without its fsync: finds a seed that
/// loses an acknowledged update, and replays it.
void find_and_replay(Model model) {
  std::optional<StoreRun> first;
  std::uint64_t seed = 1;
  for (; seed <= 50 && !first; ++seed) {
    StoreRun r = store_scenario(seed, model, false);
    REQUIRE(r.acked == kUpdates);
    REQUIRE(r.answered);
    if (r.lost()) first = r;
  }
  REQUIRE(first);
  --seed;
  INFO("lost an acknowledged update: " << first->fingerprint << ", recovered " << first->recovered
                                       << " of " << first->acked);
  const StoreRun again = store_scenario(seed, model, false);
  CHECK(again.lost());
  CHECK(again.recovered == first->recovered);
  CHECK(again.fingerprint == first->fingerprint);
}

/// The fixed store over the same sweep: never a loss.
void never_loses(Model model) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const StoreRun r = store_scenario(seed, model, true);
    INFO(r.fingerprint);
    CHECK(r.acked == kUpdates);
    CHECK(r.answered);
    CHECK(r.recovered == kUpdates);
  }
}

}  // namespace

TEST_CASE(
    "sim disk: a coroutine store that acks before fsync loses an update, found and replayed") {
  find_and_replay(Model::coroutine);
}

TEST_CASE("sim disk: a coroutine store that fsyncs before its ack never loses one") {
  never_loses(Model::coroutine);
}

TEST_CASE("sim disk: a fiber store that acks before fsync loses an update, found and replayed") {
  find_and_replay(Model::fiber);
}

TEST_CASE("sim disk: a fiber store that fsyncs before its ack never loses one") {
  never_loses(Model::fiber);
}
