// copy_stack.cpp: shared stacks and the copies in and out of them.
#include "copy_stack.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include "duet/detail/block_cache.hpp"
#include "stack_stats.hpp"
#include "switch.hpp"

namespace duet::detail {
namespace {

/// The calling thread's shared stack, made at its first copy fiber.
struct ThreadShared {
  SharedStack* s = nullptr;
  ~ThreadShared() {
    if (s != nullptr) shared_stack_unref(s);
  }
};
thread_local ThreadShared tl_shared;

SharedStack* my_shared_stack() noexcept {
  if (tl_shared.s == nullptr) {
    try {
      const std::size_t bytes = tuning_cells().shared_stack_bytes.load(std::memory_order_relaxed);
      auto owned = std::make_unique<SharedStack>(stack_map(bytes, /*guard=*/true));
      owned->mem.strategy = StackStrategy::copy;
      tl_shared.s = owned.release();  // owned by its reference count from here
    } catch (const std::exception& e) {
      std::fprintf(stderr, "duet: cannot map a shared stack for copy fibers: %s\n", e.what());
      std::abort();
    }
  }
  return tl_shared.s;
}

/// Stack bytes are copied without the sanitizer's checks: the frames hold
/// ASan redzones, and the copy is of raw memory.
DUET_NO_SANITIZE_ADDRESS void raw_copy(char* dst, const char* src, std::size_t n) noexcept {
  // A word loop, not memcpy: memcpy would be intercepted (and checked).
  auto* d = reinterpret_cast<std::uint64_t*>(dst);
  const auto* s = reinterpret_cast<const std::uint64_t*>(src);
  for (std::size_t i = 0; i < n / 8; ++i) d[i] = s[i];
  for (std::size_t i = n / 8 * 8; i < n; ++i) dst[i] = src[i];
}

/// A buffer of at least `need` bytes, in 16-byte steps (the block cache's
/// finest: raw_copy needs 8-byte alignment, a block has 16); shrinks when
/// the fiber now uses much less than it once did.
void fit_buffer(FiberBase* f, std::uint32_t need) {
  const auto round = [](std::uint32_t n) { return (n + 15u) / 16u * 16u; };
  if (f->copy.saved != nullptr && need <= f->copy.saved_cap && need * 4 >= f->copy.saved_cap)
    return;
  char* fresh = static_cast<char*>(block_alloc(round(need)));
  if (f->copy.saved != nullptr) block_free(f->copy.saved, f->copy.saved_cap);
  f->copy.saved = fresh;
  f->copy.saved_cap = round(need);
}

}  // namespace

void shared_stack_unref(SharedStack* s) noexcept {
  if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::unique_ptr<SharedStack> last(s);  // unmaps
  }
}

bool copy_enter(FiberBase* f) noexcept {
  if (f->copy.shared == nullptr) {
    SharedStack* s = my_shared_stack();
    // Relaxed: the caller holds a reference (the thread's), so the count
    // cannot reach zero meanwhile.
    s->refs.fetch_add(1, std::memory_order_relaxed);
    f->copy.shared = s;
  }
  SharedStack* s = f->copy.shared;
  if (s->busy.exchange(true, std::memory_order_acquire)) return false;
  san::unpoison(s->mem.bottom(), s->mem.usable());
  if (f->ctx != nullptr) {
    raw_copy(static_cast<char*>(f->ctx), f->copy.saved, f->copy.saved_size);
  }
  return true;
}

void copy_leave(FiberBase* f) noexcept {
  SharedStack* s = f->copy.shared;
  if (!f->finished) {
    const auto used = static_cast<std::uint32_t>(s->mem.top() - static_cast<char*>(f->ctx));
    try {
      fit_buffer(f, used);
    } catch (const std::bad_alloc&) {
      std::fputs("duet: out of memory saving a copy fiber's stack\n", stderr);
      std::abort();
    }
    raw_copy(f->copy.saved, static_cast<const char*>(f->ctx), used);
    f->copy.saved_size = used;
  }
  // The frames left behind belong to nobody now; their redzones must not
  // fire on the next fiber (ASan builds).
  san::unpoison(s->mem.bottom(), s->mem.usable());
  s->busy.store(false, std::memory_order_release);
  if (f->finished) copy_release(f);
}

void copy_release(FiberBase* f) noexcept {
  if (f->copy.saved != nullptr) block_free(f->copy.saved, f->copy.saved_cap);
  f->copy.saved = nullptr;
  f->copy.saved_cap = f->copy.saved_size = 0;
  if (f->copy.shared != nullptr) shared_stack_unref(std::exchange(f->copy.shared, nullptr));
}

}  // namespace duet::detail
