// Sim vs. real: runs of one scenario, seed and variant on both transports
// are paired; a pair that disagrees (different statuses, or both failing
// with different findings) is a transport-disagreement finding on the asio
// run, and every report shows the side-by-side table.
#include <gtest/gtest.h>

#include "connfail/reports/report_writer.h"
#include "connfail/scenarios/runner.h"

namespace {

using namespace connfail::scenarios;
using connfail::reports::report_from_json;
using connfail::reports::to_html;
using connfail::reports::to_json;
using connfail::reports::to_markdown;

RunResult run(const std::string& scenario, TransportKind t, const std::string& status,
              std::vector<std::string> kinds = {}, std::uint32_t seed = 1) {
  RunResult r;
  r.scenario = scenario;
  r.file = "scenarios/" + scenario + ".yaml";
  r.transport = t;
  r.seed = seed;
  r.status = status;
  r.passed = status == "pass";
  for (auto& k : kinds) r.findings.push_back(Finding{k, "a " + k, "inventory", "", {}, {}});
  r.ledger = {{"peer-closed", 3}};
  r.client_ledger = {{"local", 3}};
  return r;
}

int disagreements(const RunResult& r) {
  int n = 0;
  for (const auto& f : r.findings) n += f.kind == "transport-disagreement" ? 1 : 0;
  return n;
}

TEST(CompareTransports, RunsThatAgreeAddNothing) {
  std::vector<RunResult> runs = {run("a", TransportKind::Sim, "pass"), run("a", TransportKind::Asio, "pass"),
                                 run("b", TransportKind::Sim, "fail", {"close-wait"}),
                                 run("b", TransportKind::Asio, "fail", {"close-wait"})};
  const auto cs = compare_transports(runs);
  ASSERT_EQ(cs.size(), 2u);
  for (const auto& c : cs) EXPECT_TRUE(c.agree) << c.why;
  for (const auto& r : runs) EXPECT_EQ(disagreements(r), 0);
  EXPECT_EQ(runs[1].status, "pass");
}

TEST(CompareTransports, ADifferentOutcomeIsAFindingOnTheAsioRun) {
  std::vector<RunResult> runs = {run("a", TransportKind::Sim, "fail", {"half-open-unreaped"}),
                                 run("a", TransportKind::Asio, "pass")};
  const auto cs = compare_transports(runs);
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_FALSE(cs[0].agree);
  EXPECT_EQ(cs[0].why, "sim FAIL (half-open-unreaped), asio PASS");
  EXPECT_EQ(disagreements(runs[1]), 1);
  EXPECT_EQ(disagreements(runs[0]), 0);
  EXPECT_EQ(runs[1].status, "fail");  // a CI job gates on it
  EXPECT_FALSE(runs[1].passed);
}

TEST(CompareTransports, BothFailingWithDifferentFindingsDisagree) {
  std::vector<RunResult> runs = {run("a", TransportKind::Sim, "fail", {"close-wait"}),
                                 run("a", TransportKind::Asio, "fail", {"stale-channel"})};
  const auto cs = compare_transports(runs);
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_FALSE(cs[0].agree);
  EXPECT_NE(cs[0].why.find("different findings"), std::string::npos) << cs[0].why;
}

TEST(CompareTransports, OnlyTheSameSeedAndVariantArePairedAndNotApplicableIsLeftOut) {
  std::vector<RunResult> runs = {run("a", TransportKind::Sim, "pass", {}, 1), run("a", TransportKind::Asio, "fail", {"x"}, 2),
                                 run("b", TransportKind::Sim, "n/a"), run("b", TransportKind::Asio, "pass"),
                                 run("c", TransportKind::Sim, "pass")};
  EXPECT_TRUE(compare_transports(runs).empty());
  for (const auto& r : runs) EXPECT_EQ(disagreements(r), 0);
}

TEST(CompareTransports, TheReportsShowTheTableAndJsonKeepsIt) {
  Report rep;
  rep.runs = {run("agreeing", TransportKind::Sim, "pass"), run("agreeing", TransportKind::Asio, "pass"),
              run("differing", TransportKind::Sim, "pass"), run("differing", TransportKind::Asio, "fail", {"close-wait"})};
  rep.comparisons = compare_transports(rep.runs);
  const std::string md = to_markdown(rep);
  EXPECT_NE(md.find("## Sim vs. real"), std::string::npos) << md;
  EXPECT_NE(md.find("2 scenario runs on both transports: 1 disagree"), std::string::npos) << md;
  EXPECT_NE(md.find("| differing | 1 | — | PASS | FAIL (close-wait) | 3 peer-closed / 3 peer-closed | 3 local / 3 local | **no** |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| agreeing | 1 | — | PASS | PASS |"), std::string::npos) << md;
  const std::string html = to_html(rep);
  EXPECT_NE(html.find("<h2>Sim vs. real</h2>"), std::string::npos);
  EXPECT_NE(html.find("DISAGREE"), std::string::npos);
  const auto j = to_json(rep);
  ASSERT_TRUE(j.contains("comparisons"));
  EXPECT_EQ(j["comparisons"].size(), 2u);
  EXPECT_EQ(to_json(report_from_json(j)).dump(), j.dump());
  // A report with nothing on both transports has no such section.
  Report sim_only;
  sim_only.runs = {run("a", TransportKind::Sim, "pass")};
  sim_only.comparisons = compare_transports(sim_only.runs);
  EXPECT_FALSE(to_json(sim_only).contains("comparisons"));
  EXPECT_EQ(to_markdown(sim_only).find("Sim vs. real"), std::string::npos);
}

}  // namespace
