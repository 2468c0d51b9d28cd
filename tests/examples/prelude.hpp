// prelude.hpp: what every extracted documentation example sees; it is
// force-included (-include) before each one (docs/examples.md).
//
// duet's headers, the std headers examples use, chrono literals, and a few
// stand-ins for the user's own code. The examples are compiled, never
// linked or run, so the stand-ins are declarations only.
#pragma once

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <duet/dns.hpp>
#include <duet/duet.hpp>
#include <duet/dump.hpp>
#include <duet/http.hpp>
#include <duet/sim/world.hpp>
#include <duet/tls.hpp>
#include <functional>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

/// The user's code that consumes a value: `use(v)`.
template <class... T>
void use(T&&...) {}

/// A runtime the example spawns on.
extern duet::Runtime rt;
/// A connected stream and a buffer, for the I/O examples.
extern duet::net::TcpStream stream;
extern std::array<std::byte, 4096> buf;
/// The user's configuration, loaded synchronously or by a task.
struct Config {
  int level = 0;
};
Config load_config();
duet::Task<Config> fetch_config();
/// The user's work, as coroutines.
duet::Task<int> work();
duet::Task<std::string> work_name();
/// A blocking call (for spawn_blocking).
std::string read_file(const char* path);
/// Another library's async API, as a C++20 awaitable (duet/bridge.hpp).
struct LegacyRead {
  bool await_ready() const noexcept;
  void await_suspend(std::coroutine_handle<> h);
  int await_resume();
};
LegacyRead legacy_read();
/// Another library's async API, with a completion callback.
void legacy_fetch(std::string key, std::function<void(std::error_code, std::string)> done);
