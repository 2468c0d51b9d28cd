# The Debian packages (cmake/DuetPackage.cmake): CPack makes them from the
# build tree BUILD_DIR; each must declare its Debian dependencies (the
# runtime package: liburing and hwloc, found by dpkg-shlibdeps from the
# libraries; Boost.Context is none on x86-64, where the fiber switch is
# duet's own, stackful/src/switch.cpp, and no symbol of it is linked); both are unpacked into a scratch root (dpkg -x, no root
# needed) and tests/consumer/project is built with find_package against
# that root's /usr and run.
include(${CMAKE_CURRENT_LIST_DIR}/consumer_util.cmake)
foreach(tool dpkg-deb dpkg-shlibdeps)
  find_program(path_${tool} NAMES ${tool} NO_CACHE)
  if(NOT path_${tool})
    message(STATUS "SKIP: ${tool} is not installed (apt-get install dpkg-dev)")
    return()
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/debs)
execute_process(COMMAND ${CPACK} -G DEB -B ${WORK_DIR}/debs WORKING_DIRECTORY ${BUILD_DIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack -G DEB failed (${rc}):\n${out}")
endif()

file(GLOB debs ${WORK_DIR}/debs/*.deb)
set(seen "")
foreach(deb IN LISTS debs)
  execute_process(COMMAND dpkg-deb -f ${deb} Package OUTPUT_VARIABLE name
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND dpkg-deb -f ${deb} Depends OUTPUT_VARIABLE depends
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  message(STATUS "${name}: Depends: ${depends}")
  if(name MATCHES "^libduet[0-9]+$")
    if(NOT depends MATCHES "liburing[0-9]" OR NOT depends MATCHES "libhwloc[0-9]")
      message(FATAL_ERROR "${name} does not depend on liburing and hwloc")
    endif()
    list(APPEND seen runtime)
  elseif(name STREQUAL "libduet-dev")
    if(NOT depends MATCHES "libduet[0-9]+ \\(= ")
      message(FATAL_ERROR "libduet-dev does not depend on its exact libduet")
    endif()
    list(APPEND seen dev)
  endif()
  run_checked("dpkg -x ${deb}" dpkg -x ${deb} ${WORK_DIR}/root)
endforeach()
if(NOT "runtime" IN_LIST seen OR NOT "dev" IN_LIST seen)
  message(FATAL_ERROR "cpack made ${debs}: not libduetN and libduet-dev")
endif()

run_checked("configuring the consumer against the .deb contents"
  ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/project -B ${WORK_DIR}/build
  -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${WORK_DIR}/root/usr
  -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF)
run_checked("building the consumer against the .deb contents"
  ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run_program(${WORK_DIR}/build/consumer "${CONSUMER_OK}")
execute_process(COMMAND readelf -d ${WORK_DIR}/build/consumer OUTPUT_VARIABLE dyn)
if(NOT dyn MATCHES "${WORK_DIR}/root/usr/lib")
  message(FATAL_ERROR "the consumer does not load duet from the unpacked package")
endif()
