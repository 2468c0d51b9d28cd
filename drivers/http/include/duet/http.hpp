// duet/http.hpp: duet::http, the HTTP/1.1 library: messages, the I/O-free
// codec, the server with its three engines, and the pooled client
// (docs/http.md). Link duet::http (CMake) or duet-http (pkg-config).
#pragma once

#include "duet/http/body.hpp"
#include "duet/http/client.hpp"
#include "duet/http/codec.hpp"
#include "duet/http/message.hpp"
#include "duet/http/server.hpp"
