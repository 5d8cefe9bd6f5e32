// Properties of the whole system on the simulated transport, over generated
// workloads and fault schedules (property-tests/scenario_gen.h), and the
// proof that each leak property can fail: run against the matching
// known-bug variant, RapidCheck must find a counterexample, shrink it to a
// small one, and the scenario file written for it must replay to the same
// failure.
//
// A failing property writes its shrunk counterexample to
// property-tests/failures/<property>-<seed>.yaml (or $CONNFAIL_FAILURES_DIR)
// and prints `connfail replay <file>`; RapidCheck prints its own reproduce
// string (RC_PARAMS="reproduce=...") at the end. RC_PARAMS="max_success=N"
// raises the number of cases (default 100).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "connfail/property-tests/property_support.h"
#include "connfail/reports/report_writer.h"
#include "connfail/scenarios/parser.h"
#include "connfail/sim/cf_tcp_socket.h"

namespace {

namespace fs = std::filesystem;
using namespace connfail::props;
using connfail::scenarios::RunResult;
using connfail::scenarios::Scenario;

const bool kPrinter = (install_replay_printer(),
                       set_default_failures_dir((fs::path(CONNFAIL_SOURCE_DIR) / "property-tests" / "failures").string()),
                       true);

// ------------------------------------------------------------ the properties

RC_GTEST_PROP(ScenarioProperties, NoConnectionLeaks, ()) {
  hold("no-leaks", *gen_scenario(Family::Any), no_leaks);
}

RC_GTEST_PROP(ScenarioProperties, HalfOpenPeersAreReapedAndHealthyClientsKept, ()) {
  hold("half-open", *gen_scenario(Family::HalfOpen), half_open_and_healthy);
}

RC_GTEST_PROP(ScenarioProperties, ProxyNeverLosesDuplicatesOrReordersAndClosesBothSides, ()) {
  hold("proxy", *gen_scenario(Family::Proxy), proxy_exact_and_closed);
}

RC_GTEST_PROP(ScenarioProperties, AcceptFailuresNeverLeaveASocketBehind, ()) {
  hold("accept-failure", *gen_scenario(Family::AcceptFailure), accept_failure_leaves_nothing);
}

RC_GTEST_PROP(ScenarioProperties, ReconnectingClientsComeBackAfterResetsPartitionsAndRestarts, ()) {
  hold("clients-come-back", *gen_scenario(Family::Reconnect), clients_come_back);
}

RC_GTEST_PROP(ScenarioProperties, TcpStateMachineNeverGoesBackwardsAndLedgerIsConsistent, ()) {
  hold("tcp-state", *gen_scenario(Family::Any), state_machine_and_ledger);
}

RC_GTEST_PROP(ScenarioProperties, SameScenarioTwiceGivesIdenticalReports, ()) {
  const Scenario s = *gen_scenario(Family::Any);
  connfail::scenarios::Report a, b;
  a.connfail_version = b.connfail_version = "property";
  a.runs.push_back(run_sim(s));
  b.runs.push_back(run_sim(s));
  const std::string ja = connfail::reports::to_json(a).dump();
  const std::string jb = connfail::reports::to_json(b).dump();
  if (ja != jb || a.runs[0].state_changes.size() != b.runs[0].state_changes.size()) {
    const std::string file = write_counterexample("determinism", s, "", {"report.json differs between two runs"});
    RC_FAIL("two runs of the same scenario gave different reports: " + replay_command(file, ""));
  }
  RC_ASSERT(a.runs[0].trace_hash != 0u);
}

RC_GTEST_PROP(ScenarioProperties, GeneratedScenariosAreValidAndRoundTripThroughYaml, ()) {
  const auto family =
      *rc::gen::element(Family::Any, Family::HalfOpen, Family::Proxy, Family::AcceptFailure, Family::Reconnect);
  const Scenario s = *gen_scenario(family);
  const std::string y = connfail::scenarios::to_yaml(s);
  const auto back = connfail::scenarios::parse_scenario_text(y, "generated.yaml");
  RC_ASSERT(back.ok());
  RC_ASSERT(connfail::scenarios::to_yaml(*back.scenario) == y);
}

// ------------------------------------------- the checks themselves can fail

TEST(PropertyChecks, StateMachineCheckRejectsABackwardsSequence) {
  using netcore::TcpState;
  std::vector<connfail::scenarios::SocketStateChange> ok = {
      {0.1, 1, "client0", TcpState::Closed, TcpState::SynSent, {}, {}},
      {0.2, 1, "client0", TcpState::SynSent, TcpState::Established, {}, {}},
      {0.3, 1, "client0", TcpState::Established, TcpState::FinWait1, {}, {}},
      {0.4, 1, "client0", TcpState::FinWait1, TcpState::TimeWait, {}, {}},
  };
  EXPECT_TRUE(illegal_transitions(ok).empty());
  auto back = ok;
  back.push_back({0.5, 1, "client0", TcpState::TimeWait, TcpState::Established, {}, {}});
  EXPECT_EQ(illegal_transitions(back).size(), 1u);
  auto gap = ok;
  gap.push_back({0.5, 1, "client0", TcpState::CloseWait, TcpState::LastAck, {}, {}});  // never was in CLOSE_WAIT
  EXPECT_FALSE(illegal_transitions(gap).empty());
}

// ------------------------------------------------ the proofs: known bugs fail

struct Proof {
  const char* property;
  Family family;
  Check check;
  const char* variant;
  std::vector<std::string> findings;  // the shrunk case must show one of these violations
  int max_clients;      // the shrunk case must be at most this big
  int max_faults;
};

void PrintTo(const Proof& p, std::ostream* os) { *os << p.property << " vs " << p.variant; }

class KnownBugIsFound : public testing::TestWithParam<Proof> {};

TEST_P(KnownBugIsFound, ShrinksToASmallCaseThatReplaysToTheSameFailure) {
  const Proof& p = GetParam();
  const std::string dir = (fs::path(CONNFAIL_BINARY_DIR) / "expected-failures").string();
  const auto started = std::chrono::steady_clock::now();
  const auto cx = find_counterexample(p.property, p.family, p.check, p.variant, dir);
  ASSERT_TRUE(cx.has_value()) << "RapidCheck found no counterexample against " << p.variant;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const Size z = size_of(cx->scenario);
  std::printf("[ shrunk   ] %s vs %s: %d group(s), %d client(s), %d fault(s) after %d evaluations in %.1f s -> %s\n",
              p.property, p.variant, z.groups, z.clients, z.faults, cx->cases_run, secs, cx->file.c_str());
  EXPECT_LE(z.clients, p.max_clients) << connfail::scenarios::to_yaml(cx->scenario);
  EXPECT_LE(z.faults, p.max_faults) << connfail::scenarios::to_yaml(cx->scenario);
  const auto has = [&](const Violations& v) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& w) {
      return std::any_of(p.findings.begin(), p.findings.end(), [&](const std::string& k) { return w.rfind(k, 0) == 0; });
    });
  };
  EXPECT_TRUE(has(cx->why)) << "the shrunk case fails for another reason:\n" << cx->why.front();

  // The written file is a scenario the CLI accepts, and replaying it fails
  // the same way -- and passes on the correct code.
  const auto parsed = connfail::scenarios::parse_scenario_file(cx->file);
  ASSERT_TRUE(parsed.ok()) << parsed.errors.front().to_string();
  const RunResult again = run_sim(*parsed.scenario, p.variant);
  EXPECT_TRUE(has(p.check(*parsed.scenario, again))) << "the replay did not fail the same way";
  const RunResult correct = run_sim(*parsed.scenario);
  EXPECT_TRUE(p.check(*parsed.scenario, correct).empty()) << "the correct code fails the shrunk case too";
}

INSTANTIATE_TEST_SUITE_P(
    Properties, KnownBugIsFound,
    testing::Values(
        Proof{"no-leaks", Family::Any, no_leaks, "accept-swallows-oom", {"orphan", "close-wait"}, 3, 2},
        Proof{"no-leaks-timers", Family::Any, no_leaks, "timer-leak", {"pending-timers"}, 3, 2},
        Proof{"half-open-idle-last", Family::HalfOpen, half_open_and_healthy, "idle-last", {"healthy-closed"}, 3, 2},
        Proof{"half-open-slow-heartbeat", Family::HalfOpen, half_open_and_healthy, "slow-heartbeat",
              {"healthy-closed"}, 3, 2},
        Proof{"proxy", Family::Proxy, proxy_exact_and_closed, "proxy-no-close", {"stale-channel"}, 3, 2},
        Proof{"accept-failure", Family::AcceptFailure, accept_failure_leaves_nothing, "accept-swallows-oom",
              {"orphan", "close-wait", "ledger"}, 3, 2},
        Proof{"clients-come-back", Family::Reconnect, clients_come_back, "reconnect-gives-up", {"not-reconnected"},
              3, 2}),
    [](const testing::TestParamInfo<Proof>& i) {
      std::string n = std::string(i.param.property) + "_vs_" + i.param.variant;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

}  // namespace

// A counterexample RapidCheck found (tcp-state): a proxy whose every child
// set-up fails (accept-failure every 1) under bursty loss. The client's
// last handshake ACK is lost and it closes at 1 s, so its FIN+ACK is what
// completes the handshake; the acceptor aborts the child from the accept
// notification, and ns-3 3.37 then processed the FIN on the CLOSED socket
// (CLOSED -> CLOSE_WAIT). The sim splits that segment (ACK, then FIN). The
// control turns the split off and the property check catches the edge.
TEST(PropertyRegressions, AFinCompletingTheHandshakeOfAnAbortedChildLeavesItClosed) {
  const auto file = std::filesystem::path(CONNFAIL_SOURCE_DIR) / "tests" / "fixtures" / "scenarios" / "regressions" /
                    "fin-completes-handshake-of-aborted-child.yaml";
  auto parsed = connfail::scenarios::parse_scenario_file(file.string());
  ASSERT_TRUE(parsed.ok());
  auto run = [&] {
    connfail::scenarios::RunOptions o;
    o.seed = parsed.scenario->seeds.front();
    o.transport = connfail::scenarios::TransportKind::Sim;
    return connfail::props::state_machine_and_ledger(*parsed.scenario,
                                                     connfail::scenarios::run_scenario(*parsed.scenario, o));
  };
  const auto fixed = run();
  EXPECT_TRUE(fixed.empty()) << fixed.front();
  std::vector<std::string> broken;
  {
    connfail::sim::CfTcpSocket::split_fin_in_syn_rcvd = false;
    struct Restore {
      ~Restore() { connfail::sim::CfTcpSocket::split_fin_in_syn_rcvd = true; }
    } restore;
    broken = run();
  }
  ASSERT_FALSE(broken.empty()) << "the check cannot see a CLOSED socket taken to CLOSE_WAIT";
  EXPECT_NE(broken.front().find("CLOSED -> CLOSE_WAIT"), std::string::npos) << broken.front();
}
