// pump.cpp: the queue of events in flight and its pump (network.hpp): an
// event is scheduled at its instant, in order of scheduling among equal
// instants, and the pump task (world.cpp) delivers what is due to its
// handler (tcp.cpp, udp.cpp, files.cpp) and sleeps until the next one. A
// held direction (World::hold) parks its due SYNs, SYN-ACKs and datagrams
// until the release; its data waits in its flows (tcp.cpp).
#include "network.hpp"

namespace duet::sim::detail {

void Network::schedule(Event e) {
  // The pump sleeps until pump_at_ (or waits for any event when empty):
  // an earlier event wakes it to sleep less.
  if (!pump_at_ || e.at < *pump_at_) take(wakes_, pump_waker_);
  events_.push(e);
}

std::optional<Instant> Network::pump(const Waker& w) {
  WakeList wl;
  std::vector<DiskOp> done;
  std::optional<Instant> next;
  {
    std::lock_guard g(mu_);
    const Instant now = Clock::now();
    while (!events_.empty() && events_.top().at <= now) {
      const Event e = events_.top();
      events_.pop();
      if (park_if_held(e)) continue;
      switch (e.kind) {
        case Event::flow:
          on_flow(e.fd);
          break;
        case Event::syn:
          on_syn(e.fd);
          break;
        case Event::synack:
          on_synack(e.fd, e.aux);
          break;
        case Event::rst:
          on_rst(e.fd);
          break;
        case Event::syn_retry:
          on_syn_retry(e.fd, e.aux);
          break;
        case Event::datagram:
          on_datagram(e.id);
          break;
        case Event::icmp:
          on_icmp(e.fd);
          break;
        case Event::disk:
          on_disk(e.id);
          break;
      }
    }
    if (!events_.empty()) next = events_.top().at;
    pump_at_ = next;
    pump_waker_ = w;
    wl.swap(wakes_);
    done.swap(disk_done_);
  }
  complete(done);
  wake(wl);
  return next;
}

bool Network::park_if_held(const Event& e) {
  if (topo_.held.empty()) return false;
  std::uint32_t from = kNoHost;
  std::uint32_t to = kNoHost;
  switch (e.kind) {
    case Event::syn:
      if (const Socket* c = find(e.fd)) {
        from = c->host;
        to = host_for(c->host, c->peer_ip);
      }
      break;
    case Event::synack: {
      const Socket* c = find(e.fd);
      const Socket* srv = find(e.aux);
      if (c != nullptr && srv != nullptr) {
        from = srv->host;
        to = c->host;
      }
      break;
    }
    case Event::datagram:
      if (auto it = datagrams_.find(e.id); it != datagrams_.end()) {
        from = it->second.from_host;
        to = it->second.to_host;
      }
      break;
    default:
      return false;
  }
  if (from == kNoHost || to == kNoHost || topo_.held.count({from, to}) == 0) return false;
  parked_[{from, to}].push_back(e);
  return true;
}

void Network::unpark(std::uint32_t from, std::uint32_t to) {
  auto it = parked_.find({from, to});
  if (it == parked_.end()) return;
  std::vector<Event> events = std::move(it->second);
  parked_.erase(it);
  for (Event e : events) {
    e.at = Clock::now();
    schedule(e);
  }
}

}  // namespace duet::sim::detail
