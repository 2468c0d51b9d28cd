#include <cstdio>
#include <duet/duet.hpp>

duet::Task<int> half() {
  co_return 21;
}

int main() {
  duet::Runtime rt({.workers = 2});
  auto a = rt.spawn(half());
  auto b = rt.spawn(duet::stackful, [&a] { return a.join() * 2; });
  std::printf("consumer ok %d\n", b.join());
}
