// duet/stackless/spawn.hpp: deprecated in 0.4.0, removed in the release
// after (docs/adopting.md): include duet/stackless/coro_task.hpp, where
// spawn_on and the task it builds are. Only that include is here, so that
// code which names this header builds for one release more; it warns of
// nothing (a #warning would break a build with -Werror).
#pragma once

#include "duet/stackless/coro_task.hpp"
