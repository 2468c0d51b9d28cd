// stats.cpp: the sum of every driver's counters (duet::io_stats()).
#include <mutex>
#include <vector>

#include "duet/io/stats.hpp"

namespace duet::io {
namespace detail {
namespace {
std::mutex g_mu;
std::vector<DriverCounters*> g_live;
duet::IoStats g_past;

void add_to(duet::IoStats& s, const DriverCounters& d) {
  // Relaxed: counters, read for a report.
  s.enters += d.enters.load(std::memory_order_relaxed);
  s.sqes += d.sqes.load(std::memory_order_relaxed);
  s.cqes += d.cqes.load(std::memory_order_relaxed);
  s.epoll_waits += d.epoll_waits.load(std::memory_order_relaxed);
  s.io_syscalls += d.io_syscalls.load(std::memory_order_relaxed);
  s.wake_writes += d.wake_writes.load(std::memory_order_relaxed);
  s.recv_arms += d.recv_arms.load(std::memory_order_relaxed);
  s.recv_buffers += d.recv_buffers.load(std::memory_order_relaxed);
  s.recv_starved += d.recv_starved.load(std::memory_order_relaxed);
  s.recv_ring_growths += d.recv_ring_growths.load(std::memory_order_relaxed);
}
}  // namespace

void stats_register(DriverCounters* s) {
  std::lock_guard lk(g_mu);
  g_live.push_back(s);
}
void stats_unregister(DriverCounters* s) {
  std::lock_guard lk(g_mu);
  add_to(g_past, *s);
  std::erase(g_live, s);
}
}  // namespace detail
}  // namespace duet::io

namespace duet {

IoStats io_stats() noexcept {
  std::lock_guard lk(io::detail::g_mu);
  IoStats s = io::detail::g_past;
  for (auto* d : io::detail::g_live) io::detail::add_to(s, *d);
  return s;
}

}  // namespace duet
