// sendfile_test.cpp: TcpStream::send_file (sendfile on the readiness path)
// on io_uring and epoll, from coroutines and fibers
// (sendfile_scenarios.inc, compiled twice), fd counts checked.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <string>
#include <vector>

#include "net_util.hpp"

namespace coro {
#define IO_FN(T) duet::Task<T>
#define AWAIT(x) (co_await (x))
#define RETURN co_return
#define SPAWN_FN(fn, ...) duet::spawn(fn(__VA_ARGS__))
#include "sendfile_scenarios.inc"
#undef IO_FN
#undef AWAIT
#undef RETURN
#undef SPAWN_FN
}  // namespace coro

namespace fib {
#define IO_FN(T) T
#define AWAIT(x) duet::wait(x)
#define RETURN return
#define SPAWN_FN(fn, a, b) duet::spawn(duet::stackful, [a_ = (a), b_ = (b)] { return fn(a_, b_); })
#include "sendfile_scenarios.inc"
#undef IO_FN
#undef AWAIT
#undef RETURN
#undef SPAWN_FN
}  // namespace fib

TEST_CASE("send_file: a file's bytes to a socket, past its end, a closed file", "[net][sendfile]") {
  NET_MATRIX();
  duet::iotest::Watchdog wd("sendfile");
  char tmpl[] = "/tmp/duet-sendfile-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  const std::string path = tmpl;
  const std::size_t size = 4 << 20;
  {
    std::vector<std::byte> data(size);
    for (std::size_t i = 0; i < size; ++i) data[i] = duet::nettest::pattern(i);
    REQUIRE(::write(fd, data.data(), size) == static_cast<ssize_t>(size));
    ::close(fd);
  }
  {
    auto rt = duet::iotest::make_rt(drv);
    auto l = duet::net::TcpListener::bind(duet::net::SocketAddr::v4_loopback(0));
    REQUIRE(l);
    CHECK(SPAWN_MODEL(*rt, model, send_file_through, &*l, path, size).join() == "");
  }
  ::unlink(path.c_str());
}
