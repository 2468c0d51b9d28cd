// dropped_wait_test.cpp: a dropped socket operation keeps no waker. A
// future polled once by hand (pending: the driver holds a clone of a
// counting waker) and then dropped must have given the clone back at once,
// not at the fd's next event: an accept (epoll's registration, io_uring's
// multishot accept queue), a read (epoll's registration; io_uring's
// multishot recv queue is the exception stated below), a write on a full
// socket; and of two accepts waiting on one listener, the dropped one's
// waker goes while the other's stays and is woken by a connection. Both
// drivers x both models; the wakers outlive the runtime, so a stale one
// would be counted, never freed under the driver.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <optional>
#include <vector>

#include "../sync/sync_util.hpp"
#include "net_util.hpp"

namespace {

using duet::synctest::CountingWaker;
using duet::synctest::poll_once;

/// Polls `f` once (it must be pending and hold a clone), drops it, and
/// returns the clones of the waker still alive (-1: not pending; -2: no
/// clone held while pending).
template <class F>
int refs_after_drop(F f, CountingWaker& cw) {
  {
    F g = std::move(f);
    if (!poll_once(g, cw).is_pending()) return -1;
    if (cw.refs.load() < 1) return -2;
  }
  return cw.refs.load();
}

struct Dropped {
  int accept = -100, read = -100, write = -100;
};

/// On a worker: an accept, a read and a write, each dropped while pending.
Dropped drop_each(duet::net::TcpListener* l, CountingWaker* cws) {
  Dropped d;
  d.accept = refs_after_drop(l->accept(), cws[0]);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return d;
  duet::net::TcpStream a{duet::io::Fd(sv[0])};
  duet::net::TcpStream b{duet::io::Fd(sv[1])};
  std::byte buf[64];
  d.read = refs_after_drop(a.read(buf), cws[1]);
  // Fill b's send buffer: its next write waits for room.
  std::vector<std::byte> chunk(1 << 16);
  while (::send(sv[1], chunk.data(), chunk.size(), MSG_DONTWAIT) > 0) {
  }
  d.write = refs_after_drop(b.write(std::span<const std::byte>(chunk)), cws[2]);
  return d;
}

duet::Task<Dropped> drop_each_coro(duet::net::TcpListener* l, CountingWaker* cws) {
  co_return drop_each(l, cws);
}

/// On a worker: two accepts wait on one listener; the first is dropped,
/// the second stays pending in `kept`. The clones of the first's waker
/// still alive (-1: one was not pending).
int drop_one_of_two(duet::net::TcpListener* l, CountingWaker* cws,
                    std::optional<duet::net::AcceptFuture>* kept) {
  kept->emplace(l->accept());
  if (!poll_once(**kept, cws[1]).is_pending()) return -1;
  return refs_after_drop(l->accept(), cws[0]);
}

duet::Task<int> drop_one_of_two_coro(duet::net::TcpListener* l, CountingWaker* cws,
                                     std::optional<duet::net::AcceptFuture>* kept) {
  co_return drop_one_of_two(l, cws, kept);
}

/// A blocking loopback connection to `l`'s port (the backlog takes it).
int connect_to(const duet::net::TcpListener& l) {
  auto a = l.local_addr();
  if (!a) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, a->raw(), a->len()) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TEST_CASE("dropped wait: an accept, a read and a write keep no waker", "[net][cancel]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("dropped wait");
  CountingWaker cws[3];  // outlive the runtime: a stale clone is counted, not freed
  auto rt = duet::iotest::make_rt(drv);
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  REQUIRE(l);
  Dropped d;
  if (model == duet::iotest::Model::stackless) {
    d = rt->spawn(drop_each_coro(&*l, cws)).join();
  } else {
    d = rt->spawn(duet::stackful, [&] { return drop_each(&*l, cws); }).join();
  }
  CHECK(d.accept == 0);
  CHECK(d.write == 0);
  if (drv == duet::IoDriver::epoll) {
    CHECK(d.read == 0);
  } else {
    // io_uring: a plain read waits in the socket's multishot recv queue,
    // whose one reader's waker is replaced by the next read or taken by
    // the next bytes (docs/io.md, "Multishot recv"); not yet withdrawn.
    CHECK(d.read >= 0);
    CHECK(d.read <= 1);
  }
}

TEST_CASE("dropped wait: of two accepts, the dropped one's waker goes, the other is woken",
          "[net][cancel]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("dropped accept of two");
  CountingWaker cws[2];
  auto rt = duet::iotest::make_rt(drv);
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  REQUIRE(l);
  std::optional<duet::net::AcceptFuture> kept;
  int left = -100;
  if (model == duet::iotest::Model::stackless) {
    left = rt->spawn(drop_one_of_two_coro(&*l, cws, &kept)).join();
  } else {
    left = rt->spawn(duet::stackful, [&] { return drop_one_of_two(&*l, cws, &kept); }).join();
  }
  CHECK(left == 0);
  CHECK(cws[1].refs.load() >= 1);  // the kept accept still waits
  const int c = connect_to(*l);
  REQUIRE(c >= 0);
  CHECK(duet::synctest::eventually([&] { return cws[1].wakes.load() >= 1; }));
  CHECK(cws[0].wakes.load() == 0);
  kept.reset();
  rt.reset();
  ::close(c);
  CHECK(cws[0].refs.load() == 0);
  CHECK(cws[1].refs.load() == 0);
}
