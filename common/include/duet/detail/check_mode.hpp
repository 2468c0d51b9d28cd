// duet/detail/check_mode.hpp: DUET_CHECK_TRANSITIONS, whether the library's
// protocol checks are compiled in (a CMake option the installed package
// passes on to every user; without it, on exactly where NDEBUG is not
// defined). A check that fails names itself and aborts.
#pragma once

#ifndef DUET_CHECK_TRANSITIONS
#ifdef NDEBUG
#define DUET_CHECK_TRANSITIONS 0
#else
#define DUET_CHECK_TRANSITIONS 1
#endif
#endif
