// epoll_close_test.cpp: a socket's close on epoll racing its set's event
// loop and its driver's teardown. The close removes the socket from the
// set's epoll fd with no lock (the set owns the fd and the registration
// holds the set), then retires the registration, or frees it once the
// driver is gone. Each round, a task (coroutine or fiber) on an epoll
// runtime makes connections whose reads wait in its worker's set; a thread
// then makes each readable (an event for the event loop), drops its read
// (a withdraw) and closes it, while the main thread ends the runtime. The
// protocol's every interleaving is explored in
// tests/drivers/epoll_set_explorer_test.cpp; this runs the real code, under
// ASan and TSan too.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "../sync/sync_util.hpp"
#include "net_util.hpp"

namespace {

using duet::synctest::CountingWaker;
using duet::synctest::poll_once;

/// A connection whose read waits in a worker's set: the stream, its peer's
/// fd and the pending read (polled once with `cw`).
struct WaitingRead {
  duet::net::TcpStream s;
  int peer = -1;
  std::byte buf[16];
  std::optional<duet::io::SizeFuture> read;
  CountingWaker cw;
};

constexpr int kConns = 4;

/// On a worker: `kConns` connections, each with a read waiting (false: a
/// socketpair failed or a read did not wait).
bool start_reads(std::vector<std::unique_ptr<WaitingRead>>* out) {
  for (int i = 0; i < kConns; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return false;
    auto w = std::make_unique<WaitingRead>();
    w->s = duet::net::TcpStream{duet::io::Fd(sv[0])};
    w->peer = sv[1];
    w->read.emplace(w->s.read(w->buf));
    const bool pending = poll_once(*w->read, w->cw).is_pending();
    out->push_back(std::move(w));
    if (!pending) return false;
  }
  return true;
}

duet::Task<bool> start_reads_coro(std::vector<std::unique_ptr<WaitingRead>>* out) {
  co_return start_reads(out);
}

/// Another thread: an event on each, its read dropped, its socket closed.
void close_all(std::vector<std::unique_ptr<WaitingRead>>* conns) {
  for (auto& w : *conns) {
    const char b = 'x';
    (void)!::send(w->peer, &b, 1, MSG_NOSIGNAL);
    w->read.reset();
    (void)w->s.close();
    ::close(w->peer);
  }
}

}  // namespace

TEST_CASE("epoll close: a close racing the event loop and the driver's teardown", "[net][epoll]") {
  const duet::iotest::Model model =
      GENERATE(duet::iotest::Model::stackless, duet::iotest::Model::stackful);
  INFO(duet::iotest::model_name(model));
  if (!duet::iotest::driver_available(duet::IoDriver::epoll)) {
    WARN("SKIP: epoll not available");
    return;
  }
  duet::nettest::FdCheck fd_check_{duet::iotest::fd_count()};
  duet::iotest::Watchdog wd("epoll close racing teardown");
  const int rounds = duet::iotest::sanitized ? 40 : 200;
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::unique_ptr<WaitingRead>> conns;
    auto rt = duet::iotest::make_rt(duet::IoDriver::epoll);
    bool ok = false;
    if (model == duet::iotest::Model::stackless) {
      ok = rt->spawn(start_reads_coro(&conns)).join();
    } else {
      ok = rt->spawn(duet::stackful, [&] { return start_reads(&conns); }).join();
    }
    REQUIRE(ok);
    std::thread closer(close_all, &conns);
    rt.reset();  // the driver's teardown, racing the closes
    closer.join();
    for (auto& w : conns) REQUIRE(w->cw.refs.load() == 0);  // no waker kept
  }
}
