# netcore/ must not know its transport: no Boost.Asio and no ns-3 include in
# any file under netcore/ outside netcore/asio/.
#
# Used two ways:
#  * include()d by the top-level CMakeLists: configuration fails on a violation;
#  * as a script, `cmake -DDIR=<dir> -P check_netcore_includes.cmake`, which the
#    test suite runs on a deliberately bad tree to prove the check can fail.
function(connfail_check_netcore_includes dir)
  file(GLOB_RECURSE files ${dir}/*.h ${dir}/*.cc ${dir}/*.hpp ${dir}/*.cpp)
  foreach(f IN LISTS files)
    file(RELATIVE_PATH rel ${dir} ${f})
    if(rel MATCHES "^asio/")
      continue()
    endif()
    file(STRINGS ${f} bad REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](boost/asio|asio[./]|ns3/)")
    if(bad)
      message(FATAL_ERROR "${f}: netcore must not include a transport (${bad}); "
                          "transport code belongs in netcore/asio/ or sim/")
    endif()
  endforeach()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED DIR)
  connfail_check_netcore_includes(${DIR})
  message(STATUS "netcore include check passed for ${DIR}")
endif()
