// router.cpp: Router: a request's method and path to its handler and path
// parameters, or the status that answers it instead (400, 404, 405 with
// Allow, 501).
//
// The patterns are a tree of segments (Router::Node): from each node, the
// literals that go on, one parameter child, and the catch-all routes that
// end there. A match walks it depth-first over the path's segments, a
// literal before the parameter before the catch-all, backing out of a
// branch that fails further on; the parameters' places are kept on the
// stack (at most PathParams::kMax), so a match allocates nothing. The
// walk's first branch is taken by a loop (descend), which is the whole
// match unless it dead-ends; only then the recursive walk (as deep as the
// deepest pattern, whatever the path) backs out and tries the others.
// At most one literal of a node matches a segment (a segment decodes to
// one text), so both take the same first branch.
#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <string_view>

#include "duet/http/server.hpp"

namespace duet::http {

namespace {

constexpr std::uint32_t bit(Method m) noexcept {
  return std::uint32_t{1} << static_cast<unsigned>(m);
}

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

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) noexcept {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/// Whether every '%' of `s` from `at` (its first) starts an escape of two
/// hex digits.
bool escapes_ok(std::string_view s, std::size_t at) noexcept {
  for (; at != std::string_view::npos; at = s.find('%', at + 3)) {
    if (at + 2 >= s.size() || !is_hex(s[at + 1]) || !is_hex(s[at + 2])) return false;
  }
  return true;
}

/// Whether the raw path segment `raw` (its escapes checked, one at
/// least) decodes to `literal`, without decoding it anywhere.
bool decodes_to(std::string_view raw, std::string_view literal) noexcept {
  if (raw.size() < literal.size()) return false;  // decoding only shortens
  std::size_t j = 0;
  for (std::size_t i = 0; i < raw.size(); ++i, ++j) {
    char c = raw[i];
    if (c == '%') {
      c = static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
      i += 2;
    }
    if (j == literal.size() || literal[j] != c) return false;
  }
  return j == literal.size();
}

/// Whether the raw path segment `raw` reads as `literal`; `escaped`: the
/// path holds a '%' somewhere (else the bytes are compared alone).
inline bool segment_is(std::string_view raw, std::string_view literal, bool escaped) noexcept {
  return raw == literal || (escaped && decodes_to(raw, literal));
}

bool name_ok(std::string_view name) noexcept {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

/// Of the routes `list` names that `of_path` keeps, the one for `method`
/// into `m` (its index returned): its own method's route first, HEAD
/// falling back to GET's; none is 405 with the Allow of those routes
/// (kNone returned).
constexpr auto always = [](const auto&) { return true; };
template <class Routes, class Of>
std::uint32_t choose(const Routes& routes, const std::vector<std::uint32_t>& list, Of of_path,
                     Method method, Router::Match& m) {
  for (const std::uint32_t i : list) {
    if (routes[i].method == method && of_path(routes[i])) {
      m.handler = &routes[i].handler;
      return i;
    }
  }
  for (const std::uint32_t i : list) {
    if (serves(routes[i].method, method) && of_path(routes[i])) {
      m.handler = &routes[i].handler;
      return i;
    }
  }
  m.status = 405;
  for (const std::uint32_t i : list) {
    const Method rm = routes[i].method;
    if (rm == Method::other || !of_path(routes[i])) continue;
    allow_add(m.allow, to_string(rm));
    if (rm == Method::get) allow_add(m.allow, "HEAD");
  }
  return ~std::uint32_t{0};
}

[[noreturn]] void bad_pattern(std::string_view pattern, const char* why) {
  throw std::invalid_argument("duet::http::Router: pattern '" + std::string(pattern) + "': " + why);
}

}  // namespace

/// A walk's state: the parameters' places so far, and where it ended.
struct Router::Found {
  std::string_view path;
  bool escaped = false;  // the path holds a '%'
  std::size_t count = 0;
  const std::vector<std::uint32_t>* routes = nullptr;
  std::array<std::pair<std::uint32_t, std::uint32_t>, PathParams::kMax> at;  // begin, size
};

Router& Router::route(Method m, std::string path, Handler h) {
  max_route_body_ = std::max(max_route_body_, h.limits().max_body_bytes.value_or(0));
  const auto index = static_cast<std::uint32_t>(routes_.size());
  if (path.empty() || path.front() != '/') {
    routes_.push_back(Route{m, Kind::verbatim, std::move(path), {}, std::move(h)});
    others_.push_back(index);
    methods_ |= bit(m);
    return *this;
  }
  // Split and check the whole pattern before the tree changes: a pattern
  // refused leaves the router as it was.
  std::vector<std::string> names;
  std::vector<std::string> literals;  // decoded; a parameter's slot unused
  std::vector<char> kinds;            // 'l' literal, 'p' parameter, 'r' catch-all
  std::string_view rest = std::string_view(path).substr(1);
  for (;;) {
    const auto slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      std::string_view name = seg.substr(1, seg.size() - 2);
      const bool catch_all = name.starts_with('*');
      if (catch_all) name.remove_prefix(1);
      if (!name_ok(name)) bad_pattern(path, "a parameter's name is letters, digits and '_'");
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        bad_pattern(path, "a parameter's name appears twice");
      }
      if (catch_all && !last) bad_pattern(path, "a catch-all is the last segment");
      if (names.size() == PathParams::kMax)
        bad_pattern(path, "more than PathParams::kMax parameters");
      names.emplace_back(name);
      literals.emplace_back();
      kinds.push_back(catch_all ? 'r' : 'p');
    } else {
      if (seg.find_first_of("{}") != std::string_view::npos) {
        bad_pattern(path, "a segment is a literal or a whole {name}");
      }
      auto decoded = percent_decode(seg);
      if (!decoded) bad_pattern(path, "a malformed escape");
      literals.push_back(std::move(*decoded));
      kinds.push_back('l');
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }

  if (nodes_.empty()) nodes_.emplace_back();
  std::uint32_t node = 0;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    if (kinds[i] == 'r') {
      nodes_[node].rest.push_back(index);
      node = kNone;
      break;
    }
    std::uint32_t next = kNone;
    if (kinds[i] == 'p') {
      next = nodes_[node].param;
      if (next == kNone) {
        next = static_cast<std::uint32_t>(nodes_.size());
        nodes_[node].param = next;
        nodes_.emplace_back();  // may move nodes_: indices only above
      }
    } else {
      for (const auto& [text, child] : nodes_[node].literals) {
        if (text == literals[i]) next = child;
      }
      if (next == kNone) {
        next = static_cast<std::uint32_t>(nodes_.size());
        nodes_[node].literals.emplace_back(std::move(literals[i]), next);
        nodes_.emplace_back();
      }
    }
    node = next;
  }
  if (node != kNone) nodes_[node].here.push_back(index);
  routes_.push_back(Route{m, Kind::pattern, std::move(path), std::move(names), std::move(h)});
  methods_ |= bit(m);
  return *this;
}

Router& Router::prefix(Method m, std::string prefix, Handler h) {
  max_route_body_ = std::max(max_route_body_, h.limits().max_body_bytes.value_or(0));
  others_.push_back(static_cast<std::uint32_t>(routes_.size()));
  routes_.push_back(Route{m, Kind::prefix, std::move(prefix), {}, std::move(h)});
  methods_ |= bit(m);
  return *this;
}

Router& Router::layer(const Middleware& m) {
  for (Route& r : routes_) r.handler = m.wrap(std::move(r.handler));
  return *this;
}

bool Router::descend(Found& f) const {
  const std::string_view path = f.path;
  std::uint32_t node = 0;
  std::size_t pos = 1;
  for (;;) {
    const Node& n = nodes_[node];
    if (pos == std::string_view::npos) {
      if (n.here.empty()) return false;
      f.routes = &n.here;
      return true;
    }
    // The segment's end: a loop, not memchr (a segment is a few bytes).
    std::size_t end = pos;
    while (end < path.size() && path[end] != '/') ++end;
    const std::string_view seg(path.data() + pos, end - pos);
    std::uint32_t to = kNone;
    for (const auto& [text, child] : n.literals) {
      if (segment_is(seg, text, f.escaped)) {
        to = child;
        break;
      }
    }
    if (to == kNone && n.param != kNone && !seg.empty()) {
      f.at[f.count++] = {static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(seg.size())};
      to = n.param;
    }
    if (to == kNone) {
      if (n.rest.empty() || pos == path.size()) return false;
      f.at[f.count++] = {static_cast<std::uint32_t>(pos),
                         static_cast<std::uint32_t>(path.size() - pos)};
      f.routes = &n.rest;
      return true;
    }
    node = to;
    pos = end == path.size() ? std::string_view::npos : end + 1;
  }
}

bool Router::walk(std::uint32_t node, std::size_t pos, Found& f) const {
  const Node& n = nodes_[node];
  const std::string_view path = f.path;
  if (pos == std::string_view::npos) {  // the path is used up
    if (n.here.empty()) return false;
    f.routes = &n.here;
    return true;
  }
  const auto slash = path.find('/', pos);
  const std::string_view seg =
      path.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
  const std::size_t next = slash == std::string_view::npos ? slash : slash + 1;
  for (const auto& [text, child] : n.literals) {
    if (segment_is(seg, text, f.escaped) && walk(child, next, f)) return true;
  }
  if (n.param != kNone && !seg.empty()) {
    f.at[f.count++] = {static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(seg.size())};
    if (walk(n.param, next, f)) return true;
    --f.count;
  }
  if (!n.rest.empty() && pos < path.size()) {
    f.at[f.count++] = {static_cast<std::uint32_t>(pos),
                       static_cast<std::uint32_t>(path.size() - pos)};
    f.routes = &n.rest;
    return true;
  }
  return false;
}

Router::Match Router::find_into(Method method, std::string_view path, std::string_view checked,
                                PathParams* into) const {
  Match m;  // every return is of m: no move of its strings
  PathParams& params = into != nullptr ? *into : m.params;
  params.clear();
  // A method no route names at all is one this server does not implement
  // (RFC 9110 section 15.6.2): 501, whatever the path.
  const std::uint32_t served =
      methods_ | ((methods_ & bit(Method::get)) != 0 ? bit(Method::head) : 0);
  if ((served & bit(method)) == 0) {
    m.status = 501;
    return m;
  }
  // One scan for '%' over what is checked (the path, or the whole target).
  const std::size_t pct = checked.find('%');
  if (pct != std::string_view::npos && !escapes_ok(checked, pct)) {
    m.status = 400;
    return m;
  }

  // Offsets are 32 bits: a longer path (past any header limit) finds no
  // pattern.
  Found f;
  f.path = path;
  f.escaped = pct < path.size();
  const bool rooted = !nodes_.empty() && path.starts_with('/') && path.size() < kNone;
  if (rooted && !descend(f)) {
    f.count = 0;
    if (!walk(0, 1, f)) f.routes = nullptr;
  }
  if (rooted && f.routes != nullptr) {
    const std::uint32_t chosen = choose(routes_, *f.routes, always, method, m);
    if (chosen != kNone && f.count != 0) {
      params.names_ = routes_[chosen].names.data();
      for (std::size_t i = 0; i < f.count; ++i) {
        params.add(f.at[i].first, f.at[i].second, path, f.escaped);
      }
    }
    return m;
  }
  // No pattern: the verbatim routes of this exact path, else those of the
  // longest prefix that matches it.
  bool verbatim = false;
  bool any_prefix = false;
  std::size_t best = 0;
  for (const std::uint32_t i : others_) {
    const Route& r = routes_[i];
    if (r.kind == Kind::verbatim && r.path == path) verbatim = true;
    if (r.kind == Kind::prefix && path.starts_with(r.path) &&
        (!any_prefix || r.path.size() > best)) {
      best = r.path.size();
      any_prefix = true;
    }
  }
  if (!verbatim && !any_prefix) {
    m.status = 404;
    return m;
  }
  (void)choose(
      routes_, others_,
      [&](const auto& r) {
        return verbatim ? (r.kind == Kind::verbatim && r.path == path)
                        : (r.kind == Kind::prefix && r.path.size() == best);
      },
      method, m);
  return m;
}

Router::Match Router::find(Method method, std::string_view path) const {
  return find_into(method, path, path, nullptr);
}

Router::Match Router::match(Request& req) const {
  const std::string_view target = req.target;
  return find_into(req.method, target.substr(0, target.find('?')), target, &req.params);
}

}  // namespace duet::http
