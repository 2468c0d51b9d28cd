// echo.cpp: the Asio peer of the echo benchmark: standalone Asio
// (libasio-dev), C++20 coroutines, one io_context on one thread (epoll
// reactor: Debian's Asio is built without io_uring).
//
//   asio_echo PORT   (prints "listening on PORT")
#include <asio.hpp>
#include <cstdio>
#include <cstdlib>

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

awaitable<void> serve(tcp::socket s) {
  char buf[16384];
  try {
    for (;;) {
      std::size_t n = co_await s.async_read_some(asio::buffer(buf), use_awaitable);
      co_await asio::async_write(s, asio::buffer(buf, n), use_awaitable);
    }
  } catch (const std::exception&) {
  }
}

awaitable<void> listen(tcp::acceptor& a) {
  for (;;) {
    tcp::socket s = co_await a.async_accept(use_awaitable);
    s.set_option(tcp::no_delay(true));
    asio::co_spawn(a.get_executor(), serve(std::move(s)), asio::detached);
  }
}

int main(int argc, char** argv) {
  unsigned short port = argc > 1 ? static_cast<unsigned short>(std::atoi(argv[1])) : 0;
  asio::io_context ctx(1);
  tcp::acceptor a(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  std::printf("listening on %u\n", a.local_endpoint().port());
  std::fflush(stdout);
  asio::co_spawn(ctx, listen(a), asio::detached);
  ctx.run();
}
