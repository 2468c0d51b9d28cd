// timeout.cpp: the error category of a timeout's deadline
// (duet::TimeoutErrc, duet/time/timeout.hpp). Defined here, exported, so
// that one category object serves every shared object that compares with
// TimeoutErrc::elapsed.
#include "duet/time/timeout.hpp"

#include <string>

namespace duet {
namespace {

class TimeoutCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "duet.timeout"; }
  [[nodiscard]] std::string message(int e) const override {
    switch (static_cast<TimeoutErrc>(e)) {
      case TimeoutErrc::elapsed:
        return "deadline elapsed";
    }
    return "unknown timeout error";
  }
  /// elapsed is a timed_out: old comparisons with std::errc::timed_out hold.
  [[nodiscard]] std::error_condition default_error_condition(int e) const noexcept override {
    if (static_cast<TimeoutErrc>(e) == TimeoutErrc::elapsed) return std::errc::timed_out;
    return {e, *this};
  }
  [[nodiscard]] bool equivalent(int e, const std::error_condition& cond) const noexcept override {
    return default_error_condition(e) == cond;
  }
};

}  // namespace

const std::error_category& timeout_category() noexcept {
  static const TimeoutCategory c;
  return c;
}

}  // namespace duet
