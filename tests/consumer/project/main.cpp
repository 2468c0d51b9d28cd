// A downstream program, as a user would write it: it includes the umbrella
// header and touches each backend, a channel, a timer, a fiber spawned
// with options (which records its spawn site), one loopback I/O operation
// (a UDP datagram to itself) and a biased select. Every consumer builds
// it: CMake (find_package, add_subdirectory, FetchContent, the .deb's
// contents), pkg-config with make, and Meson.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <duet/duet.hpp>

duet::Task<int> half() {
  co_await duet::sleep(std::chrono::milliseconds(1));
  co_return 21;
}

// One datagram to itself on 127.0.0.1: the size that came back, or -1.
int udp_echo_size() {
  auto sock = duet::net::UdpSocket::bind(duet::net::SocketAddr::v4_loopback(0));
  if (!sock) return -1;
  auto self = sock->local_addr();
  std::array<std::byte, 3> out{std::byte{1}, std::byte{2}, std::byte{3}};
  std::array<std::byte, 8> in{};
  if (!self || !duet::wait(sock->send_to(out, *self))) return -1;
  auto got = duet::wait(sock->recv_from(in));
  return got ? static_cast<int>(got->size) : -1;
}

// A biased select: a cancelled token written first wins over a ready
// message (0), as each compiler must resolve select(duet::biased, ...).
int biased_winner() {
  duet::CancellationToken token;
  token.cancel();
  auto ch = duet::Channel<int>::bounded(1);
  if (!ch.try_send(5)) return -1;
  auto m = duet::wait(duet::select(duet::biased, token.cancelled(), ch.recv()));
  return static_cast<int>(m.index());
}

int main() {
  duet::Runtime rt({.workers = 2});
  auto ch = duet::Channel<int>::bounded(1);
  auto a = rt.spawn(half());
  auto b = rt.spawn(duet::stackful({.name = "consumer"}), [&a, ch]() mutable {
    const int v = a.join() * 2;
    (void)duet::wait(ch.send(v));
    return v;
  });
  auto got = duet::wait(ch.recv());
  auto io = rt.spawn(duet::stackful, [] { return udp_echo_size(); });
  std::printf("consumer ok %d %d udp %d biased %d\n", b.join(), got.value_or(-1), io.join(),
              biased_winner());
}
