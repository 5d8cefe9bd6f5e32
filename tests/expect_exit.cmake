# cmake -DEXPECT=<code> -DCMD=<cmd;args...> [-DMATCH=<regex>] [-DABSENT=<path;...>]
#       [-DEXISTS=<path;...>] [-DCLEAN=<path;...>] -P expect_exit.cmake
# Removes CLEAN, runs CMD and fails unless it exits with EXPECT, its stdout +
# stderr match MATCH (if given), none of ABSENT exists afterwards (nothing
# half-written left behind) and every one of EXISTS does.
# Lists may come joined with "|" (see connfail_cli_test in CMakeLists.txt).
foreach(v CMD ABSENT EXISTS CLEAN)
  string(REPLACE "|" ";" ${v} "${${v}}")
endforeach()
foreach(p IN LISTS CLEAN)
  file(REMOVE_RECURSE "${p}")
endforeach()
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL EXPECT)
  message(FATAL_ERROR "expected exit ${EXPECT}, got ${rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(DEFINED MATCH AND NOT "${out}${err}" MATCHES "${MATCH}")
  message(FATAL_ERROR "output does not match '${MATCH}'\nstdout:\n${out}\nstderr:\n${err}")
endif()
foreach(p IN LISTS ABSENT)
  if(EXISTS "${p}")
    message(FATAL_ERROR "${p} exists but must not (left behind by a failed run)")
  endif()
endforeach()
foreach(p IN LISTS EXISTS)
  if(NOT EXISTS "${p}")
    message(FATAL_ERROR "${p} was not written")
  endif()
endforeach()
message(STATUS "exit ${rc} as expected\n${out}${err}")
