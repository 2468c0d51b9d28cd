# Builds and runs tests/stackless/frame_assumptions.cpp with one compiler
# (CXX) at one optimisation level (OPT). A compiler that is not installed
# is a skip with its reason (./tests/run installs all three).
find_program(cxx_path NAMES ${CXX} NO_CACHE)
if(NOT cxx_path)
  message(STATUS "SKIP: ${CXX} is not installed")
  return()
endif()
string(REPLACE "|" ";" include_dirs "${INCLUDES}")
if(CHECK_TRANSITIONS)
  set(check 1)
else()
  set(check 0)
endif()
set(flags -std=c++20 ${OPT} -DDUET_CHECK_TRANSITIONS=${check})
foreach(dir IN LISTS include_dirs)
  list(APPEND flags -I${dir})
endforeach()
# A shared core is found where it was built (no install here).
get_filename_component(library_dir ${LIBRARY} DIRECTORY)
execute_process(COMMAND ${cxx_path} ${flags} ${SOURCE} ${LIBRARY} -Wl,-rpath,${library_dir}
                        -lhwloc -pthread -o ${OUT}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling frame_assumptions.cpp with ${cxx_path} ${OPT} failed:\n${err}")
endif()
execute_process(COMMAND ${OUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "${CXX} ${OPT}: ${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "a frame assumption is broken with ${cxx_path} ${OPT}")
endif()
