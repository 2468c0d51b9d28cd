// listener_runtimes_test.cpp: one listener used from several io_uring
// runtimes. Its multishot accept queue belongs to the ring of the runtime
// whose accept made it; when that runtime ends, the queue outlives its
// ring. Two other runtimes then accept on the listener at the same time,
// many rounds: the queue must stay valid for both (it used to be replaced
// and freed by one while the other still held it: a use after free under
// ASan), and the listener must still accept a connection afterwards. Both
// models.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "../sync/sync_util.hpp"
#include "net_util.hpp"

namespace {

using duet::synctest::CountingWaker;

/// On a worker: one accept, polled once by hand and dropped (pending: the
/// listener has a queue on this runtime's ring, armed). 0 when pending.
int touch_accept(duet::net::TcpListener* l, std::atomic<int>* go) {
  if (go != nullptr) {
    go->fetch_add(1);
    while (go->load() < 2) {
    }
  }
  CountingWaker cw;
  auto f = l->accept();
  return duet::synctest::poll_once(f, cw).is_pending() ? 0 : 1;
}

duet::Task<int> touch_accept_coro(duet::net::TcpListener* l, std::atomic<int>* go) {
  co_return touch_accept(l, go);
}

duet::JoinHandle<int> spawn_touch(duet::Runtime& rt, duet::iotest::Model m,
                                  duet::net::TcpListener* l, std::atomic<int>* go) {
  if (m == duet::iotest::Model::stackless) return rt.spawn(touch_accept_coro(l, go));
  return rt.spawn(duet::stackful, [l, go] { return touch_accept(l, go); });
}

duet::Task<duet::Result<duet::net::TcpStream>> accept_coro(duet::net::TcpListener* l) {
  co_return co_await l->accept();
}

}  // namespace

TEST_CASE("listener: two runtimes accept after the queue's first ring is gone", "[net]") {
  const duet::iotest::Model model =
      GENERATE(duet::iotest::Model::stackless, duet::iotest::Model::stackful);
  INFO(duet::iotest::model_name(model));
  if (!duet::iotest::driver_available(duet::IoDriver::io_uring) ||
      !duet::io::uring_features().multishot_accept) {
    WARN("SKIP: no io_uring multishot accept on this kernel");
    return;
  }
  duet::nettest::FdCheck fd_check;
  duet::iotest::Watchdog wd("listener runtimes");
  auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
  REQUIRE(l);
  for (int round = 0; round < 200; ++round) {
    {
      auto first = duet::iotest::make_rt(duet::IoDriver::io_uring, 1);
      REQUIRE(spawn_touch(*first, model, &*l, nullptr).join() == 0);
    }  // the queue's ring is gone
    auto a = duet::iotest::make_rt(duet::IoDriver::io_uring, 1);
    auto b = duet::iotest::make_rt(duet::IoDriver::io_uring, 1);
    std::atomic<int> go{0};
    auto ha = spawn_touch(*a, model, &*l, &go);
    auto hb = spawn_touch(*b, model, &*l, &go);
    REQUIRE(ha.join() == 0);
    REQUIRE(hb.join() == 0);
  }
  // The listener still accepts, on a runtime of its own.
  auto rt = duet::iotest::make_rt(duet::IoDriver::io_uring, 1);
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(c >= 0);
  auto addr = l->local_addr();
  REQUIRE(addr);
  REQUIRE(::connect(c, addr->raw(), addr->len()) == 0);
  auto s = rt->spawn(accept_coro(&*l)).join();
  CHECK(s);
  ::close(c);
}
