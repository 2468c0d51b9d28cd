// pump.cpp: the queue of events in flight and its pump (network.hpp): an
// event is scheduled at its instant, in order of scheduling among equal
// instants, and the pump task (world.cpp) delivers what is due to its
// handler (tcp.cpp, udp.cpp, files.cpp) and sleeps until the next one.
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

}  // namespace duet::sim::detail
