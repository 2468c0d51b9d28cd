// A user's program written against 0.3's names, built with every warning
// an error but deprecations (docs/adopting.md, "Deprecated names"): each
// name that 0.4 renamed (docs/vocabulary.md) still compiles, warns, and
// means what its new name means, for one release.
#include <cstdio>
#include <duet/dns.hpp>
#include <duet/duet.hpp>
#include <duet/http.hpp>
#include <duet/stackless/spawn.hpp>  // deprecated in 0.4: includes coro_task.hpp
#include <type_traits>

static_assert(std::is_same_v<duet::io::Result<int>, duet::Result<int>>);
static_assert(duet::BroadcastStatus::lagged == duet::ChannelStatus::lagged);
static_assert(std::is_same_v<duet::io::IoStatsSnapshot, duet::IoStats>);
static_assert(std::is_same_v<duet::io::IoStats, duet::io::detail::DriverCounters>);

int main() {
  bool ok = true;
  // The fields renamed still set what their new names set.
  duet::http::ServerConfig so;
  so.limits.read_timeout = std::chrono::seconds(3);
  const duet::http::Server server(duet::http::Router{}, so);
  ok = ok && server.options().limits.io_timeout == std::chrono::seconds(3);
  const duet::http::ClientConfig co{.max_idle_per_host = 4};
  duet::http::Client client(co);
  // fetch is send_now: nothing listens at port 1, so both are refused.
  const auto port1 = duet::net::SocketAddr::v4_loopback(1);
  const auto old_form =
      client.fetch(port1, duet::http::Request::make(duet::http::Method::get, "/"));
  const auto new_form =
      client.send_now(port1, duet::http::Request::make(duet::http::Method::get, "/"));
  ok = ok && !old_form && !new_form && old_form.error() == new_form.error();
  duet::configure_blocking_pool(7, std::chrono::seconds(10));
  ok = ok && duet::blocking_pool_stats().max_threads == 7;
  duet::Runtime rt(duet::RuntimeConfig{.workers = 1});
  ok = ok && rt.memory().drivers.size() == 1;
  ok = ok && duet::io::io_stats().sqes <= duet::io_stats().sqes;
  std::printf("old names %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
