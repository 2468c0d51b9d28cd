// duet/stackless/spawn.hpp: spawning a Task<T> on a runtime; spawn_on and
// the task it builds are in duet/stackless/coro_task.hpp. Kept for the
// code that includes it.
#pragma once

#include "duet/stackless/coro_task.hpp"
