// service.hpp: a loop of duet's own run on one of the blocking pool's
// threads (pool.cpp), so that the pool's threads are the only helper
// threads duet starts. The fallback timer (time/timer.cpp) is one.
//
// A service holds no share's slot: no limit keeps it waiting (a job that
// waits on a timer would otherwise hold the only slot of a share limited to
// one thread while the timer's loop waited behind it). It runs until its
// `run` returns; the thread then goes back to the pool and, idle for the
// process's keep-alive, exits. Submitted after the pool stopped (process
// exit), it never runs.
#pragma once

namespace duet::detail {

struct BlockingService {
  void (*run)(BlockingService*) = nullptr;
  BlockingService* next = nullptr;  // the pool's FIFO, guarded by its mutex
};

/// Runs `s->run(s)` on a pool thread: an idle one, or one started for it.
void blocking_serve(BlockingService* s);

}  // namespace duet::detail
