# Builds and runs tests/consumer/project against the install prefix PREFIX
# (the fixture install_prefix.cmake) with find_package(duet): `consumer`
# links duet::duet, `core_only` the core and both backends without the I/O
# library, and must link without liburing (no io_uring symbol, no
# liburing.so needed) while `consumer` carries the I/O backends' factory
# (a static link extracts it; a shared one needs libduet_drivers); and the
# I/O-free program configures and builds with no liburing-dev (a
# pkg-config path that holds hwloc's file only). Compiled by CXX (g++,
# clang++-14 or clang++-16: users build with clang too, and the public
# headers must compile with Debian 12's default clang and libstdc++).
# A compiler that is not installed is a skip with its reason (the test's
# SKIP_REGULAR_EXPRESSION matches "SKIP:"); ./tests/run installs all three.
# With BAD_INPUT, also: asking for a component that does not exist is
# CMake's "not found" with the reason.
include(${CMAKE_CURRENT_LIST_DIR}/consumer_util.cmake)
find_program(cxx_path NAMES ${CXX} NO_CACHE)
if(NOT cxx_path)
  message(STATUS "SKIP: ${CXX} is not installed (apt-get install ${CXX_PACKAGE})")
  return()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# Configures and builds the consumer project in WORK_DIR/<dir>, with the
# environment assignments `env` (a list, maybe empty) and extra cache args.
function(build_consumer dir what env)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${env}
                          ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/project
                          -B ${WORK_DIR}/${dir} -G ${GENERATOR} ${ARGN}
                          -DCMAKE_CXX_COMPILER=${cxx_path}
                          -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configuring ${what} with ${cxx_path} failed: ${rc}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/${dir} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "building ${what} with ${cxx_path} failed: ${rc}")
  endif()
endfunction()

# Runs a built program; it must exit 0 and print `expected`.
function(run_consumer exe expected)
  execute_process(COMMAND ${WORK_DIR}/${exe} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  message(STATUS "${exe} (${CXX}) printed: ${out}")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "${expected}")
    message(FATAL_ERROR "${exe} built with ${cxx_path} failed: ${rc}")
  endif()
endfunction()

build_consumer(build "the consumer project" "")
run_consumer(build/consumer "${CONSUMER_OK}")
run_consumer(build/core_only "core only ok 42")
run_consumer(build/sim_world "${SIM_OK}")
run_consumer(build/warnings "warnings ok")
run_consumer(build/old_names "old names ok")
# Tasks moving between workers, each build of tls_move.cpp (its list
# written by the project).
file(READ ${WORK_DIR}/build/tls_move_programs.txt tls_move_programs)
foreach(exe IN LISTS tls_move_programs)
  run_consumer(build/${exe} "tls move ok")
endforeach()

find_program(nm_path NAMES nm NO_CACHE REQUIRED)
find_program(readelf_path NAMES readelf NO_CACHE REQUIRED)
function(symbols binary out_var)
  execute_process(COMMAND ${nm_path} -C ${binary} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm ${binary} failed: ${rc}")
  endif()
  execute_process(COMMAND ${readelf_path} -d ${binary} OUTPUT_VARIABLE dyn)
  set(${out_var} "${syms}${dyn}" PARENT_SCOPE)
endfunction()
symbols(${WORK_DIR}/build/core_only core)
if(core MATCHES "io_uring|liburing|duet::io::")
  string(REGEX MATCH "[^\n]*(io_uring|liburing|duet::io::)[^\n]*" hit "${core}")
  message(FATAL_ERROR "core_only links I/O code although it does no I/O: ${hit}")
endif()
symbols(${WORK_DIR}/build/consumer full)
if(SHARED)
  if(NOT full MATCHES "NEEDED\\) *Shared library: \\[libduet_drivers\\.so")
    message(FATAL_ERROR "consumer (duet::duet) does not load libduet_drivers")
  endif()
elseif(NOT full MATCHES "[DR] duet_io_driver_factory")
  message(FATAL_ERROR "consumer (duet::duet) lacks the I/O backends' factory")
endif()
message(STATUS "core_only links no I/O code; consumer carries the I/O factory")

# A machine without liburing-dev: pkg-config finds hwloc only.
execute_process(COMMAND pkg-config --variable=pcfiledir hwloc OUTPUT_VARIABLE hwloc_pc_dir
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config cannot find hwloc")
endif()
file(COPY ${hwloc_pc_dir}/hwloc.pc DESTINATION ${WORK_DIR}/pc_without_liburing)
build_consumer(build_core_only "the I/O-free consumer without liburing-dev"
               "PKG_CONFIG_LIBDIR=${WORK_DIR}/pc_without_liburing" -DCORE_ONLY=ON)
run_consumer(build_core_only/core_only "core only ok 42")
message(STATUS "the I/O-free consumer configures, builds and runs without liburing-dev")

if(BAD_INPUT)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/project
                          -B ${WORK_DIR}/build_bad_component -G ${GENERATOR}
                          -DCMAKE_CXX_COMPILER=${cxx_path} -DCMAKE_PREFIX_PATH=${PREFIX}
                          "-DASK_COMPONENTS=stackful;nosuch"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0 OR NOT out MATCHES "considered to be NOT[ \n]+FOUND"
     OR NOT out MATCHES "duet has no component 'nosuch' \\(its components: common")
    message(FATAL_ERROR "asking for a missing component did not fail clearly (${rc}):\n${out}")
  endif()
  message(STATUS "a missing component is CMake's NOT FOUND with the reason")
endif()
