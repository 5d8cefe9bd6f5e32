#include "connfail/property-tests/properties.h"

#include <rapidcheck.h>
#include <rapidcheck/detail/Configuration.h>

#include <algorithm>
#include <cstdlib>

#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/registry.h"

namespace connfail::props {

const char* to_string(Property p) {
  switch (p) {
    case Property::NoLeaks: return "no-leaks";
    case Property::HalfOpenReaped: return "half-open";
    case Property::AcceptFailuresLeaveNothing: return "accept-failure";
    case Property::TcpStatesForward: return "tcp-state";
    case Property::SameSeedSameReport: return "determinism";
    case Property::ClientsComeBack: return "clients-come-back";
  }
  return "?";
}

namespace {

struct Shape {
  Family family;
  Check check;
};

Shape shape_of(Property p) {
  switch (p) {
    case Property::NoLeaks: return {Family::Any, no_leaks};
    case Property::HalfOpenReaped: return {Family::HalfOpen, half_open_and_healthy};
    case Property::AcceptFailuresLeaveNothing: return {Family::AcceptFailure, accept_failure_leaves_nothing};
    case Property::TcpStatesForward: return {Family::Any, state_machine_and_ledger};
    case Property::SameSeedSameReport: return {Family::Any, same_report};
    case Property::ClientsComeBack: return {Family::Reconnect, clients_come_back};
  }
  return {Family::Any, no_leaks};
}

/// Why `t` cannot run `p` ("" when it can).
std::string unusable(Property p, const Target& t) {
  if (!registration_errors().empty()) return "the registry refused an entry: " + registration_errors().front();
  if (t.builtin()) return "";
  if (scenarios::Registry::global().server(t.server_kind) == nullptr)
    return "server kind '" + t.server_kind + "' is not registered";
  if (scenarios::Registry::global().client(t.client_behaviour) == nullptr)
    return "client behaviour '" + t.client_behaviour + "' is not registered";
  if (p == Property::ClientsComeBack) {
    try {
      scenarios::ClientGroup g = scenarios::ClientGroup::of("g", t.client_behaviour);
      if (!t.client_options.values().empty()) g.options = t.client_options;
      if (!scenarios::make_client_plan(g, "", {}).reconnect)
        return "client behaviour '" + t.client_behaviour + "' does not reconnect (its plan has no reconnect policy)";
    } catch (const std::exception& e) {
      return "client behaviour '" + t.client_behaviour + "' cannot be built: " + e.what();
    }
  }
  if (p == Property::HalfOpenReaped) {
    scenarios::ServerSpec spec = scenarios::ServerSpec::of(t.server_kind);
    if (!t.server_options.values().empty()) spec.options = t.server_options;
    if (!scenarios::server_reader_idle(spec))
      return "server kind '" + t.server_kind +
             "' states no reader idle time in its plan (ServerPlan::reader_idle), so half-open peers have no "
             "deadline to be reaped by";
  }
  return "";
}

}  // namespace

::testing::AssertionResult check(Property p, const Target& t, const CheckOptions& options) {
  const std::string why_not = unusable(p, t);
  if (!why_not.empty())
    return ::testing::AssertionFailure() << "property '" << to_string(p) << "' cannot run: " << why_not;
  const Shape shape = shape_of(p);
  const std::string dir = options.failures_dir.empty() ? failures_dir() : options.failures_dir;
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  // RC_PARAMS's max_success wins over the test's own default (a nightly job
  // raises the count without editing the test).
  const char* env = std::getenv("RC_PARAMS");
  const bool env_count = env != nullptr && std::string(env).find("max_success") != std::string::npos;
  if (options.max_success > 0 && !env_count) params.maxSuccess = options.max_success;
  rc::detail::TestMetadata meta;
  meta.id = meta.description = std::string(to_string(p)) + (t.builtin() ? "" : " for " + t.server_kind);
  std::string file;
  scenarios::Scenario last;
  Violations last_why;
  int cases = 0;
  std::string invalid;
  const auto result = rc::detail::checkTestable(
      [&] {
        const scenarios::Scenario s = build(*gen_genes(shape.family), t);
        ++cases;
        const auto parsed = scenarios::parse_scenario_text(scenarios::to_yaml(s), "generated");
        if (!parsed.ok()) {
          invalid = parsed.errors.front().to_string();
          RC_FAIL("the generator made an invalid scenario: " + invalid);
        }
        const scenarios::RunResult r = run_sim(s, options.variant);
        Violations why = shape.check(s, r);
        if (why.empty()) return;
        last = s;
        last_why = why;
        RC_FAIL("violated");
      },
      meta, params);
  rc::detail::FailureResult failure;
  if (!result.match(failure))
    return ::testing::AssertionSuccess() << "property '" << to_string(p) << "' held for " << cases << " case(s)";
  if (!invalid.empty())
    return ::testing::AssertionFailure() << "property '" << to_string(p)
                                         << "': a generated scenario is invalid for this target: " << invalid;
  forget_counterexample();  // another property's counterexample stays on disk
  file = write_counterexample(to_string(p), last, options.variant, last_why, dir, t.cli);
  auto out = ::testing::AssertionFailure();
  out << "property '" << to_string(p) << "' violated after " << failure.numSuccess
      << " passing case(s); shrunk counterexample:\n  " << replay_command(file, options.variant, t.cli) << "\n";
  for (const auto& w : last_why) out << "  " << w << "\n";
  out << "RapidCheck: " << failure.description;
  return out;
}

std::optional<Counterexample> find_counterexample(Property p, const Target& t, const std::string& variant,
                                                  const std::string& dir) {
  if (!unusable(p, t).empty()) return std::nullopt;
  const Shape shape = shape_of(p);
  return props::find_counterexample(to_string(p), shape.family, shape.check, variant, dir, t);
}

}  // namespace connfail::props
