// virtual_net.cpp: the one installed VirtualNet (duet/io/detail/virtual_net.hpp) and the
// close of a virtual descriptor (duet/io/fd.hpp).
#include "duet/io/detail/virtual_net.hpp"

#include <atomic>
#include <cerrno>
#include <stdexcept>

namespace duet::io::detail {
namespace {
std::atomic<VirtualNet*> g_net{nullptr};
}  // namespace

void install_virtual_net(VirtualNet* v) {
  if (v == nullptr) {
    g_net.store(nullptr);
    return;
  }
  VirtualNet* none = nullptr;
  if (!g_net.compare_exchange_strong(none, v)) {
    throw std::logic_error("duet::sim: one simulated network per process at a time");
  }
}

VirtualNet* virtual_net() noexcept {
  // Acquire: the network's construction, before its install, happens before
  // its use here.
  return g_net.load(std::memory_order_acquire);
}

int close_virtual_fd(int fd) noexcept {
  VirtualNet* v = virtual_net();
  if (v == nullptr) return 0;  // the network is gone, and its sockets with it
  int r = v->close(fd);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

}  // namespace duet::io::detail
