// The fault timeline of one run: every fault of the scenario scheduled in
// scenario time, applied to the server (pause, restart, handler exceptions,
// accept failures), to the workload's clients (half-open hosts, RSTs) or to
// the transport's links (loss, jitter, latency, bandwidth, partitions), and
// recorded for the report and the verdict. Internal to the runner.
#pragma once

#include "connfail/scenarios/run_context.h"

namespace connfail::scenarios {

class ServerUnderTest;
class Workload;

/// Schedules every fault of the run's scenario; fills rc.result.faults,
/// rc.faults_by_group and rc.unhealthy.
void schedule_faults(RunContext& rc, ServerUnderTest& server, Workload& workload);

/// "half-open at 20s (doomed)": how a finding names a fault it saw.
std::string fault_label(const Fault& f);
/// A handler-exception fault's event name as netcore's enum.
netcore::PipelineEvent parse_pipeline_event(const std::string& name);

}  // namespace connfail::scenarios
