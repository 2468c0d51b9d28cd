// chunk_policy_test.cpp: the block cache's choice of page kind for its next
// 2 MiB chunk (common/src/alloc/chunk_policy.hpp), driven with made-up
// first-touch costs: huge first, then small, then the cheaper one, the
// other one again every 16th chunk, and a switch as soon as the kind in use
// gets dearer than the other's last chunk.
#include "alloc/chunk_policy.hpp"

#include <catch2/catch.hpp>

#include <cstdint>

using duet::detail::ChunkPolicy;

namespace {

/// One chunk of that kind whose eight slabs took `ns_per_slab` each.
void charge_chunk(ChunkPolicy& p, bool huge, std::uint64_t ns_per_slab) {
  for (std::uint32_t i = 0; i < ChunkPolicy::slabs_per_chunk; ++i) p.charge(huge, ns_per_slab);
}

/// Takes the next chunk's kind and charges it what that kind costs now.
bool next_chunk(ChunkPolicy& p, std::uint64_t huge_ns, std::uint64_t small_ns) {
  const bool huge = p.next_is_huge();
  charge_chunk(p, huge, huge ? huge_ns : small_ns);
  return huge;
}

}  // namespace

TEST_CASE("the first chunk asks for huge pages and the second does not", "[block_cache][chunk]") {
  ChunkPolicy p;
  CHECK(p.next_is_huge());
  // Its slabs are not all carved yet: the next one tries huge again.
  p.charge(true, 100);
  CHECK(p.next_is_huge());
  charge_chunk(p, true, 100);
  CHECK_FALSE(p.next_is_huge());
}

TEST_CASE("chunks take the kind whose first touch cost less", "[block_cache][chunk]") {
  SECTION("huge pages cheaper (a host that backs them at once)") {
    ChunkPolicy p;
    int huge = 0;
    for (int i = 0; i < 15; ++i) huge += next_chunk(p, 400, 1600) ? 1 : 0;
    CHECK(huge == 14);  // all but the second chunk, which measured small pages
  }
  SECTION("small pages cheaper (a host that faults huge pages in 4 KiB at a time)") {
    ChunkPolicy p;
    int huge = 0;
    for (int i = 0; i < 15; ++i) huge += next_chunk(p, 8500, 1600) ? 1 : 0;
    CHECK(huge == 1);  // only the first, which measured huge pages
  }
}

TEST_CASE("every 16th chunk tries the other kind again", "[block_cache][chunk]") {
  ChunkPolicy p;
  int huge = 0;
  for (int i = 0; i < 64; ++i) huge += next_chunk(p, 8500, 1600) ? 1 : 0;
  // The first chunk, then chunks 16, 32, 48 and 64.
  CHECK(huge == 5);
  CHECK(p.chunks() == 64);
}

TEST_CASE("a kind that gets dearer is left at the next chunk", "[block_cache][chunk]") {
  ChunkPolicy p;
  for (int i = 0; i < 10; ++i) (void)next_chunk(p, 400, 1600);
  REQUIRE(p.next_is_huge());
  // The huge pages a predecessor freed are used up: this chunk cost 8500.
  charge_chunk(p, true, 8500);
  CHECK_FALSE(p.next_is_huge());
}
