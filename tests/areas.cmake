# tests/areas.cmake: which test areas (tests/<area>/, one Catch2 binary
# each) this build makes: the test pyramid's rows (docs/testing.md).
# Included by the top-level CMakeLists.txt before the examples, so that a
# build whose areas need no example program builds none.
#
# The plain flavour builds and runs every area; each other flavour builds
# only the areas whose defects it is the one to find, named here, and its
# ledger (check_ledger.py) proves that every case of every area it built
# ran. DUET_TEST_AREAS overrides the
# choice: `all`; `quick`, every area but the end-to-end programs' (tests/run
# --quick, the dev loop, which builds no example); or a list of areas (a
# sanitizer over one area by hand).
#   asan (ASan+UBSan): memory ownership and lifetimes: the scheduler and its
#     queues, task state, fibers' stacks, coroutine frames, the sync
#     primitives' waiters, the drivers' buffers in flight, the codec's
#     parsing, each protocol library's conformance set, a few seeds of each
#     simulation sweep;
#   tsan: every area where threads meet: the same, less the single-threaded
#     codec, TLS and the simulator (one worker, no thread to race);
#   shared: what a shared object changes: thread-locals and coroutine state
#     across objects (common, stackless, stackful), the exported detail
#     symbols the white-box tests call (common, task), the exported surface
#     of the I/O and HTTP libraries (net, http_client), and the consumers.
# Left to the plain flavour alone: the end-to-end programs (examples, http,
# kv_cache), the compiled doc examples, and the thin wrappers whose code a
# sanitizer meets through the areas above (dns, process, signal's
# descriptor, metrics' export). tests/support/findings.tsv holds what each
# flavour found in the project's history, the evidence for these lists.
set(duet_core_areas common task sync cancel scope taskctl compose time_control stall stackless
  stackful drivers net async_fd http_server http_client)
set(duet_areas_address ${duet_core_areas} http_codec tls sim)
set(duet_areas_thread ${duet_core_areas})
set(duet_areas_shared common task stackless stackful net http_client)
set(DUET_TEST_AREAS "" CACHE STRING
  "Test areas to build: empty (the flavour's pyramid row), all, quick, or a list")
if(DUET_TEST_AREAS STREQUAL "quick")
  file(GLOB duet_area_dirs LIST_DIRECTORIES true ${CMAKE_CURRENT_LIST_DIR}/*)
  set(duet_areas "")
  foreach(dir ${duet_area_dirs})
    get_filename_component(area ${dir} NAME)
    if(IS_DIRECTORY ${dir} AND NOT area MATCHES "^(support|consumer|examples|http)$")
      list(APPEND duet_areas ${area})
    endif()
  endforeach()
elseif(DUET_TEST_AREAS)
  set(duet_areas ${DUET_TEST_AREAS})
elseif(DUET_SANITIZE)
  set(duet_areas ${duet_areas_${DUET_SANITIZE}})
elseif(DUET_SHARED)
  set(duet_areas ${duet_areas_shared})
else()
  set(duet_areas all)
endif()

# duet_test_area_built(<area> <out>): whether this build makes <area>'s
# binary.
function(duet_test_area_built area out)
  if(duet_areas STREQUAL "all" OR area IN_LIST duet_areas)
    set(${out} ON PARENT_SCOPE)
  else()
    set(${out} OFF PARENT_SCOPE)
  endif()
endfunction()
