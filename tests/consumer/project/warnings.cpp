// A user's program built with -Wall -Wextra -Werror at -O2, as a server
// team builds its own code: duet's headers must compile without a warning
// there, under g++ 12, clang 14 and clang 16. It instantiates the templates
// whose inlined bodies a compiler's flow analysis reads (timeouts over a
// Task, a CancelOnDrop, a channel receive and a lock; selects; joins over
// handles of one type and of several; a TaskScope), and runs each once so
// that the program also checks what it computed.
#include <chrono>
#include <cstdio>
#include <duet/duet.hpp>
#include <duet/http.hpp>
#include <duet/sim/config.hpp>
#include <optional>
#include <vector>

namespace {

using namespace std::chrono_literals;

duet::Task<int> answer(int v) {
  co_await duet::sleep(1ms);
  co_return v;
}

duet::Task<int> timeouts() {
  int sum = 0;
  auto t = co_await duet::timeout(5s, answer(1));  // Timeout<Task<int>>
  sum += t.value_or(-100);
  auto h = duet::spawn(answer(2)).cancel_on_drop();  // Timeout<CancelOnDrop<int>>
  auto j = co_await duet::timeout(5s, std::move(h));
  sum += j.value_or(-100);
  auto ch = duet::Channel<int>::bounded(1);
  (void)ch.try_send(4);
  auto r = co_await duet::timeout(5s, ch.recv());  // Result<optional<int>>
  sum += (r && *r) ? **r : -100;
  auto idle = co_await duet::timeout(1ms, ch.recv());  // times out: nothing sent
  sum += idle ? -100 : 8;
  duet::Mutex m;
  if (auto g = co_await duet::timeout(5s, m.lock())) sum += 16;
  co_return sum;  // 31
}

duet::Task<int> selects() {
  auto a = duet::Channel<int>::bounded(1);
  (void)a.try_send(7);
  duet::CancellationToken token;
  auto m = co_await duet::select(duet::biased, token.cancelled(), a.recv(), duet::sleep(5s));
  int got = m.is<1>() ? m.get<1>().value_or(-100) : -100;
  auto h = duet::spawn(answer(3));
  auto n = co_await duet::select(h, duet::sleep(5s));
  got += n.is<0>() ? n.get<0>() : -100;
  auto d = duet::try_select(a.recv());
  got += d ? -100 : 0;  // nothing left to receive
  co_return got;        // 10
}

duet::Task<int> joins() {
  std::vector<duet::JoinHandle<int>> hs;
  for (int i = 0; i < 4; ++i) hs.push_back(duet::spawn(answer(i)));
  std::vector<int> all = co_await duet::join_all(std::move(hs));
  int sum = 0;
  for (int v : all) sum += v;  // 6
  auto x = duet::spawn(answer(10));
  auto y = duet::spawn(duet::stackful, [] { return 20L; });
  auto [p, q] = co_await duet::join_all(x, y);
  co_return sum + p + static_cast<int>(q);  // 36
}

duet::Task<int> scopes() {
  duet::TaskScope<int> scope;
  scope.spawn(answer(1));
  scope.spawn(duet::stackful, [] { return 2; });
  int sum = 0;
  while (scope.size() != 0) sum += (co_await scope.next())->take();
  scope.spawn(answer(3));
  for (int v : co_await scope.join()) sum += v;
  co_await scope.close();
  co_return sum;  // 6
}

// The option structs as users write them: designated initializers naming a
// member or two (GCC's -Wmissing-field-initializers, in -Wextra, flags each
// member left out that has no default of its own).
bool options() {
  const duet::RuntimeConfig rc{.workers = 1};
  const duet::http::ServerConfig so{.engine = duet::http::Engine::fiber};
  const duet::http::ClientConfig co{.max_idle_per_origin = 4};
  const duet::FiberConfig fo{.name = "warnings"};
  const duet::ScopeConfig sc{.on_failure = duet::FailurePolicy::cancel_rest};
  const duet::sim::WorldConfig wc{.seed = 7};
  return rc.workers == 1 && so.engine == duet::http::Engine::fiber && co.max_idle_per_origin == 4 &&
         fo.name != nullptr && sc.on_failure == duet::FailurePolicy::cancel_rest && wc.seed == 7;
}

}  // namespace

int main() {
  duet::Runtime rt({.workers = 2});
  const int t = rt.spawn(timeouts()).join();
  const int s = rt.spawn(selects()).join();
  const int j = rt.spawn(joins()).join();
  const int c = rt.spawn(scopes()).join();
  const bool ok = t == 31 && s == 10 && j == 36 && c == 6 && options();
  std::printf("warnings %s %d %d %d %d\n", ok ? "ok" : "WRONG", t, s, j, c);
  return ok ? 0 : 1;
}
