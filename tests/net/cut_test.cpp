// cut_test.cpp: an operation cut by duet::timeout says what it did, the
// same on io_uring and epoll, from coroutines and fibers
// (cut_scenarios.inc, compiled twice). The peer is a blocking socket on the
// test's thread, so what reached the socket is counted outside duet: a
// write_all cut mid-way reports exactly the prefix the peer gets, one cut
// at a deadline already past reports what it wrote, a BufWriter's cut flush
// sends nothing twice, a cut read loses no byte, and a DeadlineStream
// (Go's read and write deadlines) bounds every operation made under it.
// And on io_uring, a cut from another thread than the ring's: the cancel
// goes through the ring's interrupt queue.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "../sync/sync_util.hpp"
#include "net_util.hpp"

#define DUET_SCENARIOS "../net/cut_scenarios.inc"
#include "both_models.inc"

using namespace std::chrono_literals;

namespace {

/// A blocking loopback listener with a small receive buffer (its accepted
/// socket inherits it), so that a large write fills both buffers and waits.
struct BlockingPeer {
  int listen_fd = -1;
  int fd = -1;
  duet::net::SocketAddr addr;
  BlockingPeer() {
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd >= 0);
    const int small = 16 * 1024;
    REQUIRE(::setsockopt(listen_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(listen_fd, 4) == 0);
    socklen_t len = sizeof sa;
    REQUIRE(::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    addr = duet::net::SocketAddr::v4_loopback(ntohs(sa.sin_port));
  }
  ~BlockingPeer() {
    if (fd >= 0) ::close(fd);
    ::close(listen_fd);
  }
  void accept() {
    fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(fd >= 0);
  }
  /// Everything until the peer's FIN.
  std::vector<std::byte> read_all() const {
    std::vector<std::byte> got;
    std::array<std::byte, 65536> buf{};
    for (;;) {
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    }
    return got;
  }
};

std::vector<std::byte> patterned(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = duet::nettest::pattern(i);
  return v;
}

void wait_for(const std::atomic<bool>& flag) {
  // Acquire: pairs with the scenario's release of what it reported.
  while (!flag.load(std::memory_order_acquire)) std::this_thread::yield();
}

}  // namespace

TEST_CASE("cut: a write_all cut mid-way reports the bytes the peer gets", "[net][cut]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("cut write_all");
  auto rt = duet::iotest::make_rt(drv);
  BlockingPeer peer;
  const auto data = patterned(4 << 20);  // far more than both socket buffers
  std::atomic<bool> cut{false};
  std::size_t reported = 0;
  auto h = SPAWN_MODEL(*rt, model, cut_write_all, peer.addr, &data, std::chrono::nanoseconds(20ms),
                       &cut, &reported);
  peer.accept();
  wait_for(cut);
  INFO("the cut reported " << reported << " bytes");
  CHECK(reported > 0);
  CHECK(reported < data.size());
  const auto got = peer.read_all();
  CHECK(h.join() == "");
  CHECK(got == data);  // the cut's prefix, then the rest: nothing lost, nothing twice
}

TEST_CASE("cut: a write_all at a deadline already past reports what it wrote", "[net][cut]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("cut write_all past");
  auto rt = duet::iotest::make_rt(drv);
  BlockingPeer peer;
  const auto data = patterned(1000);  // fits the socket's buffer
  std::atomic<bool> cut{false};
  std::size_t reported = 0;
  auto h = SPAWN_MODEL(*rt, model, cut_write_all, peer.addr, &data, std::chrono::nanoseconds(0),
                       &cut, &reported);
  peer.accept();
  wait_for(cut);
  const auto got = peer.read_all();
  CHECK(h.join() == "");
  CHECK(got == data);
  // The write had its one poll: the socket took all of it on either driver
  // (epoll writes in that poll; io_uring's send runs before its cancel).
  CHECK(reported == data.size());
}

TEST_CASE("cut: a BufWriter flush cut by a timeout sends nothing twice", "[net][cut]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("cut flush");
  auto rt = duet::iotest::make_rt(drv);
  BlockingPeer peer;
  const auto data = patterned(2 << 20);
  std::atomic<bool> cut{false};
  auto h = SPAWN_MODEL(*rt, model, cut_flush, peer.addr, &data, &cut);
  peer.accept();
  wait_for(cut);
  const auto got = peer.read_all();
  CHECK(h.join() == "");
  CHECK(got.size() == data.size());
  CHECK(got == data);
}

TEST_CASE("cut: a read and a read_line cut by timeouts lose no byte", "[net][cut]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("cut reads");
  auto rt = duet::iotest::make_rt(drv);
  BlockingPeer peer;
  std::atomic<bool> cut{false};
  auto h = SPAWN_MODEL(*rt, model, cut_reads, peer.addr, &cut);
  peer.accept();
  wait_for(cut);
  REQUIRE(::send(peer.fd, "hello\n", 6, MSG_NOSIGNAL) == 6);
  ::shutdown(peer.fd, SHUT_WR);
  CHECK(h.join() == "");
}

TEST_CASE("cut: a DeadlineStream's deadlines bound every read and write", "[net][cut][deadline]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("deadline stream");
  auto rt = duet::iotest::make_rt(drv);
  BlockingPeer peer;
  const auto data = patterned(4 << 20);
  std::atomic<bool> cut{false};
  std::size_t reported = 0;
  auto h = SPAWN_MODEL(*rt, model, deadline_stream, peer.addr, &data, &cut, &reported);
  peer.accept();
  wait_for(cut);
  CHECK(reported < data.size());
  const auto got = peer.read_all();
  CHECK(h.join() == "");
  CHECK(got == data);
}

namespace {

/// One write, started on the ring's worker and cut from this thread: the
/// worker submits the cancel, the CQE wakes us. The write waits in the
/// kernel behind two full socket buffers, but the kernel may still find it
/// room before the cancel lands (data in flight is acknowledged, a buffer
/// grows): then the write completes, partly or whole, and the cut reports
/// what it wrote. Both outcomes are correct; each is checked by what the
/// peer received. Returns true when the write was cut before it sent a byte.
bool cut_write_across_threads() {
  using duet::synctest::CountingWaker;
  auto rt = duet::iotest::make_rt(duet::IoDriver::io_uring, 1);
  BlockingPeer peer;
  auto c = duet::wait(duet::net::TcpStream::connect(peer.addr));  // a plain thread: blocking
  REQUIRE(c);
  peer.accept();
  // Fill both socket buffers, so that the write below waits in the kernel.
  const std::vector<std::byte> chunk = patterned(4096);
  std::size_t filled = 0;
  for (;;) {
    // A send may take part of the chunk (the buffers' last room): count
    // what it took.
    const ssize_t n =
        ::send(c->native_handle(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    filled += static_cast<std::size_t>(n);
  }
  REQUIRE(filled > 0);
  std::optional<duet::io::SizeFuture> w;
  CountingWaker cw;
  // The write starts on the worker: its SQE goes to that worker's ring.
  const bool started =
      rt->spawn([](duet::net::TcpStream* s, std::optional<duet::io::SizeFuture>* f,
                   const std::vector<std::byte>* d, CountingWaker* k) -> duet::Task<bool> {
          f->emplace(s->write(*d));
          co_return duet::synctest::poll_once(**f, *k).is_pending();
        }(&*c, &w, &chunk, &cw))
          .join();
  if (!started) {
    // The kernel took the write at once: nothing waited, nothing to cut.
    w.reset();
    (void)c->shutdown();
    CHECK(peer.read_all().size() > filled);
    return false;
  }
  const std::error_code why = std::make_error_code(std::errc::timed_out);
  auto cut = [&] {
    CountingWaker::Cx k(cw);
    return w->poll_cut(k.cx, why);
  };
  std::optional<duet::Result<std::size_t>> r;
  for (;;) {
    const int seen = cw.wakes.load();  // before the poll: a wake after it counts
    auto p = cut();
    if (p.is_ready()) {
      r.emplace(std::move(p).value());
      break;
    }
    while (cw.wakes.load() == seen) std::this_thread::yield();
  }
  const std::size_t wrote = r->has_value() ? **r : 0;
  if (!r->has_value()) CHECK(r->error() == std::errc::timed_out);
  w.reset();
  CHECK(cw.refs.load() == 0);  // the op let go of the waker
  (void)c->shutdown();
  CHECK(peer.read_all().size() == filled + wrote);  // the peer got what the cut reported
  return !r->has_value();
}

}  // namespace

TEST_CASE("cut: an io_uring write cut from another thread than its ring's", "[net][cut]") {
  if (!duet::iotest::driver_available(duet::IoDriver::io_uring)) {
    WARN("SKIP: io_uring not available on this kernel");
    return;
  }
  duet::nettest::FdCheck fd_check_;
  duet::iotest::Watchdog wd("cut across threads");
  // A write that finished before its cut is correct but proves nothing of
  // the cut: try again, a bounded number of times, until one was cut while
  // it waited (a rare race each time, so one of eight is certain).
  int tries = 0;
  bool was_cut = false;
  while (!was_cut && tries < 8) {
    ++tries;
    was_cut = cut_write_across_threads();
  }
  INFO("tries: " << tries);
  REQUIRE(was_cut);
}
