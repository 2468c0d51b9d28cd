// symbols_test.cpp: the names common/src/sched/symbols.hpp gives code
// addresses, for the dump's async backtraces and the stall reports: the
// coroutine bodies' symbols as GCC and clang spell them, cleaned to the
// source's signature; a function of this program named from the full
// symbol table (it has internal linkage: dladdr could not); an address in
// no object.
#include "sched/symbols.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {
[[gnu::noinline]] int symbols_test_local_function(int x) {
  asm volatile("" ::: "memory");
  return x + 1;
}
}  // namespace

TEST_CASE("symbols: coroutine bodies are named as the source names them", "[symbols]") {
  using duet::detail::clean_coroutine_name;
  // GCC: the actor takes the frame, whose type names the coroutine.
  CHECK(clean_coroutine_name("f(f(int)::_Z1fi.Frame*) [clone .actor]") == "f(int)");
  CHECK(clean_coroutine_name("ns::bar(ns::bar()::_ZN2ns3barEv.Frame*) [clone .actor]") ==
        "ns::bar()");
  CHECK(clean_coroutine_name("(anonymous namespace)::leaf((anonymous namespace)::leaf("
                             "(anonymous namespace)::Gate&)::_ZN12_GLOBAL__N_14leafERNS_4GateE."
                             "Frame*) [clone .actor]") ==
        "(anonymous namespace)::leaf((anonymous namespace)::Gate&)");
  // clang: the resume clone.
  CHECK(clean_coroutine_name("f(int) [clone .resume]") == "f(int)");
  CHECK(clean_coroutine_name("f(int) (.resume)") == "f(int)");
  // Anything else is left as it is.
  CHECK(clean_coroutine_name("plain(int)") == "plain(int)");
  CHECK(clean_coroutine_name("g() [clone .cold]") == "g() [clone .cold]");
}

TEST_CASE("symbols: a function with internal linkage is named from the symbol table", "[symbols]") {
  const auto fn = reinterpret_cast<const void*>(&symbols_test_local_function);
  CHECK(symbols_test_local_function(1) == 2);
  const std::string name = duet::detail::function_name(fn);
  INFO(name);
  CHECK(name.find("symbols_test_local_function(int)") != std::string::npos);
  // An address inside it, as a backtrace has: named with its offset and object.
  void* inside[] = {const_cast<void*>(static_cast<const void*>(static_cast<const char*>(fn) + 1))};
  const auto lines = duet::detail::symbolize(inside, 1);
  REQUIRE(lines.size() == 1);
  INFO(lines[0]);
  CHECK(lines[0].find("symbols_test_local_function(int)+0x1 (duet_common_tests)") !=
        std::string::npos);
  // No object holds address 16: its value in hex.
  CHECK(duet::detail::function_name(reinterpret_cast<const void*>(16)) == "0x10");
}
