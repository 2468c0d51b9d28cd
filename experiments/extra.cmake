# Additions of the lab (experiments/lab, owned with experiments/run):
# libraries that single lab_* programs need beyond duet.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LAB_URING IMPORTED_TARGET liburing)
if(TARGET exp_lab_uring)
  if(LAB_URING_FOUND)
    target_link_libraries(exp_lab_uring PRIVATE PkgConfig::LAB_URING)
  else()
    set_target_properties(exp_lab_uring PROPERTIES EXCLUDE_FROM_ALL ON)
  endif()
endif()
# exp_tls_echo (issue 35): duet::tls against a blocking OpenSSL loop.
if(TARGET exp_tls_echo)
  target_link_libraries(exp_tls_echo PRIVATE duet::tls)
endif()
