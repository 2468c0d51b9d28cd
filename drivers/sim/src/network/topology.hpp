// topology.hpp: the simulated world's hosts and the links between them,
// as data: each host's name, addresses (IPv4, IPv6 or both), state,
// ports in use (ports.hpp) and where its search for an ephemeral port
// starts next; each link's configuration (the world's default where none is set); the
// directions cut (partitions) and held; and the state a link keeps
// between transmissions (its bandwidth's queue, its datagrams' order).
// The network (network.hpp) owns one and reads or changes it under its
// lock; the rules that use it (loss, delay, late draws) are the network's,
// in links.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "duet/sim/config.hpp"
#include "duet/time/clock.hpp"
#include "ip.hpp"
#include "ports.hpp"

namespace duet::sim::detail {

/// No host: a socket made off every host, an address no host has.
inline constexpr std::uint32_t kNoHost = 0xffffffffu;
/// The world's resolver in Topology::partitions (it is no host of hosts).
inline constexpr std::uint32_t kResolver = 0xfffffffeu;

struct Host {
  std::string name;
  std::optional<Ip> v4;  // its IPv4 address (IPv4-mapped), if it has one
  std::optional<Ip> v6;  // its IPv6 address, if it has one
  bool up = true;
  // Where the search for an ephemeral port starts (the port after the
  // last one taken), shared by both protocols; 0: the range's first.
  std::uint16_t next_port = 0;
  PortTable tcp_ports;
  PortTable udp_ports;
};

/// A direction between two hosts: (from, to), host ids or kResolver.
using Direction = std::pair<std::uint32_t, std::uint32_t>;

struct Topology {
  explicit Topology(const LinkConfig& default_link) : default_link(default_link) {}

  /// The host with address `ip`, or kNoHost.
  [[nodiscard]] std::uint32_t host_by_ip(const Ip& ip) const noexcept {
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      if (hosts[i].v4 == ip || hosts[i].v6 == ip) return static_cast<std::uint32_t>(i);
    }
    return kNoHost;
  }
  /// The link from a to b: its own configuration, or the default.
  [[nodiscard]] const LinkConfig& link(std::uint32_t a, std::uint32_t b) const {
    auto it = links.find({a, b});
    return it != links.end() ? it->second : default_link;
  }

  LinkConfig default_link;  // WorldConfig::link
  std::vector<Host> hosts;  // by id
  std::map<Direction, LinkConfig> links;
  std::set<Direction> partitions;  // cut: what crosses is lost
  std::set<Direction> held;        // data, SYNs and datagrams wait until the release
  bool resolver_up = true;
  // When the link's last queued segment is serialized (links with a
  // bandwidth only).
  std::map<Direction, Instant> link_free;
  // When the direction's last datagram arrives (datagrams keep their order
  // on a link unless the reorder draw makes one late).
  std::map<Direction, Instant> dgram_last;
};

}  // namespace duet::sim::detail
