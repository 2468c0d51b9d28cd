# Warnings and sanitizer flags shared by every duet target.
add_library(duet_build_flags INTERFACE)
target_compile_options(duet_build_flags INTERFACE -Wall -Wextra -Wpedantic -Wno-interference-size -Wno-missing-field-initializers)
# DUET_DLOPEN_TLS: TLS descriptors for duet's thread-locals
# (duet/detail/thread_local.hpp): relaxed to a fixed offset in an executable, a
# call in a shared object, loadable by dlopen either way.
if(DUET_DLOPEN_TLS)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-mtls-dialect=gnu2 DUET_HAS_TLS_DESCRIPTORS)
  if(DUET_HAS_TLS_DESCRIPTORS)
    target_compile_options(duet_build_flags INTERFACE -mtls-dialect=gnu2)
  endif()
endif()

# ASan with UBSan, less UBSan's vptr check (dynamic types at virtual calls
# and downcasts): duet's task kinds dispatch through their own operations
# tables, and its few virtual classes (the Driver, the spawn observer, the
# body pump's input) are made and called by duet alone; the check is the
# costliest to compile of UBSan's, and it writes the object into a pipe it
# opens, so it fails (a false report) in a process with no descriptor free
# (docs/io.md, "EMFILE and UBSan").
if(DUET_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined -fno-sanitize=vptr)
elseif(DUET_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT DUET_SANITIZE STREQUAL "")
  message(FATAL_ERROR "DUET_SANITIZE must be '', 'address' or 'thread'")
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

# duet_library(<target> <sources>...): one of duet's compiled libraries,
# static or shared as DUET_SHARED says. Shared: libduet_<name>.so.<major>
# (SONAME from project()'s major version, file version the full one) and
# only DUET_API symbols exported (duet/export.hpp); static archives hide the
# same symbols, so that a shared library of a consumer's that links them
# does not re-export duet's internals. An installed shared library finds
# the duet libraries it needs beside itself (RUNPATH $ORIGIN): duet's
# libraries are installed into one folder, and a program's own RUNPATH
# does not serve its libraries' dependencies, so without it a program
# built against a prefix off the loader's path (/opt/duet) that links
# duet::http could not load libduet_tls.
if(DUET_SHARED)
  set(DUET_LIBRARY_TYPE SHARED)
else()
  set(DUET_LIBRARY_TYPE STATIC)
endif()
function(duet_library target)
  add_library(${target} ${DUET_LIBRARY_TYPE} ${ARGN})
  set_target_properties(${target} PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    INSTALL_RPATH "$ORIGIN")
endfunction()

# duet_component(<name>): the library of the calling folder (one folder,
# one library: docs/architecture.md): duet_<name> from every src/**/*.cpp,
# exported as duet::<name>, its include/ public (installed into the one
# duet/ tree) and its src/ private. The caller adds what it links.
function(duet_component name)
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  duet_library(duet_${name} ${sources})
  add_library(duet::${name} ALIAS duet_${name})
  set_target_properties(duet_${name} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(duet_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_include_directories(duet_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
endfunction()
