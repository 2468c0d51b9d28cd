// page_touch.cpp: what fresh memory costs on this machine, the figure that
// explains the old fiber spawn cliff (docs/performance-log.md, "Why fibers
// had a cliff"): a first touch of a fresh anonymous page, a second touch, a
// touch after MADV_DONTNEED, a first touch after MADV_POPULATE_WRITE of each
// 256 KiB slab (how the block cache faults a slab in), a first touch inside
// 2 MiB MADV_HUGEPAGE chunks (the block cache's other page kind:
// common/src/alloc/chunk_policy.hpp), and a whole stack's life done per
// fiber the old way (mmap + mprotect of a guard + one touch + munmap).
//
//   exp_page_touch [--pages N] [--rounds R]    (defaults 10000, 1000)
//
// One JSONL record per figure (lab.hpp), "ns" per page or per stack.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "lab.hpp"

namespace {

char* map_pages(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  return static_cast<char*>(p);
}

/// Writes one byte to each page; ns per page.
double touch_all(char* p, std::size_t pages, std::size_t pg, char v) {
  const auto t0 = lab::Clock::now();
  for (std::size_t i = 0; i < pages; ++i) reinterpret_cast<volatile char*>(p)[i * pg] = v;
  return lab::ns_since(t0) / static_cast<double>(pages);
}

}  // namespace

int main(int argc, char** argv) {
  long pages_arg = 10000, rounds = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--pages") == 0) pages_arg = std::atol(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atol(argv[i + 1]);
  }
  const auto pages = static_cast<std::size_t>(pages_arg);
  const auto pg = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const char* method = "steady_clock, one thread, one mapping of N pages";

  char* p = map_pages(pages * pg);
  lab::emit("page_touch", "kernel", "first_touch", touch_all(p, pages, pg, 1), "ns", pages_arg,
            method);
  lab::emit("page_touch", "kernel", "second_touch", touch_all(p, pages, pg, 2), "ns", pages_arg,
            method);
  madvise(p, pages * pg, MADV_DONTNEED);
  lab::emit("page_touch", "kernel", "touch_after_dontneed", touch_all(p, pages, pg, 3), "ns",
            pages_arg, method);
  munmap(p, pages * pg);

  // The block cache's way to a slab's 4 KiB pages: MADV_POPULATE_WRITE of
  // each 256 KiB slab, then the touch (its carve), timed together.
#ifdef MADV_POPULATE_WRITE
  {
    const std::size_t slab = std::size_t{256} << 10;
    const std::size_t bytes = (pages * pg + slab - 1) / slab * slab;
    char* q = map_pages(bytes);
    const auto t0 = lab::Clock::now();
    bool ok = true;
    for (std::size_t off = 0; off < bytes; off += slab)
      ok = madvise(q + off, slab, MADV_POPULATE_WRITE) == 0 && ok;
    touch_all(q, bytes / pg, pg, 1);
    if (ok)
      lab::emit("page_touch", "kernel", "first_touch_populated",
                lab::ns_since(t0) / static_cast<double>(bytes / pg), "ns", pages_arg,
                "steady_clock, one thread, MADV_POPULATE_WRITE of each 256 KiB slab (the block "
                "cache's) then a touch of each page; ns per 4 KiB");
    munmap(q, bytes);
  }
#endif

  // The same first touch where the block cache gets task memory: 2 MiB
  // chunks, 2 MiB-aligned, marked MADV_HUGEPAGE (common/src/alloc/
  // block_cache.cpp), so that a transparent huge page may back each. Per
  // 4 KiB touched, as above; N rounded up to whole chunks.
  {
    const std::size_t chunk = std::size_t{2} << 20;
    const std::size_t bytes = (pages * pg + chunk - 1) / chunk * chunk;
    char* raw = map_pages(bytes + chunk);
    auto* h = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + chunk - 1) &
                                      ~(std::uintptr_t{chunk} - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(h, bytes, MADV_HUGEPAGE);
#endif
    const std::size_t n = bytes / pg;
    lab::emit(
        "page_touch", "kernel", "first_touch_huge_chunks", touch_all(h, n, pg, 1), "ns", pages_arg,
        "steady_clock, one thread, 2 MiB-aligned MADV_HUGEPAGE chunks (the block cache's); ns "
        "per 4 KiB");
    munmap(raw, bytes + chunk);
  }

  // The old per-fiber stack life: a 64 KiB stack with a guard page.
  const std::size_t stack = 64 * 1024 + pg;
  const auto t0 = lab::Clock::now();
  for (long i = 0; i < rounds; ++i) {
    char* s = map_pages(stack);
    mprotect(s, pg, PROT_NONE);
    reinterpret_cast<volatile char*>(s)[stack - 1] = 1;
    munmap(s, stack);
  }
  lab::emit("page_touch", "kernel", "stack_map_protect_touch_unmap",
            lab::ns_since(t0) / static_cast<double>(rounds), "ns", rounds,
            "steady_clock, one thread: mmap 68 KiB + mprotect guard + 1 touch + munmap");
  return 0;
}
