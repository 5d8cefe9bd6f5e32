# connfail diff: a baseline where rst-clients passes, then a "regression":
# the same scenario (same name, transport, seed) with an expectation the code
# does not meet. diff base new exits 1 naming it; base against itself exits 0;
# new against base reports it fixed and exits 0.
file(REMOVE_RECURSE "${OUT}")
file(READ scenarios/rst-clients.yaml text)
string(REPLACE "expect:\n" "expect:\n  max_open_connections: 2\n" text "${text}")
file(WRITE ${OUT}/regressed/rst-clients.yaml "${text}")
execute_process(COMMAND ${CONNFAIL} run scenarios/rst-clients.yaml --transport sim --out ${OUT}/base -q
                RESULT_VARIABLE rc1)
execute_process(COMMAND ${CONNFAIL} run ${OUT}/regressed/rst-clients.yaml --transport sim --out ${OUT}/new -q
                RESULT_VARIABLE rc2)
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 1)
  message(FATAL_ERROR "set-up runs exited ${rc1} and ${rc2}, expected 0 and 1")
endif()
execute_process(COMMAND ${CONNFAIL} diff ${OUT}/base/report.json ${OUT}/new/report.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 1 OR NOT out MATCHES "NEW FAILURES \\(1\\):\n +rst-clients")
  message(FATAL_ERROR "diff base new: exit ${rc}, expected 1 with one new failure\n${out}")
endif()
execute_process(COMMAND ${CONNFAIL} diff ${OUT}/base/report.json ${OUT}/base/report.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "diff base base: exit ${rc}, expected 0\n${out}")
endif()
execute_process(COMMAND ${CONNFAIL} diff ${OUT}/new/report.json ${OUT}/base/report.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "fixed \\(1\\)")
  message(FATAL_ERROR "diff new base: exit ${rc}, expected 0 and one fixed run\n${out}")
endif()
message(STATUS "diff ok")
