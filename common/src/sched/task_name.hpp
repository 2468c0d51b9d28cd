// task_name.hpp: what a task runs, named for a person reading a report: the
// root coroutine of a coroutine task, the future type of a poll task, the
// function type of a fiber. Off the hot path: it symbolizes (symbols.hpp).
#pragma once

#include <string>

#include "duet/detail/task_header.hpp"

namespace duet::detail {

/// The name of what `t` runs. `t` must not be running anywhere, and must not
/// have finished (a coroutine's frames are read): a task a dump holds, or
/// one a shutdown is about to cancel once the workers are gone.
[[nodiscard]] std::string task_function(TaskHeader* t);

}  // namespace duet::detail
