#include "connfail/scenarios/gtest/scenario_test.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "connfail/reports/report_writer.h"
#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/registry.h"
#include "connfail/scenarios/runner.h"

namespace connfail::gtest {

namespace {

namespace fs = std::filesystem;
using scenarios::RunResult;
using scenarios::Scenario;

std::string describe(const RunResult& r) {
  std::string s = r.scenario + " [" + scenarios::to_string(r.transport) + " seed=" + std::to_string(r.seed) +
                  (r.variant.empty() ? "" : " variant=" + r.variant) + "]: " + reports::status_text(status_of(r)) + "\n";
  for (const auto& n : r.notes) s += "  note: " + n + "\n";
  for (const auto& f : r.findings) {
    s += "  " + f.kind + ": " + f.message + "\n";
    if (!f.connection.empty()) s += "    connection " + f.connection + "\n";
    std::size_t shown = 0;
    for (const auto& h : f.history) {
      if (++shown > 8) {
        s += "    ... (" + std::to_string(f.history.size() - 8) + " more; see the report)\n";
        break;
      }
      s += "    " + h + "\n";
    }
    for (const auto& x : f.faults_seen) s += "    fault seen: " + x + "\n";
  }
  return s;
}

/// Why nothing can run ("" when it can): refused registrations.
std::string registry_problem() {
  std::string s;
  for (const auto& e : scenarios::registration_errors()) s += "registration refused: " + e + "\n";
  return s;
}

struct Loaded {
  std::optional<Scenario> scenario;
  std::string errors;
};

Loaded load(const std::string& file) {
  Loaded l;
  const auto pr = scenarios::parse_scenario_file(file);
  if (pr.ok()) {
    l.scenario = *pr.scenario;
  } else {
    for (const auto& e : pr.errors) l.errors += e.to_string() + "\n";
  }
  return l;
}

std::vector<RunResult> run_all(const Scenario& s, TransportKind t, const RunSpec& spec) {
  std::vector<RunResult> out;
  const std::vector<std::uint32_t> seeds = spec.seed ? std::vector<std::uint32_t>{*spec.seed} : s.seeds;
  for (auto seed : seeds) {
    scenarios::RunOptions o;
    o.transport = t;
    o.seed = seed;
    o.variant = spec.variant;
    out.push_back(scenarios::run_scenario(s, o));
  }
  if (const char* dir = std::getenv("CONNFAIL_REPORTS"); dir && *dir) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : s.name;
    std::replace(name.begin(), name.end(), '/', '_');
    scenarios::Report rep;
    rep.connfail_version = "gtest";
    rep.runs = out;
    std::string err;
    if (!reports::write_reports(rep, fs::path(dir) / name, "", &err))
      ADD_FAILURE() << "cannot write the reports to " << dir << ": " << err;
  }
  return out;
}

std::string transports_text(const Scenario& s) {
  std::string out;
  for (auto t : s.transports) out += (out.empty() ? "" : ", ") + std::string(scenarios::to_string(t));
  return out;
}

bool declares(const Scenario& s, TransportKind t) {
  return std::find(s.transports.begin(), s.transports.end(), t) != s.transports.end();
}

}  // namespace

::testing::AssertionResult passes(const std::string& file, TransportKind transport, const RunSpec& spec) {
  if (auto p = registry_problem(); !p.empty()) return ::testing::AssertionFailure() << p;
  const Loaded l = load(file);
  if (!l.scenario) return ::testing::AssertionFailure() << l.errors;
  const Scenario& s = *l.scenario;
  if (!declares(s, transport))
    return ::testing::AssertionFailure() << file << ": the scenario does not declare the "
                                         << scenarios::to_string(transport) << " transport (it declares: "
                                         << transports_text(s) << ")";
  if (!spec.variant.empty())
    if (const std::string why = scenarios::variant_not_applicable(spec.variant, s); !why.empty())
      return ::testing::AssertionFailure() << file << ": " << why;
  std::string failed;
  std::size_t runs = 0;
  for (const auto& r : run_all(s, transport, spec)) {
    ++runs;
    if (!r.passed) failed += describe(r);
  }
  if (!failed.empty()) return ::testing::AssertionFailure() << failed;
  return ::testing::AssertionSuccess() << runs << " run(s) of " << file << " passed";
}

::testing::AssertionResult fails_with(const std::string& file, TransportKind transport, const std::string& variant,
                                      const std::string& finding) {
  if (auto p = registry_problem(); !p.empty()) return ::testing::AssertionFailure() << p;
  const Loaded l = load(file);
  if (!l.scenario) return ::testing::AssertionFailure() << l.errors;
  const Scenario& s = *l.scenario;
  if (!declares(s, transport))
    return ::testing::AssertionFailure() << file << ": the scenario does not declare the "
                                         << scenarios::to_string(transport) << " transport (it declares: "
                                         << transports_text(s) << ")";
  if (scenarios::Registry::global().variant(variant) == nullptr)
    return ::testing::AssertionFailure() << "unknown variant '" << variant << "'";
  if (const std::string why = scenarios::variant_not_applicable(variant, s); !why.empty())
    return ::testing::AssertionFailure() << file << ": " << why << " (it cannot show that any check fails)";
  RunSpec spec;
  spec.variant = variant;
  std::string all;
  bool every_run_found_it = true;
  for (const auto& r : run_all(s, transport, spec)) {
    all += describe(r);
    const bool found = std::any_of(r.findings.begin(), r.findings.end(),
                                   [&](const scenarios::Finding& f) { return f.kind == finding; });
    every_run_found_it = every_run_found_it && found;
  }
  if (!every_run_found_it)
    return ::testing::AssertionFailure() << "expected every run under variant '" << variant << "' to fail with a '"
                                         << finding << "' finding; got:\n"
                                         << all;
  return ::testing::AssertionSuccess() << all;
}

namespace {

class ScenarioTest : public ::testing::Test {
 public:
  ScenarioTest(std::string file, TransportKind t) : file_(std::move(file)), t_(t) {}
  void TestBody() override { EXPECT_TRUE(passes(file_, t_)); }

 private:
  std::string file_;
  TransportKind t_;
};

std::string test_name(const std::string& stem, TransportKind t) {
  std::string n = stem + "_" + scenarios::to_string(t);
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

}  // namespace

bool register_scenario_tests(const std::string& suite, const std::string& path) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  if (files.empty()) {
    ::testing::RegisterTest(suite.c_str(), "no_scenario_files", nullptr, nullptr, "connfail/scenarios/gtest/scenario_test.cc", __LINE__,
                            [path]() -> ::testing::Test* {
                              struct Empty : ::testing::Test {
                                std::string p;
                                explicit Empty(std::string x) : p(std::move(x)) {}
                                void TestBody() override { ADD_FAILURE() << p << ": no scenario files (*.yaml) here"; }
                              };
                              return new Empty(path);
                            });
    return true;
  }
  for (const auto& f : files) {
    // Only the declared transports are read now: the file is parsed when
    // its test runs, after every static initializer (a server kind
    // registered in another source file) has run.
    const std::string stem = fs::path(f).stem().string();
    for (auto t : scenarios::declared_transports(f))
      ::testing::RegisterTest(suite.c_str(), test_name(stem, t).c_str(), nullptr, nullptr,
                              "connfail/scenarios/gtest/scenario_test.cc", __LINE__,
                              [f, t]() -> ::testing::Test* { return new ScenarioTest(f, t); });
  }
  return true;
}

}  // namespace connfail::gtest
