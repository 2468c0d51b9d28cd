// select_any_test.cpp: duet::select over any poll future: JoinHandles of
// different result types (borrowed or moved), Notify, a token, a socket
// read on both I/O drivers from both models, no message lost to a poll
// future that won, and the R9 fairness check over mixed always-ready cases.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <duet/detail/random.hpp>
#include <duet/duet.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../async_fd/model_matrix.hpp"
#include "test_util.hpp"

using namespace duet;
using namespace std::chrono_literals;
using duet::test::Watchdog;

namespace coro {
#define IO_FN(T) duet::Task<T>
#define AWAIT(x) (co_await (x))
#define RETURN co_return
#include "select_io_scenarios.inc"
#undef IO_FN
#undef AWAIT
#undef RETURN
}  // namespace coro

namespace fib {
#define IO_FN(T) T
#define AWAIT(x) duet::wait(x)
#define RETURN return
#include "select_io_scenarios.inc"
#undef IO_FN
#undef AWAIT
#undef RETURN
}  // namespace fib

namespace {

/// A poll future that is always ready.
struct Ready {
  Poll<int> poll(Context&) { return 7; }
};

/// A blocking loopback client (plain POSIX, outside duet).
int connect_plain(const net::SocketAddr& a) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(a.port());
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  return fd;
}

double chi_square(const std::vector<int>& counts, int rounds) {
  double expected = rounds / double(counts.size()), chi2 = 0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  return chi2;
}

}  // namespace

TEST_CASE("select any: join handles of different types, borrowed and moved", "[select]") {
  Watchdog wd("select join handles");
  Runtime rt(duet::test::unpinned_config());
  auto gate_int = Channel<int>::bounded(1);
  auto gate_str = Channel<int>::bounded(1);
  auto hi = rt.spawn(stackful, [gate_int]() mutable {
    (void)duet::wait(gate_int.recv());
    return 42;
  });
  auto hs = rt.spawn([](Channel<int> g) -> Task<std::string> {
    (void)co_await g.recv();
    co_return std::string("str");
  }(gate_str));
  CancellationToken token;
  auto idle = Channel<int>::bounded(1);
  REQUIRE(gate_str.try_send(1).ok());
  auto r = duet::wait(duet::select(hi, hs, token.cancelled(), idle.recv()));
  REQUIRE(r.index() == 1);
  CHECK(std::get<1>(r) == "str");
  CHECK_FALSE(hs.valid());  // joined through the select
  CHECK(hi.valid());        // lost, borrowed: still ours
  REQUIRE(gate_int.try_send(1).ok());
  auto r2 = duet::wait(duet::select(token.cancelled(), hi));
  REQUIRE(r2.index() == 1);
  CHECK(std::get<1>(r2) == 42);
  // A moved-in handle that loses is dropped (detached) with the select.
  auto never = Channel<int>::bounded(1);
  auto r3 = duet::wait(duet::select(rt.spawn(stackful,
                                             [never]() mutable {
                                               (void)duet::wait(never.recv());
                                               return 1.5;
                                             }),
                                    duet::sleep(1ms)));
  CHECK(r3.index() == 1);
  never.close();
}

TEST_CASE("select any: an exception from a join handle case ends the select", "[select]") {
  Watchdog wd("select exception");
  Runtime rt(duet::test::unpinned_config());
  auto h = rt.spawn(stackful, []() -> int { throw std::runtime_error("boom"); });
  CancellationToken token;
  CHECK_THROWS_WITH(duet::wait(duet::select(h, token.cancelled())), "boom");
}

TEST_CASE("select any: Notify and a token as cases, from a coroutine", "[select]") {
  Watchdog wd("select notify");
  Runtime rt(duet::test::unpinned_config());
  Notify notify;
  CancellationToken token;
  auto ch = Channel<int>::bounded(1);
  std::atomic<int> parked{0};
  auto h = rt.spawn([](Notify* n, CancellationToken t, Channel<int> c,
                       std::atomic<int>* p) -> Task<std::string> {
    std::string log;
    auto a =
        co_await duet::test::note_pending(duet::select(c.recv(), n->notified(), t.cancelled()), p);
    log += std::to_string(a.index());
    auto b = co_await duet::test::note_pending(
        duet::select(c.recv(), n->notified(), t.cancelled(), duet::sleep(1h)), p);
    log += std::to_string(b.index());
    co_return log;
  }(&notify, token, ch, &parked));
  while (parked.load() < 1) std::this_thread::yield();
  notify.notify_one();
  while (parked.load() < 2) std::this_thread::yield();
  token.cancel();
  CHECK(h.join() == "12");
}

TEST_CASE("select any: a socket read, a channel receive and a token on both drivers",
          "[select][io]") {
  IO_MATRIX();
  Watchdog wd("select socket");
  std::string log;
  {
    auto rt = duet::iotest::make_rt(drv);
    auto l = net::TcpListener::bind(net::SocketAddr::v4_loopback(0));
    REQUIRE(l);
    auto ch = Channel<int>::bounded(1);
    CancellationToken root;
    std::array<CancellationToken, 3> toks{root.child(), root.child(), root.child()};
    std::atomic<int> parked{0};
    auto h = SPAWN_MODEL(*rt, model, select_rounds, &*l, ch, toks.data(), &parked);
    int fd = connect_plain(l->local_addr().value());
    while (parked.load() < 1) std::this_thread::yield();
    toks[0].cancel();  // round 0: the token
    while (parked.load() < 2) std::this_thread::yield();
    REQUIRE(ch.try_send(7).ok());  // round 1: the channel
    while (parked.load() < 3) std::this_thread::yield();
    REQUIRE(::write(fd, "hello", 5) == 5);  // round 2: the socket
    log = h.join();
    ::close(fd);
  }
  // The two reads dropped pending took no byte: the third read has them all.
  CHECK(log == "2:;1:7;0:hello;");
}

TEST_CASE("select any: no channel message is lost when a poll future wins", "[select][stress]") {
  Watchdog wd("select no loss", std::chrono::seconds(200));
  Runtime rt(duet::test::unpinned_config());
  const int k = duet::test::sanitized ? 2000 : 20000;
  auto ch = Channel<int>::bounded(0);  // rendezvous: a send completes only into a receiver
  Notify notify;
  std::atomic<bool> done{false};
  auto consumer = rt.spawn([](Channel<int> c, Notify* n) -> Task<std::pair<long, int>> {
    long sum = 0;
    int got = 0;
    for (;;) {
      auto r = co_await duet::select(c.recv(), n->notified());
      if (r.index() == 1) continue;
      auto& v = std::get<0>(r);
      if (!v) break;  // closed and drained
      sum += *v;
      ++got;
    }
    co_return std::pair<long, int>{sum, got};
  }(ch, &notify));
  std::thread notifier([&] {
    while (!done.load()) {
      notify.notify_one();
      std::this_thread::yield();
    }
  });
  long sent = 0;
  for (int i = 0; i < k; ++i) {
    REQUIRE(duet::wait(ch.send(i)).ok());
    sent += i;
  }
  ch.close();
  auto [sum, got] = consumer.join();
  done.store(true);
  notifier.join();
  CHECK(got == k);
  CHECK(sum == sent);
}

TEST_CASE("select any: fairness over mixed always-ready cases, chi-square (claim R9)", "[select]") {
  // The case order comes from the calling thread's generator, seeded from
  // the clock unless reseeded: a fair order still exceeds the bound below
  // once in 10,000 checks, which over every flavour's two checks failed a
  // CI run. The thread is reseeded, so the draws are the same every run;
  // a bias in the permutation still shows at any seed.
  const std::uint64_t seed = GENERATE(1, 2, 3);
  INFO("seed " << seed);
  duet::detail::seed_thread_random(duet::detail::mix_seed(0x73e1ec7, seed));
  constexpr int rounds = 40000;
  auto ch = Channel<int>::bounded(1);
  Notify notify;
  CancellationToken token;
  token.cancel();
  auto round = [&](auto pick) {
    std::vector<int> counts(5);
    for (int r = 0; r < rounds; ++r) {
      if (ch.size() == 0) REQUIRE(ch.try_send(1).ok());
      notify.notify_one();  // a permit (they do not add up)
      counts[pick()]++;
    }
    return counts;
  };
  // 4 degrees of freedom: P(chi2 > 23.51) = 1e-4. Source order would give
  // chi2 = 4 * rounds.
  auto a = round([&] {
    auto got =
        try_select(ch.recv(), Ready{}, token.cancelled(), notify.notified(), duet::sleep(0ns));
    REQUIRE(got.has_value());
    return got->index();
  });
  INFO("try_select counts " << a[0] << " " << a[1] << " " << a[2] << " " << a[3] << " " << a[4]);
  CHECK(chi_square(a, rounds) < 23.51);
  auto b = round([&] {
    return duet::wait(duet::select(ch.recv(), Ready{}, token.cancelled(), notify.notified(),
                                   duet::sleep(0ns)))
        .index();
  });
  INFO("select counts " << b[0] << " " << b[1] << " " << b[2] << " " << b[3] << " " << b[4]);
  CHECK(chi_square(b, rounds) < 23.51);
}
