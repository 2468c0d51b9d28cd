// fault_points.cpp: the installed decider of duet/buggify.hpp's fault
// points (none outside a simulation).
#include <atomic>
#include <stdexcept>

#include "duet/buggify.hpp"

namespace duet::detail {

namespace {
std::atomic<FaultPoints*> g_fault_points{nullptr};
}  // namespace

void install_fault_points(FaultPoints* f) {
  if (f == nullptr) {
    g_fault_points.store(nullptr, std::memory_order_release);  // Release: as below
    return;
  }
  FaultPoints* expected = nullptr;
  // Release: publishes the decider's construction to buggify_at's load.
  if (!g_fault_points.compare_exchange_strong(expected, f, std::memory_order_release,
                                              std::memory_order_relaxed)) {
    throw std::logic_error("duet: a second decider of fault points (one World at a time)");
  }
}

bool buggify_at(double probability, const char* file, unsigned line) noexcept {
  // Acquire: pairs with the release in install_fault_points.
  FaultPoints* f = g_fault_points.load(std::memory_order_acquire);
  return f != nullptr && f->fire(probability, file, line);
}

}  // namespace duet::detail
