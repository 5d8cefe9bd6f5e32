# Shared CMake helpers.

# connfail_add_test(NAME <target> SOURCES ... LIBS ... LABELS ... [TIMEOUT s])
# One gtest executable, its tests discovered into ctest with labels.
function(connfail_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()

# Fails configuration when netcore's transport-independent sources include
# Boost.Asio or ns-3: one core, written once, must not know its transport.
function(connfail_check_netcore_includes dir)
  file(GLOB_RECURSE files ${dir}/*.h ${dir}/*.cc)
  foreach(f IN LISTS files)
    if(f MATCHES "/netcore/asio/")
      continue()
    endif()
    file(STRINGS ${f} bad REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](boost/asio|asio|ns3/)")
    if(bad)
      message(FATAL_ERROR "${f}: netcore must not include a transport (${bad}); "
                          "transport code belongs in netcore/asio/ or sim/")
    endif()
  endforeach()
endfunction()
