// op_memory.hpp: where IoOp blocks come from (op_memory.cpp).
#pragma once

#include <bit>
#include <cstddef>

namespace duet::io::detail {

/// The block an op of `size` bytes (at most 4 KiB) takes from the block
/// cache: the next power of two, at least 64. Few classes, because each
/// class a thread uses costs it a 256 KiB slab (docs/performance-log.md,
/// "What an io_uring server holds").
[[nodiscard]] constexpr std::size_t op_block_bytes(std::size_t size) noexcept {
  return std::bit_ceil(size < 64 ? std::size_t{64} : size);
}

/// A 64-byte aligned block of `size` bytes for an IoOp and its buffer.
/// Throws std::bad_alloc.
[[nodiscard]] void* op_alloc(std::size_t size);
/// Frees a block from op_alloc of the same `size` (on any thread).
void op_free(void* p, std::size_t size) noexcept;

}  // namespace duet::io::detail
