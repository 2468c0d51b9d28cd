// switch.hpp: the stack switch every fiber switch makes (jump_to): Boost
// 1.74's jump_fcontext, or on x86-64 System V an equivalent linked into the
// binary (switch.cpp), reached by a direct call instead of through the PLT
// of libboost_context, which resumes with a `ret` (switch.cpp: the return
// predictions). Same context layout (make_fcontext's contexts are
// entered by either), same saved state: rbx, rbp, r12-r15, the x87
// control word and MXCSR (callee-saved in the ABI: a fiber that changes
// the rounding mode keeps it to itself).
#pragma once

#include <boost/context/detail/fcontext.hpp>

namespace duet::detail {

#if defined(__x86_64__) && defined(__ELF__) && !defined(_WIN32)
#define DUET_OWN_SWITCH 1
extern "C" boost::context::detail::transfer_t duet_jump_fcontext(
    boost::context::detail::fcontext_t to, void* data) noexcept;
/// Saves the running context on its stack and resumes `to`, which receives
/// {the saved context, data}.
inline boost::context::detail::transfer_t jump_to(boost::context::detail::fcontext_t to,
                                                  void* data) noexcept {
  return duet_jump_fcontext(to, data);
}
#else
inline boost::context::detail::transfer_t jump_to(boost::context::detail::fcontext_t to,
                                                  void* data) noexcept {
  return boost::context::detail::jump_fcontext(to, data);
}
#endif

}  // namespace duet::detail
