# Helpers of the consumer tests (run_*.cmake include this): run a command
# and fail with what it printed, run a built program and check its line.
cmake_minimum_required(VERSION 3.25)  # the policies of a script run by -P

# run_checked(<what> <command>...): runs it; a non-zero exit is a failure
# naming `what`, with the command's output.
function(run_checked what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
endfunction()

# run_program(<exe> <regex> [<env assignment>...]): the program must exit 0
# and print a line matching `regex`.
function(run_program exe expected)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${ARGN} ${exe}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${exe} printed: ${out}")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "${expected}")
    message(FATAL_ERROR "${exe} failed (${rc}), expected /${expected}/:\n${out}${err}")
  endif()
endfunction()

# What main.cpp prints when the coroutine, the fiber, the channel and the
# loopback datagram all worked.
set(CONSUMER_OK "consumer ok 42 42 udp 3 biased 0")
# What tests/consumer/project/sim_world.cpp prints (duet::sim).
set(SIM_OK "sim ok 20 ms replayed")
