// alloc/chunk_policy.hpp: which kind of page the block cache's next 2 MiB
// chunk asks for (block_cache.cpp's SlabSource), from what first touches of
// each kind cost. A plain class with no clock of its own, so that
// tests/common/block_cache_test.cpp can drive its decisions.
#pragma once

#include <cstdint>

namespace duet::detail {

/// Whether a new chunk asks for a transparent huge page, chosen by what a
/// first touch costs on the host it runs on, measured on the chunks themselves.
///
/// A slab's first touch is what a cold spawn pays, and which kind of page
/// is cheaper depends on the host, either way (docs/performance-log.md,
/// "Huge-page chunks" and "The chunk's kind of page, measured"): on some
/// hosts a huge page is far cheaper to touch; on a guest that reports free
/// 2 MiB blocks to its host, which drops them, a huge page faults in on the
/// host 4 KiB at a time, and only huge pages come from those blocks, so it
/// is cheaper or dearer from one process to the next.
/// No fixed choice is good on both, so every slab's carve (which writes each
/// block, so it is the slab's first touch) is timed and charged to its kind:
/// the first chunk is huge, the second not, and then each new chunk takes
/// the kind whose last chunk cost less; every 16th chunk tries the other kind
/// again, since which is cheaper can change (a process that keeps allocating
/// uses up the huge pages its predecessor freed). Two clock reads per 256 KiB
/// slab. Where THP is off the kinds cost the same and the choice is moot.
class ChunkPolicy {
 public:
  static constexpr std::uint32_t slabs_per_chunk = 8;
  static constexpr std::uint64_t retry_every = 16;

  /// The kind of the next chunk (true: MADV_HUGEPAGE).
  bool next_is_huge() noexcept {
    ++chunks_;
    if (!known_[1]) return true;
    if (!known_[0]) return false;
    const bool best = cost_[1] <= cost_[0];
    return chunks_ % retry_every == 0 ? !best : best;
  }
  /// A slab of a chunk of that kind took `ns` to carve (its first touch).
  /// A kind's cost is that of its last chunk whose eight slabs were carved.
  void charge(bool huge, std::uint64_t ns) noexcept {
    Tally& t = tally_[huge];
    t.ns += ns;
    if (++t.slabs < slabs_per_chunk) return;
    cost_[huge] = t.ns;
    known_[huge] = true;
    t = {};
  }
  [[nodiscard]] std::uint64_t chunks() const noexcept { return chunks_; }

 private:
  struct Tally {
    std::uint64_t ns = 0;
    std::uint32_t slabs = 0;
  };
  std::uint64_t chunks_ = 0;
  Tally tally_[2];
  std::uint64_t cost_[2] = {0, 0};
  bool known_[2] = {false, false};
};

}  // namespace duet::detail
