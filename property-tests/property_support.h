// What the scenario properties share: running a generated scenario on the
// simulated transport, writing a failing one as a replayable scenario file,
// and the checks behind each property (so that the known-bug proofs run
// exactly the check the property runs).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "connfail/property-tests/scenario_gen.h"
#include "connfail/scenarios/result.h"
#include "connfail/scenarios/runner.h"

namespace connfail::props {

/// A property's verdict on one run: empty = holds, else why not (one line
/// per violation, each starting with the finding kind or check name).
using Violations = std::vector<std::string>;
using Check = std::function<Violations(const scenarios::Scenario&, const scenarios::RunResult&)>;

/// Runs `s` on sim with its first seed, against `variant` ("" = correct code).
scenarios::RunResult run_sim(const scenarios::Scenario& s, const std::string& variant = "");

// ---- The checks (one per property).

/// No connection leaks: no orphan, no CLOSE_WAIT past grace, no channel left
/// open to a peer that is gone (ledger and inventory agree), no timer left
/// for a closed channel, echoes intact, no run error.
Violations no_leaks(const scenarios::Scenario& s, const scenarios::RunResult& r);
/// Half-open peers reaped within reader idle + grace; healthy heartbeating
/// clients never closed (the scenario's own expectations), plus no_leaks.
Violations half_open_and_healthy(const scenarios::Scenario& s, const scenarios::RunResult& r);
/// Proxy: every client whose path no fault touched got back every byte it
/// sent up to 1 s before its end, in order; nothing of any client's echo was
/// lost in the middle, duplicated or reordered; both sides always closed
/// (no stale channel, no orphan).
Violations proxy_exact_and_closed(const scenarios::Scenario& s, const scenarios::RunResult& r);
/// Accept failures: no socket left behind whatever the rate; every accepted
/// child is in the server ledger (closed), as many as clients connected.
Violations accept_failure_leaves_nothing(const scenarios::Scenario& s, const scenarios::RunResult& r);
/// The TCP state machine never goes backwards for a socket (every change is
/// an edge of RFC 793's diagram, as ns-3 implements it), and the ledgers are
/// consistent (opened before closed, one record per socket).
Violations state_machine_and_ledger(const scenarios::Scenario& s, const scenarios::RunResult& r);
/// Reconnecting clients come back (not-reconnected), plus no_leaks.
Violations clients_come_back(const scenarios::Scenario& s, const scenarios::RunResult& r);
/// The same scenario run again gives a byte-identical report.json (runs it a
/// second time).
Violations same_report(const scenarios::Scenario& s, const scenarios::RunResult& r);
/// The edge check alone, for a list of changes (tests show it rejects a
/// backwards sequence).
Violations illegal_transitions(const std::vector<scenarios::SocketStateChange>& changes);

// ---- Counterexamples.

/// Where counterexamples go: $CONNFAIL_FAILURES_DIR, else the default
/// (./connfail-failures, relative to the test's working directory; this
/// project's own tests set <source>/property-tests/failures).
std::string failures_dir();
void set_default_failures_dir(const std::string& dir);
/// Writes `s` as "<dir>/<property>-<seed>.yaml" (atomically) and remembers
/// it as this test's counterexample; returns the path.
std::string write_counterexample(const std::string& property, const scenarios::Scenario& s,
                                 const std::string& variant, const Violations& why,
                                 const std::string& dir = failures_dir(), const std::string& cli = "connfail");

/// Forgets the counterexample written last, so that the next one written
/// does not replace it on disk (shrinking keeps only the smallest of one
/// property's; a new property starts afresh).
void forget_counterexample();

/// The property body every RC_GTEST_PROP uses: runs, checks, and on a
/// violation writes the counterexample (the last one written during
/// shrinking is the smallest) and fails the case.
void hold(const std::string& property, const scenarios::Scenario& s, const Check& check,
          const std::string& variant = "", const std::string& cli = "connfail");

/// Proof that a property can fail: runs `check` as a RapidCheck property
/// over `family` against `variant` and returns the shrunk counterexample
/// (nullopt if RapidCheck found none).
struct Counterexample {
  scenarios::Scenario scenario;
  Violations why;
  std::string file;  // the replayable scenario written for it
  int cases_run = 0;  // property evaluations, shrinking included
};
std::optional<Counterexample> find_counterexample(const std::string& property, Family family, const Check& check,
                                                  const std::string& variant, const std::string& dir,
                                                  const Target& target = {});

/// "<cli> replay <file> [--variant V]": printed at the end of a failed test.
std::string replay_command(const std::string& file, const std::string& variant, const std::string& cli = "connfail");

/// Installs the gtest listener that prints the replay command of every
/// counterexample written during a failed test.
void install_replay_printer();

}  // namespace connfail::props
