// What a run of one scenario on one transport with one seed produced: the
// verdict, the findings behind it, and the time series the reports plot.
// Everything here is deterministic on sim (no wall-clock value), except
// `wall_seconds`, which report.json leaves out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "connfail/netcore/connection_ledger.h"
#include "connfail/scenarios/model.h"

namespace connfail::scenarios {

/// One reason a run failed.
struct Finding {
  /// orphan | close-wait | stale-channel | half-open-unreaped | healthy-closed |
  /// max-open | ledger-count | fd-delta | pending-timers | echo-mismatch |
  /// not-reconnected | run-error; for a server run as a process also
  /// left-open | server-exited; transport-disagreement (the same scenario's
  /// run on the other transport came out differently)
  std::string kind;
  std::string message;     // one line a person can act on
  /// What the finding rests on: "inventory" (the transport's sockets at the
  /// verdict), "ledger" (netcore's record of channels), "client" (what the
  /// clients observed), "timers", "fd-count", "harness", "process" (how a
  /// server process ended), "comparison" (the run on the other transport).
  std::string evidence;
  std::string connection;  // "10.1.1.1:49153 -> 10.1.0.1:7000" or "" when not about one
  std::vector<std::string> history;  // "t=12.000s opened", "t=40.000s CLOSE_WAIT", ...
  std::vector<std::string> faults_seen;  // "half-open at 20s (client group 'a')", ...
};

/// A run-error finding: the harness could not do its part.
inline Finding run_error(std::string message) {
  Finding f;
  f.kind = "run-error";
  f.message = std::move(message);
  f.evidence = "harness";
  return f;
}

/// Open connections per TCP state at one moment (server and backend nodes,
/// clients on hosts that did not vanish).
struct Sample {
  double t = 0;  // scenario seconds
  std::map<std::string, int> by_state;  // "ESTABLISHED" -> 12, ...
  int open_channels = 0;  // ledger entries open (server side)
  int open_backend_channels = 0;  // the backend's ledger entries open (proxies)
};

/// A fault as it happened, for the timeline.
struct FaultEvent {
  double start = 0;  // scenario seconds
  double end = 0;    // == start for instantaneous faults; == run end for "until the end"
  std::string kind;  // to_string(FaultKind)
  std::string target;  // "all", group names, "server"
  /// "handler-exception (handler echo, event read, nth 3) at 2s (server)":
  /// what tells it from another fault of its kind.
  std::string label;
};

/// What one client sent and got back (echo and heartbeat clients with
/// requests). In-process only: not in report.json.
struct ClientOutcome {
  std::string group;
  int index = 0;
  bool connected = false;
  std::uint64_t bytes_sent = 0;      // request payload bytes written
  std::uint64_t bytes_received = 0;  // echoed payload bytes read back
  /// Every byte read back equals the byte sent at that offset: nothing was
  /// lost in the middle, duplicated, reordered or corrupted (bytes still in
  /// flight at the end are fine).
  bool echo_in_order = true;
  /// Bytes sent at least 1 s (scenario time) before the client's channel
  /// closed (or the run ended): with no fault on the path, all of these must
  /// have come back.
  std::uint64_t bytes_sent_1s_before_end = 0;
  double closed_at = -1;  // scenario seconds; -1: still open at the verdict (last connection)
  std::string close_reason;  // to_string(CloseReason) once closed (last connection)
  int connections = 0;  // connections it made (reconnects included)
  int reconnects = 0;   // connects it started after its first
};

/// One TCP state change of a socket (sim only). In-process only.
struct SocketStateChange {
  double t = 0;  // scenario seconds
  std::uint64_t socket = 0;
  std::string node;
  netcore::TcpState from = netcore::TcpState::Closed;
  netcore::TcpState to = netcore::TcpState::Closed;
  netcore::Address local, remote;
};

struct RunResult {
  std::string scenario;
  std::string file;
  std::string description;
  TransportKind transport = TransportKind::Sim;
  std::uint32_t seed = 1;
  std::string variant;  // "" = correct code
  std::string server_kind;  // the registered server kind that ran
  /// pass | fail (a finding) | inconclusive (no finding, but something the
  /// scenario asks for could not be judged) | n/a (not run: the variant
  /// changes nothing in this scenario). `notes` says why for the last two.
  std::string status;  // "" (set by hand, not by the runner): pass or fail, from `passed`
  std::vector<std::string> notes;
  /// Asio: where the run's packets went -- "loopback", or "namespace NAME"
  /// when packet-level faults ran it in a network namespace of its own
  /// ("" on sim).
  std::string network;
  bool passed = false;  // status == "pass"
  std::vector<Finding> findings;
  std::vector<Sample> samples;   // one per sampling interval, in time order
  std::vector<FaultEvent> faults;
  /// Server-side ledger counts by close reason, plus "open".
  std::map<std::string, std::uint64_t> ledger;
  /// The same for every connection the clients made.
  std::map<std::string, std::uint64_t> client_ledger;
  std::uint64_t connections_opened = 0;  // server-side channels
  std::uint64_t client_connects_ok = 0;
  std::uint64_t client_connects_failed = 0;
  /// Connects clients started after their first (reconnecting behaviours).
  std::uint64_t reconnects = 0;
  std::uint64_t bytes_echoed = 0;
  double scenario_seconds = 0;  // duration + quiesce
  std::uint64_t trace_hash = 0;  // sim only; 0 on asio
  double wall_seconds = 0;       // not in report.json
  // In-process only (property tests), not in report.json:
  std::vector<ClientOutcome> clients;  // one per client, in group order
  std::vector<SocketStateChange> state_changes;  // sim: every socket's TCP state changes, in time order
  /// Every ledger entry (server, backend, client ledgers), at the verdict.
  std::vector<netcore::LedgerEntry> ledger_entries;
};

/// The run's status: `status`, or pass/fail from `passed` when it is unset.
inline std::string status_of(const RunResult& r) {
  if (!r.status.empty()) return r.status;
  return r.passed ? "pass" : "fail";
}

/// A (scenario, transport) an invocation was asked for and did not run, and
/// why (e.g. `--transport both` on a scenario with a simulated-only fault).
struct Skipped {
  std::string scenario;
  std::string file;
  TransportKind transport = TransportKind::Sim;
  std::string reason;
};

/// One scenario (seed, variant) that ran on both transports, side by side.
/// They agree when their statuses are the same and, when both failed, with
/// the same kinds of finding. A disagreement is also a finding of kind
/// `transport-disagreement` on the real transport's run (which then fails).
struct TransportComparison {
  std::string scenario;
  std::string file;
  std::uint32_t seed = 1;
  std::string variant;
  std::string sim_status, asio_status;
  std::vector<std::string> sim_findings, asio_findings;  // finding kinds, sorted, each once
  std::map<std::string, std::uint64_t> sim_ledger, asio_ledger;                // server side
  std::map<std::string, std::uint64_t> sim_client_ledger, asio_client_ledger;  // clients
  bool agree = true;
  std::string why;  // what differs ("" when they agree)
};

/// A whole invocation: every scenario x transport x seed it ran.
struct Report {
  std::string connfail_version;
  std::vector<RunResult> runs;
  std::vector<Skipped> skipped;
  /// Every (scenario, seed, variant) that ran on both transports.
  std::vector<TransportComparison> comparisons;
  /// Every run passed or was not applicable.
  bool passed() const {
    for (const auto& r : runs)
      if (!r.passed && status_of(r) != "n/a") return false;
    return true;
  }
};

}  // namespace connfail::scenarios
