# Runs tests/stackful/gdb_probe (PROBE) under gdb in batch mode until it
# stops itself, loads stackful/gdb/duet-gdb.py (SCRIPT), and checks what
# `duet tasks` and `duet fibers` print: the parked coroutine task's chain
# of three awaits, innermost first, and the named fiber with its spawn
# site. gdb not installed (./tests/run installs it), or not allowed to
# trace (a container without ptrace): a skip with its reason. A build without
# debug info (DEBUG_INFO off): the script must say in one line that it needs
# -g, and the test skips with that reason.
find_program(gdb_path NAMES gdb NO_CACHE)
if(NOT gdb_path)
  message(STATUS "SKIP: gdb is not installed (apt-get install gdb)")
  return()
endif()
execute_process(
  COMMAND ${gdb_path} -batch -nx -ex run -ex "source ${SCRIPT}" -ex "duet tasks"
          -ex "duet fibers" -ex kill --args ${PROBE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 100)
message(STATUS "gdb printed:\n${out}\n${err}")
if(out MATCHES "ptrace: Operation not permitted" OR err MATCHES "ptrace: Operation not permitted")
  message(STATUS "SKIP: gdb may not trace here (ptrace: Operation not permitted)")
  return()
endif()
if(NOT DEBUG_INFO)
  # Without -g the script must refuse in one line, naming what it needs.
  if(out MATCHES "has no debug info for duet's types" OR err MATCHES "has no debug info for duet's types")
    if(out MATCHES "Traceback|Python Exception" OR err MATCHES "Traceback|Python Exception")
      message(FATAL_ERROR "the script raised instead of refusing plainly")
    endif()
    message(STATUS "SKIP: the build has no debug info (CMAKE_BUILD_TYPE=${BUILD_TYPE}): "
                   "the gdb script needs -g (RelWithDebInfo or Debug), and said so")
    return()
  endif()
  message(FATAL_ERROR "a build without -g: the script did not say that it needs debug info")
endif()
if(NOT out MATCHES "received signal SIGTRAP")
  message(FATAL_ERROR "the probe did not stop at its SIGTRAP under gdb (exit ${rc})")
endif()
set(chain "task 0x[0-9a-f]+ coroutine parked refs=[0-9]+ worker=[01]\n  #0 \\(anonymous namespace\\)::probe_leaf\\(\\)\n  #1 \\(anonymous namespace\\)::probe_middle\\(\\)\n  #2 \\(anonymous namespace\\)::probe_root\\(\\)\n")
if(NOT out MATCHES "${chain}")
  message(FATAL_ERROR "duet tasks did not print the coroutine's chain of three awaits")
endif()
set(fiber "fiber 0x[0-9a-f]+ pooled +parked +started +in_use=[0-9]+ size=65536 high_water=[0-9]+ \"probe-fiber\" spawned at [^\n]*gdb_probe.cpp:[0-9]+ parked in ")
if(NOT out MATCHES "${fiber}")
  message(FATAL_ERROR "duet tasks and duet fibers did not describe the named fiber")
endif()
if(NOT out MATCHES "2 tasks listed\n" OR NOT out MATCHES "\n1 fibers\n")
  message(FATAL_ERROR "the counts of tasks and fibers are wrong")
endif()
if(out MATCHES "Python Exception" OR err MATCHES "Python Exception")
  message(FATAL_ERROR "the script raised")
endif()
message(STATUS "the gdb script read the stopped probe")
