// connfail::gtest, the helpers a user's ctest calls: passes() and
// fails_with() say why in their message, each is shown to fail where it
// must, and register_scenario_tests() adds one test per file and transport.
#include "connfail/scenarios/gtest/scenario_test.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;
using connfail::gtest::asio;
using connfail::gtest::sim;

std::string suite(const char* stem) {
  return (fs::path(CONNFAIL_SOURCE_DIR) / "scenarios" / (std::string(stem) + ".yaml")).string();
}

TEST(GtestHelper, PassesOnBothTransportsAndSaysHowManyRuns) {
  const auto r = connfail::gtest::passes(suite("rst-clients"), sim);
  EXPECT_TRUE(r) << r.message();
  EXPECT_NE(std::string(r.message()).find("1 run(s)"), std::string::npos) << r.message();
  EXPECT_TRUE(connfail::gtest::passes(suite("rst-clients"), asio));
}

TEST(GtestHelper, AFailedRunFailsWithEveryFindingInTheMessage) {
  connfail::gtest::RunSpec spec;
  spec.variant = "accept-swallows-oom";
  const auto r = connfail::gtest::passes(suite("accept-oom"), sim, spec);
  ASSERT_FALSE(r);
  const std::string m = r.message();
  EXPECT_NE(m.find("accept-oom [sim seed=1 variant=accept-swallows-oom]: FAIL"), std::string::npos) << m;
  EXPECT_NE(m.find("orphan: socket on server"), std::string::npos) << m;
  EXPECT_NE(m.find("fault seen: accept-failure (every 3) at 0s"), std::string::npos) << m;
}

TEST(GtestHelper, ATransportTheFileDoesNotDeclareIsAFailureNotASkip) {
  // Every default scenario declares both transports; this fixture, sim only.
  const auto r = connfail::gtest::passes(
      (fs::path(CONNFAIL_SOURCE_DIR) / "tests" / "fixtures" / "scenarios" / "good" / "sim-link-faults.yaml").string(),
      asio);
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("does not declare the asio transport"), std::string::npos) << r.message();
}

TEST(GtestHelper, AMalformedFileFailsWithItsParseErrors) {
  const std::string bad =
      (fs::path(CONNFAIL_SOURCE_DIR) / "tests" / "fixtures" / "scenarios" / "bad" / "unknown-server-kind.yaml").string();
  const auto r = connfail::gtest::passes(bad, sim);
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("unknown-server-kind.yaml:3:9: server.kind: unknown server kind 'gatway'"),
            std::string::npos)
      << r.message();
}

TEST(GtestHelper, FailsWithHoldsForTheVariantAndNotForTheCorrectCodeOrAnotherFinding) {
  EXPECT_TRUE(connfail::gtest::fails_with(suite("proxy-one-side-dies"), sim, "proxy-no-close", "stale-channel"));
  // The right variant, the wrong finding kind: not a proof.
  const auto wrong = connfail::gtest::fails_with(suite("proxy-one-side-dies"), sim, "proxy-no-close", "orphan");
  EXPECT_FALSE(wrong);
  // A variant that changes nothing in the scenario proves nothing.
  const auto unrelated = connfail::gtest::fails_with(suite("rst-clients"), sim, "proxy-no-close", "stale-channel");
  ASSERT_FALSE(unrelated);
  EXPECT_NE(std::string(unrelated.message()).find("changes nothing"), std::string::npos) << unrelated.message();
}

// One test per default scenario file and declared transport, registered at
// start-up; ctest lists them as GtestHelperSuite.<stem>_<transport>.
const bool kRegistered =
    connfail::gtest::register_scenario_tests("GtestHelperSuite", (fs::path(CONNFAIL_SOURCE_DIR) / "scenarios").string());
// A directory with a file that declares sim only (ctest does not run these:
// its filter takes GtestHelperSuite.rst_clients_* only).
const bool kRegisteredFixtures = connfail::gtest::register_scenario_tests(
    "GtestHelperFixtures", (fs::path(CONNFAIL_SOURCE_DIR) / "tests" / "fixtures" / "scenarios" / "good").string());

TEST(GtestHelper, RegistersOneTestPerFileAndDeclaredTransport) {
  ASSERT_TRUE(kRegistered);
  ASSERT_TRUE(kRegisteredFixtures);
  const auto* unit = ::testing::UnitTest::GetInstance();
  std::vector<std::string> names;
  for (int i = 0; i < unit->total_test_suite_count(); ++i) {
    const auto* ts = unit->GetTestSuite(i);
    const std::string suite_name = ts->name();
    if (suite_name != "GtestHelperSuite" && suite_name != "GtestHelperFixtures") continue;
    for (int j = 0; j < ts->total_test_count(); ++j) names.push_back(ts->GetTestInfo(j)->name());
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "rst_clients_sim"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "rst_clients_asio"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "sim_link_faults_sim"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "sim_link_faults_asio"), names.end())
      << "only the transports a file declares";
}

}  // namespace
