// A downstream test program on duet::sim, as a user's test would be: two
// hosts 5 ms apart, an echo over a simulated TCP connection, run twice
// from one seed; it prints the round trip (simulated) and whether the two
// runs' traces agree. Links duet::sim (find_package COMPONENTS sim, or
// duet-sim.pc).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <duet/net/tcp.hpp>
#include <duet/sim/world.hpp>
#include <string>

namespace {

duet::Task<void> echo_once(duet::net::TcpListener l) {
  auto s = co_await l.accept();
  if (!s) co_return;
  std::array<std::byte, 16> buf{};
  auto n = co_await s->read(buf);
  if (n && *n > 0) (void)co_await s->write_all(std::span(buf.data(), *n));
}

/// The round trip in simulated ms (-1: failed); notes the trace's
/// fingerprint in `*fp` on the world's worker, at a point the seed fixes.
duet::Task<long> ping(duet::sim::World& w, duet::sim::Host server, std::string* fp) {
  const duet::Instant t0 = duet::Clock::now();
  auto c = co_await duet::net::TcpStream::connect(server.addr(80));
  if (!c) co_return -1;
  auto sent = co_await c->write_all("ping", 4);
  if (!sent) co_return -1;
  char back[4];
  auto n = co_await c->read(back, sizeof back);
  if (!n || *n != 4) co_return -1;
  const auto took = duet::Clock::now() - t0;
  *fp = w.fingerprint();
  co_return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
}

/// One world under `seed`: the round trip in simulated ms, and the trace.
std::pair<long, std::string> run(std::uint64_t seed) {
  duet::sim::World w(duet::sim::WorldConfig{.seed = seed});
  duet::sim::Host client = w.add_host("client");
  duet::sim::Host server = w.add_host("server");
  w.set_link(client, server, {.latency = std::chrono::milliseconds(5)});
  auto l = duet::sim::as_host(
      server, [] { return duet::net::TcpListener::bind(duet::net::SocketAddr::v4_any(80)); });
  if (!l) return {-1, ""};
  w.spawn(server, echo_once(std::move(*l))).detach();
  std::string fp;
  const long ms = w.run(client, ping(w, server, &fp));
  return {ms, fp};
}

}  // namespace

int main() {
  const auto a = run(7);
  const auto b = run(7);
  // Connect (one round trip) and the echo (one more): 20 ms of simulated time.
  std::printf("sim ok %ld ms %s\n", a.first, a.second == b.second ? "replayed" : "differs");
  return a.first == 20 && a.second == b.second ? 0 : 1;
}
