// hosts.cpp: the simulated network's hosts and links, as the world sets
// them (network.hpp): adding a host, a link's configuration, partitions
// (both ways and one way, and a one-way repair), holding a direction's
// traffic, a host's crash (its sockets, then its disk: disk/crash.cpp) and
// restart; the look-ups of a host by address, by name and of a link; and
// the world's own trace events.
#include "network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace duet::sim::detail {

std::uint32_t Network::add_host(std::string name, std::optional<Ip> given) {
  std::lock_guard g(mu_);
  if (given && (given->is_any() || given->is_loopback())) {
    throw std::invalid_argument("duet::sim: a host's address is neither a wildcard nor a loopback");
  }
  if (given && topo_.host_by_ip(*given) != kNoHost) {
    throw std::invalid_argument("duet::sim: a host has this address already");
  }
  const auto n = static_cast<std::uint32_t>(topo_.hosts.size()) + 1;
  const IpVersion v = cfg_.ip_version;
  Host h;
  h.name = std::move(name);
  const bool dual = v == IpVersion::dual;
  if (given && given->is_v4()) {
    h.v4 = given;
  } else if (dual || (v == IpVersion::v4 && !given)) {
    h.v4 = Ip::v4((10u << 24) + n);  // 10.0.0.N
  }
  if (given && !given->is_v4()) {
    h.v6 = given;
  } else if (dual || (v == IpVersion::v6 && !given)) {
    h.v6 = Ip::v6(0xfd00000000000000ULL, n);  // fd00::N
  }
  // A default taken by a host added earlier with a given address: a
  // clear error, not two hosts at one address.
  if ((h.v4 && topo_.host_by_ip(*h.v4) != kNoHost) ||
      (h.v6 && topo_.host_by_ip(*h.v6) != kNoHost)) {
    throw std::invalid_argument("duet::sim: a host has this host's default address already");
  }
  topo_.hosts.push_back(std::move(h));
  return n - 1;
}

const std::string& Network::host_name(std::uint32_t h) const {
  std::lock_guard g(mu_);
  return topo_.hosts.at(h).name;
}

std::optional<net::SocketAddr> Network::host_addr(std::uint32_t h, std::uint16_t port,
                                                  int family) const {
  std::lock_guard g(mu_);
  const Host& x = topo_.hosts.at(h);
  const std::optional<Ip>& ip = family == AF_INET6 || (family == AF_UNSPEC && !x.v4) ? x.v6 : x.v4;
  if (!ip) return std::nullopt;
  return socket_addr(*ip, port, ip->is_v4() ? AF_INET : AF_INET6);
}

void Network::set_link(std::uint32_t a, std::uint32_t b, LinkConfig l) {
  std::lock_guard g(mu_);
  topo_.links[{a, b}] = l;
  topo_.links[{b, a}] = l;
}

void Network::set_partitioned(std::uint32_t a, std::uint32_t b, bool on) {
  set_cut(a, b, on, true, on ? "partition " : "repair ");
}

void Network::partition_one_way(std::uint32_t from, std::uint32_t to) {
  set_cut(from, to, true, false, "partition-one-way ");
}

void Network::repair_one_way(std::uint32_t from, std::uint32_t to) {
  set_cut(from, to, false, false, "repair-one-way ");
}

void Network::set_cut(std::uint32_t from, std::uint32_t to, bool on, bool both, const char* what) {
  WakeList w;
  {
    std::lock_guard g(mu_);
    for (const auto& d : {std::pair{from, to}, std::pair{to, from}}) {
      if (d.first != from && !both) continue;
      if (on) {
        topo_.partitions.insert(d);
      } else {
        topo_.partitions.erase(d);
      }
    }
    trace(std::string(what) + topo_.hosts.at(from).name + " " + topo_.hosts.at(to).name);
    w.swap(wakes_);
  }
  wake(w);
}

void Network::set_held(std::uint32_t from, std::uint32_t to, bool on) {
  WakeList w;
  {
    std::lock_guard g(mu_);
    trace(std::string(on ? "hold " : "release ") + topo_.hosts.at(from).name + " " +
          topo_.hosts.at(to).name);
    if (on) {
      topo_.held.insert({from, to});
    } else if (topo_.held.erase({from, to}) != 0) {
      // Every flow that waited on the link goes on now, in descriptor
      // order (the map's), so the same seed releases them the same way.
      for (auto& [fd, sock] : sockets_) {
        if (sock.host != from || sock.tcp.out.empty() || sock.tcp.out_scheduled) continue;
        const Socket* p = find(sock.tcp.peer);
        const std::uint32_t dst = p != nullptr ? p->host : host_for(sock.host, sock.peer_ip);
        if (dst != to) continue;
        sock.tcp.out_scheduled = true;
        schedule(Event{Clock::now(), 0, Event::flow, fd, 0});
      }
      unpark(from, to);
    }
    w.swap(wakes_);
  }
  wake(w);
}

void Network::crash(std::uint32_t h) {
  WakeList w;
  {
    std::lock_guard g(mu_);
    trace("crash " + topo_.hosts.at(h).name);
    // Its ports go with its kernel: a restart binds them again.
    topo_.hosts.at(h).tcp_ports.clear();
    topo_.hosts.at(h).udp_ports.clear();
    for (auto& [fd, s] : sockets_) {
      if (s.host != h) continue;
      s.holds_port = false;
      if (s.state == State::dead) continue;
      if (s.state == State::connected && s.tcp.peer >= 0) {
        // The kernel's reset of each connection reaches the peer after the
        // link's delay (a crash leaves the last word to the kernel), unless
        // a partition cuts the way: then it is lost, and the peer learns
        // when its next segment reaches the host (send_reset).
        if (Socket* p = find(s.tcp.peer); p != nullptr && p->host != h) {
          send_reset(h, p->host, s.tcp.peer);
        }
      }
      if (s.state == State::listening) {
        for (int c : s.tcp.backlog) {
          if (Socket* a = find(c)) fail(*a, ECONNRESET);
        }
        s.tcp.backlog.clear();
      }
      fail(s, ECONNRESET);
      s.state = State::dead;
    }
    disk_.crash(h, topo_.hosts.at(h).name);
    topo_.hosts.at(h).up = false;
    w.swap(wakes_);
  }
  wake(w);
}

void Network::restart(std::uint32_t h) {
  std::lock_guard g(mu_);
  topo_.hosts.at(h).up = true;
  trace("restart " + topo_.hosts.at(h).name);
}

bool Network::host_up(std::uint32_t h) const {
  std::lock_guard g(mu_);
  return topo_.hosts.at(h).up;
}

std::size_t Network::host_count() const {
  std::lock_guard g(mu_);
  return topo_.hosts.size();
}

std::uint32_t Network::host_named(std::string_view name) const {
  std::lock_guard g(mu_);
  for (std::size_t i = 0; i < topo_.hosts.size(); ++i) {
    if (topo_.hosts[i].name == name) return static_cast<std::uint32_t>(i);
  }
  return kNoHost;
}

void Network::note(std::string line) {
  std::lock_guard g(mu_);
  trace(std::move(line));
}

}  // namespace duet::sim::detail
