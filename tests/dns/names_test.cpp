// names_test.cpp: duet/names.hpp's rule on duet::dns's enum: to_string
// names each Family once and from_string gives it back.
#include <catch2/catch.hpp>

#include <set>
#include <string_view>

#include "duet/dns/resolver.hpp"
#include "duet/names.hpp"

TEST_CASE("names: dns::Family round-trips through its name") {
  std::set<std::string_view> seen;
  for (duet::dns::Family f : enum_values(duet::dns::Family{})) {
    CHECK(seen.insert(to_string(f)).second);
    CHECK(duet::from_string<duet::dns::Family>(to_string(f)) == f);
  }
  CHECK_FALSE(duet::from_string<duet::dns::Family>("v5").has_value());
}
