# A plugin that links duet, loaded by dlopen from a program that does not
# (tests/consumer/dlopen): it loads and runs both models. Built with
# DUET_DLOPEN_TLS, neither it nor any duet library it loads needs the
# static TLS block (no STATIC_TLS flag in its dynamic section), which a
# dlopen can find full (duet/detail/thread_local.hpp); built without, it needs it,
# and loads here because this host leaves the block's spare bytes free.
#   -DHOST=<exe> -DPLUGIN=<plugin.so> -DLIBS=<libduet_*.so|...> -DDLOPEN_TLS=ON|OFF
cmake_minimum_required(VERSION 3.25)  # the policies of a script run by -P
string(REPLACE "|" ";" LIBS "${LIBS}")
execute_process(COMMAND ${HOST} ${PLUGIN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "dlopen ok 42")
  message(FATAL_ERROR "the dlopen host failed (${rc}):\n${out}${err}")
endif()
if(NOT DLOPEN_TLS)
  return()
endif()
foreach(obj IN LISTS PLUGIN LIBS)
  execute_process(COMMAND readelf -dW ${obj} OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "readelf -d ${obj} failed (${rc})")
  endif()
  if(dyn MATCHES "STATIC_TLS")
    message(FATAL_ERROR "${obj} needs the static TLS block (flag STATIC_TLS): "
      "a dlopen fails where that block is full")
  endif()
endforeach()
