#!/bin/sh
# run_under_valgrind.sh VALGRIND PROGRAM: runs PROGRAM under Valgrind's
# simplest tool (no instrumentation; the point is Valgrind's scheduler and
# syscall wrappers), killed after 240 s, so that a hang is a failure. Exit
# 77 (CTest: skipped) when Valgrind is not installed: tests/run installs it.
vg=$1
prog=$2
if [ -z "$vg" ] || [ ! -x "$vg" ]; then
  echo "SKIP: valgrind is not installed (apt-get install valgrind)"
  exit 77
fi
exec timeout -s KILL 240 "$vg" --tool=none -q "$prog"
