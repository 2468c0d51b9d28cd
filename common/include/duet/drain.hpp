// duet/drain.hpp: what Runtime::drain reports, and the error a spawn meets
// once a drain has begun.
//
// Runtime::drain(deadline) (duet/runtime.hpp) stops new spawns, waits up to
// `deadline` for the live tasks to finish, then shuts the runtime down,
// cancelling what is left, and returns a DrainReport naming each task it
// cancelled: its kind, what it runs, and, where the task carries one, its
// spawn site.
// docs/drain.md has the rules and an example.
#pragma once

#include "duet/export.hpp"
#include "duet/task_kind.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace duet {

/// A spawn on a runtime whose drain has begun (during the drain or after
/// it). The task was never run: its future or function was destroyed.
class DUET_API SpawnRefused : public std::runtime_error {
 public:
  SpawnRefused() : std::runtime_error("duet: spawn refused: the runtime is draining") {}
};

/// One task a drain cancelled at its deadline.
struct CancelledTask {
  using Kind = TaskKind;
  Kind kind;
  /// Where it was spawned, when the task records it: a fiber spawned with
  /// `duet::stackful(options)` does (FiberConfig, SpawnSite). Null / 0
  /// otherwise: a coroutine, a poll future, or `duet::stackful` without
  /// options (recording a site for those would cost every spawn a store).
  const char* file = nullptr;
  std::uint_least32_t line = 0;
  /// FiberConfig::name of a fiber, else null.
  const char* name = nullptr;
  /// What it runs, from the program's symbols: a coroutine task's root
  /// coroutine ("handle_client(duet::net::TcpStream)"), a poll task's future
  /// type, a fiber's function type (a lambda's names its enclosing function
  /// and, with GCC, its ordinal). Recorded at the drain's deadline, so no
  /// spawn pays for it; "object+0x..." in a stripped program.
  std::string function{};
};

struct DrainReport {
  /// True when every task finished before the deadline (nothing cancelled).
  bool finished_in_time = false;
  /// The tasks cancelled at the deadline, in the order they were cancelled.
  std::vector<CancelledTask> cancelled;
};

}  // namespace duet
