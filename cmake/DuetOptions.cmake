# Warnings and sanitizer flags shared by every duet target.
add_library(duet_build_flags INTERFACE)
target_compile_options(duet_build_flags INTERFACE -Wall -Wextra -Wpedantic -Wno-interference-size -Wno-missing-field-initializers)

if(DUET_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
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
