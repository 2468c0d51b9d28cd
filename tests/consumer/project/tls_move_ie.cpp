// tls_move.cpp with the inline accessors of initial-exec thread-locals
// (duet/detail/thread_local.hpp), whatever model the library was built with: a
// program may access a library's thread-locals that way when it loads the
// library at start.
#undef DUET_DLOPEN_TLS
#define DUET_DLOPEN_TLS 0
#include "tls_move.cpp"
