# Runs one libFuzzer target for CONNFAIL_FUZZ_SECONDS (default 20) from its
# seed corpora. Fails on a crash, a sanitizer report, an input that takes
# more than 1 s, or 256 MiB of memory. New inputs go to WORK/new (never into
# the checked-in corpora); a failing input is written to WORK/ and named in
# the output: add it to tests/fuzz/corpus/<target>/ with the fix.
# With -DEXPECT_CRASH=ON the run must fail instead (the harness self-test).
string(REPLACE "|" ";" SEEDS "${SEEDS}")
set(seconds 20)
if(DEFINED ENV{CONNFAIL_FUZZ_SECONDS})
  set(seconds $ENV{CONNFAIL_FUZZ_SECONDS})
endif()
if(NOT EXISTS "${FUZZER}")
  message(FATAL_ERROR "no fuzz target at ${FUZZER}: build the fuzz preset first")
endif()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/new)
execute_process(
  COMMAND ${FUZZER} ${WORK}/new ${SEEDS} -max_total_time=${seconds} -timeout=1 -rss_limit_mb=256
          -max_len=65536 -print_final_stats=1 -artifact_prefix=${WORK}/
  RESULT_VARIABLE rc)
file(GLOB artifacts ${WORK}/crash-* ${WORK}/timeout-* ${WORK}/oom-* ${WORK}/leak-*)
if(EXPECT_CRASH)
  # The harness self-test: the run must fail and leave the crashing input.
  if(rc EQUAL 0 OR NOT artifacts)
    message(FATAL_ERROR "${FUZZER} was expected to crash and leave a crash-* input (exit ${rc}, inputs: ${artifacts})")
  endif()
  message(STATUS "the broken target failed as it must: ${artifacts}")
  return()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}): see the input it wrote: ${artifacts}")
endif()
