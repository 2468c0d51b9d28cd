# Installs the already-built duet into a fresh prefix, then builds and runs
# tests/consumer/project against it with find_package(duet), compiled by
# CXX (g++, clang++-14 or clang++-16: users build with clang too, and the
# public headers must compile with Debian 12's default clang and libstdc++).
# A compiler that is not installed is a skip with its reason (the test's
# SKIP_REGULAR_EXPRESSION matches "SKIP:"); ./tests/run installs all three.
find_program(cxx_path NAMES ${CXX} NO_CACHE)
if(NOT cxx_path)
  message(STATUS "SKIP: ${CXX} is not installed (apt-get install ${CXX_PACKAGE})")
  return()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/project
                        -B ${WORK_DIR}/build -G ${GENERATOR}
                        -DCMAKE_CXX_COMPILER=${cxx_path}
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer project with ${cxx_path} failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer project with ${cxx_path} failed: ${rc}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "consumer (${CXX}) printed: ${out}")
if(NOT rc EQUAL 0 OR NOT out MATCHES "consumer ok 42")
  message(FATAL_ERROR "the consumer program built with ${cxx_path} failed: ${rc}")
endif()
