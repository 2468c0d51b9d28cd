// duet/duet.hpp: everything (link duet::duet).
//
// The umbrella of the duet::duet target (the root CMakeLists.txt), which
// links all four libraries. It lives here, outside them, because it
// includes all of them, and each library's headers include only its own
// and those below it: common/ (the core and the runtime) nothing of ours;
// stackless/, stackful/ and drivers/ (I/O) only common/. A program that does
// no I/O can include duet/runtime.hpp and duet/stackless.hpp (or
// duet/stackful.hpp) and link duet::stackless (or duet::stackful) alone.
#pragma once

#include "duet/blocking.hpp"
#include "duet/bridge.hpp"
#include "duet/buggify.hpp"
#include "duet/cancel/token.hpp"
#include "duet/channel/broadcast.hpp"
#include "duet/channel/channel.hpp"
#include "duet/channel/oneshot.hpp"
#include "duet/channel/select.hpp"
#include "duet/channel/watch.hpp"
#include "duet/combinators.hpp"
#include "duet/config.hpp"
#include "duet/drain.hpp"
#include "duet/io.hpp"
#include "duet/join_handle.hpp"
#include "duet/metrics/prometheus.hpp"
#include "duet/poll.hpp"
#include "duet/random.hpp"
#include "duet/result.hpp"
#include "duet/runtime.hpp"
#include "duet/scope/task_scope.hpp"
#include "duet/stackful.hpp"
#include "duet/stackless.hpp"
#include "duet/stall.hpp"
#include "duet/stats.hpp"
#include "duet/sync/barrier.hpp"
#include "duet/sync/mutex.hpp"
#include "duet/sync/notify.hpp"
#include "duet/sync/once_cell.hpp"
#include "duet/sync/rwlock.hpp"
#include "duet/sync/semaphore.hpp"
#include "duet/task_local.hpp"
#include "duet/time/call_after.hpp"
#include "duet/time/clock.hpp"
#include "duet/time/delay_queue.hpp"
#include "duet/time/interval.hpp"
#include "duet/time/sleep.hpp"
#include "duet/time/timeout.hpp"
#include "duet/topology.hpp"
#include "duet/wait.hpp"
#include "duet/waker.hpp"
#include "duet/yield.hpp"
