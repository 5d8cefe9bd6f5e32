// connfail's properties, callable for any registered server kind: a user's
// ctest runs them against their own pipeline (CMake: connfail::properties,
// with find_package(connfail CONFIG REQUIRED COMPONENTS properties)).
//
//   #include "connfail/property-tests/properties.h"
//
//   connfail::props::Target gateway() {
//     auto t = connfail::props::Target::of("gateway", "gateway-client");
//     t.handlers = {"frame-decoder", "sessions"};  // what handler-exception faults may name
//     t.cli = "gateway-connfail";                  // the executable that replays a counterexample
//     return t;
//   }
//   TEST(Gateway, NoLeaks) { EXPECT_TRUE(connfail::props::check(connfail::props::Property::NoLeaks, gateway())); }
//
// Each property generates scenarios (client groups of the target's
// behaviour, fault schedules) on the simulated transport. On a failure
// RapidCheck shrinks the case; the smallest is written as a scenario file
// that names the target's server kind, and the failure message says
// "<cli> replay <file>". RC_PARAMS works as usual (max_success=N,
// seed=N, reproduce=...).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "connfail/property-tests/property_support.h"
#include "connfail/property-tests/scenario_gen.h"

namespace connfail::props {

enum class Property {
  /// No orphan socket, no CLOSE_WAIT past grace, no channel left open to a
  /// peer that is gone, no timer left behind, echoes intact, no run error --
  /// under any fault (loss, jitter, half-open hosts, partitions, pauses,
  /// RSTs, handler exceptions, accept failures).
  NoLeaks,
  /// Hosts that vanish (half-open peers) are reaped within the server's
  /// reader idle + 2 s; healthy clients (loss <= 1 %, small jitter) are never
  /// closed. Needs a server kind whose plan states a reader idle time.
  HalfOpenReaped,
  /// Child registrations that fail (every k-th, or with a probability)
  /// leave no socket behind; every accepted child is in the ledger.
  AcceptFailuresLeaveNothing,
  /// Every socket's TCP state changes along the state machine's edges only;
  /// the ledgers are consistent.
  TcpStatesForward,
  /// The same scenario and seed run twice give byte-identical reports.
  SameSeedSameReport,
  /// Reconnecting clients hit by connection resets, short partitions and
  /// server restarts are back, on a connection that stays up 3 s, within
  /// 40 s; nothing leaks. Needs a client behaviour that reconnects.
  ClientsComeBack,
};
const char* to_string(Property p);

struct CheckOptions {
  /// Cases to try (0: RapidCheck's default). RC_PARAMS's max_success, when
  /// set, wins over this.
  int max_success = 0;
  /// Where the counterexample goes ("" = failures_dir()).
  std::string failures_dir;
  /// Run against this known-bug variant ("" = the target as registered).
  std::string variant;
};

/// Runs `p` against `t`: success, or a failure holding the violations and
/// the replay command of the shrunk counterexample.
::testing::AssertionResult check(Property p, const Target& t, const CheckOptions& options = {});

/// The proof that `p` can fail: runs it against `t` under `variant` with a
/// fixed seed (unless RC_PARAMS sets one) and up to 1,000 cases, and
/// returns the shrunk counterexample (nullopt: none found), written to
/// `dir`.
std::optional<Counterexample> find_counterexample(Property p, const Target& t, const std::string& variant,
                                                  const std::string& dir);

}  // namespace connfail::props
