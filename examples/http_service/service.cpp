// service.cpp: what both models of the http_service example share (the
// store and the Service); not handler code (service.hpp).
#include <utility>

#include "service.hpp"

namespace http_service {

std::optional<std::string> Store::get(std::string_view key) const {
  std::lock_guard lock(mu_);
  const auto it = kv_.find(key);
  if (it == kv_.end()) return std::nullopt;
  return it->second;
}

bool Store::put(std::string_view key, std::string value) {
  std::lock_guard lock(mu_);
  return kv_.insert_or_assign(std::string(key), std::move(value)).second;
}

bool Store::erase(std::string_view key) {
  std::lock_guard lock(mu_);
  const auto it = kv_.find(key);
  if (it == kv_.end()) return false;
  kv_.erase(it);
  return true;
}

std::vector<std::string> Store::keys(std::string_view prefix) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto it = kv_.lower_bound(prefix); it != kv_.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(it->first);
  }
  return out;
}

Service::Service(Config c) : Config(std::move(c)) {}

std::string Service::next_request_id() {
  // Relaxed: the counter only hands out distinct numbers.
  return "req-" + std::to_string(ids_.fetch_add(1, std::memory_order_relaxed) + 1);
}

}  // namespace http_service
