// op_memory.hpp: where IoOp blocks come from (op_memory.cpp).
#pragma once

#include <cstddef>

namespace duet::io::detail {

/// A 64-byte aligned block of `size` bytes for an IoOp and its buffer.
/// Throws std::bad_alloc.
[[nodiscard]] void* op_alloc(std::size_t size);
/// Frees a block from op_alloc of the same `size` (on any thread).
void op_free(void* p, std::size_t size) noexcept;

}  // namespace duet::io::detail
