// explored.hpp: the Catch check of an explorer run (explorer.hpp), shared by
// the explorer tests: no failing schedule (printing the first with its
// trace), every interleaving run, and at least `at_least` of them (a case
// whose schedule count collapses has stopped exploring what it claims).
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>

#include "explorer.hpp"

namespace duet::test {

inline void require_explored(const Explorer::Result& r, std::size_t at_least) {
  INFO(r.failure << "\nschedule:\n" << r.trace);
  REQUIRE(r.failure.empty());
  CHECK(r.exhausted);
  CHECK(r.schedules >= at_least);
}

}  // namespace duet::test
