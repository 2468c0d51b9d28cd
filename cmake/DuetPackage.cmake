# Debian packages by CPack (`cpack -G DEB` in a build tree, or
# `cmake --build <dir> --target package`): from a shared build,
#   libduet<major>  the shared libraries (section libs), its dependencies
#                   found by dpkg-shlibdeps from the libraries themselves
#                   (liburing, hwloc, libstdc++, libc; Boost.Context where
#                   a symbol of it is linked: not on x86-64, whose fiber
#                   switch is duet's own);
#   libduet-dev     headers, link names, CMake package and pkg-config files
#                   (section libdevel), depending on the exact libduet<major>.
# From a static build, libduet-dev alone carries the archives and depends
# on the -dev packages a static link needs. The suite builds both from the
# shared flavour and links a consumer against their contents
# (tests/consumer/run_deb.cmake).
set(CPACK_PACKAGE_NAME duet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "C++20 async runtime: coroutines and fibers on one scheduler, io_uring and epoll I/O")
set(CPACK_PACKAGE_CONTACT "duet maintainers <maintainers@users.noreply.github.com>")
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

set(duet_deb_runtime libduet${PROJECT_VERSION_MAJOR})
set(duet_deb_version "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${duet_deb_runtime})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libduet-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
if(DUET_SHARED)
  set(CPACK_COMPONENTS_ALL runtime development)
  set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS "${duet_deb_runtime} (= ${duet_deb_version})")
else()
  set(CPACK_COMPONENTS_ALL development)
  set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "liburing-dev, libboost-context-dev (>= 1.74), libhwloc-dev, pkg-config")
endif()
include(CPack)
