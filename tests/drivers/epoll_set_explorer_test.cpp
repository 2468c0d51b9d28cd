// epoll_set_explorer_test.cpp: the epoll set's registration protocol (a
// socket's close retiring its registration, the event loop freeing the
// retired list, the overflow waiters, the driver's destruction clearing the
// set's driver) run in every interleaving of its locks and shared steps
// (tests/support/explorer.hpp). The protocol's steps are modelled one for
// one: each function below names the code it mirrors in
// drivers/io/src/epoll/epoll_driver.cpp and socket_op.cpp. Three ways of
// removing the registration from the kernel's set at a close are modelled:
// the lock held across epoll_ctl(DEL) with the driver owning the epoll fd
// (the earlier code), the DEL moved out of the lock with the driver still
// owning it (which the explorer must reject: the driver may close the fd,
// whose number may be reused, between the check and the DEL), and the set
// owning the epoll fd so that the DEL needs no lock (the code now). Every
// case checks: no registration touched after its free, none freed twice or
// leaked, the set freed once with its epoll fd, no epoll_ctl or epoll_wait
// on a closed epoll fd, every waker woken or dropped exactly once (never
// woken after its future dropped it), and no overflow entry outliving its
// registration (a later registration at the same address would take it).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "explored.hpp"
#include "explorer.hpp"

namespace epoll_set_model {

using duet::test::ExploredAtomic;
using duet::test::ExploredMutex;
using duet::test::Explorer;

/// How a close removes its registration from the kernel's set.
enum class Close {
  held,       // under the set's lock, on the driver's epoll fd (before)
  unlocked,   // out of the lock, on the driver's epoll fd (rejected)
  set_owned,  // out of the lock, on the set's epoll fd (now)
};

/// A waiting future's OpSlot (OpSlot::wait_in, wait_inline, wait_seq).
struct Slot {
  bool waiting = false;
  bool inline_ = false;
  int seq = 0;
};

/// Registration (epoll_driver.hpp): its fields under `lock`.
struct Reg {
  bool alive = true;  // false once freed (the memory stays, for the checks)
  ExploredMutex lock;
  int rd_epoch = 0;
  int rd_waker = 0;  // a waker id (0: none)
  unsigned more = 0;
  int slots = 0;
  bool retired = false;
};

struct Overflow {
  Reg* reg;
  Slot* owner;
  int waker;
};

struct World {
  explicit World(Close m) : mode(m) {}
  Close mode;
  bool free_after_epoll_wait = false;  // a mutation: the explorer must object
  // Wakers: 0 held, 1 woken, 2 dropped; ids from 1.
  std::vector<int> wakers;
  // The kernel: the epoll fd, the socket in it, an edge not yet reported.
  bool ep_open = true;
  bool in_set = true;
  bool edge = true;
  // EpollSet: mu, driver, overflow, refs (the driver's and the
  // registration's).
  ExploredMutex mu;
  bool driver = true;
  std::vector<Overflow> overflow;
  ExploredAtomic<int> refs{2};
  bool set_alive = true;
  // EpollDriver (the owner thread's): retired_ under mu, has_retired_.
  std::vector<Reg*> retired;
  ExploredAtomic<bool> has_retired{false};
  bool driver_alive = true;
  Reg reg;
  Slot slot[2];
  bool closed = false;
};

Reg& touch(Reg& r, const char* what) {
  if (!r.alive) Explorer::fail(std::string(what) + " after the registration was freed");
  return r;
}

void wake(World& w, int id, bool woken) {
  if (id == 0) return;
  int& s = w.wakers[static_cast<std::size_t>(id - 1)];
  if (s != 0) Explorer::fail(woken ? "a waker woken after it was let go" : "a waker dropped twice");
  s = woken ? 1 : 2;
}

/// set_unref: the last reference frees the set (and, once the set owns it,
/// closes the epoll fd).
void set_unref(World& w) {
  if (w.refs.fetch_sub(1) != 1) return;
  if (!w.set_alive) Explorer::fail("the set freed twice");
  w.set_alive = false;
  if (w.mode == Close::set_owned) w.ep_open = false;
}

/// free_registration.
void free_registration(World& w, Reg& r) {
  Explorer::point("free the registration");
  if (!r.alive) Explorer::fail("a registration freed twice");
  for (const Overflow& o : w.overflow) {
    if (o.reg == &r) {
      Explorer::fail(
          "an overflow entry outlived its registration (a later one at its address "
          "would take it)");
    }
  }
  r.alive = false;
  set_unref(w);
}

/// drop_registration.
void drop_registration(World& w, Reg& r) {
  r.lock.lock();
  const bool held = touch(r, "drop_registration").slots > 0;
  if (held) r.retired = true;
  r.lock.unlock();
  if (!held) free_registration(w, r);
}

/// EpollDriver::take_overflow: the entries of `r` move to `out`.
void take_overflow(World& w, Reg& r, std::vector<int>& out) {
  w.mu.lock();
  std::erase_if(w.overflow, [&](const Overflow& o) {
    if (o.reg != &r) return false;
    out.push_back(o.waker);
    return true;
  });
  w.mu.unlock();
}

/// EpollDriver::free_retired.
void free_retired(World& w) {
  w.mu.lock();
  std::vector<Reg*> freeing;
  freeing.swap(w.retired);
  w.has_retired.store(false);
  w.mu.unlock();
  for (Reg* r : freeing) {
    if (touch(*r, "free_retired").more != 0) {
      std::vector<int> dropped;
      take_overflow(w, *r, dropped);
      for (int id : dropped) wake(w, id, false);
    }
    drop_registration(w, *r);
  }
}

/// EpollDriver::wait: free the retired, fetch a batch, wake its waiters.
void wait(World& w) {
  if (!w.free_after_epoll_wait && w.has_retired.load()) free_retired(w);
  Explorer::point("epoll_wait");
  if (!w.ep_open) Explorer::fail("epoll_wait on a closed epoll fd");
  Reg* batch = w.in_set && w.edge ? &w.reg : nullptr;
  if (batch != nullptr) w.edge = false;
  if (w.free_after_epoll_wait && w.has_retired.load()) free_retired(w);
  if (batch == nullptr) return;
  Reg& r = *batch;
  r.lock.lock();
  ++touch(r, "the event loop").rd_epoch;
  const int rw = std::exchange(r.rd_waker, 0);
  std::vector<int> more;
  if (r.more != 0) {
    take_overflow(w, r, more);
    r.more = 0;
  }
  r.lock.unlock();
  wake(w, rw, true);
  for (int id : more) wake(w, id, true);
}

/// epoll_ctl(EPOLL_CTL_DEL) of the socket.
void epoll_del(World& w) {
  Explorer::point("epoll_ctl(DEL)");
  if (!w.ep_open) {
    Explorer::fail("epoll_ctl(DEL) on a closed epoll fd (its number may name another file)");
  }
  w.in_set = false;
}

/// EpollDriver::retire, under mu with the driver there.
void retire(World& w, Reg& r) {
  w.retired.push_back(&r);
  w.has_retired.store(true);
}

/// registration_release, the close's side, in each of the three forms.
void close(World& w) {
  Reg& r = w.reg;
  w.closed = true;
  if (w.mode == Close::held) {
    w.mu.lock();
    if (w.driver) {
      epoll_del(w);
      retire(w, r);
      w.mu.unlock();
      return;
    }
    w.mu.unlock();
  } else {
    if (w.mode == Close::unlocked) {
      w.mu.lock();
      const bool there = w.driver;
      w.mu.unlock();
      if (there) epoll_del(w);
    } else {
      epoll_del(w);  // the set's fd: open while the registration holds the set
    }
    w.mu.lock();
    if (w.driver) {
      retire(w, r);
      w.mu.unlock();
      return;
    }
    w.mu.unlock();
  }
  drop_registration(w, r);
}

/// EpollDriver::~EpollDriver (the epoll fd, the driver's member before,
/// closes after the body).
void destroy_driver(World& w) {
  w.mu.lock();
  w.driver = false;
  std::vector<Overflow> dropped;
  dropped.swap(w.overflow);
  w.mu.unlock();
  for (const Overflow& o : dropped) wake(w, o.waker, false);
  for (Reg* r : w.retired) drop_registration(w, *r);
  w.retired.clear();
  set_unref(w);
  if (w.mode != Close::set_owned) {
    Explorer::point("close the driver's epoll fd");
    w.ep_open = false;
  }
  w.driver_alive = false;
}

/// withdraw_registration (with take_back): the future of slot `i` lets go.
void withdraw(World& w, int i) {
  Slot& s = w.slot[i];
  Reg& r = w.reg;
  int gone = 0;
  r.lock.lock();
  if (touch(r, "withdraw").rd_epoch == s.seq) {
    if (s.inline_) {
      gone = std::exchange(r.rd_waker, 0);
    } else {
      w.mu.lock();
      for (auto it = w.overflow.begin(); it != w.overflow.end(); ++it) {
        if (it->owner != &s || it->reg != &r) continue;
        gone = it->waker;
        w.overflow.erase(it);
        break;
      }
      w.mu.unlock();
    }
  }
  const bool last = --r.slots == 0 && r.retired;
  r.lock.unlock();
  s.waiting = false;
  wake(w, gone, false);
  if (last) free_registration(w, r);
}

/// The registration with `n` futures waiting to read: the first in it, the
/// second in the set's overflow list (wait_in_registration).
std::shared_ptr<World> make_world(Close mode, int n) {
  auto w = std::make_shared<World>(mode);
  for (int i = 0; i < n; ++i) {
    w->wakers.push_back(0);
    const int id = i + 1;
    Slot& s = w->slot[i];
    s.waiting = true;
    s.seq = 0;
    s.inline_ = i == 0;
    ++w->reg.slots;
    if (i == 0) {
      w->reg.rd_waker = id;
    } else {
      w->overflow.push_back(Overflow{&w->reg, &s, id});
      w->reg.more = 1;
    }
  }
  return w;
}

/// After the threads: whatever they left (the close, the driver's last wait
/// and destruction, the futures' drops) runs alone, then nothing may be
/// left behind.
void finish(World& w) {
  if (!w.closed) close(w);
  if (w.driver_alive) {
    wait(w);
    destroy_driver(w);
  }
  for (int i = 0; i < 2; ++i) {
    if (w.slot[i].waiting) withdraw(w, i);
  }
  Explorer::expect(!w.reg.alive, "the registration leaked");
  Explorer::expect(!w.set_alive, "the set leaked");
  Explorer::expect(!w.ep_open, "the epoll fd leaked");
  for (int s : w.wakers) Explorer::expect(s != 0, "a waker leaked");
}

using Body = void (*)(World&);

/// Explores the threads `bodies` over a fresh world per schedule.
duet::test::Explorer::Result run(Close mode, int waiters, std::vector<Body> bodies,
                                 bool mutate = false) {
  return Explorer::explore([=] {
    auto w = make_world(mode, waiters);
    w->free_after_epoll_wait = mutate;
    Explorer::Case c;
    for (Body b : bodies) c.threads.push_back([w, b] { b(*w); });
    c.check = [w] { finish(*w); };
    return c;
  });
}

void event_loop(World& w) {
  wait(w);
  wait(w);
}
void loop_then_destroy(World& w) {
  wait(w);
  destroy_driver(w);
}
void drop_first(World& w) {
  withdraw(w, 0);
}
void drop_second(World& w) {
  withdraw(w, 1);
}

}  // namespace epoll_set_model

namespace esm = epoll_set_model;

TEST_CASE("explored epoll set: a close racing the event loop and the future's drop",
          "[epoll][explorer]") {
  for (esm::Close m : {esm::Close::held, esm::Close::set_owned}) {
    INFO("mode " << static_cast<int>(m));
    duet::test::require_explored(esm::run(m, 1, {esm::event_loop, esm::close, esm::drop_first}),
                                 300);
  }
}

TEST_CASE("explored epoll set: a close racing the driver's destruction", "[epoll][explorer]") {
  for (esm::Close m : {esm::Close::held, esm::Close::set_owned}) {
    INFO("mode " << static_cast<int>(m));
    duet::test::require_explored(
        esm::run(m, 1, {esm::loop_then_destroy, esm::close, esm::drop_first}), 300);
  }
}

TEST_CASE("explored epoll set: an overflow waiter's drop racing the event and the close",
          "[epoll][explorer][slow]") {
  for (esm::Close m : {esm::Close::held, esm::Close::set_owned}) {
    INFO("mode " << static_cast<int>(m));
    duet::test::require_explored(esm::run(m, 2, {esm::event_loop, esm::close, esm::drop_second}),
                                 300);
    duet::test::require_explored(
        esm::run(m, 2, {esm::loop_then_destroy, esm::close, esm::drop_second}), 300);
  }
}

TEST_CASE("explored epoll set: the explorer rejects what the protocol forbids",
          "[epoll][explorer]") {
  // The DEL out of the lock while the driver owns the epoll fd: the driver
  // closes it between the close's check and its DEL.
  auto r = esm::run(esm::Close::unlocked, 1, {esm::loop_then_destroy, esm::close});
  INFO(r.trace);
  CHECK(r.failure.find("closed epoll fd") != std::string::npos);
  // The retired list freed after the batch is fetched: the batch still
  // names the registration that a close retired before the free.
  r = esm::run(esm::Close::set_owned, 0, {esm::event_loop, esm::close}, true);
  INFO(r.trace);
  CHECK(r.failure.find("after the registration was freed") != std::string::npos);
}
