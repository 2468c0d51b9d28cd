// sim_replay.hpp (private): TLS replayed byte for byte in a simulated world
// (duet::sim; docs/simulation.md, "TLS"). While a world's network is
// installed, every random draw OpenSSL makes on the world's worker comes
// from the network's seeded bytes, and a server's session tickets carry
// the world's clock in place of the wall clock; elsewhere nothing changes.
//
// Rules:
//   - OpenSSL's draws: a RAND_METHOD of ours is installed for the world's
//     life (RAND_set_rand_method, told by io::detail::watch_virtual_net).
//     OpenSSL 3.0's RAND_bytes_ex and RAND_priv_bytes_ex ask the installed
//     method before any library context's generator, so every draw goes
//     through it: key shares, signatures' nonces, randoms, session ids,
//     ticket keys, IVs and ticket age masks. On the world's worker it
//     answers from the world's seed, in the worker's (deterministic) order;
//     on any other thread it forwards to the method it replaced.
//   - Ticket keys: a server context keeps the keys OpenSSL drew when it
//     was made, maybe before the world. Its first connection made on a
//     world's worker draws new ones (seeded), and its first connection
//     made elsewhere afterwards draws real ones again: enter_world, one
//     relaxed load and a compare per connection outside a world.
//   - Tickets' time: in a world a server's ticket carries the world's
//     clock (kTicketEpoch plus the seconds since the world began) as its
//     session's time; opening one, the server takes its age on the world's
//     clock, refuses it past its timeout, and gives the session the wall
//     time that age makes, for OpenSSL's own checks. A client in a world
//     stamps the session it resumes with the wall time just before its
//     ClientHello is written, so the age it reports is 0 (OpenSSL rounds
//     the second down), whatever wall time went by.
#pragma once

#include <openssl/ssl.h>

#include "connection.hpp"

namespace duet::tls::detail {

/// Registers for the worlds' installs (once per process); a context calls
/// it when made, before any of its connections.
void watch_worlds();

/// Readies a new connection `ssl` of `st` for the world it is made in, if
/// any (its context's ticket keys and callbacks, the client's ticket age);
/// false when OpenSSL failed (its error queued).
bool enter_world(ContextState& st, SSL* ssl);

}  // namespace duet::tls::detail
