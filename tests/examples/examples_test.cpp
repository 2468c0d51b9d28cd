// examples_test.cpp: the documentation's examples cannot rot (issue 11).
//
// tests/examples/CMakeLists.txt extracts every C++ example of README.md,
// docs/*.md and the public headers' comments and compiles each one
// (duet_doc_examples, built with this binary). These tests check the other
// half: that no code in the docs escapes the extraction (unmarked header
// examples, C++ fenced under another name), and that the compiled set is
// the current one (a document changed since CMake last extracted).
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace {

/// Runs extract_examples.py with `args`; its stdout and stderr, and its
/// exit status in `rc`.
std::string run_tool(const std::string& args, int& rc) {
  const std::string cmd = std::string(DUET_PYTHON) + " " + DUET_EXAMPLES_TOOL + " --root " +
                          DUET_SOURCE_DIR + " " + args + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  rc = ::pclose(p);
  return out;
}

}  // namespace

TEST_CASE("docs: every code example is marked for compilation", "[examples]") {
  int rc = -1;
  const std::string out = run_tool("--check", rc);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find(" 0 problems") != std::string::npos);
}

TEST_CASE("docs: the compiled examples are the current ones", "[examples]") {
  int rc = -1;
  std::string names = run_tool("--list", rc);
  REQUIRE(rc == 0);
  std::size_t count = names.find_first_not_of(" \n") == std::string::npos ? 0 : 1;
  for (char c : names) count += c == ';';
  INFO("re-run CMake: the documents changed since the examples were extracted");
  CHECK(count == DUET_EXAMPLES_COMPILED);
  // 41 when this was written: a tool that found none would pass the rest.
  CHECK(count >= 40);
}
