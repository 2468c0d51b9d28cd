// duet/tls.hpp: TLS over duet's TCP streams (library duet::tls, OpenSSL 3).
// A program that does not include this needs no libssl.
#pragma once

#include "duet/tls/error.hpp"
#include "duet/tls/stream.hpp"
