// histogram.cpp: duet::Histogram's readers (duet/histogram.hpp).
#include "duet/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>

namespace duet {

double Histogram::upper_bound(std::size_t i) const noexcept {
  if (i >= buckets - 1) return std::numeric_limits<double>::infinity();
  return static_cast<double>(raw_upper(i)) * unit;
}

double Histogram::quantile(double q) const noexcept {
  if (count == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the value wanted, 1-based: at least one value is covered.
  const auto want = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    seen += counts[i];
    // The last bucket has no upper bound: its values are at most `max`.
    if (seen >= want) return i == buckets - 1 ? static_cast<double>(max) * unit : upper_bound(i);
  }
  // The count ran ahead of the buckets (a snapshot taken while written).
  return static_cast<double>(max) * unit;
}

double Histogram::mean() const noexcept {
  return count == 0 ? 0 : static_cast<double>(sum) * unit / static_cast<double>(count);
}

void Histogram::merge(const Histogram& other) noexcept {
  if (count == 0 && other.count != 0) unit = other.unit;
  for (std::size_t i = 0; i < buckets; ++i) counts[i] += other.counts[i];
  count += other.count;
  sum += other.sum;
  max = std::max(max, other.max);
}

void Histogram::print(std::ostream& os, const char* unit_name) const {
  os << count << " values, mean " << mean() << ' ' << unit_name << ", max "
     << static_cast<double>(max) * unit << ' ' << unit_name << '\n';
  for (std::size_t i = 0; i < buckets; ++i) {
    if (counts[i] == 0) continue;
    os << "  <= " << upper_bound(i) << ' ' << unit_name << ": " << counts[i] << '\n';
  }
}

}  // namespace duet
