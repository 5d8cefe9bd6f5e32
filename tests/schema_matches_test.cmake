# `connfail schema` (the checked-in schema with every registered kind's and
# behaviour's options generated) must equal the checked-in file byte for
# byte: a change to a built-in entry's options that is not written back to
# scenarios/schema/scenario.schema.json fails here. To update the file:
#   build/default/connfail schema --out scenarios/schema/scenario.schema.json
file(REMOVE "${OUT}")
execute_process(COMMAND ${CONNFAIL} schema --out ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "connfail schema exited ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT} ${FILE} RESULT_VARIABLE same)
if(NOT same EQUAL 0)
  message(FATAL_ERROR "${FILE} is not what `connfail schema` generates (${OUT}); regenerate it with\n"
                      "  connfail schema --out scenarios/schema/scenario.schema.json")
endif()
