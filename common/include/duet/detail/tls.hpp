// duet/detail/tls.hpp: thread-locals on the hot path.
//
// The libraries are built position-independent, which makes a plain
// thread_local a call to __tls_get_addr on every access. The initial-exec
// model turns it into one %fs-relative load. (It needs the variable in the
// static TLS block: true for executables and for libraries loaded at start.)
#pragma once

#define DUET_TLS thread_local __attribute__((tls_model("initial-exec")))
