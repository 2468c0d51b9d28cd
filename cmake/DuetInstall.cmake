# `cmake --install` lays out headers, the libraries (static archives, or
# shared libraries with their SONAME links), a CMake package and pkg-config
# files, so that a consumer writes find_package(duet) +
# target_link_libraries(duet::duet), or `pkg-config --cflags --libs duet`.
# Two install components: `runtime` (the shared libraries a program loads)
# and `development` (headers, link names, archives, package files); CPack
# makes one Debian package of each (cmake/DuetPackage.cmake).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS duet_common duet_drivers duet_tls duet_dns duet_http duet_sim duet_stackless
                duet_stackful duet
        EXPORT duetTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
                NAMELINK_COMPONENT development
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY common/include/ drivers/io/include/ drivers/tls/include/ drivers/dns/include/
                  drivers/http/include/ drivers/sim/include/ stackless/include/ stackful/include/
                  cmake/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)
install(EXPORT duetTargets NAMESPACE duet:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet
        COMPONENT development)
configure_package_config_file(cmake/duetConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/duetConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
# Before 1.0 a minor release may break the API (docs/adopting.md): a
# consumer asking for 0.1 accepts 0.1.x only.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/duetConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/duetConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/duetConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet COMPONENT development)

# pkg-config: duet.pc (everything, as duet::duet), duet-core.pc (the
# runtime and both task models without the I/O library and liburing, as
# duet::stackless + duet::stackful), duet-tls.pc, duet-dns.pc, duet-http.pc
# and duet-sim.pc. Relocatable: the prefix is found from
# the file's own directory. A static install names the archives'
# dependencies in Requires and Libs (a plain `pkg-config --libs` links); a
# shared one names none: the libraries carry their own (DT_NEEDED), and no
# public header includes hwloc, liburing or Boost.
# --undefined=duet_io_driver_factory is the I/O library's hook into the core
# (duet/detail/driver.hpp): it makes a static link extract the I/O factory
# and keeps a shared link's DT_NEEDED on libduet_drivers under --as-needed.
file(RELATIVE_PATH duet_pc_to_prefix
  ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" duet_pc_to_prefix "${duet_pc_to_prefix}")
if(DUET_CHECK_TRANSITIONS)
  set(duet_pc_checks 1)
else()
  set(duet_pc_checks 0)
endif()
if(DUET_DLOPEN_TLS)
  set(duet_pc_dlopen_tls 1)
else()
  set(duet_pc_dlopen_tls 0)
endif()
function(duet_pkg_config name description libs requires static_libs)
  if(DUET_SHARED)
    set(pc_requires "")
    set(pc_libs "${libs}")
  else()
    set(pc_requires "${requires}")
    set(pc_libs "${libs} ${static_libs}")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/duet.pc.in
    ${CMAKE_CURRENT_BINARY_DIR}/pkgconfig/${name}.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pkgconfig/${name}.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)
endfunction()
duet_pkg_config(duet
  "C++20 async runtime: coroutines and fibers on one scheduler, io_uring and epoll I/O"
  "-Wl,--undefined=duet_io_driver_factory -lduet_drivers -lduet_stackful -lduet_common"
  "hwloc liburing" -lboost_context)
duet_pkg_config(duet-core
  "C++20 async runtime without I/O: coroutines and fibers on one scheduler"
  "-lduet_stackful -lduet_common" "hwloc" -lboost_context)
# duet::tls and duet::dns, each with everything duet.pc brings (their
# libraries depend on the I/O library).
duet_pkg_config(duet-tls
  "duet with TLS streams over its TCP streams (OpenSSL 3)"
  "-lduet_tls -Wl,--undefined=duet_io_driver_factory -lduet_drivers -lduet_stackful -lduet_common"
  "hwloc liburing libssl libcrypto" -lboost_context)
duet_pkg_config(duet-dns
  "duet with name resolution and connect by name (c-ares)"
  "-lduet_dns -Wl,--undefined=duet_io_driver_factory -lduet_drivers -lduet_stackful -lduet_common"
  "hwloc liburing libcares" -lboost_context)

# duet::http: the HTTP library, over TLS (its engines serve HTTPS too, its
# client fetches it) and DNS (its client resolves URLs' names).
duet_pkg_config(duet-http
  "duet's HTTP/1.1 and HTTP/2 server (coroutine, fiber and poll engines) and pooled client"
  "-lduet_http -lduet_tls -lduet_dns -Wl,--undefined=duet_io_driver_factory -lduet_drivers -lduet_stackful -lduet_common"
  "hwloc liburing libssl libcrypto libcares libnghttp2" -lboost_context)

# duet::sim: the simulated network's World, for a user's tests.
duet_pkg_config(duet-sim
  "duet's deterministic simulated network (hosts, links, faults) for tests"
  "-lduet_sim -Wl,--undefined=duet_io_driver_factory -lduet_drivers -lduet_stackful -lduet_common"
  "hwloc liburing" -lboost_context)

include(cmake/DuetPackage.cmake)
