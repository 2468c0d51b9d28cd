// duet/detail/abi_tag.hpp: a program built against other headers than the
// library's fails to link, not at run time.
//
// Two things make a translation unit's inline code disagree with the
// library's compiled code: another release's headers (before 1.0 a minor
// release may change any layout; docs/adopting.md) and another value of
// DUET_CHECK_TRANSITIONS, the checks compiled into the task-state
// transitions that headers inline (detail/check_mode.hpp), whose copies the
// linker would mix silently. Every translation unit that includes the state
// word references one symbol whose name spells both; the library defines
// only its own (common/src/abi_tag.cpp). A mismatch is a link error naming
// what the program wanted, e.g.
//   undefined reference to `duet_0_1_built_with_DUET_CHECK_TRANSITIONS_1'
// (a library built without the checks); against a shared library of
// another release, the loader refuses the program with the same name.
// CMake and pkg-config consumers get the library's value without asking.
#pragma once

#include "duet/export.hpp"
#include "duet/version.hpp"

#ifndef DUET_CHECK_TRANSITIONS
#error "include duet/detail/check_mode.hpp, which chooses DUET_CHECK_TRANSITIONS"
#endif

#define DUET_ABI_TAG_NAME(major, minor, checks) \
  duet_##major##_##minor##_built_with_DUET_CHECK_TRANSITIONS_##checks
#define DUET_ABI_TAG_EXPAND(major, minor, checks) DUET_ABI_TAG_NAME(major, minor, checks)
#define DUET_ABI_TAG \
  DUET_ABI_TAG_EXPAND(DUET_VERSION_MAJOR, DUET_VERSION_MINOR, DUET_CHECK_TRANSITIONS)

extern "C" {
DUET_API extern const char DUET_ABI_TAG;
}

namespace duet::detail::abi {
namespace {
// Kept (gnu::used) although nothing reads it: its relocation is the
// reference that the linker must resolve.
[[gnu::used]] const char* const tag = &DUET_ABI_TAG;
}  // namespace
}  // namespace duet::detail::abi
