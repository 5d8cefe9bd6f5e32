# connfail sweep --jobs and connfail merge give the report of the plain
# serial sweep, byte for byte:
#   1. sweep --jobs 2 == sweep --jobs 1 (report.json, report.md, junit.xml
#      but for its wall times);
#   2. merge of --shard 0/4 .. 3/4 == the unsharded sweep;
# and each comparison is shown able to fail: a sweep over other seeds, and a
# merge that leaves one shard out, must differ. Then what merge refuses:
# the same shard twice, reports of two connfail versions, a file that is not
# a report (exit 2, nothing written). And a sweep writing to a log (not a
# terminal) writes plain lines: no carriage return.
file(REMOVE_RECURSE "${OUT}")
set(common scenarios --transport sim -q)

function(run expect)
  execute_process(COMMAND ${CONNFAIL} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expect)
    message(FATAL_ERROR "connfail ${ARGN}: exit ${rc}, expected ${expect}\n${out}\n${err}")
  endif()
  set(last_output "${out}${err}" PARENT_SCOPE)
endfunction()

function(same a b what)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${a} ${b} RESULT_VARIABLE differ)
  if(differ)
    message(FATAL_ERROR "${what}: ${a} and ${b} differ")
  endif()
endfunction()
function(different a b what)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${a} ${b} RESULT_VARIABLE differ)
  if(NOT differ)
    message(FATAL_ERROR "${what}: ${a} and ${b} are the same, so the comparison above proves nothing")
  endif()
endfunction()

# 1. --jobs
run(0 sweep ${common} --seeds 1..3 --jobs 1 --out ${OUT}/serial)
if(last_output MATCHES "\r")
  message(FATAL_ERROR "a sweep writing to a log printed a carriage return:\n${last_output}")
endif()
# The last run's line: [total/total], the total read off the summary.
if(NOT last_output MATCHES "([0-9]+) run\\(s\\): ")
  message(FATAL_ERROR "no summary line:\n${last_output}")
endif()
set(total ${CMAKE_MATCH_1})
if(NOT last_output MATCHES "\\[${total}/${total}\\] 0 failed\n")
  message(FATAL_ERROR "no plain progress line for the last run:\n${last_output}")
endif()
run(0 sweep ${common} --seeds 1..3 --jobs 2 --out ${OUT}/jobs2)
same(${OUT}/serial/report.json ${OUT}/jobs2/report.json "sweep --jobs 2 vs --jobs 1")
same(${OUT}/serial/report.md ${OUT}/jobs2/report.md "sweep --jobs 2 vs --jobs 1")
run(0 sweep ${common} --seeds 2..4 --jobs 2 --out ${OUT}/other-seeds)
different(${OUT}/serial/report.json ${OUT}/other-seeds/report.json "sweep over seeds 2..4 vs 1..3")

# 2. --shard and merge
foreach(i 0 1 2 3)
  run(0 sweep ${common} --seeds 1..3 --shard ${i}/4 --out ${OUT}/shard${i})
endforeach()
run(0 merge ${OUT}/shard0 ${OUT}/shard1/report.json ${OUT}/shard2 ${OUT}/shard3 --out ${OUT}/merged)
same(${OUT}/serial/report.json ${OUT}/merged/report.json "merge of 4 shards vs the unsharded sweep")
same(${OUT}/serial/report.md ${OUT}/merged/report.md "merge of 4 shards vs the unsharded sweep")
# Any order of the inputs gives the same report.
run(0 merge ${OUT}/shard3 ${OUT}/shard1 ${OUT}/shard0 ${OUT}/shard2 --out ${OUT}/merged-reordered)
same(${OUT}/serial/report.json ${OUT}/merged-reordered/report.json "merge of 4 shards in another order")
run(0 merge ${OUT}/shard0 ${OUT}/shard1 ${OUT}/shard2 --out ${OUT}/merged-3)
different(${OUT}/serial/report.json ${OUT}/merged-3/report.json "merge of 3 of 4 shards")

# 3. what merge refuses: exit 2, nothing written
run(2 merge ${OUT}/shard0 ${OUT}/shard0 --out ${OUT}/refused)
if(NOT last_output MATCHES "is also in .*each run must come from one shard" OR EXISTS ${OUT}/refused)
  message(FATAL_ERROR "merge of a shard with itself:\n${last_output}")
endif()
file(READ ${OUT}/shard1/report.json text)
string(REGEX REPLACE "\"connfail_version\": *\"[^\"]*\"" "\"connfail_version\": \"0.0.0-other\"" text "${text}")
file(WRITE ${OUT}/other-version/report.json "${text}")
run(2 merge ${OUT}/shard0 ${OUT}/other-version --out ${OUT}/refused)
if(NOT last_output MATCHES "connfail 0.0.0-other.*merge reports of one version" OR EXISTS ${OUT}/refused)
  message(FATAL_ERROR "merge of two versions:\n${last_output}")
endif()
file(WRITE ${OUT}/not-a-report.json "{\"runs\": []}")
run(2 merge ${OUT}/shard0 ${OUT}/not-a-report.json --out ${OUT}/refused)
if(NOT last_output MATCHES "not-a-report.json: .*schema" OR EXISTS ${OUT}/refused)
  message(FATAL_ERROR "merge of a file that is not a report:\n${last_output}")
endif()
run(2 merge ${OUT}/no-such-dir --out ${OUT}/refused)
if(NOT last_output MATCHES "no-such-dir.*cannot read file" OR EXISTS ${OUT}/refused)
  message(FATAL_ERROR "merge of a missing report:\n${last_output}")
endif()
message(STATUS "sweep --jobs and merge ok")
