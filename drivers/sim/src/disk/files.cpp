// files.cpp: the simulated disk's calls (disk.hpp), answered as the kernel
// answers them for a regular file: open with its access mode, O_CREAT,
// O_EXCL, O_TRUNC and O_APPEND; positional reads short at the end of the
// file; positional writes that extend a file with zeros, bounded by the
// host's capacity; syncs; closes; and the world's look and setup of a
// file. A path names a file by its exact text: there are no directories.
// A write, a truncation and a sync are traced; a read is not (it changes
// nothing).
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "disk.hpp"

namespace duet::sim::detail {

void apply_write(std::vector<std::byte>& to, std::uint64_t off, const std::byte* from,
                 std::size_t len) {
  if (len == 0) return;
  const std::uint64_t end = off + len;
  if (to.size() < end) to.resize(end);  // the gap, if any, reads as zeros
  std::memcpy(to.data() + off, from, len);
}

OpenFile* Disk::find(int fd) noexcept {
  auto it = open_.find(fd);
  return it != open_.end() ? &it->second : nullptr;
}

int Disk::open(std::uint32_t host, const std::string& name, std::string_view path, int flags,
               int fd) {
  const int access = flags & O_ACCMODE;
  if (access == O_ACCMODE) return -EINVAL;
  if (path.empty()) return -ENOENT;
  FileSystem& fs = hosts_[host];
  auto it = fs.find(path);
  std::string where = name + " " + std::string(path);
  if (it == fs.end()) {
    if ((flags & O_CREAT) == 0) return -ENOENT;
    it = fs.emplace(std::string(path), std::make_shared<Inode>()).first;
    trace_.add("disk-create " + where);
  } else if ((flags & O_CREAT) != 0 && (flags & O_EXCL) != 0) {
    return -EEXIST;
  } else if ((flags & O_TRUNC) != 0) {
    // Linux truncates under O_RDONLY too (the mode of the descriptor is
    // not asked, the file's permission is).
    Inode& n = *it->second;
    if (!n.bytes.empty() || !n.pending.empty() || !n.durable.empty()) {
      n.bytes.clear();
      n.pending.push_back(PendingChange{PendingChange::truncate, 0, {}});
      trace_.add("disk-truncate " + where);
    }
  }
  open_.emplace(
      fd, OpenFile{host, std::move(where), it->second, access, (flags & O_APPEND) != 0, false});
  return fd;
}

long Disk::read(int fd, std::byte* to, std::size_t len, std::uint64_t off) {
  const OpenFile* f = find(fd);
  if (f == nullptr || f->dead || f->access == O_WRONLY) return -EBADF;
  if (off > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return -EINVAL;
  const std::vector<std::byte>& b = f->inode->bytes;
  if (off >= b.size()) return 0;
  const std::size_t n = std::min<std::uint64_t>(len, b.size() - off);
  if (n != 0) std::memcpy(to, b.data() + off, n);
  return static_cast<long>(n);
}

std::uint64_t Disk::used(std::uint32_t host) const {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return 0;
  std::uint64_t n = 0;
  for (const auto& [path, inode] : it->second) n += inode->bytes.size();
  return n;
}

std::size_t Disk::fitting(std::uint32_t host, const Inode& n, std::size_t len,
                          std::uint64_t off) const {
  const std::uint64_t size = n.bytes.size();
  if (cfg_.capacity == 0 || off + len <= size) return len;  // no limit, or no growth
  const std::uint64_t in_use = used(host);
  const std::uint64_t room = in_use >= cfg_.capacity ? 0 : cfg_.capacity - in_use;
  const std::uint64_t end = size + room;  // the furthest the file may reach
  return end <= off ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(len, end - off));
}

long Disk::write(int fd, const std::byte* from, std::size_t len, std::uint64_t off) {
  const OpenFile* f = find(fd);
  if (f == nullptr || f->dead || f->access == O_RDONLY) return -EBADF;
  Inode& n = *f->inode;
  if (f->append) off = n.bytes.size();  // Linux's pwrite under O_APPEND
  if (off > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return -EINVAL;
  if (len == 0) return 0;
  if (off >= kMaxFileSize || len > kMaxFileSize - off) return -EFBIG;
  const std::size_t k = fitting(f->host, n, len, off);
  if (k == 0) return -ENOSPC;
  apply_write(n.bytes, off, from, k);
  n.pending.push_back(PendingChange{PendingChange::write, off, std::vector(from, from + k)});
  trace_.add("disk-write " + f->where + " off=" + std::to_string(off) + " n=" + std::to_string(k) +
             " " + hash_text(from, k));
  return static_cast<long>(k);
}

int Disk::sync(int fd) {
  const OpenFile* f = find(fd);
  if (f == nullptr || f->dead) return -EBADF;
  Inode& n = *f->inode;
  n.durable = n.bytes;
  n.pending.clear();
  n.durable_name = true;
  trace_.add("disk-sync " + f->where);
  return 0;
}

int Disk::close(int fd) {
  return open_.erase(fd) != 0 ? 0 : -EBADF;
}

std::optional<std::vector<std::byte>> Disk::contents(std::uint32_t host,
                                                     std::string_view path) const {
  auto h = hosts_.find(host);
  if (h == hosts_.end()) return std::nullopt;
  auto it = h->second.find(path);
  if (it == h->second.end()) return std::nullopt;
  return it->second->bytes;
}

void Disk::put(std::uint32_t host, const std::string& name, std::string_view path,
               std::vector<std::byte> data) {
  auto n = std::make_shared<Inode>();
  n->durable = data;
  n->bytes = std::move(data);
  n->durable_name = true;
  trace_.add("disk-put " + name + " " + std::string(path) +
             " n=" + std::to_string(n->bytes.size()));
  hosts_[host].insert_or_assign(std::string(path), std::move(n));
}

}  // namespace duet::sim::detail
