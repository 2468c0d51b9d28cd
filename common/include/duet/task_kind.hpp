// duet/task_kind.hpp: the three kinds of task (docs/vocabulary.md): a
// coroutine and a poll future are the stackless model's, a fiber the
// stackful model's. What a dump, a stall report and a drain's report name.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "duet/names.hpp"

namespace duet {

enum class TaskKind : std::uint8_t {
  coroutine,  // a duet::Task (C++20 coroutine)
  poll,       // a hand-written poll future
  fiber,      // a stackful fiber (duet::stackful)
};

constexpr std::array<TaskKind, 3> enum_values(TaskKind) noexcept {
  return {TaskKind::coroutine, TaskKind::poll, TaskKind::fiber};
}

/// "coroutine", "poll", "fiber".
constexpr std::string_view to_string(TaskKind k) noexcept {
  switch (k) {
    case TaskKind::coroutine:
      return "coroutine";
    case TaskKind::poll:
      return "poll";
    case TaskKind::fiber:
      return "fiber";
  }
  return "?";
}

}  // namespace duet
