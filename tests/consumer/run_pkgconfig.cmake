# Builds and runs tests/consumer/project/main.cpp with duet found by
# pkg-config in the install prefix PREFIX (the fixture install_prefix.cmake):
#   MODE=make   the project's plain Makefile; then the I/O-free core_only.cpp
#               against duet-core.pc; then the bad input: core_only.cpp
#               compiled with the other DUET_CHECK_TRANSITIONS than the
#               library's must fail to link, naming the tag it wanted
#               (duet/detail/abi_tag.hpp).
#   MODE=meson  the project's meson.build (dependency('duet')).
# A shared build's programs find the libraries by LD_LIBRARY_PATH, as a
# prefix outside the loader's path needs.
include(${CMAKE_CURRENT_LIST_DIR}/consumer_util.cmake)
set(project ${SOURCE_DIR}/tests/consumer/project)
set(env PKG_CONFIG_PATH=${PREFIX}/lib/pkgconfig LD_LIBRARY_PATH=${PREFIX}/lib)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

if(MODE STREQUAL "meson")
  find_program(meson NAMES meson NO_CACHE)
  if(NOT meson)
    message(STATUS "SKIP: meson is not installed (apt-get install meson)")
    return()
  endif()
  run_checked("meson setup" ${CMAKE_COMMAND} -E env ${env}
              ${meson} setup ${WORK_DIR}/build ${project} --buildtype=release)
  run_checked("meson compile" ${meson} compile -C ${WORK_DIR}/build)
  run_program(${WORK_DIR}/build/consumer "${CONSUMER_OK}" ${env})
  return()
endif()

run_checked("make" ${CMAKE_COMMAND} -E env ${env}
            make -C ${WORK_DIR} -f ${project}/Makefile SRC=${project})
run_program(${WORK_DIR}/consumer "${CONSUMER_OK}" ${env})

# duet-core.pc: no I/O library, no liburing.
function(pkg_config out_var)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${env} pkg-config ${ARGN}
                  OUTPUT_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${ARGN} failed: ${rc}")
  endif()
  separate_arguments(out UNIX_COMMAND "${out}")
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
pkg_config(core_cflags --cflags duet-core)
pkg_config(core_libs --libs duet-core)
if(core_libs MATCHES "uring|duet_drivers")
  message(FATAL_ERROR "duet-core.pc links the I/O library: ${core_libs}")
endif()
run_checked("c++ with duet-core.pc" c++ -std=c++20 -O1 ${core_cflags}
            ${project}/core_only.cpp -o ${WORK_DIR}/core_only ${core_libs})
run_program(${WORK_DIR}/core_only "core only ok 42" ${env})

# duet-sim.pc: a user's test on the simulated network.
pkg_config(sim_cflags --cflags duet-sim)
pkg_config(sim_libs --libs duet-sim)
run_checked("c++ with duet-sim.pc" c++ -std=c++20 -O1 ${sim_cflags}
            ${project}/sim_world.cpp -o ${WORK_DIR}/sim_world ${sim_libs})
run_program(${WORK_DIR}/sim_world "${SIM_OK}" ${env})

# The other DUET_CHECK_TRANSITIONS than the library's: a link error.
if(core_cflags MATCHES "-DDUET_CHECK_TRANSITIONS=1")
  set(other 0)
else()
  set(other 1)
endif()
execute_process(COMMAND c++ -std=c++20 -O1 ${core_cflags} -UDUET_CHECK_TRANSITIONS
                        -DDUET_CHECK_TRANSITIONS=${other} ${project}/core_only.cpp
                        -o ${WORK_DIR}/mismatched ${core_libs}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0 OR NOT out MATCHES "undefined reference to `duet_[0-9]+_[0-9]+_built_with_DUET_CHECK_TRANSITIONS_${other}'")
  message(FATAL_ERROR "a program compiled with DUET_CHECK_TRANSITIONS=${other} against "
                      "the other library linked, or failed unclearly (${rc}):\n${out}")
endif()
message(STATUS "DUET_CHECK_TRANSITIONS=${other} against the library's other value: a link error")
