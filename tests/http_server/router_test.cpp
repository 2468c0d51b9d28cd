// router_test.cpp: duet::http::Router without a socket: a route for every
// method, patterns with parameters and a catch-all, which route wins,
// percent-decoding after the split, 400/404/405/501, malformed patterns
// refused, a match that allocates nothing; and the request's typed
// parameters, decoded queries and the status names.
#include <catch2/catch.hpp>
#include <cstdint>
#include <duet/http.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "alloc_tracker.hpp"

namespace router_test {

using duet::http::Method;
using duet::http::Request;
using duet::http::Response;
using duet::http::Router;

/// A plain handler that answers `tag`: which route served.
duet::http::Handler tagged(std::string tag) {
  return [tag](Request&) { return Response::text(200, tag); };
}

/// The tag of the route `method` and `target` reach through match(), with
/// the request's parameters as "name=value" after it; else the status.
std::string reach(const Router& r, Method method, std::string target) {
  Request q = Request::make(method, std::move(target));
  const Router::Match m = r.match(q);
  if (m.handler == nullptr) return std::to_string(m.status);
  std::string out = m.handler->fiber()(q).body;
  for (std::size_t i = 0; i < q.params.size(); ++i) {
    out += " " + std::string(q.params.name(i)) + "=" + std::string(q.params.value(i, q.path()));
  }
  return out;
}

Router users() {
  Router r;
  r.get("/users", tagged("list"));
  r.get("/users/new", tagged("new"));
  r.get("/users/{id}", tagged("user"));
  r.delete_("/users/{id}", tagged("delete"));
  r.get("/users/{id}/posts/{post}", tagged("post"));
  r.get("/users/new/edit", tagged("edit-new"));
  r.get("/files/{*rest}", tagged("file"));
  r.get("/files/index", tagged("index"));
  r.get("/", tagged("root"));
  r.get("/kv/{key}", tagged("kv"));
  r.put("/kv/{key}", tagged("kv-put"));
  return r;
}

}  // namespace router_test

using router_test::reach;
using router_test::tagged;
using Method = duet::http::Method;
using duet::http::Request;

TEST_CASE("router: a route for every method by its shorthand", "[http_server]") {
  duet::http::Router r;
  r.get("/m", tagged("get"))
      .post("/m", tagged("post"))
      .put("/m", tagged("put"))
      .patch("/m", tagged("patch"))
      .delete_("/m", tagged("delete"))
      .head("/m", tagged("head"))
      .options("/m", tagged("options"))
      .route(Method::trace, "/m", tagged("trace"));
  CHECK(reach(r, Method::get, "/m") == "get");
  CHECK(reach(r, Method::post, "/m") == "post");
  CHECK(reach(r, Method::put, "/m") == "put");
  CHECK(reach(r, Method::patch, "/m") == "patch");
  CHECK(reach(r, Method::delete_, "/m") == "delete");
  CHECK(reach(r, Method::head, "/m") == "head");  // its own HEAD route before GET's
  CHECK(reach(r, Method::options, "/m") == "options");
  CHECK(reach(r, Method::trace, "/m") == "trace");
  CHECK(reach(r, Method::connect, "/m") == "501");  // no route names CONNECT
  // find takes the method once, and keeps the parameters for the path given.
  duet::http::Router k;
  k.get("/kv/{key}", tagged("kv"));
  const std::string_view path = "/kv/a%20b";
  const auto m = k.find(Method::get, path);
  REQUIRE(m.handler != nullptr);
  CHECK(m.params.find("key", path) == std::optional<std::string_view>("a b"));
  CHECK(k.find(Method::head, "/kv/x").handler != nullptr);  // HEAD at a GET route
}

TEST_CASE("router: parameters and a literal before a parameter and a failed branch backed out of",
          "[http_server]") {
  const auto r = router_test::users();
  CHECK(reach(r, Method::get, "/users") == "list");
  CHECK(reach(r, Method::get, "/users/new") == "new");  // the literal beats {id}
  CHECK(reach(r, Method::get, "/users/42") == "user id=42");
  CHECK(reach(r, Method::delete_, "/users/42") == "delete id=42");
  CHECK(reach(r, Method::get, "/users/42/posts/7") == "post id=42 post=7");
  // "new" matches the literal, which has no /posts/{post} under it: the
  // walk backs out and takes {id}.
  CHECK(reach(r, Method::get, "/users/new/posts/7") == "post id=new post=7");
  CHECK(reach(r, Method::get, "/users/new/edit") == "edit-new");
  CHECK(reach(r, Method::get, "/") == "root");
  CHECK(reach(r, Method::get, "/users/42?x=1") == "user id=42");  // the query is not the path
  // A parameter takes one whole non-empty segment.
  CHECK(reach(r, Method::get, "/users/") == "404");
  CHECK(reach(r, Method::get, "/users//posts/7") == "404");
  CHECK(reach(r, Method::get, "/users/42/") == "404");
  CHECK(reach(r, Method::get, "/users/42/posts") == "404");
}

TEST_CASE("router: a catch-all takes the rest of the path, after the literals", "[http_server]") {
  const auto r = router_test::users();
  CHECK(reach(r, Method::get, "/files/a") == "file rest=a");
  CHECK(reach(r, Method::get, "/files/a/b/c.txt") == "file rest=a/b/c.txt");
  CHECK(reach(r, Method::get, "/files/a/") == "file rest=a/");
  CHECK(reach(r, Method::get, "/files/index") == "index");  // the literal first
  CHECK(reach(r, Method::get, "/files/index/more") == "file rest=index/more");
  CHECK(reach(r, Method::get, "/files/") == "404");  // at least one byte
  CHECK(reach(r, Method::get, "/files") == "404");
  duet::http::Router all;
  all.get("/{*path}", tagged("all"));
  CHECK(reach(all, Method::get, "/x/y") == "all path=x/y");
  CHECK(reach(all, Method::get, "/") == "404");
}

TEST_CASE("router: parameters are percent-decoded after the path is split", "[http_server]") {
  const auto r = router_test::users();
  // %2F stays inside its parameter: one segment, not two.
  CHECK(reach(r, Method::get, "/kv/a%2Fb") == "kv key=a/b");
  CHECK(reach(r, Method::get, "/kv/a%20b%21") == "kv key=a b!");
  CHECK(reach(r, Method::get, "/kv/a+b") == "kv key=a+b");  // '+' is a space in a query only
  CHECK(reach(r, Method::get, "/users/4%32/posts/%37") == "post id=42 post=7");
  // A literal is compared decoded; an escaped '/' is never a separator.
  CHECK(reach(r, Method::get, "/%75sers/new") == "new");
  CHECK(reach(r, Method::get, "/users%2Fnew") == "404");
  // A catch-all's value is decoded whole.
  CHECK(reach(r, Method::get, "/files/a%2Fb/c") == "file rest=a/b/c");
  // The request keeps its target as sent, and the typed form reads the
  // decoded value.
  Request q = Request::make(Method::get, "/users/%34%32/posts/x%2Fy");
  REQUIRE(r.match(q).handler != nullptr);
  CHECK(q.target == "/users/%34%32/posts/x%2Fy");
  CHECK(q.param("id") == "42");
  CHECK(q.param<std::uint64_t>("id") == std::uint64_t{42});
  CHECK(q.param("post") == "x/y");
  CHECK(q.param("nope").empty());
  CHECK(q.param("").empty());  // no parameter has an empty name
  // A parameter value survives the request's move (a plain handler's
  // fiber takes the request): it is a place in the target, or its own copy.
  Request moved = std::move(q);
  CHECK(moved.param("post") == "x/y");
  CHECK(moved.param<int>("id") == 42);
}

TEST_CASE("router: a malformed escape in the path or the query is 400", "[http_server]") {
  const auto r = router_test::users();
  for (const char* t :
       {"/kv/%zz", "/kv/%4", "/kv/%", "/kv/a%g1", "/nope/%x", "/kv/ok?a=%", "/kv/ok?a=1&b=%2x"}) {
    INFO(t);
    CHECK(reach(r, Method::get, t) == "400");
  }
  CHECK(reach(r, Method::get, "/kv/ok?a=%20&b=c+d") == "kv key=ok");
  // find alone reads no query.
  CHECK(r.find(Method::get, "/kv/%zz").status == 400);
}

TEST_CASE("router: 404 and 405 with Allow and 501 beside patterns", "[http_server]") {
  const auto r = router_test::users();
  CHECK(reach(r, Method::get, "/nope") == "404");
  CHECK(reach(r, Method::get, "/kv") == "404");
  const auto m = r.find(Method::delete_, "/kv/x");
  CHECK(m.status == 405);
  CHECK(m.allow == "GET, HEAD, PUT");
  CHECK(m.params.empty());
  // The path picks its routes (the literal's), then the method: no
  // DELETE at "/users/new" is 405, even though "/users/{id}" has one.
  const auto d = r.find(Method::delete_, "/users/new");
  CHECK(d.status == 405);
  CHECK(d.allow == "GET, HEAD");
  CHECK(r.find(Method::patch, "/users/1").status == 501);  // no route names PATCH
  CHECK(r.find(Method::head, "/users/1").handler != nullptr);
  // Prefix routes come after the patterns; a path that is not '/'-rooted
  // meets only a route of its exact text.
  duet::http::Router p;
  p.prefix(Method::get, "/proxy/", tagged("proxy"));
  p.get("/proxy/{name}", tagged("named"));
  p.options("*", tagged("star"));
  CHECK(reach(p, Method::get, "/proxy/a") == "named name=a");
  CHECK(reach(p, Method::get, "/proxy/a/b") == "proxy");
  CHECK(reach(p, Method::options, "*") == "star");
  CHECK(reach(p, Method::get, "*") == "405");
}

TEST_CASE("router: malformed patterns are refused and leave the router unchanged",
          "[http_server]") {
  duet::http::Router r;
  r.get("/ok/{a}", tagged("ok"));
  for (const char* bad : {"/a{b}", "/{a}x", "/{}", "/{a-b}", "/{a}/{a}", "/{*rest}/more", "/x/%zz",
                          "/{*}", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"}) {
    INFO(bad);
    CHECK_THROWS_AS(r.get(bad, tagged("bad")), std::invalid_argument);
  }
  CHECK(reach(r, Method::get, "/ok/1") == "ok a=1");
  CHECK(reach(r, Method::get, "/a{b}") == "404");
  // Eight parameters are allowed; a literal may be written escaped.
  r.get("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", tagged("eight"));
  CHECK(reach(r, Method::get, "/1/2/3/4/5/6/7/8") == "eight a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8");
  r.get("/a%20b", tagged("space"));
  CHECK(reach(r, Method::get, "/a%20b") == "space");
}

TEST_CASE("router: a match allocates nothing with two parameters", "[http_server]") {
  if (!duet::test::alloc_tracking_enabled()) {
    WARN("SKIP: this build does not count allocations (a sanitizer's allocator)");
    return;
  }
  const auto r = router_test::users();
  Request q = Request::make(Method::get, "/users/12345678901234567890/posts/some-longer-post-name");
  Request plain = Request::make(Method::get, "/users");
  (void)r.match(q);  // warm
  const auto before = duet::test::alloc_counts();
  for (int i = 0; i < 100; ++i) {
    const auto m = r.match(q);
    const auto n = r.match(plain);
    if (m.handler == nullptr || n.handler == nullptr) FAIL("no route");
  }
  const auto after = duet::test::alloc_counts();
  CHECK(after.news == before.news);
  CHECK(q.param("post") == "some-longer-post-name");
}

TEST_CASE("request: typed parameters and decoded queries", "[http_server]") {
  duet::http::Router r;
  r.get("/n/{v}", tagged("n"));
  const auto at = [&](std::string t) {
    Request q = Request::make(Method::get, std::move(t));
    REQUIRE(r.match(q).handler != nullptr);
    return q;
  };
  CHECK(at("/n/18446744073709551615").param<std::uint64_t>("v") == UINT64_MAX);
  CHECK_FALSE(at("/n/18446744073709551616").param<std::uint64_t>("v"));  // out of range
  CHECK_FALSE(at("/n/-1").param<unsigned>("v"));
  CHECK(at("/n/-1").param<int>("v") == -1);
  CHECK_FALSE(at("/n/12x").param<int>("v"));
  CHECK_FALSE(at("/n/+1").param<int>("v"));
  CHECK(at("/n/2.5").param<double>("v") == 2.5);
  CHECK(at("/n/abc").param<std::string>("v") == std::string("abc"));
  CHECK_FALSE(at("/n/1").param<int>("w"));  // no such parameter

  Request q = Request::make(Method::get, "/s?tag=a+b&tag=c%26d&n=7&flag&a%20b=x&empty=&tag=");
  CHECK(q.query_params("tag") == std::vector<std::string>{"a b", "c&d", ""});
  CHECK(q.query_params("none").empty());
  CHECK(q.query_param<int>("n") == 7);
  CHECK(q.query_param<std::string>("tag") == std::string("a b"));
  CHECK(q.query_param<std::string>("flag") == std::string());
  CHECK_FALSE(q.query_param<int>("flag"));
  CHECK(q.query_param<std::string>("a b") == std::string("x"));  // names compared decoded
  CHECK(q.query_param<std::string>("empty") == std::string());
  // The raw form, as before: the first pair, as sent.
  CHECK(q.query_param("tag") == std::optional<std::string_view>("a+b"));
  CHECK_FALSE(q.query_param("a b"));
  // A malformed escape in a request the server did not check is kept.
  CHECK(Request::make(Method::get, "/?k=%zz%41").query_params("k") ==
        std::vector<std::string>{"%zzA"});

  CHECK(duet::http::percent_decode("a%2Fb+c") == std::string("a/b+c"));
  CHECK(duet::http::form_decode("a%2Fb+c") == std::string("a/b c"));
  CHECK_FALSE(duet::http::percent_decode("%"));
  CHECK_FALSE(duet::http::percent_decode("%a"));
  CHECK_FALSE(duet::http::form_decode("x%g0"));
  CHECK(duet::http::percent_decode("%e2%82%AC") == std::string("\xe2\x82\xac"));
}

TEST_CASE("status: the named statuses and their reason phrases", "[http_server]") {
  namespace status = duet::http::status;
  for (const int s : {status::continue_,
                      status::switching_protocols,
                      status::ok,
                      status::created,
                      status::accepted,
                      status::no_content,
                      status::partial_content,
                      status::moved_permanently,
                      status::found,
                      status::see_other,
                      status::not_modified,
                      status::temporary_redirect,
                      status::permanent_redirect,
                      status::bad_request,
                      status::unauthorized,
                      status::forbidden,
                      status::not_found,
                      status::method_not_allowed,
                      status::not_acceptable,
                      status::request_timeout,
                      status::conflict,
                      status::gone,
                      status::length_required,
                      status::precondition_failed,
                      status::content_too_large,
                      status::uri_too_long,
                      status::unsupported_media_type,
                      status::range_not_satisfiable,
                      status::expectation_failed,
                      status::unprocessable_content,
                      status::upgrade_required,
                      status::precondition_required,
                      status::too_many_requests,
                      status::request_header_fields_too_large,
                      status::internal_server_error,
                      status::not_implemented,
                      status::bad_gateway,
                      status::service_unavailable,
                      status::gateway_timeout,
                      status::http_version_not_supported}) {
    INFO(s);
    CHECK_FALSE(duet::http::reason(s).empty());
  }
  CHECK(status::not_found == 404);
  CHECK(duet::http::reason(status::content_too_large) == "Content Too Large");
  CHECK(duet::http::Response::empty(status::no_content).status == 204);
}
