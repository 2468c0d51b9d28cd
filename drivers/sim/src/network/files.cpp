// files.cpp: the driver's file operations on the simulated disk
// (network.hpp, ../disk/disk.hpp): an open for the calling task's host, a
// read, write or sync on a file's descriptor; each answered at once, or,
// under DiskConfig's latency, completed by the pump when its timer is
// due, so no real thread and no wall time is involved: the seed fixes
// every completion. The world's look and setup of a host's files.
#include <cerrno>
#include <utility>

#include "network.hpp"

namespace duet::sim::detail {

using io::detail::IoOp;
using io::detail::OpKind;
using io::detail::OpRequest;

long Network::disk_call(const OpRequest& q, int fd, std::byte* to) {
  switch (q.kind) {
    case OpKind::read_at:
      return disk_.read(fd, to, q.len, q.off);
    case OpKind::write_at:
      return disk_.write(fd, q.wbuf, q.len, q.off);
    case OpKind::fsync:
      return disk_.sync(fd);
    default:
      return -EINVAL;
  }
}

Poll<long> Network::file_op(OpRequest& q, io::detail::OpSlot& slot, Context& cx) {
  const std::uint32_t* key = host_key().try_get();
  const std::uint32_t h = key != nullptr ? *key : kNoHost;
  WakeList wl;
  Poll<long> r = pending;
  {
    std::lock_guard g(mu_);
    const Duration after = q.kind == OpKind::read_at    ? cfg_.disk.read_latency
                           : q.kind == OpKind::write_at ? cfg_.disk.write_latency
                                                        : cfg_.disk.sync_latency;
    const int fd = q.src != nullptr ? q.src->fd.get() : -1;
    if (h != kNoHost && !topo_.hosts.at(h).up) {
      r = static_cast<long>(-EIO);  // its processes are gone until the restart
    } else if (q.kind == OpKind::openat) {
      const int made =
          disk_.open(h, h != kNoHost ? topo_.hosts[h].name : "none", q.path, q.flags, next_fd_);
      if (made >= 0) ++next_fd_;
      r = static_cast<long>(made);
    } else if (after <= Duration{0}) {
      r = disk_call(q, fd, q.kind == OpKind::read_at ? q.rbuf : nullptr);
    } else {
      // The IoOp holds a write's copy and receives a read's bytes, which
      // finish_op hands to the caller once the pump has completed it.
      IoOp* op = io::detail::build_op(q);
      const long res = disk_call(q, fd, op->data());
      op->waker = cx.waker();
      op->ref();  // the network's: the in-flight reference, until on_disk
      slot.op = op;
      const std::uint64_t id = next_disk_op_++;
      disk_ops_.emplace(id, DiskOp{op, res});
      schedule(Event{Clock::now() + after, 0, Event::disk, -1, 0, id});
    }
    wl.swap(wakes_);
  }
  wake(wl);
  return r;
}

void Network::on_disk(std::uint64_t id) {
  auto it = disk_ops_.find(id);
  if (it == disk_ops_.end()) return;
  disk_done_.push_back(it->second);
  disk_ops_.erase(it);
}

void Network::complete(std::vector<DiskOp>& done) noexcept {
  for (const DiskOp& d : done) d.op->complete(static_cast<std::int32_t>(d.result));
  done.clear();
}

std::optional<std::vector<std::byte>> Network::file_contents(std::uint32_t h,
                                                             std::string_view path) const {
  std::lock_guard g(mu_);
  return disk_.contents(h, path);
}

void Network::put_file(std::uint32_t h, std::string_view path, std::vector<std::byte> data) {
  std::lock_guard g(mu_);
  disk_.put(h, topo_.hosts.at(h).name, path, std::move(data));
}

}  // namespace duet::sim::detail
