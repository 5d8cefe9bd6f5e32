// What the pieces of one run share: the scenario, the transport world, the
// ledgers, scenario-time helpers and the result being filled in. Internal to
// the runner (runner.cc orchestrates; server_under_test.cc, workload.cc,
// fault_timeline.cc and run_verdict.cc each own one part of a run).
#pragma once

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/fault_injector.h"
#include "connfail/scenarios/runner.h"
#include "connfail/scenarios/runner_env.h"

namespace connfail::scenarios {

inline double seconds_of(Duration d) { return std::chrono::duration<double>(d).count(); }

struct RunContext {
  RunContext(const Scenario& scenario, const RunOptions& options, std::unique_ptr<RunnerEnv> environment)
      : s(scenario), opts(options), env(std::move(environment)), loop(env->loop()), scale(env->time_scale()),
        injector(options.seed) {}
  /// The run's other loops stop before the ledgers and the injector their
  /// channels use go (also on a run that ended before its verdict).
  ~RunContext() {
    if (env) env->stop_loops();
  }
  RunContext(const RunContext&) = delete;
  RunContext& operator=(const RunContext&) = delete;

  const Scenario& s;
  const RunOptions& opts;
  std::unique_ptr<RunnerEnv> env;
  netcore::EventLoop& loop;
  double scale;  // loop seconds per scenario second

  netcore::ConnectionLedger server_ledger, backend_ledger, client_ledger;
  netcore::FaultInjector injector;
  RunResult result;

  /// Scenario time -> loop time.
  Duration T(Duration d) const {
    return Duration(static_cast<std::int64_t>(std::llround(static_cast<double>(d.count()) * scale)));
  }
  /// Scenario seconds since the run's start.
  double now_s() const { return seconds_of(loop.now() - env->epoch()) / scale; }
  /// Loop time -> scenario seconds since the run's start.
  double scenario_s(netcore::TimePoint t) const { return seconds_of(t - env->epoch()) / scale; }
  /// Runs `fn` at scenario time `when` (from the run's start). A harness
  /// timer: cancelled at the verdict, never counted against the server.
  netcore::TimerId at(Duration when, std::function<void()> fn) {
    const netcore::TimePoint due = env->epoch() + T(when);
    return schedule(std::max(Duration::zero(), due - loop.now()), std::move(fn));
  }
  /// Runs `fn` after `delay` of loop time; a harness timer like at()'s.
  netcore::TimerId schedule(Duration delay, std::function<void()> fn) {
    const netcore::TimerId id = loop.schedule(delay, std::move(fn));
    harness_timers.push_back(id);
    return id;
  }
  /// Cancels every harness timer still pending (the verdict): what remains
  /// scheduled after teardown is the server's (or a client pipeline's).
  void cancel_harness_timers() {
    for (auto id : harness_timers) loop.cancel(id);
    harness_timers.clear();
  }
  std::vector<netcore::TimerId> harness_timers;
  /// The end of the run: duration + quiesce, in loop time.
  netcore::TimePoint end_of_run() const { return env->epoch() + T(s.duration + s.quiesce); }

  // ---- what the parts learn about the run, for the verdict.

  /// Client groups by name.
  std::map<std::string, int> group_index;
  /// Groups whose hosts vanished, and when (scenario seconds).
  std::map<std::string, double> vanished_at;
  /// Groups a disruptive fault hit: not "healthy".
  std::set<std::string> unhealthy;
  /// Fault labels per group ("" = aimed at every group or at the server).
  std::map<std::string, std::vector<std::string>> faults_by_group;
  /// Echoed payload bytes, all clients.
  std::uint64_t echoed = 0;
  /// The workload has ended (clients closed at `duration`): no reconnects.
  bool workload_over = false;
};

}  // namespace connfail::scenarios
