// GoogleTest helpers: run a scenario file against the registered server it
// names, on sim or on Asio, from a user's own ctest (CMake:
// connfail::gtest, with find_package(connfail CONFIG REQUIRED COMPONENTS
// gtest)). One line per test:
//
//   #include "connfail/scenarios/gtest/scenario_test.h"
//
//   TEST(Gateway, HalfOpenUnderLoss) {
//     EXPECT_TRUE(connfail::gtest::passes("scenarios/half-open.yaml", connfail::gtest::sim));
//   }
//   TEST(Gateway, ReloginBugIsCaught) {
//     EXPECT_TRUE(connfail::gtest::fails_with("scenarios/relogin.yaml", connfail::gtest::asio,
//                                             "gateway-relogin-kills-new", "not-reconnected"));
//   }
//
// or one test per scenario file and declared transport, registered at
// start-up (before RUN_ALL_TESTS, e.g. from a static initializer):
//
//   const bool registered = connfail::gtest::register_scenario_tests("GatewayScenarios", "scenarios");
//
// A failure's message is every finding of every failed run (kind, message,
// connection and its history), so the ctest log says why without a report.
// Set CONNFAIL_REPORTS=DIR to also write each run's reports (JSON, Markdown,
// HTML, JUnit) to DIR/<test name>/.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "connfail/scenarios/model.h"

namespace connfail::gtest {

using scenarios::TransportKind;
constexpr TransportKind sim = TransportKind::Sim;
constexpr TransportKind asio = TransportKind::Asio;

struct RunSpec {
  /// A known-bug variant to run against ("" = the server as registered).
  std::string variant;
  /// Run only this seed instead of every seed the scenario lists.
  std::optional<std::uint32_t> seed;
};

/// Parses `file` and runs each of its seeds on `transport`. Success when
/// the file is valid, declares `transport`, and every run passed; otherwise
/// a failure saying why (parse errors with file:line:column, or every
/// finding).
::testing::AssertionResult passes(const std::string& file, TransportKind transport, const RunSpec& spec = {});

/// The proof that a check can fail: the scenario under `variant` fails on
/// `transport` with at least one finding of kind `finding` (and the variant
/// changes something in it). A pass, or a failure only for other reasons,
/// is a test failure that lists what happened.
::testing::AssertionResult fails_with(const std::string& file, TransportKind transport, const std::string& variant,
                                      const std::string& finding);

/// Registers, into GoogleTest, one `passes` test per scenario file under
/// `path` (a file, or a directory's *.yaml) and per transport the file
/// declares, named "<suite>.<file stem>_<transport>". Only the file's
/// `transports:` is read now; the file is parsed when its test runs, so a
/// server kind registered by another static initializer is known by then,
/// and a file that does not parse fails its test with the errors. Returns
/// true, for use in a static initializer.
bool register_scenario_tests(const std::string& suite, const std::string& path);

}  // namespace connfail::gtest
