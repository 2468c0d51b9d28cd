// http_client.hpp: the HTTP server example's tests' harness: the blocking
// client and the child program (tests/support/http_peer.hpp), and the
// example's server in this process on a chosen driver and model.
#pragma once

#include "http_peer.hpp"
#include "io_util.hpp"
#include "server.hpp"

namespace http_test {

/// A server in this process on 127.0.0.1 (a free port), on driver `d`.
/// The server outlives the runtime, whose tasks borrow it.
struct InProcess {
  InProcess(duet::IoDriver d, http_server::Model m, http_server::Limits limits = {},
            std::string root = {})
      : server(options(m, limits, std::move(root))), rt(duet::iotest::make_rt(d)) {
    server.start(*rt);
  }
  static http_server::Options options(http_server::Model m, http_server::Limits limits,
                                      std::string root) {
    http_server::Options o;
    o.port = 0;
    o.model = m;
    o.limits = limits;
    o.root = std::move(root);
    return o;
  }
  http_server::Server server;
  std::unique_ptr<duet::Runtime> rt;
};

}  // namespace http_test
