// router.cpp: Router: a request's method and path to its handler, or the
// status that answers it instead (404, 405 with Allow, 501).
#include <algorithm>
#include <string>
#include <string_view>

#include "duet/http/server.hpp"

namespace duet::http {

Router& Router::route(Method m, std::string path, Handler h) {
  routes_.push_back(Route{m, std::move(path), false, std::move(h)});
  return *this;
}

Router& Router::prefix(Method m, std::string prefix, Handler h) {
  routes_.push_back(Route{m, std::move(prefix), true, std::move(h)});
  return *this;
}

namespace {

/// Whether a route of `route_method` serves a request of `m`: its own
/// method, and HEAD at a GET route (the server drops the body).
bool serves(Method route_method, Method m) noexcept {
  return route_method == m || (m == Method::head && route_method == Method::get);
}

/// Appends `name` to the comma-separated `allow` unless it is there.
void allow_add(std::string& allow, std::string_view name) {
  std::string_view rest = allow;
  while (!rest.empty()) {
    const auto comma = rest.find(", ");
    if (rest.substr(0, comma) == name) return;
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 2);
  }
  if (!allow.empty()) allow += ", ";
  allow += name;
}

}  // namespace

Router::Match Router::find(Method method, std::string_view method_name,
                           std::string_view path) const {
  // A method no route names at all is one this server does not implement
  // (RFC 9110 section 15.6.2): 501, whatever the path.
  const bool known = std::any_of(routes_.begin(), routes_.end(),
                                 [&](const Route& r) { return serves(r.method, method); });
  if (!known) return Match{.handler = nullptr, .status = 501, .allow = {}};
  (void)method_name;  // Method::other routes serve every other token alike

  // The routes of the path: its exact ones if any, else those of the
  // longest prefix that matches it.
  bool exact = false;
  std::size_t best = 0;
  bool any_prefix = false;
  for (const Route& r : routes_) {
    if (!r.prefix && r.path == path) exact = true;
    if (r.prefix && path.starts_with(r.path) && (!any_prefix || r.path.size() > best)) {
      best = r.path.size();
      any_prefix = true;
    }
  }
  if (!exact && !any_prefix) return Match{.handler = nullptr, .status = 404, .allow = {}};
  const auto of_path = [&](const Route& r) {
    return exact ? (!r.prefix && r.path == path) : (r.prefix && r.path.size() == best);
  };
  // Its own method's route first; HEAD falls back to GET's.
  for (const Route& r : routes_) {
    if (of_path(r) && r.method == method)
      return Match{.handler = &r.handler, .status = 200, .allow = {}};
  }
  for (const Route& r : routes_) {
    if (of_path(r) && serves(r.method, method)) {
      return Match{.handler = &r.handler, .status = 200, .allow = {}};
    }
  }
  std::string allow;
  for (const Route& r : routes_) {
    if (!of_path(r) || r.method == Method::other) continue;
    allow_add(allow, to_string(r.method));
    if (r.method == Method::get) allow_add(allow, "HEAD");
  }
  return Match{.handler = nullptr, .status = 405, .allow = std::move(allow)};
}

}  // namespace duet::http
