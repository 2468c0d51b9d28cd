// duet/channel/status.hpp: what a channel operation can end in.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include "duet/names.hpp"

namespace duet {

enum class ChannelStatus : std::uint8_t {
  ok,
  would_block,  // tier-1 only: the operation would have to wait
  closed,       // the channel is closed (a send), or closed and drained (a receive)
  nil,          // a nil (default-constructed) channel: never ready, cannot be closed
  lagged,       // a broadcast receiver fell behind: `missed` values were overwritten
};
constexpr std::array<ChannelStatus, 5> enum_values(ChannelStatus) noexcept {
  return {ChannelStatus::ok, ChannelStatus::would_block, ChannelStatus::closed, ChannelStatus::nil,
          ChannelStatus::lagged};
}
/// "ok", "would_block", "closed", "nil", "lagged" (duet/names.hpp).
constexpr std::string_view to_string(ChannelStatus s) noexcept {
  switch (s) {
    case ChannelStatus::ok:
      return "ok";
    case ChannelStatus::would_block:
      return "would_block";
    case ChannelStatus::closed:
      return "closed";
    case ChannelStatus::nil:
      return "nil";
    case ChannelStatus::lagged:
      return "lagged";
  }
  return "?";
}

/// The result of send / try_send: on failure the value comes back.
/// [[nodiscard]]: a failed send (closed, nil, would_block) must not pass
/// unnoticed; write (void) where losing the value is intended.
template <class T>
struct [[nodiscard]] SendResult {
  ChannelStatus status = ChannelStatus::ok;
  std::optional<T> value;  // the unsent value when status != ok
  [[nodiscard]] bool ok() const noexcept { return status == ChannelStatus::ok; }
  explicit operator bool() const noexcept { return ok(); }
  /// Whether it ended so: `tx.send(v) == ChannelStatus::closed`.
  friend bool operator==(const SendResult& r, ChannelStatus s) noexcept { return r.status == s; }
};

/// The result of try_recv: a value (ok), would_block, closed or nil.
template <class T>
struct [[nodiscard]] TryRecv {
  ChannelStatus status = ChannelStatus::would_block;
  std::optional<T> value;
  [[nodiscard]] bool ok() const noexcept { return status == ChannelStatus::ok; }
  explicit operator bool() const noexcept { return ok(); }
};

}  // namespace duet
