# Shared CMake helpers.

# connfail_discover(<target> LABELS <l1;l2> [FILTER <gtest filter>] [TIMEOUT s])
# Discovers the gtest cases of <target> into ctest and labels every one of
# them. (Labels are applied by a script that runs after discovery, because
# gtest_discover_tests' PROPERTIES cannot carry a list.)
function(connfail_discover target)
  cmake_parse_arguments(D "" "FILTER;TIMEOUT" "LABELS" ${ARGN})
  string(MAKE_C_IDENTIFIER "${target}_${D_FILTER}" n)
  if(NOT D_TIMEOUT)
    set(D_TIMEOUT 300)
  endif()
  set(list_var "connfail_tests_${n}")
  set(extra)
  if(D_FILTER)
    list(APPEND extra TEST_FILTER ${D_FILTER})
  endif()
  gtest_discover_tests(${target} ${extra}
    TEST_LIST ${list_var}
    PROPERTIES TIMEOUT ${D_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
  set(script "${CMAKE_CURRENT_BINARY_DIR}/labels_${n}.cmake")
  file(WRITE ${script}
    "foreach(t IN LISTS ${list_var})\n"
    "  set_tests_properties(\"\${t}\" PROPERTIES LABELS \"${D_LABELS}\")\n"
    "endforeach()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${script})
endfunction()

# connfail_add_test(NAME <target> SOURCES ... LIBS ... LABELS ... [TIMEOUT s])
# One gtest executable, its tests discovered into ctest with labels.
function(connfail_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  connfail_discover(${T_NAME} LABELS "${T_LABELS}" TIMEOUT "${T_TIMEOUT}")
endfunction()

include(${CMAKE_CURRENT_LIST_DIR}/check_netcore_includes.cmake)
