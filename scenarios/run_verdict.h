// The end of one run: the per-second samples of the transport's sockets
// while it runs, then the verdict's inputs (inventory joined with every
// ledger, stale channels, timers and fds after teardown), the findings and
// the result's counts. Internal to the runner.
#pragma once

#include <map>
#include <string>

#include "connfail/scenarios/run_context.h"
#include "connfail/scenarios/verdict.h"

namespace connfail::scenarios {

class ServerUnderTest;
class Workload;

/// Open connections per TCP state, sampled every RunOptions::sample_every
/// from the run's start to its end; also when each socket entered its state
/// (for transports that do not say).
class Sampler {
 public:
  explicit Sampler(RunContext& rc) : rc_(rc) {}
  void start();
  void stop();

  std::map<std::string, double> state_since;
  std::map<std::string, ConnHistory> histories;

 private:
  void sample();
  RunContext& rc_;
  std::map<std::string, std::string> last_state_;
  std::function<void()> tick_;
  netcore::TimerId timer_ = 0;
  netcore::TimePoint due_{};  // when the sample being waited for is due
};

/// Takes the verdict's snapshot, tears the run down, and fills rc.result:
/// findings, ledger counts, client outcomes, state changes.
void finish_run(RunContext& rc, Sampler& sampler, ServerUnderTest& server, Workload& workload);

}  // namespace connfail::scenarios
