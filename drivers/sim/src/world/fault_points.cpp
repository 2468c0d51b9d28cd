// fault_points.cpp: the world's decider of fault points (fault_points.hpp).
#include "fault_points.hpp"

#include <cstring>

#include "duet/detail/random.hpp"

namespace duet::sim::detail {

namespace {
/// The stream of the seed the fault points draw from (mix_seed's).
constexpr std::uint64_t kFaultPointStream = 0xb0661f1ull;

/// A file's name without its folders: the same site whatever the build
/// tree's path.
const char* base_name(const char* file) noexcept {
  const char* slash = std::strrchr(file, '/');
  return slash != nullptr ? slash + 1 : file;
}
}  // namespace

WorldFaultPoints::WorldFaultPoints(std::uint64_t seed, double sites, Network& net)
    : draws_(duet::detail::mix_seed(seed, kFaultPointStream)), sites_(sites), net_(net) {
  duet::detail::install_fault_points(this);
}

WorldFaultPoints::~WorldFaultPoints() {
  duet::detail::install_fault_points(nullptr);
}

bool WorldFaultPoints::fire(double probability, const char* file, unsigned line) noexcept {
  std::lock_guard g(mu_);
  auto key = std::pair<std::string, unsigned>(base_name(file), line);
  auto it = enabled_.find(key);
  if (it == enabled_.end()) it = enabled_.emplace(key, draws_.draw(sites_)).first;
  if (!it->second || !draws_.draw(probability)) return false;
  net_.note("buggify " + key.first + ":" + std::to_string(line));
  return true;
}

}  // namespace duet::sim::detail
