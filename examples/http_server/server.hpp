// server.hpp: the HTTP server: its options, its listeners (plain and
// TLS), the accept loops, and the drain. One connection is one task, a
// coroutine or a fiber (Options::model); both run connection.hpp's Serve.
#pragma once

#include <chrono>
#include <cstdint>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <duet/tls/stream.hpp>
#include <memory>
#include <optional>
#include <string>

#include "connection.hpp"
#include "session.hpp"

namespace http_server {

enum class Model { stackless, fiber };

struct Options {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (printed when ready)
  Model model = Model::stackless;
  unsigned workers = 1;
  bool reuseport = false;
  /// HTTPS: a second listener when tls_port is set (0: any free port).
  std::optional<std::uint16_t> tls_port;
  std::string cert_file, key_file;
  std::string root;  // GET /static/<name> serves files of this directory
  Limits limits;
  std::chrono::milliseconds drain{5'000};  // SIGTERM: how long requests may finish
};

class Server {
 public:
  /// Binds the listeners and opens the root; std::runtime_error says why not.
  explicit Server(const Options& o);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Spawns the accept loops on `rt` (in the options' model).
  void start(duet::Runtime& rt);
  /// Stops accepting and closes idle connections; requests in flight
  /// finish, answered with Connection: close. Safe from any thread.
  void begin_drain() noexcept;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::uint16_t tls_port() const noexcept { return tls_port_; }
  [[nodiscard]] Drain& drain() noexcept { return host_.drain; }
  [[nodiscard]] Host& host() noexcept { return host_; }
  [[nodiscard]] const duet::tls::TlsContext& tls() const noexcept { return *tls_; }
  [[nodiscard]] const Options& options() const noexcept { return opts_; }

 private:
  Options opts_;
  duet::io::Fd root_;
  Host host_;
  duet::net::TcpListener plain_;
  duet::net::TcpListener secure_;
  std::optional<duet::tls::TlsContext> tls_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
};

/// The program: serves until SIGTERM or SIGINT, then drains (up to
/// Options::drain) and returns 0. Prints "listening on PORT" (and
/// "listening on PORT (tls)") to stdout once ready.
int run(const Options& o);

}  // namespace http_server
