// names_test.cpp: duet/names.hpp's rule on duet::http's enums: an Engine's
// name and a Method's (its wire token, Method::other's empty) round-trip.
#include <catch2/catch.hpp>

#include <set>
#include <string_view>

#include "duet/http/message.hpp"
#include "duet/http/server.hpp"
#include "duet/names.hpp"

TEST_CASE("names: http::Engine and http::Method round-trip through their names") {
  std::set<std::string_view> seen;
  for (duet::http::Engine e : enum_values(duet::http::Engine{})) {
    CHECK(seen.insert(to_string(e)).second);
    CHECK(duet::from_string<duet::http::Engine>(to_string(e)) == e);
  }
  for (duet::http::Method m : enum_values(duet::http::Method{})) {
    CHECK(seen.insert(to_string(m)).second);
    CHECK(duet::from_string<duet::http::Method>(to_string(m)) == m);
  }
  CHECK(duet::from_string<duet::http::Method>("GET") == duet::http::Method::get);
  CHECK_FALSE(duet::from_string<duet::http::Method>("get").has_value());  // case-sensitive
}
