// disk.hpp: the simulated disk behind a sim::World (DiskConfig,
// duet/sim/config.hpp): each host's files, in memory, by path, and the
// virtual descriptors open on them. A file keeps its durable contents (as
// of its last sync) and the changes made since, pending; a crash of its
// host draws, per pending change, whether it survives, is torn or is lost.
// Its rules, one concern to a file:
//   files.cpp   open, read, write, sync and close, as the kernel answers
//               them, and the world's look and setup of a file;
//   crash.cpp   a host's crash: its descriptors die, its files keep what
//               the draws let survive.
// The Network (network/network.hpp) owns the disk and calls it under its
// lock, which guards it; it draws from the network's generator and adds
// to the network's trace, in the order the seed fixes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../replay/draws.hpp"
#include "../replay/trace.hpp"
#include "duet/sim/config.hpp"

namespace duet::sim::detail {

/// A change made to a file since its last sync, kept in the order made:
/// what a crash draws for.
struct PendingChange {
  enum Kind : std::uint8_t { write, truncate };
  Kind kind = write;
  std::uint64_t off = 0;        // write: where it starts; truncate: the new size
  std::vector<std::byte> data;  // write: the bytes
};

/// One file. Invariant: `pending` applied in order to `durable` gives
/// `bytes`; `durable_name` is false from its creation to its first sync
/// (a crash may lose the file whole until then).
struct Inode {
  std::vector<std::byte> bytes;    // what reads see
  std::vector<std::byte> durable;  // what survives a crash for certain
  std::vector<PendingChange> pending;
  bool durable_name = false;
};

/// A virtual descriptor open on a file.
struct OpenFile {
  std::uint32_t host = 0;
  std::string where;  // "<host name> <path>": its trace lines' subject
  std::shared_ptr<Inode> inode;
  int access = 0;       // O_RDONLY, O_WRONLY or O_RDWR
  bool append = false;  // O_APPEND: every write goes to the end
  bool dead = false;    // its host crashed: every call but close is EBADF
};

class Disk {
 public:
  /// The largest file: a write past it fails with EFBIG (the bytes are
  /// kept in memory, zeros included).
  static constexpr std::uint64_t kMaxFileSize = std::uint64_t{1} << 30;

  Disk(const DiskConfig& cfg, Draws& draws, Trace& trace)
      : cfg_(cfg), draws_(draws), trace_(trace) {}

  // ---- files.cpp ----
  /// open(2) of `path` with `flags` for host `host` (named `name`):
  /// descriptor `fd`, or -errno (EINVAL, ENOENT, EEXIST).
  int open(std::uint32_t host, const std::string& name, std::string_view path, int flags, int fd);
  [[nodiscard]] bool owns(int fd) const noexcept { return open_.count(fd) != 0; }
  /// pread(2): the bytes read into `to` (short at the end of the file), or
  /// -errno.
  long read(int fd, std::byte* to, std::size_t len, std::uint64_t off);
  /// pwrite(2): the bytes taken (short when the host's capacity is
  /// reached), or -errno (EBADF, EINVAL, EFBIG, ENOSPC).
  long write(int fd, const std::byte* from, std::size_t len, std::uint64_t off);
  /// fsync(2) and fdatasync(2) alike: the file's contents and its name
  /// become durable. 0 or -EBADF.
  int sync(int fd);
  /// 0 (a dead descriptor's too), or -EBADF.
  int close(int fd);
  /// The file as reads see it; nullopt when there is none.
  [[nodiscard]] std::optional<std::vector<std::byte>> contents(std::uint32_t host,
                                                               std::string_view path) const;
  /// Makes `path` a file holding `data`, durable, in place of any other
  /// (descriptors open on that one keep it).
  void put(std::uint32_t host, const std::string& name, std::string_view path,
           std::vector<std::byte> data);

  // ---- crash.cpp ----
  /// Host `host` (named `name`) crashed: its descriptors die, and each of
  /// its files keeps its durable contents and the pending changes that
  /// the draws let survive (DiskConfig), in path order.
  void crash(std::uint32_t host, const std::string& name);

 private:
  /// One host's files, by path.
  using FileSystem = std::map<std::string, std::shared_ptr<Inode>, std::less<>>;

  OpenFile* find(int fd) noexcept;
  /// The bytes host `host`'s files hold, as reads see them.
  [[nodiscard]] std::uint64_t used(std::uint32_t host) const;
  /// The length of a write of `len` bytes at `off` to `n` that fits the
  /// host's capacity (0: nothing fits).
  [[nodiscard]] std::size_t fitting(std::uint32_t host, const Inode& n, std::size_t len,
                                    std::uint64_t off) const;
  /// `n`'s pending changes as the crash's draws settle them: its new
  /// durable contents; traced as `where`.
  void settle(Inode& n, const std::string& where);

  DiskConfig cfg_;
  Draws& draws_;
  Trace& trace_;
  std::map<std::uint32_t, FileSystem> hosts_;
  std::map<int, OpenFile> open_;  // by descriptor
};

/// Writes `len` bytes of `from` at `off` into `to`, extending it with
/// zeros first when `off` is past its end.
void apply_write(std::vector<std::byte>& to, std::uint64_t off, const std::byte* from,
                 std::size_t len);

}  // namespace duet::sim::detail
