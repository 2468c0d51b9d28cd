// owner_test.cpp: a scope's owner is a task, not an address. The owner
// makes a scope, moves it out and ends; the scope lives on in another
// task, which spawns a child into it. The child is made with the same
// frame (or fiber) size as the owner, on the same single worker, so the
// block cache would hand it the owner's freed header: were the owner known
// by its address alone, that child would pass for the owner, and its await
// of its own scope (the misuse that would wait for itself) would register
// as the owner's instead of being refused. Both models.
#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>

#include "../sync/sync_util.hpp"
#include "duet/detail/current.hpp"
#include "duet/duet.hpp"

namespace ownertest {

struct Shared {
  duet::Runtime* rt = nullptr;
  std::optional<duet::TaskScope<int>> scope;
  const void* owner = nullptr;  // the maker's task header
  const void* probe = nullptr;  // the child's
  duet::Notify probed;          // the child's await was tried
};

/// The owner: makes the scope, then moves it out to the caller's task.
int make_scope(Shared* sh) {
  sh->owner = duet::detail::current_task();
  duet::TaskScope<int> s(*sh->rt);
  sh->scope.emplace(std::move(s));
  return 0;
}

/// A child awaits its own scope, by hand: 1 when that misuse is refused, 0
/// when its await was registered (pending), 2 otherwise.
int try_own_scope(Shared* sh) {
  sh->probe = duet::detail::current_task();
  duet::synctest::CountingWaker cw;
  auto f = sh->scope->next();
  try {
    return duet::synctest::poll_once(f, cw).is_pending() ? 0 : 2;
  } catch (const std::logic_error& e) {
    return std::string(e.what()).find("its own children") != std::string::npos ? 1 : 3;
  }
}

int await_own_scope(Shared* sh) {
  const int r = try_own_scope(sh);
  sh->probed.notify_one();
  return r;
}

/// One coroutine for both roles: the same frame size.
duet::Task<int> role_coro(int role, Shared* sh) {
  co_return role == 0 ? make_scope(sh) : await_own_scope(sh);
}

/// One fiber body for both roles: the same task size.
struct RoleFiber {
  int role;
  Shared* sh;
  int operator()() const { return role == 0 ? make_scope(sh) : await_own_scope(sh); }
};

duet::Task<int> holder_coro(Shared* sh) {
  auto maker = sh->rt->spawn(role_coro(0, sh));
  co_await maker;
  maker = {};  // the owner's last reference: its header goes back to the cache
  sh->scope->spawn(role_coro(1, sh));
  co_await sh->probed.notified();  // the holder awaits the scope after the child's try
  auto o = co_await sh->scope->next();
  const int r = o ? o->take() : -1;
  sh->scope.reset();
  co_return r;
}

int holder_fiber(Shared* sh) {
  auto maker = sh->rt->spawn(duet::stackful, RoleFiber{0, sh});
  duet::wait(maker);
  maker = {};
  sh->scope->spawn(duet::stackful, RoleFiber{1, sh});
  duet::wait(sh->probed.notified());
  auto o = duet::wait(sh->scope->next());
  const int r = o ? o->take() : -1;
  sh->scope.reset();
  return r;
}

}  // namespace ownertest

TEST_CASE("scope owner: a child made in the ended owner's memory is not the owner",
          "[scope][lane]") {
  const bool fiber = GENERATE(false, true);
  INFO((fiber ? "stackful" : "stackless"));
  duet::test::Watchdog wd("scope owner");
  duet::Runtime rt(duet::synctest::small_rt(1));
  ownertest::Shared sh;
  sh.rt = &rt;
  int r = -100;
  if (fiber) {
    r = rt.spawn(duet::stackful, [&] { return ownertest::holder_fiber(&sh); }).join();
  } else {
    r = rt.spawn(ownertest::holder_coro(&sh)).join();
  }
  INFO("the child " << (sh.probe == sh.owner ? "reused" : "did not reuse")
                    << " the owner's header");
  CHECK(r == 1);
}
