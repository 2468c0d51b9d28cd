// fiber.cpp: entering, leaving and unwinding fibers.
#include <boost/context/detail/fcontext.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>

#include "duet/stackful/fiber.hpp"
#include "sanitizer.hpp"

namespace duet::detail {
namespace bc = boost::context::detail;

namespace {

/// Runs on the fiber's own stack. Never returns: the last jump leaves the
/// stack for good, and the worker releases it.
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

/// On the worker: switch into the fiber until it switches back.
void enter(FiberBase* f) noexcept {
  if (f->ctx == nullptr) {
    f->ctx = bc::make_fcontext(f->stack.top(), f->stack.usable(), &fiber_entry);
    san::create(f);
  }
  void* fake = nullptr;
  san::enter_begin(f, &fake);
  bc::transfer_t t = bc::jump_fcontext(f->ctx, f);
  san::enter_end(fake);
  f->ctx = t.fctx;
  if (f->finished) {
    san::destroy(f);
    stack_release(std::exchange(f->stack, Stack{}));
  }
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

}  // namespace

RunResult fiber_run(TaskHeader* t) {
  auto* f = static_cast<FiberBase*>(t);
  enter(f);
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
  leave(f, RunResult::pending);
}

bool fiber_unwind(FiberBase* f) noexcept {
  if (f->ctx == nullptr) {
    // Never ran: nothing on its stack to unwind.
    stack_release(std::exchange(f->stack, Stack{}));
    return true;
  }
  if (f->finished) return f->unwound;
  f->unwinding = true;
  // Each resume makes the pending wait throw FiberUnwind; code that
  // swallows it and waits again gets it again.
  while (!f->finished) enter(f);
  return f->unwound;
}

}  // namespace duet::detail

namespace duet::this_fiber {

bool is_fiber() noexcept { return detail::current_fiber() != nullptr; }

void yield() {
  detail::FiberBase* f = detail::current_fiber();
  if (f == nullptr) throw std::logic_error("duet::this_fiber::yield: not on a fiber");
  detail::leave(f, detail::RunResult::yielded);
}

}  // namespace duet::this_fiber
