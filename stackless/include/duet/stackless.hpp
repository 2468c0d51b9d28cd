// duet/stackless.hpp: the stackless backend: Task<T> and its spawn.
#pragma once

#include "duet/stackless/coro_task.hpp"
#include "duet/stackless/task.hpp"
#include "duet/stackless/task_local.hpp"
#include "duet/yield.hpp"
