// duet/detail/cpu_relax.hpp: the hint a spin-wait loop gives the CPU, once
// per architecture, so that the core builds wherever C++20 does (the
// stackless model needs no assembly). x86: PAUSE (eases the pipeline
// and the sibling hyper-thread while it spins); AArch64 and 32-bit Arm:
// YIELD; elsewhere nothing (the loop still works, only hotter).
#pragma once

namespace duet::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace duet::detail
