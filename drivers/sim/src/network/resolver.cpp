// resolver.cpp: the world's resolver (network.hpp): the names duet::dns
// asks for on the world's worker (VirtualNet::lookup_name), each try a
// round trip on the default link, lost, refused or answered; and the
// resolver's partition from a host and its crash.
#include "network.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <string>

namespace duet::sim::detail {

void Network::set_resolver_partitioned(std::uint32_t h, bool on) {
  std::lock_guard g(mu_);
  if (on) {
    topo_.partitions.insert({h, kResolver});
    topo_.partitions.insert({kResolver, h});
  } else {
    topo_.partitions.erase({h, kResolver});
    topo_.partitions.erase({kResolver, h});
  }
  trace(std::string(on ? "partition " : "repair ") + topo_.hosts.at(h).name + " resolver");
}

void Network::set_resolver_up(bool up) {
  std::lock_guard g(mu_);
  topo_.resolver_up = up;
  trace(up ? "resolver-restart" : "resolver-crash");
}

namespace {
/// Whether `name` names host `host`: DNS compares without regard to case,
/// and a trailing dot (the root) is the same name.
bool same_name(std::string_view name, const std::string& host) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name.size() == host.size() &&
         std::equal(name.begin(), name.end(), host.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}
}  // namespace

Network::NameAnswer Network::lookup_name(std::string_view name, const NameQuery& q) {
  const std::uint32_t* asker = host_key().try_get();  // the looking-up task's host
  std::lock_guard g(mu_);
  const bool cut = asker != nullptr && (topo_.partitions.count({*asker, kResolver}) != 0 ||
                                        topo_.partitions.count({kResolver, *asker}) != 0);
  NameAnswer a;
  a.error = ENOENT;
  for (const Host& h : topo_.hosts) {
    if (!same_name(name, h.name)) continue;
    if (h.v4 && q.family != AF_INET6) a.addrs.push_back(socket_addr(*h.v4, 0, AF_INET));
    if (h.v6 && q.family != AF_INET) a.addrs.push_back(socket_addr(*h.v6, 0, AF_INET6));
    a.error = a.addrs.empty() ? ENODATA : 0;
    break;
  }
  // Each try: the query and its answer, one crossing of the default link
  // each, either lost with the link's loss (a cut loses both, drawing
  // nothing); a lost try costs its give-up, a refused one its round trip.
  const int tries = std::max(q.tries, 1);
  Duration spent{0};
  bool any_lost = false;
  for (int k = 0; k < tries; ++k) {
    const bool lost = cut || draws_.draw(cfg_.link.loss) || draws_.draw(cfg_.link.loss);
    if (!lost && !topo_.resolver_up) {
      spent += link_delay(cfg_.link);
      spent += link_delay(cfg_.link);
      trace("dns-refused " + std::string(name) + " try " + std::to_string(k + 1));
      continue;
    }
    if (!lost) {
      a.after = spent + link_delay(cfg_.link);
      a.after += link_delay(cfg_.link);
      std::string answer = a.error == ENODATA ? "nodata" : "nxdomain";
      if (a.error == 0) {
        answer.clear();
        for (const net::SocketAddr& x : a.addrs) {
          answer += (answer.empty() ? "" : " ") + ip_text(ip_of(x));
        }
      }
      trace("dns " + std::string(name) + " " + answer);
      return a;
    }
    const Duration give_up = q.attempt_timeout * (Duration::rep{1} << std::min(k, 20));
    trace("dns-lost " + std::string(name) + " try " + std::to_string(k + 1));
    spent += give_up;
    any_lost = true;
  }
  a.error = any_lost ? ETIMEDOUT : ECONNREFUSED;
  a.addrs.clear();
  a.after = spent;
  trace("dns " + std::string(name) + (any_lost ? " timeout" : " refused"));
  return a;
}

}  // namespace duet::sim::detail
