// duet/version.hpp: the library's version, the one source of it.
//
// The root CMakeLists.txt reads these three lines into project(), so the
// CMake package version, the pkg-config file, the Debian packages and the
// shared libraries' SONAME (libduet_*.so.MAJOR) all follow them.
// docs/adopting.md states what a patch, minor and major release may change.
#pragma once

#define DUET_VERSION_MAJOR 0
#define DUET_VERSION_MINOR 4
#define DUET_VERSION_PATCH 0
