// crash.cpp: a host's crash on the simulated disk (disk.hpp): its
// processes die, so its descriptors do; each of its files, in path order,
// keeps its durable contents and, of its pending changes in the order
// made, those the draws let survive (DiskConfig): a change survives with
// probability `survive`; a write that does not and that spans a sector
// boundary is then torn or lost (an even draw), a torn one keeping its
// prefix up to a boundary drawn among those inside it. A file created and
// never synced first draws whether its name survives at all. Nothing is
// drawn for a host with no pending change, so a world without files draws
// and traces nothing here.
#include <string>

#include "disk.hpp"

namespace duet::sim::detail {

namespace {

/// The sector boundaries strictly inside a write of `len` bytes at `off`:
/// the first, and how many.
struct Boundaries {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
};

Boundaries boundaries_inside(std::uint64_t off, std::size_t len, std::uint64_t sector) {
  const std::uint64_t first = (off / sector + 1) * sector;
  const std::uint64_t last = (off + len - 1) / sector * sector;
  if (len == 0 || first > last) return {};
  return {first, (last - first) / sector + 1};
}

}  // namespace

void Disk::crash(std::uint32_t host, const std::string& name) {
  for (auto& [fd, f] : open_) {
    if (f.host == host) f.dead = true;
  }
  auto h = hosts_.find(host);
  if (h == hosts_.end()) return;
  FileSystem& fs = h->second;
  for (auto it = fs.begin(); it != fs.end();) {
    Inode& n = *it->second;
    const std::string where = name + " " + it->first;
    if (!n.durable_name && !draws_.draw(cfg_.survive)) {
      trace_.add("disk-lost " + where);
      it = fs.erase(it);
      continue;
    }
    n.durable_name = true;
    if (!n.pending.empty()) settle(n, where);
    ++it;
  }
}

void Disk::settle(Inode& n, const std::string& where) {
  const std::uint64_t sector = cfg_.sector > 0 ? cfg_.sector : 1;
  std::vector<std::byte> out = n.durable;
  int kept = 0;
  int torn = 0;
  int lost = 0;
  for (const PendingChange& c : n.pending) {
    std::size_t keep = c.data.size();  // a write's bytes that land
    if (!draws_.draw(cfg_.survive)) {
      const Boundaries b = c.kind == PendingChange::write && cfg_.tear
                               ? boundaries_inside(c.off, c.data.size(), sector)
                               : Boundaries{};
      if (b.count == 0 || draws_.below(2) != 0) {
        ++lost;
        continue;
      }
      keep = static_cast<std::size_t>(b.first + draws_.below(b.count) * sector - c.off);
      ++torn;
    } else {
      ++kept;
    }
    if (c.kind == PendingChange::truncate) {
      out.resize(c.off);
    } else {
      apply_write(out, c.off, c.data.data(), keep);
    }
  }
  n.pending.clear();
  n.durable = out;
  n.bytes = std::move(out);
  trace_.add("disk-crash " + where + " kept=" + std::to_string(kept) +
             " torn=" + std::to_string(torn) + " lost=" + std::to_string(lost) +
             " size=" + std::to_string(n.bytes.size()));
}

}  // namespace duet::sim::detail
