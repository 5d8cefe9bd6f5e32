# Installation: headers under <prefix>/include/connfail/<folder>, the
# libraries, the `connfail` program, the schema and the default scenarios,
# and a CMake package (connfailConfig.cmake) with exported targets; then
# CPack turns the same rules into a Debian package.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CONNFAIL_DATADIR ${CMAKE_INSTALL_DATADIR}/connfail)
set(CONNFAIL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/connfail)

# Exported names: connfail::<name>.
set_target_properties(connfail_netcore PROPERTIES EXPORT_NAME netcore)
set_target_properties(connfail_testing PROPERTIES EXPORT_NAME testing)
set_target_properties(connfail_asio PROPERTIES EXPORT_NAME asio)
set_target_properties(connfail_sim PROPERTIES EXPORT_NAME sim)
set_target_properties(connfail_scenario_model PROPERTIES EXPORT_NAME scenario_model)
set_target_properties(connfail_scenarios PROPERTIES EXPORT_NAME scenarios)
set_target_properties(connfail_reports PROPERTIES EXPORT_NAME reports)
set_target_properties(connfail_cli PROPERTIES EXPORT_NAME cli)
set_target_properties(connfail_gtest PROPERTIES EXPORT_NAME gtest)
set_target_properties(connfail_properties PROPERTIES EXPORT_NAME properties)

# connfail::harness: everything a user's gate needs above the transports.
add_library(connfail_harness INTERFACE)
target_link_libraries(connfail_harness INTERFACE connfail_scenarios connfail_reports connfail_cli)
set_target_properties(connfail_harness PROPERTIES EXPORT_NAME harness)
add_library(connfail::harness ALIAS connfail_harness)

install(TARGETS connfail_netcore connfail_testing connfail_asio connfail_sim connfail_scenario_model
                connfail_scenarios connfail_reports connfail_cli connfail_harness
        EXPORT connfailTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS connfail_gtest EXPORT connfailGTestTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS connfail_properties EXPORT connfailPropertiesTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS connfail RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

foreach(set connfailTargets connfailGTestTargets connfailPropertiesTargets)
  install(EXPORT ${set} NAMESPACE connfail:: DESTINATION ${CONNFAIL_CMAKEDIR})
endforeach()

foreach(folder netcore sim scenarios reports cli property-tests)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/connfail/${folder}
          FILES_MATCHING PATTERN "*.h" PATTERN "failures" EXCLUDE PATTERN "schema" EXCLUDE)
endforeach()
# Static libraries keep their symbols but lose their debug information when
# the install strips (cmake --install --strip, and cpack): CMake itself only
# strips programs and shared libraries.
install(CODE [[
  if(CMAKE_INSTALL_DO_STRIP)
    file(GLOB_RECURSE connfail_archives "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib*/libconnfail_*.a")
    foreach(a IN LISTS connfail_archives)
      execute_process(COMMAND strip --strip-debug "${a}" RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        message(FATAL_ERROR "strip --strip-debug ${a} failed")
      endif()
    endforeach()
  endif()
]])

install(FILES ${PROJECT_SOURCE_DIR}/scenarios/schema/scenario.schema.json DESTINATION ${CONNFAIL_DATADIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/scenarios/ DESTINATION ${CONNFAIL_DATADIR}/scenarios
        FILES_MATCHING PATTERN "*.yaml" PATTERN "schema" EXCLUDE PATTERN "kinds" EXCLUDE PATTERN "bugs" EXCLUDE
        PATTERN "gtest" EXCLUDE)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/connfailConfig.cmake.in
  ${PROJECT_BINARY_DIR}/connfailConfig.cmake
  INSTALL_DESTINATION ${CONNFAIL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_BINDIR CONNFAIL_DATADIR)
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/connfailConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/connfailConfig.cmake ${PROJECT_BINARY_DIR}/connfailConfigVersion.cmake
        DESTINATION ${CONNFAIL_CMAKEDIR})

# ---- Debian package: cpack -G DEB in the build directory.
set(CPACK_PACKAGE_NAME connfail)
set(CPACK_PACKAGE_VENDOR "connfail")
set(CPACK_PACKAGE_CONTACT "connfail maintainers <connfail@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "connection-failure scenarios for Netty-style servers, on real and simulated TCP")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "connfail runs a server (a netcore pipeline registered by the user, or the built-ins) under scripted\n"
    "connection faults on real TCP (Boost.Asio) and simulated TCP (ns-3 3.37), and fails when a connection\n"
    "leaks. This package holds the connfail program, the libraries, headers and CMake package\n"
    "(find_package(connfail)) to build a gate against your own server.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# What find_package(connfail) and the headers need (and, through them, the
# shared libraries the connfail program runs on). GoogleTest and RapidCheck
# only for the gtest and properties components.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libns3-dev (>= 3.37), libgsl-dev, libsqlite3-dev, libxml2-dev, libboost-dev (>= 1.74), libyaml-cpp-dev, nlohmann-json3-dev, libfmt-dev")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libgtest-dev, librapidcheck-dev, cmake (>= 3.25)")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
include(CPack)
