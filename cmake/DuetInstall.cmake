# `cmake --install` lays out headers, static libraries and a CMake package so
# that a consumer writes find_package(duet) + target_link_libraries(duet::duet).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS duet_common duet_drivers duet_tls duet_dns duet_stackless duet_stackful duet
        EXPORT duetTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY common/include/ drivers/include/ stackless/include/ stackful/include/
                  cmake/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT duetTargets NAMESPACE duet:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
configure_package_config_file(cmake/duetConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/duetConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/duetConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/duetConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/duetConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
