// sync/asymmetric_fence.hpp: the heavy side of an asymmetric Dekker
// handshake (liburcu, folly::asymmetricHeavyBarrier), for protocols whose
// one side runs on every hot operation and the other rarely.
//
// The light side writes its word, then reads the other side's word, with
// only a compiler barrier between (std::atomic_signal_fence): no locked
// instruction. The heavy side writes its word, calls heavy_fence(), then
// reads the light side's word. heavy_fence() makes every running thread of
// the process execute a full fence (membarrier(2), private expedited), so
// at least one of the two sides sees the other's write: if the light side's
// write came before its thread passed the fence, the heavy side's read sees
// it; if after, so did the light side's read, which then sees the heavy
// side's write.
//
// Users: the LIFO slot's thief (sched/lifo_slot.hpp) and the closing of a
// task scope's owner lane (scope/task_scope.cpp).
#pragma once

namespace duet::detail {

/// Whether heavy_fence() works in this process: registers for membarrier(2)
/// once (Linux 4.14; a seccomp filter may forbid it). When false, no light
/// side may rely on it: protocols fall back to their locked form.
bool heavy_fence_supported() noexcept;

/// The heavy side's fence (a system call), with a seq_cst fence on either
/// side. Returns false when the call failed: then it fenced nothing, and
/// the caller must treat the light side as unseen.
bool heavy_fence() noexcept;

}  // namespace duet::detail
