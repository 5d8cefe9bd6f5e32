// The scenario runner, a library shared by the connfail CLI and the property
// tests: runs one valid Scenario on one transport with one seed and returns
// the verdict with its findings and the time series for the reports.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "connfail/scenarios/model.h"
#include "connfail/scenarios/result.h"

namespace connfail::scenarios {

struct RunOptions {
  TransportKind transport = TransportKind::Sim;
  std::uint32_t seed = 1;
  /// "" runs the correct code; otherwise a known-bug variant (known_variants()).
  std::string variant;
  /// Sampling interval of the time series, scenario time.
  Duration sample_every = std::chrono::seconds(1);
  /// Sim only: when set, every link is captured to
  /// "<pcap_prefix>-<node>-<peer>.pcap" (simulated timestamps).
  std::string pcap_prefix;
  /// Sim only: ns-3's linear endpoint lookup instead of the sim's hash index
  /// (sim::WorldConfig::linear_demux). Same results; for the test that says so.
  bool linear_demux = false;
  /// A server run as a process (the `process` kind) writes its stdout and
  /// stderr to <artifacts_dir>/server.stdout and server.stderr; "": a
  /// temporary directory, removed after the run.
  std::string artifacts_dir;
  /// Asio only: run in a network namespace of its own even when no fault
  /// needs one (partitions and vanished hosts become packet drops too).
  /// A loss fault always does. Needs root, `ip` and `nft`.
  bool netns = false;
};

/// Why `s` cannot run on the real transport on this machine ("" when it
/// can): it has a fault that needs a network namespace, which this machine
/// or user cannot make. `force_netns`: RunOptions::netns.
std::string asio_unavailable_reason(const Scenario& s, bool force_netns = false);
/// Whether a run of `s` on asio happens in a network namespace of its own.
bool asio_needs_namespace(const Scenario& s);

/// Runs `s` (already validated). Never throws for a scenario the parser
/// accepted: a failure to set up (e.g. a port in use) is a finding of kind
/// run-error and a failed run.
RunResult run_scenario(const Scenario& s, const RunOptions& opts);

/// Pairs the runs of one scenario, seed and variant on sim and on asio
/// (either status n/a: not compared) and says whether they agree; adds a
/// `transport-disagreement` finding to the asio run of each pair that does
/// not (and marks it failed).
std::vector<TransportComparison> compare_transports(std::vector<RunResult>& runs);

struct VariantInfo {
  std::string name;
  std::string description;
};
/// The registered known-bug variants (scenarios/registry.h), deliberately
/// broken and kept out of netcore.
std::vector<VariantInfo> known_variants();
bool is_known_variant(const std::string& name);

}  // namespace connfail::scenarios
