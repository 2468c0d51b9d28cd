# Builds duet from source inside a consumer's tree (tests/consumer/vendored)
# by MODE=add_subdirectory or MODE=FetchContent (from the local SOURCE_DIR:
# no network), static or shared (SHARED: the consumer's BUILD_SHARED_LIBS),
# and runs the consumer. duet is not the top project there: none of its
# tests, examples or experiments may be in the consumer's build.
# BUILD_TYPE, CHECK_TRANSITIONS and DLOPEN_TLS are the suite's own build's, so that
# ccache (when duet's build finds it) can serve the objects that build
# compiled: same flags, and the same paths where WORK_DIR is at that
# build's depth (tests/CMakeLists.txt, DUET_VENDORED_WORK_ROOT).
include(${CMAKE_CURRENT_LIST_DIR}/consumer_util.cmake)
file(REMOVE_RECURSE ${WORK_DIR})
if(SHARED)
  set(shared ON)
else()
  set(shared OFF)
endif()
run_checked("configuring the ${MODE} consumer"
  ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/vendored -B ${WORK_DIR} -G ${GENERATOR}
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DDUET_CHECK_TRANSITIONS=${CHECK_TRANSITIONS}
  -DDUET_DLOPEN_TLS=${DLOPEN_TLS}
  -DBUILD_SHARED_LIBS=${shared}
  -DDUET_VENDOR=${MODE} -DDUET_SOURCE_DIR=${SOURCE_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR} --target help
                OUTPUT_VARIABLE targets)
if(targets MATCHES "(duet_[a-z]+_tests|hello_duet|bench_[a-z_]+|duet_alloc_tracker)")
  message(FATAL_ERROR "the ${MODE} consumer builds duet's own ${CMAKE_MATCH_1}")
endif()
run_checked("building the ${MODE} consumer"
  ${CMAKE_COMMAND} --build ${WORK_DIR})
run_program(${WORK_DIR}/consumer "${CONSUMER_OK}")
if(SHARED)
  execute_process(COMMAND readelf -d ${WORK_DIR}/consumer OUTPUT_VARIABLE dyn)
  if(NOT dyn MATCHES "libduet_common\\.so\\.[0-9]+")
    message(FATAL_ERROR "the shared ${MODE} consumer does not load libduet_common.so")
  endif()
endif()
