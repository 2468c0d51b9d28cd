// symbols.hpp: names for code addresses, for the stall reports and the
// async backtraces of the task dump. Off the hot path: each call may read
// the object file's symbol table (cached per file) and allocates.
//
// A name comes from the object's full symbol table (.symtab), read from the
// file the address was loaded from, so that functions with internal
// linkage are named too: the coroutine bodies the compilers emit
// (GCC's `f.actor`, clang's `f.resume`) are such local symbols, which
// dladdr, reading only the dynamic table, cannot name. A stripped object
// falls back to its dynamic symbols, then to "object+0xoffset". Exported
// (DUET_API) for tests/common/symbols_test.cpp, as a shared library hides
// everything else.
#pragma once

#include "duet/export.hpp"

#include <string>
#include <vector>

namespace duet::detail {

/// The demangled name of the function containing `code`, with the
/// compilers' clone suffixes cleaned from coroutine bodies ("f(int)", not
/// "f(f(int)::_Z1fi.Frame*) [clone .actor]"); "object+0x1f" when no symbol
/// covers it.
[[nodiscard]] DUET_API std::string function_name(const void* code);

/// One line per return address: "function+0x1f (object)" or
/// "object+0x1f" (the stall report's backtrace).
[[nodiscard]] DUET_API std::vector<std::string> symbolize(void* const* frames, int depth);

/// A coroutine body's demangled symbol as its source names it (exposed for
/// the tests of the two compilers' spellings).
[[nodiscard]] DUET_API std::string clean_coroutine_name(std::string demangled);

}  // namespace duet::detail
