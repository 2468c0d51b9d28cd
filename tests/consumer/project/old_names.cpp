// A user's program written against 0.2's names, built with every warning
// an error but deprecations (docs/adopting.md, "Deprecated names"): each
// name that 0.3 renamed (docs/vocabulary.md) still compiles, warns, and
// means what its new name means, for one release.
#include <cstdio>
#include <cstring>
#include <duet/dns.hpp>
#include <duet/duet.hpp>
#include <duet/http.hpp>
#include <type_traits>

static_assert(std::is_same_v<duet::http::ServerOptions, duet::http::ServerConfig>);
static_assert(std::is_same_v<duet::http::ClientOptions, duet::http::ClientConfig>);
static_assert(std::is_same_v<duet::ScopeOptions, duet::ScopeConfig>);
static_assert(std::is_same_v<duet::FiberOptions, duet::FiberConfig>);
static_assert(std::is_same_v<duet::dns::ConnectOptions, duet::dns::ConnectConfig>);
static_assert(std::is_same_v<duet::http::CoroHandler, duet::http::CoroutineHandler>);
static_assert(duet::TaskKind::stackless == duet::TaskKind::coroutine);
static_assert(duet::CancelledTask::Kind::stackful == duet::TaskKind::fiber);
static_assert(std::is_same_v<duet::io::Result<int>, duet::Result<int>>);
static_assert(duet::BroadcastStatus::lagged == duet::ChannelStatus::lagged);

int main() {
  const bool ok = std::strcmp(duet::strategy_name(duet::StackStrategy::lazy), "lazy") == 0 &&
                  std::strcmp(duet::io::driver_name(duet::IoDriver::epoll), "epoll") == 0;
  std::printf("old names %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
