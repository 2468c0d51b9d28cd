// stackful_spawn: the cost of creating, running and destroying a fiber, per
// stack strategy, warm (stacks and task blocks come from the pools).
//
//   raw          the mechanism alone: stack from the pool, make_fcontext,
//                jump in, jump out, stack back to the pool (no scheduler)
//   spawn_join   from a coroutine on a 1-worker runtime: co_await
//                duet::spawn(stackful(...), fn): spawn, schedule, run,
//                complete, wake the joiner, free
//   spawn_batch  from a fiber, spawn a batch of 1000 detached fibers, then
//                yield until they all ran: throughput per fiber
//
//   exp_stackful_spawn [--strategy S|all] [--n 200000]
#include <boost/context/detail/fcontext.hpp>

#include <atomic>

#include "duet/stackless.hpp"
#include "stackful_common.hpp"

namespace bc = boost::context::detail;

namespace {

void raw_entry(bc::transfer_t t) {
  ++*static_cast<long*>(t.data);
  bc::jump_fcontext(t.fctx, nullptr);
}

double raw_cost(duet::StackStrategy s, long n) {
  long runs = 0;
  auto once = [&] {
    duet::detail::Stack st = duet::detail::stack_acquire(s, 64 << 10);
    bc::fcontext_t c = bc::make_fcontext(st.top(), st.usable(), &raw_entry);
    bc::jump_fcontext(c, &runs);
    duet::detail::stack_release(st);
  };
  for (long i = 0; i < 1000; ++i) once();
  auto t0 = lab::Clock::now();
  for (long i = 0; i < n; ++i) once();
  return lab::ns_since(t0) / static_cast<double>(n);
}

duet::Task<void> spawn_join_loop(duet::StackStrategy s, long n) {
  for (long i = 0; i < n; ++i) co_await duet::spawn(duet::stackful({.strategy = s}), [] {});
}

}  // namespace

int main(int argc, char** argv) {
  sx::Args a(argc, argv);
  const long n = std::atol(a.get("--n", "200000").c_str());
  for (duet::StackStrategy s : sx::strategies(a)) {
    const std::string impl = std::string("duet-") + sx::name(s);
    if (s != duet::StackStrategy::copy) {
      lab::emit("stackful_spawn", impl, "raw_create_run_destroy", raw_cost(s, n), "ns", n,
                "warm pool; stack_acquire+make_fcontext+jump in/out+stack_release, no scheduler");
    }
    duet::Runtime rt(sx::workers(1));
    rt.block_on(spawn_join_loop(s, 2000));  // warm the pools
    auto t0 = lab::Clock::now();
    rt.block_on(spawn_join_loop(s, n));
    lab::emit("stackful_spawn", impl, "spawn_join", lab::ns_since(t0) / static_cast<double>(n),
              "ns", n,
              "warm; 1 worker; a coroutine co_awaits duet::spawn(stackful, empty fn) in a loop");

    std::atomic<long> done{0};
    auto batch = [&](long total) {
      rt.block_on(duet::stackful, [&, total] {
        for (long i = 0; i < total; i += 1000) {
          for (long k = 0; k < 1000; ++k) {
            duet::spawn(duet::stackful({.strategy = s}),
                        [&done] { done.fetch_add(1, std::memory_order_relaxed); });
          }
          while (done.load(std::memory_order_relaxed) < i + 1000) duet::this_fiber::yield();
        }
      });
    };
    batch(2000);
    done = 0;
    t0 = lab::Clock::now();
    batch(n);
    lab::emit("stackful_spawn", impl, "spawn_batch", lab::ns_since(t0) / static_cast<double>(n),
              "ns", n,
              "warm; 1 worker; a fiber spawns 1000 detached fibers then yields until they ran");
  }
  return 0;
}
