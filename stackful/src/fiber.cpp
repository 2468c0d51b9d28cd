// fiber.cpp: entering, leaving and unwinding fibers.
#include <boost/context/detail/fcontext.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>

#include "copy_stack.hpp"
#include "duet/dump.hpp"
#include "duet/stackful/fiber.hpp"
#include "high_water.hpp"
#include "overflow.hpp"
#include "sanitizer.hpp"

namespace duet::detail {
namespace bc = boost::context::detail;

void describe_fiber(const TaskHeader* t, std::ostream& os);  // introspect.cpp

namespace {

// Fibers describe themselves in task dumps (duet/dump.hpp). Registered from
// this file because it is always linked in.
[[maybe_unused]] const bool g_describer_registered =
    (set_task_describer(TaskKind::stackful, &describe_fiber), true);

/// Runs on the fiber's stack. Never returns: the last jump leaves the stack
/// for good.
[[noreturn]] void fiber_entry(bc::transfer_t t) noexcept {
  auto* f = static_cast<FiberBase*>(t.data);
  f->caller = t.fctx;
  san::leave_end(f);
  try {
    f->body(f);
  } catch (const FiberUnwind&) {
    f->unwound = true;
  } catch (...) {
    // run_body stores every other exception; reaching here is a bug.
    std::fputs("duet: exception escaped a fiber body\n", stderr);
    std::abort();
  }
  f->finished = true;
  f->reason = RunResult::complete;
  san::leave_begin(f, /*dying=*/true);
  bc::jump_fcontext(f->caller, nullptr);
  std::abort();  // unreachable: nobody resumes a finished fiber
}

/// The stack the fiber's frames use: [bottom, frames_top()).
char* frames_bottom(const FiberBase* f) noexcept {
  return f->strategy == StackStrategy::copy ? f->shared->mem.bottom() : f->stack.bottom();
}

/// A fiber's first run: takes its own stack from the running thread's cache
/// (or a new slab). False when none can be had: the fiber is then finished,
/// with the StackError as its outcome, and never runs.
bool take_stack(FiberBase* f) noexcept {
  try {
    f->stack = stack_acquire(f->strategy, f->stack_bytes);
  } catch (...) {
    f->fail_start(f, std::current_exception());
    f->finished = true;
    f->reason = RunResult::complete;
    return false;
  }
  // ASan builds: a reused stack still carries the redzones of frames that
  // never returned (the entry frame of every finished fiber).
  san::unpoison(f->stack.bottom(), f->stack.usable());
  return true;
}

/// The fiber finished: its stack goes back to the running thread's cache
/// at once (hot, for the next fiber this worker starts), long before the
/// handle is joined or dropped.
void give_back_stack(FiberBase* f) noexcept {
  if (!f->stack) return;
  stack_release(f->stack);
  f->stack = Stack{};
}

/// On a worker (or the thread that shuts down): switch into the fiber until
/// it switches back. False, without running it, when it is a copy fiber
/// whose shared stack another worker is using.
bool enter(FiberBase* f) noexcept {
  if (f->strategy == StackStrategy::copy) {
    if (!copy_enter(f)) return false;
  } else if (f->ctx == nullptr && !take_stack(f)) {
    return true;  // finished with a StackError
  }
  char* top = f->frames_top();
  char* bottom = frames_bottom(f);
  if (f->ctx == nullptr) {
    if (f->measure) measure_begin(f, bottom, top);
    f->ctx = bc::make_fcontext(top, static_cast<std::size_t>(top - bottom), &fiber_entry);
    san::create(f);
  }
  ensure_alt_stack();
  void* fake = nullptr;
  san::enter_begin(f, &fake, bottom, static_cast<std::size_t>(top - bottom));
  bc::transfer_t t = bc::jump_fcontext(f->ctx, f);
  san::enter_end(fake);
  f->ctx = t.fctx;
  if (!f->finished) note_switch(f, static_cast<std::size_t>(top - static_cast<char*>(f->ctx)));
  if (f->finished && f->measure) measure_end(f, bottom, top);
  if (f->strategy == StackStrategy::copy) copy_leave(f);
  if (f->finished) {
    san::destroy(f);
    give_back_stack(f);
  }
  return true;
}

/// On the fiber: switch back to the worker that runs it; returns when a
/// worker (maybe another one) resumes the fiber.
void leave(FiberBase* f, RunResult why) {
  f->reason = why;
  san::leave_begin(f, /*dying=*/false);
  bc::transfer_t t = bc::jump_fcontext(f->caller, nullptr);
  f->caller = t.fctx;
  san::leave_end(f);
  if (f->unwinding) throw FiberUnwind{};
}

FiberBase* current_fiber() noexcept {
  TaskHeader* t = current_task();
  if (t == nullptr || t->vtable->kind != TaskKind::stackful) return nullptr;
  return static_cast<FiberBase*>(t);
}

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

FiberBase::FiberBase(const TaskVTable* vt, const FiberPlace& p, void (*b)(FiberBase*),
                     void (*f)(FiberBase*, std::exception_ptr) noexcept,
                     const Stackful& tag) noexcept
    : TaskHeader(vt),
      body(b),
      fail_start(f),
      strategy(p.strategy),
      stack_bytes(p.stack_bytes),
      measure(tag.options.measure_stack || measure_all_fibers()),
      has_site(tag.has_site),
      name(tag.options.name),
      site(tag.site) {}

FiberBase::~FiberBase() {
  if (strategy == StackStrategy::copy) copy_release(this);
}

char* FiberBase::frames_top() const noexcept {
  if (strategy != StackStrategy::copy) return stack.top();  // null unless it holds one
  return shared != nullptr ? shared->mem.top() : nullptr;
}

bool fiber_shared_stack(const TaskHeader* t) noexcept {
  return static_cast<const FiberBase*>(t)->strategy == StackStrategy::copy;
}

RunResult fiber_run(TaskHeader* t) {
  auto* f = static_cast<FiberBase*>(t);
  // A copy fiber whose stack is busy elsewhere goes to the back of the queue.
  if (!enter(f)) return RunResult::yielded;
  return f->reason;
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
  // Where it waits (inside duet::wait<Op>): the dump and gdb script name it.
  f->parked_at.store(__builtin_return_address(0), std::memory_order_relaxed);
  leave(f, RunResult::pending);
  f->parked_at.store(nullptr, std::memory_order_relaxed);
}

bool fiber_unwind(FiberBase* f) noexcept {
  if (f->ctx == nullptr) return true;  // never ran: nothing on its stack
  if (f->finished) return f->unwound;
  f->unwinding = true;
  // Each resume makes the pending wait throw FiberUnwind; code that
  // swallows it and waits again gets it again. A copy fiber waits for its
  // shared stack (its user switches out soon: fibers are cooperative).
  while (!f->finished) {
    if (!enter(f)) cpu_relax();
  }
  return f->unwound;
}

}  // namespace duet::detail

namespace duet::this_fiber {

bool is_fiber() noexcept {
  return detail::current_fiber() != nullptr;
}

void yield() {
  detail::FiberBase* f = detail::current_fiber();
  if (f == nullptr) throw std::logic_error("duet::this_fiber::yield: not on a fiber");
  detail::leave(f, detail::RunResult::yielded);
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
