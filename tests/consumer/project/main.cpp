// A downstream program, as a user would write it: it includes the umbrella
// header and touches each backend, a channel, a timer and a fiber spawned
// with options (which records its spawn site).
#include <chrono>
#include <cstdio>
#include <duet/duet.hpp>

duet::Task<int> half() {
  co_await duet::sleep(std::chrono::milliseconds(1));
  co_return 21;
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
  std::printf("consumer ok %d %d\n", b.join(), got.value_or(-1));
}
