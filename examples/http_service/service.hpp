// service.hpp: the http_service example (docs/http.md, "A small
// service"): a small JSON service on duet::http, its handlers written once
// as coroutines (coroutine.cpp) and once as plain functions on fibers
// (fiber.cpp), over the one Service declared here (the store, the pooled
// client, the configuration). Both serve the same routes with the same
// answers:
//
//   GET    /kv/{key}       {"key":K,"value":V}; 404 when absent
//   PUT    /kv/{key}       the body is the value (at most kMaxValue):
//                          201 created, 204 replaced
//   DELETE /kv/{key}       204; 404 when absent
//   GET    /kv?prefix=P    {"keys":[...]}: the keys that start with P, in
//                          order (every key without a prefix)
//   ANY    /proxy/{*path}  the request (method, body and the target after
//                          /proxy, its escapes and query kept) to the first
//                          upstream, within Config::proxy_timeout: its
//                          answer back; 504 past the timeout, 502 when the
//                          upstream fails, 503 without an upstream
//   POST   /upload         the body counted as it streams, never held
//                          whole: {"bytes":N}; the route's own body limit
//                          (Config::upload_limit, 50 MiB) answers 413
//   GET    /fanout         GET Config::fanout_path on every upstream at
//                          once, one deadline over them all:
//                          {"results":[{"upstream":A,"status":S,"body":B}
//                          or {"upstream":A,"error":E}, ...]} in the
//                          upstreams' order
//
// Every route is wrapped in one layer: the request's X-Request-Id (a new
// one when it has none) on the answer, and one log line per request.
//
// The handlers of each model lie between the markers `handlers: begin`
// and `handlers: end` of its file; tests/examples/service_lines.py counts
// the lines between them (the CTest entry examples:service_lines).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <duet/duet.hpp>
#include <duet/http.hpp>
#include <duet/io.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace http_service {

/// The largest value a PUT stores, and the largest body the proxy forwards.
inline constexpr std::size_t kMaxValue = 1 << 20;
/// The prefix the proxy strips from a target before forwarding it.
inline constexpr std::string_view kProxy = "/proxy";

/// The key-value store: a std::map behind a std::mutex held for one lookup
/// or write, never across a wait.
class Store {
 public:
  [[nodiscard]] std::optional<std::string> get(std::string_view key) const;
  /// True when the key was new.
  bool put(std::string_view key, std::string value);
  /// True when the key was there.
  bool erase(std::string_view key);
  /// The keys that start with `prefix`, in order.
  [[nodiscard]] std::vector<std::string> keys(std::string_view prefix) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> kv_;
};

struct Config {
  /// The proxy's upstream is the first; the fan-out calls every one.
  std::vector<duet::net::SocketAddr> upstreams;
  std::chrono::milliseconds proxy_timeout{2'000};    // one proxied request
  std::chrono::milliseconds fanout_deadline{1'000};  // a whole fan-out
  std::string fanout_path = "/";
  std::size_t upload_limit = std::size_t{50} << 20;  // /upload's body limit
  /// Where the log lines go (null: nowhere); called on the workers, so it
  /// must be safe to call from several threads at once.
  std::function<void(std::string_view)> log_sink;
};

/// What the handlers share (its Config's fields read as its own): it
/// must outlive the runtime's tasks.
struct Service : Config {
  explicit Service(Config c);
  Store store;
  duet::http::Client client;

  /// A request id for a request that brought none: "req-1", "req-2", ...
  std::string next_request_id();
  void log(std::string_view line) const {
    if (log_sink) log_sink(line);
  }

 private:
  std::atomic<std::uint64_t> ids_{0};
};

/// The routes, handlers as coroutines (coroutine.cpp).
duet::http::Router coroutine_service(Service& s);
/// The routes, handlers as plain functions on fibers (fiber.cpp).
duet::http::Router fiber_service(Service& s);

}  // namespace http_service
