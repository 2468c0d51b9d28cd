// duet::Result's std::expected interface (issue 50, item 4): value_or,
// and_then, transform, or_else, transform_error and comparison, on values
// and errors, in every value category, for Result<T> and Result<void>; a
// chain that stops at its first error runs nothing after it.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <type_traits>

#include <duet/duet.hpp>

namespace {

using duet::Result;

Result<int> parse_port(const std::string& s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) {
    return std::errc::invalid_argument;
  }
  const int v = std::stoi(s);
  if (v == 0 || v > 65535) return std::errc::result_out_of_range;
  return v;
}

Result<int> next_port(int p) {
  if (p == 65535) return std::errc::result_out_of_range;
  return p + 1;
}

}  // namespace

TEST_CASE("Result: value_or gives the value, or the fallback on an error", "[result]") {
  CHECK(parse_port("8443").value_or(80) == 8443);
  CHECK(parse_port("x").value_or(80) == 80);
  // An rvalue Result moves its value out.
  Result<std::unique_ptr<int>> owned(std::make_unique<int>(7));
  std::unique_ptr<int> p = std::move(owned).value_or(nullptr);
  REQUIRE(p != nullptr);
  CHECK(*p == 7);
  Result<std::unique_ptr<int>> failed(std::errc::io_error);
  CHECK(std::move(failed).value_or(nullptr) == nullptr);
}

TEST_CASE("Result: and_then chains to the first error and runs nothing after it", "[result]") {
  int calls = 0;
  auto counted_next = [&](int p) {
    ++calls;
    return next_port(p);
  };
  Result<int> ok = parse_port("8080").and_then(counted_next).and_then(counted_next);
  REQUIRE(ok.has_value());
  CHECK(*ok == 8082);
  CHECK(calls == 2);

  calls = 0;
  Result<int> top = parse_port("65535").and_then(counted_next).and_then(counted_next);
  CHECK_FALSE(top.has_value());
  CHECK(top.error() == std::errc::result_out_of_range);
  CHECK(calls == 1);  // the second step never ran

  calls = 0;
  Result<int> bad = parse_port("").and_then(counted_next);
  CHECK(bad.error() == std::errc::invalid_argument);
  CHECK(calls == 0);

  // To another type, and to Result<void>.
  Result<std::string> named = parse_port("22").and_then(
      [](int p) -> Result<std::string> { return "port " + std::to_string(p); });
  CHECK(*named == "port 22");
  Result<void> checked = parse_port("22").and_then([](int p) -> Result<void> {
    return p < 1024 ? Result<void>(std::errc::permission_denied) : Result<void>();
  });
  CHECK(checked.error() == std::errc::permission_denied);
}

TEST_CASE("Result: transform maps a value and passes an error through", "[result]") {
  Result<std::string> s = parse_port("443").transform([](int p) { return std::to_string(p * 2); });
  static_assert(std::is_same_v<decltype(s), Result<std::string>>);
  CHECK(*s == "886");
  Result<std::string> e = parse_port("-1").transform([](int p) { return std::to_string(p); });
  CHECK(e.error() == std::errc::invalid_argument);

  // A function that returns nothing makes a Result<void>.
  int seen = 0;
  auto v = parse_port("80").transform([&](int p) { seen = p; });
  static_assert(std::is_same_v<decltype(v), Result<void>>);
  CHECK(v.has_value());
  CHECK(seen == 80);

  // An rvalue hands its value over by move.
  Result<std::unique_ptr<int>> owned(std::make_unique<int>(5));
  Result<int> deref = std::move(owned).transform([](std::unique_ptr<int> q) { return *q + 1; });
  CHECK(*deref == 6);

  // Const lvalues read the value in place.
  const Result<int> c = 9;
  CHECK(*c.transform([](const int& x) { return x * x; }) == 81);
}

TEST_CASE("Result: or_else recovers from an error, transform_error renames it", "[result]") {
  int calls = 0;
  auto fallback = [&](std::error_code e) -> Result<int> {
    ++calls;
    if (e == std::errc::invalid_argument) return 80;
    return e;
  };
  CHECK(*parse_port("8000").or_else(fallback) == 8000);
  CHECK(calls == 0);  // a value is kept, the function never runs
  CHECK(*parse_port("http").or_else(fallback) == 80);
  CHECK(parse_port("99999").or_else(fallback).error() == std::errc::result_out_of_range);
  CHECK(calls == 2);

  auto to_timeout = [](std::error_code) { return std::make_error_code(std::errc::timed_out); };
  CHECK(parse_port("x").transform_error(to_timeout).error() == std::errc::timed_out);
  CHECK(*parse_port("81").transform_error(to_timeout) == 81);

  Result<void> failed(std::errc::broken_pipe);
  CHECK(failed.or_else([](std::error_code) { return Result<void>(); }).has_value());
  CHECK(failed.transform_error(to_timeout).error() == std::errc::timed_out);
  CHECK(Result<void>().transform_error(to_timeout).has_value());
}

TEST_CASE("Result<void>: and_then and transform run only on success", "[result]") {
  int runs = 0;
  Result<int> r = Result<void>().and_then([&]() -> Result<int> {
    ++runs;
    return 3;
  });
  CHECK(*r == 3);
  Result<int> skipped = Result<void>(std::errc::connection_reset).and_then([&]() -> Result<int> {
    ++runs;
    return 4;
  });
  CHECK(skipped.error() == std::errc::connection_reset);
  CHECK(runs == 1);
  CHECK(*Result<void>().transform([] { return 5; }) == 5);
}

TEST_CASE("Result: equal when both hold equal values or equal errors", "[result]") {
  CHECK(parse_port("80") == Result<int>(80));
  CHECK_FALSE(parse_port("80") == Result<int>(81));
  CHECK(parse_port("") == Result<int>(std::errc::invalid_argument));
  CHECK_FALSE(parse_port("") == Result<int>(80));
  CHECK(Result<void>() == Result<void>());
  CHECK_FALSE(Result<void>() == Result<void>(std::errc::io_error));
}

TEST_CASE("Result: value() on an error throws std::system_error with the code", "[result]") {
  const Result<int> e = parse_port("");
  try {
    (void)e.value();
    FAIL("value() of an error returned");
  } catch (const std::system_error& x) {
    CHECK(x.code() == std::errc::invalid_argument);
  }
}
