// http_scenario.hpp: duet::http under faults on the simulated network
// (issue 54, stage 4): a Server of one engine on one host, a population of
// clients (half coroutines, half fibers), each on its own host, sending a
// seeded plan of GETs and uploads through duet::http::Client over jittery,
// lossy links with seeded resets, short reads, short writes and refused
// connects; with ScenarioConfig::proxy, half the requests through the
// server's /proxy/ route to the same routes on a third host ("upstream"),
// both bodies streamed through the proxy, faults on both sides of it;
// and, with ScenarioConfig::disrupt, a crash of the server's host
// and its restart (its boot function binds and serves again) and one
// client cut off from it for a while, at instants drawn from the seed.
// run_http_scenario(seed, engine) runs one world and returns its verdict:
// the invariants it broke (none on a correct run) and the trace's
// fingerprint; replay_line() says how to run that seed again.
//
// Invariants, per run:
// - every request ends with the right answer or an error, never a wrong
//   answer, and within a simulated bound (never silence);
// - the server (and the upstream) recorded no upload whose body differs
//   from what the client sent under that id (the upload ledgers);
// - once the clients cleared their pools, the server holds no connection
//   and the only open virtual descriptor is its listener (after a crash,
//   the restarted one's: the crash cancelled the old accept loop and the
//   connections' tasks, which its plain spawns made the host's), and the
//   upstream's, once the proxy's pool is cleared; after the runtime's
//   shutdown, none;
// - disrupted: the server restarted, and the run's answers after it count.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <duet/http.hpp>

#include "sim_util.hpp"

namespace duet::simtest {

/// What the scenario's upload handler does when the body's read fails.
enum class Handling : std::uint8_t {
  correct,  // answers 400 and records nothing
  planted,  // the planted bug: records what it read so far as the whole upload
};

/// The seeded draws that make a plan (not the network's: those are the
/// world's). splitmix64, mapped by hand: the same on every library.
class PlanDraws {
 public:
  explicit PlanDraws(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// A draw in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) { return lo + next() % (hi - lo + 1); }

 private:
  std::uint64_t s_;
};

inline constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ULL;
inline std::uint64_t fnv1a(const void* p, std::size_t n, std::uint64_t h = kFnvBasis) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// The upload route's answer: "len=<n> fnv=<16 hex digits>".
inline std::string digest_text(std::size_t len, std::uint64_t fnv) {
  char b[64];
  std::snprintf(b, sizeof b, "len=%zu fnv=%016llx", len, static_cast<unsigned long long>(fnv));
  return b;
}
inline std::string digest_text(std::string_view body) {
  return digest_text(body.size(), fnv1a(body.data(), body.size()));
}

/// The GET route's answer for item `n`: its length and bytes follow from n.
inline std::string item_body(std::size_t n) {
  std::string s((n * 2654435761u) % 24000, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>('a' + (i * 13 + n) % 26);
  return s;
}

// ---- the server -----------------------------------------------------------

/// Every upload the server's handler recorded as complete: its id (the
/// client's X-Upload field), the length and FNV-1a of the body it read.
class UploadLedger {
 public:
  struct Upload {
    std::string id;
    std::size_t len = 0;
    std::uint64_t fnv = kFnvBasis;
  };
  void record(Upload u) {
    std::lock_guard g(mu_);
    uploads_.push_back(std::move(u));
  }
  std::vector<Upload> uploads() const {
    std::lock_guard g(mu_);
    return uploads_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Upload> uploads_;
};

namespace detail {

inline std::size_t item_number(const http::Request& req) {
  std::size_t n = 0;
  if (auto v = req.query_param("n")) (void)std::from_chars(v->data(), v->data() + v->size(), n);
  return n;
}

/// The upload route as a coroutine: reads the body in small pieces,
/// digests it, records it. Planted: a failed read ends the body there.
inline Task<http::Response> digest_upload(http::Request& req, UploadLedger* ledger,
                                          Handling handling) {
  UploadLedger::Upload u;
  u.id = std::string(req.headers.get("X-Upload").value_or(""));
  std::array<std::byte, 1500> buf;  // smaller than a large body: several reads
  for (;;) {
    duet::Result<std::size_t> n = co_await http::read_body(req, buf);
    if (!n && handling == Handling::correct) {
      co_return http::Response::text(400, "body cut short: " + n.error().message());
    }
    if (!n || *n == 0) break;  // planted: the error taken for the body's end
    u.fnv = fnv1a(buf.data(), *n, u.fnv);
    u.len += *n;
  }
  std::string answer = digest_text(u.len, u.fnv);
  ledger->record(std::move(u));
  co_return http::Response::text(200, std::move(answer));
}

/// The same route as a plain handler on a fiber.
inline http::Response digest_upload_now(http::Request& req, UploadLedger* ledger,
                                        Handling handling) {
  UploadLedger::Upload u;
  u.id = std::string(req.headers.get("X-Upload").value_or(""));
  std::array<std::byte, 1500> buf;
  for (;;) {
    duet::Result<std::size_t> n = http::read_body_now(req, buf);
    if (!n && handling == Handling::correct) {
      return http::Response::text(400, "body cut short: " + n.error().message());
    }
    if (!n || *n == 0) break;
    u.fnv = fnv1a(buf.data(), *n, u.fnv);
    u.len += *n;
  }
  std::string answer = digest_text(u.len, u.fnv);
  ledger->record(std::move(u));
  return http::Response::text(200, std::move(answer));
}

}  // namespace detail

/// GET /item?n= (coroutine) and /fiber-item?n= (fiber): item_body(n).
/// POST /digest (coroutine) and PUT /digest (fiber): the body's digest.
inline http::Router scenario_routes(UploadLedger* ledger, Handling handling) {
  http::Router r;
  r.get("/item", [](http::Request& req) -> Task<http::Response> {
    co_return http::Response::text(200, item_body(detail::item_number(req)));
  });
  r.get("/fiber-item", [](http::Request& req) {
    return http::Response::text(200, item_body(detail::item_number(req)));
  });
  r.post("/digest", [ledger, handling](http::Request& req) -> Task<http::Response> {
    return detail::digest_upload(req, ledger, handling);
  });
  r.route(http::Method::put, "/digest", [ledger, handling](http::Request& req) {
    return detail::digest_upload_now(req, ledger, handling);
  });
  return r;
}

/// The proxy route's upstream (ScenarioConfig::proxy): its client and
/// address. Outlives the world's tasks.
struct ProxyRoute {
  http::Client* client = nullptr;
  net::SocketAddr upstream;
};

namespace detail {

/// The request to forward: /proxy<target> to <target>, the method, the
/// upload's id and the body kept; a streamed body is read from the client
/// as the upstream request is sent.
inline http::Request proxied(http::Request& req) {
  constexpr std::string_view prefix = "/proxy";
  http::Request up = http::Request::make(req.method, req.target.substr(prefix.size()));
  if (auto id = req.headers.get("X-Upload")) up.headers.add("X-Upload", std::string(*id));
  if (!req.body_streamed()) {
    up.body = std::move(req.body);
    return up;
  }
  auto src = std::make_shared<http::BodySource>();
  http::Request* from = &req;
  src->next = [from] { return http::read_body_piece(*from); };
  if (auto len = req.headers.get("Content-Length")) src->length = std::stoull(std::string(*len));
  up.source = std::move(src);
  return up;
}

/// /proxy/<target>, as a proxy is written (examples/http_server): the
/// upstream's head at once, its body relayed as it arrives after the
/// handler returns; an upstream that fails is a 502 (504: timed out).
inline Task<http::Response> proxy(const ProxyRoute* route, http::Request& req) {
  duet::Result<http::ResponseStream> s =
      co_await route->client->open(route->upstream, proxied(req));
  if (!s) {
    const int status = s.error() == std::errc::timed_out ? 504 : 502;
    co_return http::Response::text(status, "upstream: " + s.error().message());
  }
  auto stream = std::make_shared<http::ResponseStream>(std::move(*s));
  http::Response& head = stream->head();
  std::optional<std::size_t> length;
  if (auto len = head.headers.get("Content-Length")) length = std::stoull(std::string(*len));
  co_return http::streamed_response(
      head.status, [stream] { return stream->read_piece(); }, length);
}

}  // namespace detail

/// scenario_routes, and /proxy/ (every method the plans use) to `route`.
inline http::Router proxy_routes(UploadLedger* ledger, Handling handling, const ProxyRoute* route) {
  http::Router r = scenario_routes(ledger, handling);
  for (http::Method m : {http::Method::get, http::Method::post, http::Method::put}) {
    r.prefix(m, "/proxy/", [route](http::Request& req) { return detail::proxy(route, req); });
  }
  return r;
}

// ---- the clients ----------------------------------------------------------

/// One request of a client's plan, and the answer it must get.
struct PlannedRequest {
  enum class Shape : std::uint8_t { get, fiber_get, empty, small, large, put, chunked };
  Shape shape = Shape::get;
  http::Method method = http::Method::get;
  std::string target;
  std::string id;  // the X-Upload field (uploads)
  std::string body;
  std::vector<std::size_t> pieces;  // chunked: the source's piece sizes
  std::string expected;             // a 200's body
};

inline const char* to_string(PlannedRequest::Shape s) {
  static constexpr const char* names[] = {"get",   "fiber-get", "empty",  "small",
                                          "large", "put",       "chunked"};
  return names[static_cast<int>(s)];
}

/// Client `c`'s plan of `count` requests under `seed`; with `proxy`, each
/// request goes through /proxy/ by a draw of its own (the plan's other
/// draws are the same either way).
inline std::vector<PlannedRequest> plan_requests(std::uint64_t seed, std::size_t c,
                                                 std::size_t count, bool proxy = false) {
  using Shape = PlannedRequest::Shape;
  PlanDraws d(seed * 1000003 + c);
  PlanDraws via(seed * 7919 + c + 0x9e37);
  std::vector<PlannedRequest> plan;
  for (std::size_t i = 0; i < count; ++i) {
    PlannedRequest p;
    p.shape = static_cast<Shape>(d.next() % 7);
    p.id = "c" + std::to_string(c) + "-r" + std::to_string(i);
    std::size_t len = 0;
    switch (p.shape) {
      case Shape::get:
      case Shape::fiber_get: {
        const std::size_t n = d.between(0, 999);
        p.target = (p.shape == Shape::get ? "/item?n=" : "/fiber-item?n=") + std::to_string(n);
        if (proxy && via.next() % 2 == 0) p.target = "/proxy" + p.target;
        p.expected = item_body(n);
        plan.push_back(std::move(p));
        continue;
      }
      case Shape::empty:
        len = 0;
        break;
      case Shape::small:
        len = d.between(1, 900);
        break;
      case Shape::large:
        len = d.between(3000, 40000);
        break;
      case Shape::put:
        len = d.between(200, 6000);
        break;
      case Shape::chunked:
        len = d.between(0, 20000);
        break;
    }
    p.method = p.shape == Shape::put ? http::Method::put : http::Method::post;
    p.target = proxy && via.next() % 2 == 0 ? "/proxy/digest" : "/digest";
    p.body = std::string(len, '\0');
    for (std::size_t k = 0; k < len; ++k) p.body[k] = static_cast<char>(d.next() & 0xff);
    for (std::size_t left = len; p.shape == Shape::chunked && left > 0;) {
      const std::size_t piece = std::min(left, d.between(1, 6000));
      p.pieces.push_back(piece);
      left -= piece;
    }
    p.expected = digest_text(p.body);
    plan.push_back(std::move(p));
  }
  return plan;
}

namespace detail {

/// A chunked upload's source: the planned body, one planned piece a call.
struct ChunkFeed {
  const PlannedRequest* p;
  std::size_t next = 0;
  std::size_t at = 0;
};
inline Task<duet::Result<std::string>> next_chunk(std::shared_ptr<ChunkFeed> f) {
  if (f->next == f->p->pieces.size()) co_return std::string();
  const std::size_t n = f->p->pieces[f->next++];
  std::string piece = f->p->body.substr(f->at, n);
  f->at += n;
  co_return piece;
}

}  // namespace detail

inline http::Request make_request(const PlannedRequest& p) {
  using Shape = PlannedRequest::Shape;
  const bool chunked = p.shape == Shape::chunked;
  http::Request r = http::Request::make(p.method, p.target, chunked ? std::string() : p.body);
  if (p.shape == Shape::get || p.shape == Shape::fiber_get) return r;
  r.headers.add("X-Upload", p.id);
  if (chunked) {
    auto feed = std::make_shared<detail::ChunkFeed>(detail::ChunkFeed{&p});
    r.source = std::make_shared<http::BodySource>(
        http::BodySource{[feed] { return detail::next_chunk(feed); }, std::nullopt});
  }
  return r;
}

/// How one request ended.
struct Answer {
  enum class Kind : std::uint8_t { ok, error, wrong, silent };
  Kind kind = Kind::ok;
  std::string what;  // error, wrong, silent: what happened
  Instant done{};    // when it ended (simulated)
};

/// A request's simulated bound: far past the client's own timeouts, so
/// only a request that nothing ends reaches it.
inline constexpr std::chrono::seconds kSilenceBound{60};

inline Answer judge(const PlannedRequest& p, const duet::Result<http::Response>& r,
                    Clock::duration took) {
  const std::string who = p.id + " (" + to_string(p.shape) + " " + p.target + ")";
  if (took >= kSilenceBound) return {Answer::Kind::silent, who + ": no end within the bound"};
  if (!r) return {Answer::Kind::error, r.error().message()};
  if (r->status == 200 && r->body == p.expected) return {};
  if (r->status == 200) {
    return {Answer::Kind::wrong, who + ": a 200 with " + std::to_string(r->body.size()) +
                                     " bytes, not the " + std::to_string(p.expected.size()) +
                                     " expected (" + r->body.substr(0, 40) + ")"};
  }
  // An error status the server may give a request it could not read.
  const int s = r->status;
  if (s == 400 || s == 408 || s == 413 || s == 500 || s == 502 || s == 503 || s == 504) {
    // The kind of error, not the request: the sweeps count each kind.
    return {Answer::Kind::error, "status " + std::to_string(s) + ": " + r->body.substr(0, 60)};
  }
  return {Answer::Kind::wrong, who + ": status " + std::to_string(s)};
}

inline Task<std::vector<Answer>> coro_client(http::Client* client, net::SocketAddr to,
                                             const std::vector<PlannedRequest>* plan) {
  std::vector<Answer> out;
  for (const PlannedRequest& p : *plan) {
    const Instant t0 = Clock::now();
    duet::Result<http::Response> r =
        co_await duet::timeout(kSilenceBound, client->send(to, make_request(p)));
    out.push_back(judge(p, r, Clock::now() - t0));
    out.back().done = Clock::now();
  }
  co_return out;
}

inline std::vector<Answer> fiber_client(http::Client* client, net::SocketAddr to,
                                        const std::vector<PlannedRequest>* plan) {
  std::vector<Answer> out;
  for (const PlannedRequest& p : *plan) {
    const Instant t0 = Clock::now();
    duet::Result<http::Response> r = client->send_now(to, make_request(p));
    out.push_back(judge(p, r, Clock::now() - t0));
    out.back().done = Clock::now();
  }
  return out;
}

// ---- one run ----------------------------------------------------------------

struct ScenarioConfig {
  std::size_t clients = 6;  // even ones coroutines, odd ones fibers
  std::size_t requests = 8;
  bool keep_trace = false;
  sim::Faults faults{.reset = 0.01, .short_read = 0.25, .short_write = 0.15, .refuse = 0.02};
  double loss = 0.01;
  bool disrupt = false;  // a crash and restart of the server's host, a client cut off
  bool proxy = false;    // half the requests through /proxy/ to a third host
};

/// A disrupted run's events, as offsets from the population's start.
struct Disruptions {
  Clock::duration crash{}, restart{}, cut{}, repair{};
  std::size_t cut_client = 0;
};

/// The disruptions under `seed`: the server's host crashes within its
/// first 400 ms and is down 100 ms to 2 s; one client is cut off from it
/// within 3 s, for 100 ms to 4 s.
inline Disruptions plan_disruptions(std::uint64_t seed, std::size_t clients) {
  PlanDraws d(seed ^ 0xc4a5'0000ULL);
  using std::chrono::milliseconds;
  Disruptions x;
  x.crash = milliseconds(d.between(10, 400));
  x.restart = x.crash + milliseconds(d.between(100, 2000));
  x.cut = milliseconds(d.between(0, 3000));
  x.repair = x.cut + milliseconds(d.between(100, 4000));
  x.cut_client = d.between(0, clients - 1);
  return x;
}

/// What a run found.
struct Verdict {
  std::uint64_t seed = 0;
  http::Engine engine = http::Engine::coroutine;
  Handling handling = Handling::correct;
  bool disrupted = false;  // ScenarioConfig::disrupt
  bool proxied = false;    // ScenarioConfig::proxy
  std::string fingerprint;
  std::uint64_t hash = 0;
  int ok = 0;
  int ok_after_restart = 0;  // disrupted: answered right after the restart
  int errors = 0;
  std::size_t uploads = 0;                 // recorded by the server
  std::map<std::string, int> error_kinds;  // each error's message, counted
  std::vector<std::string> violations;
  std::vector<std::string> trace;  // ScenarioConfig::keep_trace
  [[nodiscard]] bool passed() const { return violations.empty(); }
};

/// The command that runs this seed again, alone, with its trace.
inline std::string replay_line(std::uint64_t seed, http::Engine e, Handling h,
                               bool disrupted = false, bool proxied = false) {
  return "DUET_SIM_SEED=" + std::to_string(seed) +
         " DUET_SIM_ENGINE=" + std::string(http::to_string(e)) +
         (h == Handling::planted ? " DUET_SIM_PLANTED=1" : "") +
         (disrupted ? " DUET_SIM_DISRUPT=1" : "") + (proxied ? " DUET_SIM_PROXY=1" : "") +
         " build-tests/plain/tests/duet_sim_tests '[http-replay]'";
}

/// "seed S engine E: <fingerprint>: <first violation> (replay: ...)".
inline std::string report(const Verdict& v) {
  std::string s = "seed " + std::to_string(v.seed) + " engine " +
                  std::string(http::to_string(v.engine)) + ": " + v.fingerprint;
  if (!v.violations.empty()) {
    s += ": " + v.violations.front();
    if (v.violations.size() > 1) s += " (and " + std::to_string(v.violations.size() - 1) + " more)";
  }
  return s + "\n  replay: " + replay_line(v.seed, v.engine, v.handling, v.disrupted, v.proxied);
}

namespace detail {

/// The clients, their hosts and plans: made on the test's thread, used by
/// the world's tasks, cleared before the world goes.
struct Population {
  std::vector<sim::Host> hosts;
  std::vector<std::vector<PlannedRequest>> plans;
  std::vector<std::unique_ptr<http::Client>> clients;
  // ScenarioConfig::disrupt: the world, the host the disruptions run on,
  // and their plan; null world: none.
  sim::World* world = nullptr;
  sim::Host operator_host;
  Disruptions disruptions;
  // ScenarioConfig::proxy: the upstream server and the proxy's client;
  // null: none.
  const http::Server* upstream = nullptr;
  http::Client* proxy_client = nullptr;
  // Starts the servers (binds and serves, or sets the boot function);
  // run first by the population's task, on the world's worker.
  std::function<void()> start_servers;
};

/// The disruptions, each at its instant from `t0`, in time order; notes
/// the restart's instant in `*restarted`.
inline Task<void> disrupt(sim::World* w, sim::Host server, sim::Host cut, Disruptions d, Instant t0,
                          Instant* restarted) {
  enum class What : std::uint8_t { crash, restart, cut, repair };
  struct Event {
    Clock::duration at;
    What what;
  };
  std::array<Event, 4> events{{{d.crash, What::crash},
                               {d.restart, What::restart},
                               {d.cut, What::cut},
                               {d.repair, What::repair}}};
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.at < b.at; });
  for (const Event& e : events) {
    co_await duet::sleep_until(t0 + e.at);
    switch (e.what) {
      case What::crash:
        w->crash(server);
        break;
      case What::restart:
        w->restart(server);
        *restarted = Clock::now();
        break;
      case What::cut:
        w->partition(cut, server);
        break;
      case What::repair:
        w->repair(cut, server);
        break;
    }
  }
}

/// What the world looked like when the population was done, read on the
/// world's worker at a point the seed fixes (read from the test's thread
/// after the run, it would race the paused clock, which goes on advancing
/// through the network's pending timers).
struct PopulationEnd {
  std::vector<std::vector<Answer>> answers;
  Clock::duration took{};
  std::optional<Instant> restarted;  // disrupted: when the server restarted
  std::uint64_t server_open = 0;
  std::uint64_t upstream_open = 0;
  std::size_t open_sockets = 0;
  std::string fingerprint;
  std::uint64_t hash = 0;
  std::vector<std::string> trace;
};

/// Starts the servers, runs every client at once, waits for them, clears
/// their pools, waits (simulated, bounded) for the server to let its
/// connections go, and reads the world's state. The servers start here,
/// in a task of the world, not from the test's thread: an accept loop
/// spawned from there would take its first wait, and under the
/// spurious_eagain fault its first draw, at a moment no seed fixes (before
/// or after the clients' first draws), and the seed would not replay.
inline Task<PopulationEnd> run_population(Population* pop, sim::Host server,
                                          const http::Server* srv, const sim::World* w) {
  pop->start_servers();
  const Instant t0 = Clock::now();
  std::vector<JoinHandle<std::vector<Answer>>> hs;
  const net::SocketAddr to = server.addr(80);
  Instant restarted{};
  std::optional<JoinHandle<void>> disruptor;
  if (pop->world != nullptr) {
    disruptor.emplace(sim::spawn(
        pop->operator_host, disrupt(pop->world, server, pop->hosts[pop->disruptions.cut_client],
                                    pop->disruptions, t0, &restarted)));
  }
  for (std::size_t i = 0; i < pop->hosts.size(); ++i) {
    http::Client* c = pop->clients[i].get();
    const std::vector<PlannedRequest>* plan = &pop->plans[i];
    if (i % 2 == 0) {
      hs.push_back(sim::spawn(pop->hosts[i], coro_client(c, to, plan)));
    } else {
      hs.push_back(sim::spawn(pop->hosts[i], duet::stackful,
                              [c, to, plan] { return fiber_client(c, to, plan); }));
    }
  }
  PopulationEnd end;
  for (auto& h : hs) {
    std::vector<Answer> a = co_await h;
    end.answers.push_back(std::move(a));
  }
  end.took = Clock::now() - t0;
  if (disruptor) {
    co_await std::move(*disruptor);
    end.restarted = restarted;
  }
  for (auto& c : pop->clients) c->clear();
  const Instant limit = Clock::now() + std::chrono::seconds(120);
  while (srv->stats().open != 0 && Clock::now() < limit) {
    co_await duet::sleep(std::chrono::milliseconds(50));
  }
  end.server_open = srv->stats().open;
  if (pop->upstream != nullptr) {
    // The server's connections are gone, and with them any proxied
    // request: the proxy's idle connections go now.
    pop->proxy_client->clear();
    while (pop->upstream->stats().open != 0 && Clock::now() < limit) {
      co_await duet::sleep(std::chrono::milliseconds(50));
    }
    end.upstream_open = pop->upstream->stats().open;
  }
  end.open_sockets = w->open_sockets();
  end.fingerprint = w->fingerprint();
  end.hash = w->trace_hash();
  end.trace = w->trace();
  co_return end;
}

inline void check_ledger(const Population& pop, const UploadLedger& ledger, Verdict& v) {
  for (const UploadLedger::Upload& u : ledger.uploads()) {
    const PlannedRequest* sent = nullptr;
    for (const auto& plan : pop.plans) {
      for (const auto& p : plan) sent = p.id == u.id ? &p : sent;
    }
    if (sent == nullptr) {
      v.violations.push_back("the server recorded an upload no client sent: '" + u.id + "'");
    } else if (digest_text(u.len, u.fnv) != sent->expected) {
      v.violations.push_back("the server recorded a body other than the client's for " + u.id +
                             " (" + to_string(sent->shape) + "): " + digest_text(u.len, u.fnv) +
                             ", sent " + sent->expected);
    }
  }
}

}  // namespace detail

/// Binds port 80 as `h` and serves `srv` on the world's runtime, so that
/// its accept loop and connections are h's tasks: empty, or what failed.
inline std::string serve_as(sim::World& w, sim::Host h, http::Server& srv) {
  return sim::as_host(h, [&w, &h, &srv]() -> std::string {
    auto l = net::TcpListener::bind(net::SocketAddr::v4_any(80));
    if (!l) return "the bind of " + h.name() + ":80 failed: " + l.error().message();
    srv.serve(w.runtime(), std::move(*l));
    return "";
  });
}

/// One world: the server of `engine` on host "server", cfg.clients clients
/// each on its own host, the faults and links drawn from `seed`.
inline Verdict run_http_scenario(std::uint64_t seed, http::Engine engine,
                                 Handling handling = Handling::correct, ScenarioConfig cfg = {}) {
  Verdict v;
  v.seed = seed;
  v.engine = engine;
  v.handling = handling;
  v.disrupted = cfg.disrupt;
  v.proxied = cfg.proxy;
  UploadLedger ledger;
  http::ServerConfig opts;
  opts.engine = engine;
  opts.limits.buffered_body_bytes = 1024;  // a larger body is streamed to the handler
  opts.limits.io_timeout = std::chrono::seconds(3);
  // The proxy's upstream (cfg.proxy): the same routes on a third host,
  // its own ledger; the proxy's client pools its connections there.
  UploadLedger upstream_ledger;
  http::Server upstream(scenario_routes(&upstream_ledger, handling), opts);
  http::ClientConfig proxy_opts;
  proxy_opts.connect_timeout = std::chrono::seconds(2);
  proxy_opts.request_timeout = std::chrono::seconds(5);
  http::Client proxy_client(proxy_opts);
  ProxyRoute route{&proxy_client, {}};
  http::Server server(
      cfg.proxy ? proxy_routes(&ledger, handling, &route) : scenario_routes(&ledger, handling),
      opts);               // outlives the runtime
  std::string boot_error;  // the boot function's, kept by the world
  detail::Population pop;
  http::ClientConfig copts;
  copts.connect_timeout = std::chrono::seconds(2);
  copts.request_timeout = std::chrono::seconds(6);
  for (std::size_t i = 0; i < cfg.clients; ++i) {
    pop.clients.push_back(std::make_unique<http::Client>(copts));
    pop.plans.push_back(plan_requests(seed, i, cfg.requests, cfg.proxy));
  }

  sim::WorldConfig wc;
  wc.seed = seed;
  wc.keep_trace = cfg.keep_trace;
  wc.faults = cfg.faults;
  sim::World w(wc);
  sim::Host s = w.add_host("server");
  PlanDraws links(seed ^ 0x5eed);
  for (std::size_t i = 0; i < cfg.clients; ++i) {
    pop.hosts.push_back(w.add_host("client" + std::to_string(i)));
    w.set_link(pop.hosts.back(), s,
               {.latency = std::chrono::microseconds(links.between(500, 5000)),
                .jitter = std::chrono::microseconds(links.between(0, 4000)),
                .loss = cfg.loss});
  }
  if (cfg.disrupt) {
    pop.world = &w;
    pop.operator_host = w.add_host("operator");
    pop.disruptions = plan_disruptions(seed, cfg.clients);
  }
  std::optional<sim::Host> up;
  if (cfg.proxy) {
    up = w.add_host("upstream");
    w.set_link(s, *up,
               {.latency = std::chrono::microseconds(links.between(500, 5000)),
                .jitter = std::chrono::microseconds(links.between(0, 4000)),
                .loss = cfg.loss});
    route.upstream = up->addr(80);
    pop.upstream = &upstream;
    pop.proxy_client = &proxy_client;
  }
  std::vector<std::string> start_failures;
  pop.start_servers = [&] {
    if (cfg.disrupt) {
      // The server as its host's boot function: its accept loop, spawned
      // as the host, is the host's task and so is each connection's (a
      // crash cancels them); a restart binds and serves again.
      w.on_boot(s, [&w, s, &server, &boot_error] {
        if (std::string e = serve_as(w, s, server); !e.empty()) boot_error = e;
      });
    } else if (std::string failed = serve_as(w, s, server); !failed.empty()) {
      // Served as the host (its accept loop and connections are the
      // host's: the proxy's connections to the upstream leave from its
      // address).
      start_failures.push_back(std::move(failed));
    }
    if (up) {
      if (std::string failed = serve_as(w, *up, upstream); !failed.empty()) {
        start_failures.push_back(std::move(failed));
      }
    }
  };
  detail::PopulationEnd end = w.run(pop.hosts[0], detail::run_population(&pop, s, &server, &w));
  for (std::string& f : start_failures) v.violations.push_back(std::move(f));
  const std::vector<std::vector<Answer>>& all = end.answers;

  for (std::size_t i = 0; i < all.size(); ++i) {
    for (const Answer& a : all[i]) {
      v.ok += a.kind == Answer::Kind::ok ? 1 : 0;
      if (end.restarted && a.kind == Answer::Kind::ok && a.done > *end.restarted) {
        ++v.ok_after_restart;
      }
      if (a.kind == Answer::Kind::error) {
        ++v.errors;
        ++v.error_kinds[a.what];
      }
      if (a.kind == Answer::Kind::wrong) v.violations.push_back("a wrong answer: " + a.what);
      if (a.kind == Answer::Kind::silent) v.violations.push_back("silence: " + a.what);
    }
    if (all[i].size() != pop.plans[i].size()) {
      v.violations.push_back("client " + std::to_string(i) + " ended early");
    }
  }
  if (end.took > kSilenceBound * static_cast<long>(cfg.requests + 3)) {
    v.violations.push_back("the run went past its simulated bound");
  }
  if (!boot_error.empty()) v.violations.push_back(boot_error);
  if (cfg.disrupt && !end.restarted) v.violations.push_back("the server never restarted");
  detail::check_ledger(pop, ledger, v);
  detail::check_ledger(pop, upstream_ledger, v);
  v.uploads = ledger.uploads().size() + upstream_ledger.uploads().size();
  if (end.server_open != 0) {
    v.violations.push_back("the server holds " + std::to_string(end.server_open) +
                           " connections after every client cleared its pool");
  }
  if (end.upstream_open != 0) {
    v.violations.push_back("the upstream holds " + std::to_string(end.upstream_open) +
                           " connections after the proxy cleared its pool");
  }
  const std::size_t listeners = cfg.proxy ? 2 : 1;
  if (end.open_sockets != listeners) {
    v.violations.push_back(std::to_string(end.open_sockets) +
                           " virtual descriptors open after the run, not the listeners alone");
  }
  w.runtime().shutdown();
  if (w.open_sockets() != 0) {
    v.violations.push_back(std::to_string(w.open_sockets()) +
                           " virtual descriptors open after the server's shutdown");
  }
  if (server.stats().open != 0 || upstream.stats().open != 0) {
    v.violations.push_back("the servers' connection counts are " +
                           std::to_string(server.stats().open) + " and " +
                           std::to_string(upstream.stats().open) + " after the shutdown");
  }
  v.fingerprint = std::move(end.fingerprint);
  v.hash = end.hash;
  v.trace = std::move(end.trace);
  return v;
}

/// Real time, for one thing only: a run that never ends (a lost wake-up:
/// the paused clock stands still) aborts the process with its replay line
/// after `limit`. One thread for a whole sweep; starting() names each run.
class RunWatchdog {
 public:
  explicit RunWatchdog(std::chrono::seconds limit) : limit_(limit), t_([this] { watch(); }) {}
  ~RunWatchdog() {
    {
      std::lock_guard g(mu_);
      done_ = true;
    }
    cv_.notify_one();
    t_.join();
  }
  RunWatchdog(const RunWatchdog&) = delete;
  RunWatchdog& operator=(const RunWatchdog&) = delete;
  void starting(std::uint64_t seed, http::Engine e, Handling h, bool disrupted = false,
                bool proxied = false) {
    std::lock_guard g(mu_);
    line_ = replay_line(seed, e, h, disrupted, proxied);
    since_ = std::chrono::steady_clock::now();
  }

 private:
  void watch() {
    std::unique_lock g(mu_);
    while (!done_) {
      if (!line_.empty() && std::chrono::steady_clock::now() - since_ > limit_) {
        std::fprintf(stderr, "watchdog: a simulated HTTP run hung (lost wake-up?); replay: %s\n",
                     line_.c_str());
        std::abort();
      }
      cv_.wait_for(g, std::chrono::milliseconds(200));
    }
  }
  std::chrono::seconds limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string line_;
  std::chrono::steady_clock::time_point since_{};
  std::thread t_;  // last: it starts once the rest is built
};

}  // namespace duet::simtest
