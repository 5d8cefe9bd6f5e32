// Runs scenario runs in worker processes (`connfail run/sweep --jobs N`).
//
// ns-3's simulator is one per process, so parallel sim runs need processes,
// not threads. The pool forks its workers once (before anything has run in
// this process) and hands them run indices one at a time over a socket pair,
// the next to whichever worker is free; a worker answers with the run's
// result encoded the way report.json encodes it (plus its wall time). So a
// run's entry in the report is the same bytes whether it ran here or in a
// worker, and the report orders runs by index, not by finishing time.
//
// A worker that dies in a run (a crash, an abort, the OOM killer) fails that
// run with a run-error finding naming the signal; a fresh worker takes the
// runs still to do. Workers die with this process (PR_SET_PDEATHSIG).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "connfail/scenarios/runner.h"

namespace connfail::cli {

struct PoolJob {
  const scenarios::Scenario* scenario = nullptr;
  scenarios::RunOptions options;
};

/// Runs every job in at most `workers` worker processes and calls `done`
/// here, in this process, as each run finishes (in finishing order, each
/// index once). Must be called while this process has one thread (it
/// forks). What a run keeps only in memory (RunResult::clients,
/// state_changes, ledger_entries) does not come back from a worker.
/// `program`: the command a person reruns a run with (a user's own CLI is
/// not called connfail).
void run_in_workers(const std::vector<PoolJob>& jobs, unsigned workers,
                    const std::function<void(std::size_t, scenarios::RunResult)>& done,
                    const std::string& program = "connfail");

/// The result recorded for a run whose worker died: the run's identity, a
/// failed status and one run-error finding that says how the worker ended
/// (`wait_status` as waitpid gives it) and how to rerun it alone.
scenarios::RunResult worker_died(const PoolJob& job, int wait_status, const std::string& program = "connfail");

}  // namespace connfail::cli
