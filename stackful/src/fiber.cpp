// fiber.cpp: a fiber's life on the stackful side: its task block's
// out-of-line halves (fiber_place's rare paths), where its frames live
// (the per-strategy hooks), and entering, leaving and unwinding it: the
// switch protocol's callers. Which entry pairs with which exit is the table
// in switch.hpp; each entry records its row in the fiber (FiberBase::path)
// and each exit is chosen from it.
#include <boost/context/detail/fcontext.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>

#include "copy_stack.hpp"
#include "duet/detail/cpu_relax.hpp"
#include "duet/detail/hand_off.hpp"
#include "duet/detail/thread_local.hpp"
#include "duet/dump.hpp"
#include "duet/stackful/fiber.hpp"
#include "duet/stackful/stack.hpp"
#include "high_water.hpp"
#include "overflow.hpp"
#include "stack_stats.hpp"
#include "switch.hpp"

namespace duet::detail {
namespace bc = boost::context::detail;

// ---- fiber_place's rare paths ---------------------------------------------
//
// fiber.hpp resolves a spawn's options inline; these are out of line.

std::size_t lazy_reserve_default() noexcept {
  return tuning_cells().lazy_reserve_bytes.load(std::memory_order_relaxed);
}

void throw_stack_too_big() {
  throw std::invalid_argument("duet: a fiber stack may be at most 1 GiB (max_fiber_stack)");
}

// ---- where a fiber's frames live, per stack strategy ----------------------
//
// The hooks that the switch code below calls, so that no switch path tests
// the strategy itself. A fiber with a stack of its own (pooled, lazy,
// unguarded_unsafe) takes it at its first entry and gives it back when it
// finishes; a copy fiber (copy_stack.hpp) is bound to its worker's shared
// stack, and its bytes are copied in at each entry and out at each exit.
//
// Plain inline functions, not a table of function pointers: a switch (the
// hot path) pays one predictable branch on the strategy, not an indirect
// call (docs/performance-log.md, "Stack strategies as inline functions").

/// Whether `f`'s frames stay where they are while it is parked: true for a
/// stack of its own. Only such a fiber may be switched into from another
/// fiber's stack (a hand-off, a join run inline) or hand over from its own:
/// a copy fiber's bytes are copied in and out by the worker.
inline bool frames_stay_put(const FiberBase* f) noexcept {
  return f->strategy != StackStrategy::copy;
}

/// The lowest address `f`'s frames may use: [frames_bottom, frames_top).
inline char* frames_bottom(const FiberBase* f) noexcept {
  return frames_stay_put(f) ? f->stack.bottom() : f->copy.shared->mem.bottom();
}

/// The worker, before a jump into `f`: false when it cannot run now (a
/// copy fiber whose shared stack another worker is using; it is retried).
inline bool stack_enter(FiberBase* f) noexcept {
  return frames_stay_put(f) || copy_enter(f);
}

/// After `f` switched out (to the worker or to another fiber): a copy
/// fiber's bytes go out to its buffer (its binding too, once finished); a
/// finished fiber with a stack of its own gives the stack back to the
/// running thread's cache (counted already when it published its finish
/// before its last switch).
inline void stack_leave(FiberBase* f) noexcept {
  if (!frames_stay_put(f)) {
    copy_leave(f);
    return;
  }
  if (!f->finished) return;
  if (f->stack_cold) [[unlikely]] {
    if (!f->stack_counted) stack_count_release();
    stack_recycle_cold(f->stack);
  } else if (f->stack_counted) {
    stack_recycle(f->stack);
  } else {
    stack_release(f->stack);
  }
  f->stack = Stack{};
}

// ---- the alternate signal stack -------------------------------------------
//
// The guard page's SIGSEGV handler (overflow.cpp) runs on an alternate
// signal stack: the faulting fiber's stack has no room left. Each thread
// gets one before it first enters a fiber.

/// Gives the calling thread an alternate signal stack unless it has one.
inline void ensure_alt_stack() noexcept {
  if (!tl_alt_stack_tried) [[unlikely]]
    give_alt_stack();
}

// ---- entering and leaving -------------------------------------------------

void describe_fiber(const TaskHeader* t, std::ostream& os);  // introspect.cpp
TaskSite fiber_site(const TaskHeader* t) noexcept;           // introspect.cpp

namespace {

[[noreturn]] void fiber_entry(bc::transfer_t t) noexcept;

DUET_TLS ThreadSide tl_side;

/// The calling thread's ThreadSide. Out of line and opaque (the empty asm
/// makes it impure): after a switch the fiber may run on another thread,
/// and the compiler must not reuse an address computed before it.
[[gnu::noinline]] ThreadSide& this_side() noexcept {
  asm volatile("" ::: "memory");
  return tl_side;
}

/// check_exit for a hand-off, which reads the thread's side only in builds
/// that check (this_side is opaque to the compiler: an unused call would
/// stay).
inline void check_hand_off(const FiberBase* f) noexcept {
#if DUET_CHECK_TRANSITIONS
  check_exit(f, this_side(), SwitchExit::hand_off);
#else
  (void)f;
#endif
}

/// A fiber's first run: takes its own stack from the running thread's cache
/// (or a new slab). False when none can be had: the fiber is then finished,
/// with the StackError as its outcome, and never runs.
bool take_stack(FiberBase* f) noexcept {
  try {
    f->stack = stack_acquire(f->strategy, f->stack_bytes);
  } catch (...) {
    f->fiber_vtable().fail_start(f, std::current_exception());
    f->finished = true;
    f->reason = RunResult::complete;
    return false;
  }
  // ASan builds: a reused stack still carries the redzones of frames that
  // never returned (the entry frame of every finished fiber).
  san::unpoison(f->stack.bottom(), f->stack.usable());
  return true;
}

/// The first context of `f`, on the stack it holds (its own, or the shared
/// one a copy fiber is bound to).
[[gnu::always_inline]] inline void make_context(FiberBase* f) noexcept {
  char* top = f->frames_top();
  if (f->measure) [[unlikely]]
    measure_begin(f, frames_bottom(f), top);
  f->ctx = make_context_at(top, static_cast<std::size_t>(top - frames_bottom(f)), &fiber_entry);
  san::create(f);
}

/// Before the first jump into `f` (a copy fiber is bound to its shared
/// stack already): its stack and its initial context. False when it ended
/// instead (no stack could be had, now or at an earlier try).
bool prepare_entry(FiberBase* f) noexcept {
  if (f->ctx != nullptr) return true;
  if (f->finished) return false;
  if (frames_stay_put(f) && !take_stack(f)) return false;  // a copy fiber is bound already
  make_context(f);
  return true;
}

/// prepare_entry for a hand-off, which runs on another fiber's stack (it
/// may be small): only what is cheap there. A fiber whose stack is not in
/// this thread's cache goes to the worker, whose own stack can afford a
/// new slab, /proc/self/maps near the mapping budget, or a StackError.
/// Out of line: a hand-off (hand_off_target) mostly finds a fiber that ran
/// before, and the fresh fiber's half inlined there costs every park
/// register saves (docs/performance-log.md, "Figures that library comments
/// carried").
[[gnu::noinline]] bool prepare_fresh_cheaply(FiberBase* f) noexcept {
  if (f->finished || !frames_stay_put(f)) return false;
  f->stack = stack_acquire_cached(f->strategy, f->stack_bytes);
  if (!f->stack) return false;
  san::unpoison(f->stack.bottom(), f->stack.usable());
  make_context(f);
  return true;
}
inline bool prepare_entry_cheaply(FiberBase* f) noexcept {
  return f->ctx != nullptr || prepare_fresh_cheaply(f);
}

/// Off the stack of `f`, which just switched out (to the worker, or to
/// another fiber): what its stack tells, and, when it finished, the stack
/// itself goes back to the running thread's cache at once (hot, for the
/// next fiber this worker starts), long before the handle is joined.
void after_switch_out(FiberBase* f) noexcept {
  char* top = f->frames_top();
  if (!f->finished) [[likely]] {
    note_switch(f, static_cast<std::size_t>(top - static_cast<char*>(f->ctx)));
    if (!frames_stay_put(f)) stack_leave(f);  // a copy fiber's bytes go out
    return;
  }
  if (f->measure) measure_end(f, frames_bottom(f), top);
  san::destroy(f);
  stack_leave(f);
}

/// On `self`'s stack, right after any jump into it. `t.data` is the fiber
/// that handed over to it on this worker, or null when the worker loop (or
/// a thread that cancels) entered it. A hand-off's receiver finishes what
/// the loop would have done for the fiber that left: that fiber is off its
/// stack only now, so only now may it be seen idle or complete.
[[gnu::noinline]] void land(FiberBase* self, bc::transfer_t t) noexcept {
  auto* from = static_cast<FiberBase*>(t.data);
  if (from == nullptr) {
    ThreadSide& side = this_side();
    side.ctx = t.fctx;
    san::leave_end(self, side);
    return;
  }
  from->ctx = t.fctx;
  san::hand_off_end(self);
  after_switch_out(from);
  run_ended_by_hand_off(from, from->reason);
}

/// `n`, a task taken off `w` (null: the calling worker) for a hand-off,
/// made current if the fiber that leaves may jump straight into it (`may`:
/// the leaver is not a copy fiber) and it is a fiber with a stack of its
/// own (not a copy fiber: its bytes must be copied in by the worker), not
/// cancelled (the worker unwinds it), with a stack at hand. Anything else
/// goes back to the worker, which runs it before anything else, and null.
[[gnu::always_inline]] inline FiberBase* hand_off_next(Worker* w, NextTask n, bool may) noexcept {
  if (n.task == nullptr) return nullptr;
  if (may && n.task->vtable->kind == TaskKind::fiber && !n.state.is_cancelled()) {
    auto* g = static_cast<FiberBase*>(n.task);
    if (frames_stay_put(g) && prepare_entry_cheaply(g)) {
      set_current_task(g);
      g->path = hand_off_path;  // it runs in the leaver's chain
      return g;
    }
  }
  run_next_on_worker(w != nullptr ? *w : *current_worker(), n);
  return nullptr;
}

/// The fiber a parking or yielding `f` may hand over to now, made current:
/// null when it must go back to the thread instead. A fiber being unwound
/// (cancellation, shutdown) and a copy fiber always go back: the canceller
/// loops on that fiber alone, and a copy fiber's bytes are copied out by
/// the worker. A park asks the worker once (take_next_task() finds it): the
/// ping-pong's hand-off. Out of line, like the jumps below: only
/// switch_out's small frame stays on a parked fiber's stack (a copy fiber
/// saves and restores those bytes at every switch).
[[gnu::noinline]] FiberBase* hand_off_target(FiberBase* f) noexcept {
  if (f->unwinding || !frames_stay_put(f)) return nullptr;
  return hand_off_next(nullptr, take_next_task(), true);
}

/// hand_off_target for a fiber that finished: first its completion is
/// published, before its last switch, with its stack already counted as
/// given back (it goes back to the cache once nothing runs on it). A joiner
/// on this worker is then queued and can be the hand-off's next fiber
/// (spawn + join: two jumps, not three). Not published here: a fiber being
/// unwound (its canceller stores `Cancelled` after the unwinding), a copy
/// fiber (the worker copies its bytes), a measured one (its high-water mark
/// is recorded first, and it does not hand off: below), and a fiber run
/// inside its joiner's poll, which
/// never hands off: its joiner's worker completes it after the switch,
/// where the references may make that a plain store (state.hpp,
/// to_complete_joined: a fiber's spawn+join then makes no locked
/// instruction). The finished fiber's stack is recycled by whoever lands
/// next: on the next fiber's stack (maybe 4 KiB) only when that is a push
/// into the cache. (Past the cache's room, half of it went to the global
/// pool there, with a sort and a batch of madvise: a fiber with an 8 KiB
/// stack overflowed under ASan, tests/stackful/limits_test.cpp after the
/// hand-off tests.)
[[gnu::noinline]] FiberBase* dying_hand_off(FiberBase* f) noexcept {
  // A measured fiber goes back to the worker too: its completion is
  // published after its mark is taken, by the loop's run_ended, which runs
  // as the loop does (it leaves no current task behind), never from the
  // next fiber's landing (tests/stackful/measure_test.cpp).
  // A cold stack's release may sort and madvise: on the worker's stack.
  if (f->unwinding || f->measure || f->stack_cold || !frames_stay_put(f)) return nullptr;
  Worker* w = hand_off_worker();
  if (w == nullptr) return nullptr;
  stack_count_release();
  f->stack_counted = true;
  publish_completion(f);
  if (!stack_recycles_cheaply(f->stack)) return nullptr;
  return hand_off_next(w, take_next_task(*w), true);
}

[[gnu::noinline]] bc::transfer_t jump_to_fiber(FiberBase* f, FiberBase* g) noexcept {
  check_hand_off(f);
  char* top = g->frames_top();
  char* bottom = frames_bottom(g);
  san::hand_off_begin(f, g, /*dying=*/false, bottom, static_cast<std::size_t>(top - bottom));
  return jump_to(g->ctx, f);
}

[[gnu::noinline]] bc::transfer_t jump_to_thread(FiberBase* f) noexcept {
  ThreadSide& side = this_side();
  san::leave_begin(f, /*dying=*/false, side);
  if (f->path == ReturnPath::jmp) {
    check_exit(f, side, SwitchExit::jump_to_loop);
    return jump_by_jmp(side.ctx, f);
  }
  check_exit(f, side, SwitchExit::jump_to);
  return jump_to(side.ctx, f);
}

/// On `f`, which stops running for `f->reason`: jumps straight into the
/// next fiber of this worker when there is one (one switch instead of two),
/// else back to the thread that entered it. Returns when `f` is resumed.
void switch_out(FiberBase* f) noexcept {
  FiberBase* g = hand_off_target(f);
  land(f, g != nullptr ? jump_to_fiber(f, g) : jump_to_thread(f));
}

/// The finished `f`'s last switch, switch_out's path for a fiber that never
/// comes back: into the next fiber when it may hand over, else to the
/// thread. Inlined into fiber_entry, so that the jump (exit_to, which
/// neither calls nor returns) leaves from the entry frame with no callee's
/// frame live: the side it resumes finds the CPU's return stack holding its
/// own frames (switch.cpp, duet_exit_fcontext).
[[gnu::always_inline, noreturn]] inline void exit_fiber(FiberBase* f) noexcept {
  if (f->path == ReturnPath::ret_owed) {
    // Entered fresh by a call and never switched out (spawn + join): back
    // into that call by a `ret`, which its entry left on the CPU's return
    // stack. No hand-off to ask for: a fiber entered by a call is run
    // inside its joiner's poll (which never hands off) or is a copy fiber
    // (which cannot); the caller completes it after the switch, as it does
    // when dying_hand_off says no.
    ThreadSide& side = this_side();
    check_exit(f, side, SwitchExit::exit_to_caller);
    san::leave_begin(f, /*dying=*/true, side);
    exit_to_caller(side.ctx, f);
  }
  bc::fcontext_t to;
  if (FiberBase* g = dying_hand_off(f); g != nullptr) {
    check_hand_off(f);
    char* top = g->frames_top();
    char* bottom = frames_bottom(g);
    san::hand_off_begin(f, g, /*dying=*/true, bottom, static_cast<std::size_t>(top - bottom));
    to = g->ctx;
  } else {
    ThreadSide& side = this_side();
    check_exit(f, side, SwitchExit::exit_to);
    san::leave_begin(f, /*dying=*/true, side);
    to = side.ctx;
  }
  exit_to(to, f);
}

/// Runs on the fiber's stack. Never returns: the last jump leaves the stack
/// for good. The fiber is the current task (the worker or the fiber that
/// handed over to it made it so before the jump).
[[noreturn]] void fiber_entry(bc::transfer_t t) noexcept {
  auto* f = static_cast<FiberBase*>(current_task());
  land(f, t);
  try {
    f->fiber_vtable().body(f);
  } catch (const FiberUnwind&) {
    f->unwound = true;
  } catch (...) {
    // run_body stores every other exception; reaching here is a bug.
    std::fputs("duet: exception escaped a fiber body\n", stderr);
    std::abort();
  }
  f->finished = true;
  f->reason = RunResult::complete;
  exit_fiber(f);
}

/// On a worker (or the thread that shuts down): switch into the fiber until
/// a fiber switches back: `f`, or the last of the fibers it handed over to
/// (the current task on return), which it returns. Null, without running
/// it, when it is a copy fiber whose shared stack another worker is using.
[[gnu::always_inline]] inline FiberBase* enter(FiberBase* f) noexcept {
  if (!stack_enter(f)) return nullptr;
  if (!prepare_entry(f)) return f;  // finished with a StackError
  char* top = f->frames_top();
  char* bottom = frames_bottom(f);
  ensure_alt_stack();
  // A thread that cancels may do so from a fiber of its own (a fiber that
  // destroys another runtime): keep that fiber's side of the thread.
  ThreadSide& side = this_side();
  const ThreadSide outer = side;
  void* fake = nullptr;
  san::enter_begin(f, &fake, bottom, static_cast<std::size_t>(top - bottom), side);
  // A context that never ran is entered by a jump: this call's return
  // address stays on the return stack for the fiber's last switch
  // (exit_fiber), which a `ret` into the trampoline mispredicted.
  const bool fresh = context_is_fresh(f->ctx);
  f->path = fresh ? ReturnPath::ret_owed : ReturnPath::ret;
  note_entry(side, f);
  bc::transfer_t t = fresh ? jump_by_jmp(f->ctx, nullptr) : jump_to(f->ctx, nullptr);
  san::enter_end(fake);
  this_side() = outer;
  auto* last = static_cast<FiberBase*>(t.data);
  last->ctx = t.fctx;
  after_switch_out(last);
  return last;
}

/// On the fiber: stop running until a worker (maybe another one) resumes
/// it. Inlined into its callers: one frame less on a parked fiber's stack.
[[gnu::always_inline]] inline void leave(FiberBase* f, RunResult why) {
  f->reason = why;
  switch_out(f);
  if (f->unwinding) throw FiberUnwind{};
}

/// Runs `f`'s armed before_park step (BeforePark), disarmed first: the
/// step's own waits park as any.
[[gnu::noinline, gnu::cold]] void run_before_park(FiberBase* f) {
  f->before_park_armed = false;
  f->fiber_vtable().before_park(f);
}

/// this_fiber::yield on `f`, with the worker asked once (take_yield_turn):
/// nothing else runnable, it goes on without a switch; else it jumps
/// straight into the next task when that is a fiber it may enter, else
/// back to the worker. switch_out's path, less the calls that would ask the
/// same worker the same things one at a time (docs/performance-log.md, "One
/// call for a fiber's yield turn and park").
[[gnu::always_inline]] inline void yield_fiber(FiberBase* f) {
  if (f->unwinding) {
    leave(f, RunResult::yielded);  // to the canceller, which throws
    return;
  }
  if (f->before_park_armed) [[unlikely]]
    run_before_park(f);
  const NextTask n = take_yield_turn(f);
  if (n.task == f) return;
  f->reason = RunResult::yielded;
  FiberBase* g = hand_off_next(nullptr, n, frames_stay_put(f));
  land(f, g != nullptr ? jump_to_fiber(f, g) : jump_to_thread(f));
  if (f->unwinding) throw FiberUnwind{};
}

FiberBase* current_fiber() noexcept {
  TaskHeader* t = current_task();
  if (t == nullptr || t->vtable->kind != TaskKind::fiber) return nullptr;
  return static_cast<FiberBase*>(t);
}

}  // namespace

// A small fiber (a function of a pointer, its outcome) fits a 192-byte
// block (a task block's size is a multiple of its header's 64-byte
// alignment; FiberBase's data ends at 168 and a derived FiberTask reuses the
// tail padding of its 64-aligned base).
namespace {
struct SmallFn {
  void* p;
  void operator()() const noexcept {}
};
}  // namespace
static_assert(sizeof(void*) != 8 || sizeof(FiberTask<SmallFn, void>) <= 192,
              "a small fiber's task block grew past 192 bytes");

void FiberBase::release_copy() noexcept {
  copy_release(this);
}

char* FiberBase::shared_frames_top() const noexcept {
  return copy.shared != nullptr ? copy.shared->mem.top() : nullptr;
}

RunResult fiber_run(TaskHeader* t) {
  auto* f = static_cast<FiberBase*>(t);
  // Started inside its joiner's poll (the join hand-off), on the joiner's
  // stack, which may be a small fiber stack: only with a stack at hand.
  // Otherwise it goes to the back of the queue, and the loop starts it.
  // (The cache is tried first: the worker is asked only when it has none.)
  if (f->ctx == nullptr && !f->finished && !prepare_entry_cheaply(f) && running_inline()) {
    return RunResult::yielded;
  }
  // A copy fiber whose stack is busy elsewhere goes to the back of the queue.
  // Else the run that ended is the last fiber's: `f`, or a fiber it handed
  // over to (duet/detail/hand_off.hpp), the current task now.
  const FiberBase* last = enter(f);
  return last != nullptr ? last->reason : RunResult::yielded;
}

namespace {

/// A copy fiber's StackfulOps::frames_move.
bool fiber_frames_move(const TaskHeader* t) noexcept {
  return !frames_stay_put(static_cast<const FiberBase*>(t));
}

void fiber_block(TaskHeader* t) {
  auto* f = static_cast<FiberBase*>(t);
  if (f->unwinding) {
    if (std::uncaught_exceptions() > 0) {
      // A destructor waits while the cancelled fiber unwinds: it cannot
      // throw, and the wait cannot finish on a dying fiber.
      std::fputs("duet: a cancelled fiber blocked during unwinding\n", stderr);
      std::abort();
    }
    throw FiberUnwind{};
  }
  if (f->before_park_armed) [[unlikely]] {
    // The wait polls again rather than park (BeforePark).
    run_before_park(f);
    return;
  }
  // Where it waits (inside duet::wait<Op>): the dump and gdb script name it.
  f->parked_at.store(__builtin_return_address(0), std::memory_order_relaxed);
  leave(f, RunResult::pending);
  f->parked_at.store(nullptr, std::memory_order_relaxed);
}

FlatEntry fiber_flat_enter(TaskHeader* t) noexcept {
#ifdef DUET_OWN_SWITCH
  // enter's first half, from the worker loop's own frame (only fibers
  // with a stack of their own: a copy fiber's vtable has no flat entry).
  auto* f = static_cast<FiberBase*>(t);
  const bool first = f->ctx == nullptr;
  if (!prepare_entry(f)) return {};  // finished with a StackError: `run` ends it
  char* top = f->frames_top();
  char* bottom = frames_bottom(f);
  ensure_alt_stack();
  ThreadSide& side = this_side();
  san::enter_begin_flat(f, &side.asan_thread_fake, bottom, static_cast<std::size_t>(top - bottom),
                        side);
  f->path = ReturnPath::jmp;
  note_entry(side, f);
  FlatEntry e{f->ctx, flat_routine(first)};
#ifdef DUET_FLAT_TSAN
  e.tsan_fiber = f->tsan_fiber;  // the loop switches TSan, right before its jump
#endif
  return e;
#else
  (void)t;
  return {};
#endif
}

RunResult fiber_flat_entered(FlatTransfer tr) noexcept {
  // enter's second half: `tr.data` is the fiber whose switch ended the run
  // (the one entered, or the last it handed over to).
  ThreadSide& side = this_side();
  san::enter_end(side.asan_thread_fake);
  auto* last = static_cast<FiberBase*>(tr.data);
  last->ctx = tr.ctx;
  after_switch_out(last);
  return last->reason;
}

/// StackfulOps::may_trim of a fiber with a stack of its own: not measured
/// (its canary below the stack pointer is its high-water mark) and not
/// trimmed since it last switched out. Reads only a field set at spawn and
/// a relaxed atomic: the fiber may be running.
bool fiber_may_trim(const TaskHeader* t) noexcept {
  const auto* f = static_cast<const FiberBase*>(t);
  return !f->measure && (f->in_use.load(std::memory_order_relaxed) & trimmed_bit) == 0;
}

/// StackfulOps::trim_parked: each held fiber gives back its stack's pages
/// below its saved stack pointer (the context it resumes from, at the
/// lowest address its frames use while parked). Held means no worker runs
/// it, and the hold's acquire saw everything its last run wrote (its
/// context, its stack). Under ASan the pages' shadow is left alone: the
/// frames that were there returned, and unpoisoned themselves as they did.
std::size_t fiber_trim_parked(TaskHeader* const* held, std::size_t n) noexcept {
  std::size_t pages = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto* f = static_cast<FiberBase*>(held[i]);
    if (f->ctx == nullptr || f->finished || !f->stack || f->measure) continue;
    pages += trim_below(f->stack, static_cast<const char*>(f->ctx));
    // Relaxed: read by the next look's sieve (fiber_may_trim) and by dumps;
    // the hold's end publishes it to the worker that runs the fiber next.
    f->in_use.store(f->in_use.load(std::memory_order_relaxed) | trimmed_bit,
                    std::memory_order_relaxed);
  }
  return pages;
}

}  // namespace

const StackfulOps own_stack_ops{&fiber_block,        nullptr,           &fiber_flat_enter,
                                &fiber_flat_entered, &describe_fiber,   &fiber_site,
                                &fiber_may_trim,     &fiber_trim_parked};
const StackfulOps copy_stack_ops{&fiber_block,    &fiber_frames_move, nullptr, nullptr,
                                 &describe_fiber, &fiber_site,        nullptr, nullptr};

bool fiber_unwind(FiberBase* f) noexcept {
  if (f->ctx == nullptr) return true;  // never ran: nothing on its stack
  if (f->finished) return f->unwound;
  f->unwinding = true;
  // Each resume makes the pending wait throw FiberUnwind; code that
  // swallows it and waits again gets it again. A copy fiber waits for its
  // shared stack (its user switches out soon: fibers are cooperative).
  while (!f->finished) {
    if (enter(f) == nullptr) cpu_relax();
  }
  return f->unwound;
}

void arm_before_park() {
  FiberBase* f = current_fiber();
  if (f == nullptr) throw std::logic_error("duet: arm_before_park: not on a fiber");
  if (f->fiber_vtable().before_park == nullptr) {
    throw std::logic_error("duet: arm_before_park: the fiber's function has no before_park");
  }
  f->before_park_armed = true;
}

void disarm_before_park() noexcept {
  if (FiberBase* f = current_fiber()) f->before_park_armed = false;
}

void release_stack_cold() noexcept {
  if (FiberBase* f = current_fiber(); f != nullptr && frames_stay_put(f)) f->stack_cold = true;
}

}  // namespace duet::detail

namespace duet::this_fiber {

bool is_fiber() noexcept {
  return detail::current_fiber() != nullptr;
}

void yield() {
  detail::FiberBase* f = detail::current_fiber();
  if (f == nullptr) throw std::logic_error("duet::this_fiber::yield: not on a fiber");
  detail::yield_fiber(f);
}

bool is_copy_fiber() noexcept {
  detail::FiberBase* f = detail::current_fiber();
  return f != nullptr && f->strategy == StackStrategy::copy;
}

bool points_into_stack(const void* p) noexcept {
  detail::FiberBase* f = detail::current_fiber();
  if (f == nullptr) return false;
  const auto* c = static_cast<const char*>(p);
  return c >= detail::frames_bottom(f) && c < f->frames_top();
}

}  // namespace duet::this_fiber
