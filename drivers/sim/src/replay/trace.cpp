// trace.cpp: the trace's lines (trace.hpp): a line stamped with its
// offset from the clock's start, folded into the running hash with its
// newline, kept when the world asks; and the text of a payload's hash.
#include "trace.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

namespace duet::sim::detail {

void Trace::add(std::string line) {
  const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_).count();
  line = std::to_string(t) + " " + line;
  hash_ = fnv1a(line.data(), line.size(), hash_);
  hash_ = fnv1a("\n", 1, hash_);
  ++events_;
  if (keep_lines_) lines_.push_back(std::move(line));
}

std::string hash_text(const void* p, std::size_t n) {
  const std::uint64_t h = fnv1a(p, n);
  char hb[24];
  std::snprintf(hb, sizeof hb, "%016llx", static_cast<unsigned long long>(h));
  return hb;
}

}  // namespace duet::sim::detail
