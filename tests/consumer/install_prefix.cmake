# The consumer tests' fixture: `cmake --install` of the build tree into one
# prefix (PREFIX), which find_package, pkg-config and Meson consumers share.
# A shared build must lay out libduet_*.so.<major> with that SONAME, and
# export only what DUET_API marks (here: the I/O library exports its API,
# and its epoll backend, which no header declares to users, stays hidden).
include(${CMAKE_CURRENT_LIST_DIR}/consumer_util.cmake)
file(REMOVE_RECURSE ${PREFIX})
run_checked("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})
file(GLOB pcs ${PREFIX}/lib/pkgconfig/*.pc)
if(NOT pcs MATCHES "/duet.pc" OR NOT pcs MATCHES "/duet-core.pc")
  message(FATAL_ERROR "the install lacks duet.pc or duet-core.pc: ${pcs}")
endif()
if(SHARED)
  foreach(lib common drivers stackful)
    set(so ${PREFIX}/lib/libduet_${lib}.so)
    execute_process(COMMAND readelf -d ${so} OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0 OR NOT dyn MATCHES "SONAME\\) *Library soname: \\[libduet_${lib}\\.so\\.${MAJOR}\\]")
      message(FATAL_ERROR "${so}: no SONAME libduet_${lib}.so.${MAJOR}:\n${dyn}")
    endif()
  endforeach()
  execute_process(COMMAND nm -D -C --defined-only ${PREFIX}/lib/libduet_drivers.so
                  OUTPUT_VARIABLE exported)
  if(NOT exported MATCHES "duet::net::TcpStream::send" OR exported MATCHES "${HIDDEN_SYMBOL}")
    message(FATAL_ERROR "libduet_drivers.so exports the wrong set (TcpStream must be "
                        "exported, ${HIDDEN_SYMBOL} hidden)")
  endif()
  message(STATUS "shared libraries: SONAME libduet_*.so.${MAJOR}, internals hidden")
endif()
