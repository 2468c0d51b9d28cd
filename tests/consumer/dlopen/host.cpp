// host.cpp: a program that knows nothing of duet loads a plugin that links
// it (dlopen, as Python loads an extension), runs it, and unloads it.
//
//   duet_dlopen_host <plugin.so>    prints "dlopen ok 42"
#include <dlfcn.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <plugin.so>\n", argv[0]);
    return 2;
  }
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    std::fprintf(stderr, "dlopen failed: %s\n", dlerror());
    return 1;
  }
  auto* run = reinterpret_cast<int (*)()>(dlsym(h, "duet_plugin_run"));
  if (run == nullptr) {
    std::fprintf(stderr, "dlsym failed: %s\n", dlerror());
    return 1;
  }
  const int r = run();
  std::printf("dlopen ok %d\n", r);
  return r == 42 ? 0 : 1;
}
