// The session gateway's gate: every scenario passes on the transports it
// declares (sim and Asio); the known relogin bug fails with the finding
// that says what happened; connfail's properties hold for the gateway, and
// against the buggy variant one finds, shrinks and writes a counterexample
// that replays to the same failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "connfail/property-tests/properties.h"
#include "connfail/scenarios/gtest/scenario_test.h"
#include "connfail/scenarios/parser.h"
#include "gateway/gateway.h"

namespace {

namespace fs = std::filesystem;
using connfail::gtest::asio;
using connfail::gtest::sim;

// [snippet:register-tests]
const bool kRegistered = gateway::register_gateway();

std::string scenario(const char* stem) { return (fs::path(GATEWAY_SCENARIOS) / (std::string(stem) + ".yaml")).string(); }

// One test per scenario file and transport it declares:
// GatewayScenarios.<file>_<transport>.
const bool kScenarioTests = connfail::gtest::register_scenario_tests("GatewayScenarios", GATEWAY_SCENARIOS);

TEST(Gateway, RegistersItsKindBehaviourAndVariant) { ASSERT_TRUE(kRegistered && kScenarioTests); }
// [end-snippet]

// [snippet:fails-with]
// The known bug: a client that comes back after a blip is killed on login,
// again and again.
TEST(Gateway, ReloginBugFailsOnSim) {
  EXPECT_TRUE(connfail::gtest::fails_with(scenario("relogin-after-blip"), sim, "gateway-relogin-kills-new",
                                          "not-reconnected"));
}

TEST(Gateway, ReloginBugFailsOnAsio) {
  EXPECT_TRUE(connfail::gtest::fails_with(scenario("relogin-after-blip"), asio, "gateway-relogin-kills-new",
                                          "not-reconnected"));
}
// [end-snippet]

// The pipeline-order bug: PINGs never reach the session handler.
TEST(Gateway, SessionsAfterPingFailsOnSim) {
  EXPECT_TRUE(connfail::gtest::fails_with(scenario("heartbeat-only"), sim, "gateway-sessions-after-ping",
                                          "healthy-closed"));
}

TEST(Gateway, SessionsAfterPingFailsOnAsio) {
  EXPECT_TRUE(connfail::gtest::fails_with(scenario("heartbeat-only"), asio, "gateway-sessions-after-ping",
                                          "healthy-closed"));
}

// [snippet:target]
connfail::props::Target gateway_target() {
  auto t = connfail::props::Target::of("gateway", "gateway-client");
  t.handlers = {"frame-decoder", "sessions", "heartbeat", "echo"};
  t.cli = GATEWAY_CLI;
  return t;
}
// [end-snippet]

// [snippet:properties]
TEST(GatewayProperties, NoConnectionLeaks) {
  connfail::props::CheckOptions o;
  o.max_success = 40;
  EXPECT_TRUE(connfail::props::check(connfail::props::Property::NoLeaks, gateway_target(), o));
}

TEST(GatewayProperties, ClientsComeBack) {
  connfail::props::CheckOptions o;
  o.max_success = 60;
  EXPECT_TRUE(connfail::props::check(connfail::props::Property::ClientsComeBack, gateway_target(), o));
}
// [end-snippet]

// [snippet:proof]
// The proof the property can fail: against the relogin bug it finds a case,
// shrinks it, and the file it writes names the gateway and replays (through
// the runner, as `gateway-connfail replay FILE --variant ...` would) to the
// same failure -- and the correct gateway passes it.
TEST(GatewayProperties, FindsTheReloginBugAndItsCounterexampleReplays) {
  const char* env = std::getenv("CONNFAIL_FAILURES_DIR");
  const std::string dir = env && *env ? env : "connfail-failures";
  const auto cx = connfail::props::find_counterexample(connfail::props::Property::ClientsComeBack, gateway_target(),
                                                       "gateway-relogin-kills-new", dir);
  ASSERT_TRUE(cx.has_value()) << "no counterexample against the relogin bug";
  const auto size = connfail::props::size_of(cx->scenario);
  EXPECT_LE(size.clients, 3) << connfail::scenarios::to_yaml(cx->scenario);
  EXPECT_LE(size.faults, 2) << connfail::scenarios::to_yaml(cx->scenario);
  const auto parsed = connfail::scenarios::parse_scenario_file(cx->file);
  ASSERT_TRUE(parsed.ok()) << parsed.errors.front().to_string();
  EXPECT_EQ(parsed.scenario->server.kind, "gateway") << "the counterexample names the gateway";
  const auto again = connfail::props::run_sim(*parsed.scenario, "gateway-relogin-kills-new");
  const auto why = connfail::props::clients_come_back(*parsed.scenario, again);
  EXPECT_TRUE(std::any_of(why.begin(), why.end(), [](const std::string& w) { return w.rfind("not-reconnected", 0) == 0; }))
      << "the replay did not fail the same way";
  EXPECT_TRUE(connfail::props::clients_come_back(*parsed.scenario, connfail::props::run_sim(*parsed.scenario)).empty())
      << "the correct gateway fails the shrunk case too";
  std::printf("counterexample: %s\n", connfail::props::replay_command(cx->file, "gateway-relogin-kills-new", GATEWAY_CLI).c_str());
}
// [end-snippet]

}  // namespace
