// The report writers: report.json round trip and determinism, Markdown,
// self-contained HTML, JUnit XML, atomic writes, and report diffs.
#include "connfail/reports/report_writer.h"
#include "connfail/reports/report_reader.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace connfail::reports {
namespace {

using scenarios::FaultEvent;
using scenarios::Finding;
using scenarios::Sample;
using scenarios::TransportKind;
namespace fs = std::filesystem;

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + needle.size())) ++n;
  return n;
}

RunResult passing_run() {
  RunResult r;
  r.scenario = "idle-reaps-half-open";
  r.file = "scenarios/examples/half_open.yaml";
  r.description = "a client host vanishes; the idle check reaps its connection";
  r.transport = TransportKind::Sim;
  r.seed = 7;
  r.passed = true;
  r.ledger = {{"normal", 9}, {"idle", 1}, {"open", 0}};
  r.connections_opened = 10;
  r.client_connects_ok = 10;
  r.bytes_echoed = 65536;
  r.scenario_seconds = 90;
  r.trace_hash = 0xfedcba9876543210ULL;  // above 2^53: must survive JSON
  r.wall_seconds = 0.25;
  for (int i = 0; i <= 900; ++i) {  // many samples, at 0.1 s steps
    Sample s;
    s.t = i * 0.1;  // accumulates binary noise: 0.30000000000000004 ...
    const int est = i < 50 ? i / 5 : (i < 600 ? 10 : 0);
    if (est) s.by_state["ESTABLISHED"] = est;
    if (i >= 600 && i < 620) s.by_state["TIME_WAIT"] = 3;
    s.open_channels = est;
    r.samples.push_back(s);
  }
  r.faults = {{20, 90, "half-open", "a", ""}, {30, 30, "rst", "b", ""}};
  return r;
}

RunResult failing_run() {
  RunResult r;
  r.scenario = "proxy <script>alert(1)</script> & \"quotes\" | pipes *stars*";
  r.file = "scenarios/examples/proxy_leak.yaml";
  r.description = "backend closes; the broken proxy keeps the front side <open>";
  r.transport = TransportKind::Asio;
  r.seed = 3;
  r.variant = "proxy-no-close";
  r.passed = false;
  Finding f;
  f.kind = "close-wait";
  f.message = "server socket in CLOSE_WAIT for 40.000s (> 5s grace) & never closed <leak>";
  f.connection = "10.1.1.1:49153 -> 10.1.0.1:7000";
  f.history = {"t=12.000s opened", "t=40.000s CLOSE_WAIT"};
  f.faults_seen = {"rst at 30s (client group 'b')"};
  r.findings.push_back(f);
  Finding g;
  g.kind = "ledger-count";
  g.message = "expected idle=3, got 1";
  r.findings.push_back(g);
  r.ledger = {{"normal", 2}, {"open", 1}};
  r.connections_opened = 3;
  r.client_connects_ok = 3;
  r.client_connects_failed = 1;
  r.scenario_seconds = 60.5;
  r.wall_seconds = 1.234;
  for (int i = 0; i <= 60; ++i) {
    Sample s;
    s.t = i;
    s.by_state["ESTABLISHED"] = i < 40 ? 3 : 2;
    if (i >= 40) s.by_state["CLOSE_WAIT"] = 1;
    s.open_channels = 3;
    r.samples.push_back(s);
  }
  r.faults = {{30, 30, "rst", "b", ""}, {10, 25, "partition", "a", ""}};
  return r;
}

Report sample_report() {
  Report rep;
  rep.connfail_version = "0.1.0";
  rep.runs = {passing_run(), failing_run()};
  RunResult second = passing_run();
  second.transport = TransportKind::Asio;
  second.trace_hash = 0;
  second.wall_seconds = 2.5;
  rep.runs.push_back(second);
  return rep;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("report_writer_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// --- JSON -----------------------------------------------------------------------

TEST(ReportJson, TopLevelAndSummary) {
  const auto j = to_json(sample_report());
  EXPECT_EQ(j.at("schema"), "connfail-report/1");
  EXPECT_EQ(j.at("connfail_version"), "0.1.0");
  EXPECT_EQ(j.at("passed"), false);
  EXPECT_EQ(j.at("summary").at("runs"), 3);
  EXPECT_EQ(j.at("summary").at("passed"), 2);
  EXPECT_EQ(j.at("summary").at("failed"), 1);
  const auto& run = j.at("runs").at(1);
  EXPECT_EQ(run.at("transport"), "asio");
  EXPECT_EQ(run.at("variant"), "proxy-no-close");
  EXPECT_EQ(run.at("findings").size(), 2u);
  EXPECT_EQ(run.at("findings").at(0).at("connection"), "10.1.1.1:49153 -> 10.1.0.1:7000");
  EXPECT_EQ(run.at("counters").at("client_connects_failed"), 1);
  EXPECT_EQ(run.at("ledger").at("open"), 1);
  EXPECT_EQ(j.at("runs").at(0).at("trace_hash"), "fedcba9876543210");
  EXPECT_EQ(j.at("runs").at(2).at("trace_hash"), "0000000000000000");
  EXPECT_EQ(run.at("samples").at(45).at("by_state").at("CLOSE_WAIT"), 1);
  EXPECT_EQ(run.at("samples").at(45).at("open_channels"), 3);
}

TEST(ReportJson, RoundTripGivesTheSameDocument) {
  const Report rep = sample_report();
  const std::string first = to_json(rep).dump(2);
  const Report back = report_from_json(to_json(rep));
  EXPECT_EQ(to_json(back).dump(2), first);
  // And through text, as `connfail diff` reads it from disk.
  const Report parsed = report_from_json(nlohmann::json::parse(first));
  EXPECT_EQ(to_json(parsed).dump(2), first);
  ASSERT_EQ(parsed.runs.size(), 3u);
  EXPECT_EQ(parsed.runs[0].trace_hash, 0xfedcba9876543210ULL);
  EXPECT_EQ(parsed.runs[1].scenario, rep.runs[1].scenario);
  EXPECT_EQ(parsed.runs[1].findings[0].history, rep.runs[1].findings[0].history);
  EXPECT_EQ(parsed.runs[1].transport, TransportKind::Asio);
  EXPECT_EQ(parsed.runs[0].samples.size(), 901u);
  EXPECT_DOUBLE_EQ(parsed.runs[1].scenario_seconds, 60.5);
  EXPECT_EQ(parsed.runs[1].faults[1].kind, "partition");
  EXPECT_DOUBLE_EQ(parsed.runs[1].faults[1].end, 25);
}

TEST(ReportJson, ByteIdenticalForEqualReportsAndNoWallClock) {
  Report a = sample_report();
  Report b = sample_report();
  for (auto& r : b.runs) r.wall_seconds *= 17;  // wall time differs between two runs
  EXPECT_EQ(to_json(a).dump(2), to_json(b).dump(2));
  const std::string text = to_json(a).dump(2);
  EXPECT_EQ(text.find("wall"), std::string::npos);
}

TEST(ReportJson, SecondsAreRoundedToMicroseconds) {
  Report rep;
  RunResult r = passing_run();
  r.samples.clear();
  Sample s;
  s.t = 0.1 + 0.2;  // 0.30000000000000004
  r.samples.push_back(s);
  s.t = 1.0 / 3;
  r.samples.push_back(s);
  r.scenario_seconds = 90.0000004;
  rep.runs.push_back(r);
  const std::string text = to_json(rep).dump();
  EXPECT_NE(text.find("\"t\":0.3}"), std::string::npos) << text;
  EXPECT_NE(text.find("\"t\":0.333333}"), std::string::npos) << text;
  EXPECT_NE(text.find("\"scenario_seconds\":90.0,"), std::string::npos) << text;
  EXPECT_EQ(text.find("0000000"), std::string::npos) << text;  // no binary noise anywhere
  // The 0.1 s sample series of the big run prints short too.
  const std::string big = to_json(sample_report()).dump();
  EXPECT_NE(big.find("\"t\":70.3}"), std::string::npos);
  EXPECT_EQ(big.find("00000000001"), std::string::npos);
  EXPECT_EQ(big.find("99999999"), std::string::npos);
}

TEST(ReportJson, NonFiniteSecondsBecomeNull) {
  Report rep;
  RunResult r = failing_run();
  r.scenario_seconds = std::nan("");
  rep.runs.push_back(r);
  const auto j = to_json(rep);
  EXPECT_TRUE(j.at("runs").at(0).at("scenario_seconds").is_null());
  const Report back = report_from_json(j);
  EXPECT_TRUE(std::isnan(back.runs[0].scenario_seconds));
  EXPECT_EQ(to_json(back).dump(), j.dump());
}

void expect_rejected(const nlohmann::json& j, const std::string& fragment) {
  try {
    report_from_json(j);
    ADD_FAILURE() << "accepted: " << j.dump();
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("not a connfail report: ", 0), 0u) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
}

TEST(ReportJson, RejectsJunkWithAClearMessage) {
  using nlohmann::json;
  expect_rejected(json::array({1, 2}), "expected a JSON object");
  expect_rejected(json("hello"), "expected a JSON object");
  expect_rejected(json::object(), "no \"schema\" field");
  expect_rejected(json{{"schema", "connfail-demo/1"}, {"results", json::array()}},
                  "schema is \"connfail-demo/1\", expected \"connfail-report/1\"");
  expect_rejected(json{{"schema", 1}}, "schema is 1");
  expect_rejected(json{{"schema", "connfail-report/1"}}, "missing field \"runs\"");
  expect_rejected(json{{"schema", "connfail-report/1"}, {"runs", json::object()}}, "runs: expected an array");

  json doc = to_json(sample_report());
  doc["runs"][1]["seed"] = -1;
  expect_rejected(doc, "runs[1].seed: expected a non-negative integer");
  doc = to_json(sample_report());
  doc["runs"][0]["transport"] = "carrier-pigeon";
  expect_rejected(doc, "runs[0].transport: unknown transport \"carrier-pigeon\"");
  doc = to_json(sample_report());
  doc["runs"][0]["trace_hash"] = 12345;
  expect_rejected(doc, "runs[0].trace_hash: expected a string");
  doc = to_json(sample_report());
  doc["runs"][0]["trace_hash"] = "xyz";
  expect_rejected(doc, "runs[0].trace_hash: expected 16 hex digits");
  doc = to_json(sample_report());
  doc["runs"][1]["findings"][0].erase("kind");
  expect_rejected(doc, "runs[1].findings[0]: missing field \"kind\"");
  doc = to_json(sample_report());
  doc["runs"][1]["samples"][3]["by_state"]["ESTABLISHED"] = "many";
  expect_rejected(doc, "runs[1].samples[3].by_state.ESTABLISHED: expected an integer");
  doc = to_json(sample_report());
  doc["runs"][0]["seed"] = 4294967296ULL;
  expect_rejected(doc, "out of range");
}

// --- Markdown -------------------------------------------------------------------

TEST(ReportMarkdown, VerdictTableAndFindings) {
  const std::string md = to_markdown(sample_report());
  EXPECT_NE(md.find("# connfail report: FAIL"), std::string::npos) << md;
  EXPECT_NE(md.find("**FAIL**: of 3 runs, 1 failed"), std::string::npos) << md;
  EXPECT_NE(md.find("| scenario | transport | seed | variant | verdict | findings | opened | scenario time |"), std::string::npos);
  EXPECT_NE(md.find("| idle-reaps-half-open | sim | 7 | — | PASS | 0 | 10 | 90 s |"), std::string::npos) << md;
  EXPECT_NE(md.find("| asio | 3 | `proxy-no-close` | **FAIL** | 2 | 3 | 60.5 s |"), std::string::npos) << md;
  // Special characters cannot break the table or inject HTML.
  for (auto pos = md.find('<'); pos != std::string::npos; pos = md.find('<', pos + 1))
    EXPECT_EQ(md[pos - 1], '\\') << "unescaped '<' at " << pos << "\n" << md;
  EXPECT_NE(md.find("proxy \\<script>alert(1)\\</script> \\& \"quotes\""), std::string::npos) << md;
  EXPECT_NE(md.find("\\| pipes \\*stars\\*"), std::string::npos) << md;
  // Findings of the failing run, and only of it.
  EXPECT_NE(md.find("## Failures"), std::string::npos);
  EXPECT_NE(md.find("- **close-wait**: server socket in CLOSE_WAIT"), std::string::npos) << md;
  EXPECT_NE(md.find("`10.1.1.1:49153 -> 10.1.0.1:7000`"), std::string::npos) << md;
  EXPECT_NE(md.find("`t=12.000s opened` → `t=40.000s CLOSE_WAIT`"), std::string::npos) << md;
  EXPECT_NE(md.find("faults seen: rst at 30s (client group 'b')"), std::string::npos) << md;
  EXPECT_NE(md.find("- **ledger-count**: expected idle=3, got 1"), std::string::npos) << md;
  EXPECT_EQ(count(md, "### "), 1u);
}

TEST(ReportMarkdown, AllPassing) {
  Report rep;
  rep.runs = {passing_run()};
  const std::string md = to_markdown(rep);
  EXPECT_NE(md.find("# connfail report: PASS"), std::string::npos);
  EXPECT_NE(md.find("**PASS**: the run passed"), std::string::npos) << md;
  EXPECT_EQ(md.find("## Failures"), std::string::npos);
}

// --- HTML -----------------------------------------------------------------------

TEST(ReportHtml, SelfContained) {
  const std::string html = to_html(sample_report());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  // The only URL is the SVG namespace, once per plot.
  const std::string ns = "http://www.w3.org/2000/svg";
  EXPECT_EQ(count(html, "http://"), count(html, ns));
  EXPECT_EQ(count(html, "https://"), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
}

TEST(ReportHtml, OnePlotPerRunAndEscaping) {
  const Report rep = sample_report();
  const std::string html = to_html(rep);
  EXPECT_EQ(count(html, "<svg"), rep.runs.size());
  EXPECT_EQ(count(html, "</svg>"), rep.runs.size());
  EXPECT_NE(html.find("proxy &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"), std::string::npos);
  EXPECT_NE(html.find("&lt;leak&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;open&gt;"), std::string::npos);
}

TEST(ReportHtml, HeaderTableSectionsAndPlot) {
  const std::string html = to_html(sample_report());
  EXPECT_NE(html.find("<header class=\"top fail\">"), std::string::npos);
  EXPECT_NE(html.find("3 runs · 2 passed · 1 failed"), std::string::npos);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_NE(html.find("href=\"#run-" + std::to_string(i) + "\""), std::string::npos);
    EXPECT_NE(html.find("id=\"run-" + std::to_string(i) + "\""), std::string::npos);
  }
  EXPECT_EQ(count(html, "<tr class=\"fail\">"), 1u);  // failing row highlighted
  // Legend, axis label, a band for the interval fault, a line for the instant one.
  EXPECT_NE(html.find("CLOSE_WAIT  max 1, end 1"), std::string::npos);
  EXPECT_NE(html.find("scenario time (s)"), std::string::npos);
  EXPECT_NE(html.find("partition \xe2\x86\x92 a"), std::string::npos);
  EXPECT_NE(html.find("rst \xe2\x86\x92 b: at 30 s"), std::string::npos);
  EXPECT_NE(html.find("half-open \xe2\x86\x92 a: 20 s – 90 s"), std::string::npos);
  EXPECT_NE(html.find("<table class=\"findings\">"), std::string::npos);
  EXPECT_EQ(html.find("wall"), std::string::npos);  // deterministic like report.json
}

TEST(ReportHtml, LongSeriesAreDownsampled) {
  Report rep;
  RunResult r = passing_run();
  r.samples.clear();
  for (int i = 0; i < 20000; ++i) {
    Sample s;
    s.t = i * 0.01;
    s.by_state["ESTABLISHED"] = (i == 12345) ? 99 : 5;  // one spike must survive
    s.open_channels = 5;
    r.samples.push_back(s);
  }
  rep.runs.push_back(r);
  const std::string html = to_html(rep);
  // One area path for ESTABLISHED: its upper edge has at most 600 points.
  const auto start = html.find("<path d=\"M");
  ASSERT_NE(start, std::string::npos);
  const auto end = html.find('"', start + 9);
  const std::string d = html.substr(start + 9, end - start - 9);
  const std::size_t points = count(d, "L") + 1;
  EXPECT_LE(points, 2 * 600u + 2);  // upper and lower edge
  EXPECT_GT(points, 200u);
  EXPECT_NE(html.find("ESTABLISHED  max 99, end 5"), std::string::npos);
  EXPECT_LT(html.size(), 120u * 1024);
}

TEST(ReportHtml, RunWithoutSamplesStillHasAPlot) {
  Report rep;
  RunResult r = failing_run();
  r.samples.clear();
  r.faults.clear();
  rep.runs.push_back(r);
  const std::string html = to_html(rep);
  EXPECT_EQ(count(html, "<svg"), 1u);
  EXPECT_NE(html.find("no samples recorded"), std::string::npos);
}

// --- JUnit ----------------------------------------------------------------------

/// Tags balance (a stack over start/end tags; self-closing and the XML
/// declaration skipped), and no raw '<' or '&' outside markup/entities.
bool xml_balanced(const std::string& x, std::string* why) {
  std::vector<std::string> stack;
  std::size_t i = 0;
  while (i < x.size()) {
    if (x[i] == '&') {
      const auto semi = x.find(';', i);
      const std::string ent = x.substr(i, semi == std::string::npos ? 8 : semi - i + 1);
      if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;" && ent.rfind("&#", 0) != 0) {
        *why = "bad entity at " + std::to_string(i) + ": " + ent;
        return false;
      }
      i = semi + 1;
      continue;
    }
    if (x[i] != '<') {
      ++i;
      continue;
    }
    const auto close = x.find('>', i);
    if (close == std::string::npos) {
      *why = "unterminated tag";
      return false;
    }
    const std::string tag = x.substr(i + 1, close - i - 1);
    if (tag.find('<') != std::string::npos) {
      *why = "'<' inside a tag: " + tag;
      return false;
    }
    if (tag[0] == '?') {
    } else if (tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) {
        *why = "unbalanced </" + tag.substr(1) + ">";
        return false;
      }
      stack.pop_back();
    } else if (tag.back() != '/') {
      stack.push_back(tag.substr(0, tag.find_first_of(" \t\n")));
    }
    i = close + 1;
  }
  if (!stack.empty()) *why = "unclosed <" + stack.back() + ">";
  return stack.empty();
}

TEST(ReportJunit, CountsNamesAndFailures) {
  const std::string x = to_junit(sample_report());
  std::string why;
  EXPECT_TRUE(xml_balanced(x, &why)) << why << "\n" << x;
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_NE(x.find("<testsuites name=\"connfail\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"3.984\">"),
            std::string::npos)
      << x;
  EXPECT_EQ(count(x, "<testsuite "), 2u);  // one per scenario file
  EXPECT_NE(x.find("<testsuite name=\"scenarios/examples/half_open.yaml\" tests=\"2\" failures=\"0\""), std::string::npos) << x;
  EXPECT_EQ(count(x, "<testcase "), 3u);
  EXPECT_EQ(count(x, "<failure "), 1u);
  EXPECT_NE(x.find("<testcase name=\"idle-reaps-half-open [sim seed=7]\" classname=\"connfail.sim\" time=\"0.250\"/>"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("name=\"proxy &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; | pipes *stars* "
                   "[asio seed=3 proxy-no-close]\" classname=\"connfail.asio\" time=\"1.234\">"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<failure message=\"2 findings\" type=\"leak\">close-wait: server socket in CLOSE_WAIT"), std::string::npos) << x;
  EXPECT_NE(x.find("&amp; never closed &lt;leak&gt;"), std::string::npos);
  EXPECT_NE(x.find("connection: 10.1.1.1:49153 -&gt; 10.1.0.1:7000"), std::string::npos);
  EXPECT_EQ(x.find("<script>"), std::string::npos);
}

TEST(ReportJunit, ControlCharactersAreDropped) {
  Report rep;
  RunResult r = failing_run();
  r.findings[0].message = std::string("bell\x07 and nul") + '\0' + " end";
  rep.runs.push_back(r);
  const std::string x = to_junit(rep);
  EXPECT_EQ(x.find('\x07'), std::string::npos);
  EXPECT_EQ(x.find('\0'), std::string::npos);
  EXPECT_NE(x.find("bell? and nul? end"), std::string::npos);
  EXPECT_NE(x.find("<failure message=\"2 findings\""), std::string::npos);
}

// --- Files ----------------------------------------------------------------------

TEST(WriteReports, WritesAllFourAndNoTemporaries) {
  TempDir tmp;
  const Report rep = sample_report();
  std::string err;
  const fs::path dir = tmp.path / "nested" / "out";
  ASSERT_TRUE(write_reports(rep, dir, "", &err)) << err;
  for (const char* name : {"report.json", "report.md", "index.html", "junit.xml"})
    EXPECT_TRUE(fs::is_regular_file(dir / name)) << name;
  for (const auto& e : fs::recursive_directory_iterator(tmp.path)) EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  EXPECT_EQ(slurp(dir / "report.json"), to_json(rep).dump(2) + "\n");
  EXPECT_EQ(slurp(dir / "index.html"), to_html(rep));
  EXPECT_EQ(report_from_json(nlohmann::json::parse(slurp(dir / "report.json"))).runs.size(), 3u);

  // Writing again replaces the files, byte for byte the same.
  const std::string before = slurp(dir / "report.json");
  ASSERT_TRUE(write_reports(rep, dir, "", &err)) << err;
  EXPECT_EQ(slurp(dir / "report.json"), before);
}

TEST(WriteReports, JunitPathOverride) {
  TempDir tmp;
  std::string err;
  const fs::path junit = tmp.path / "ci" / "results" / "connfail.xml";
  ASSERT_TRUE(write_reports(sample_report(), tmp.path / "out", junit.string(), &err)) << err;
  EXPECT_TRUE(fs::is_regular_file(junit));
  EXPECT_FALSE(fs::exists(tmp.path / "out" / "junit.xml"));
  EXPECT_TRUE(fs::is_regular_file(tmp.path / "out" / "report.json"));
}

TEST(WriteReports, FailureLeavesNothingBehind) {
  TempDir tmp;
  fs::create_directories(tmp.path);
  // `dir` is a regular file: nothing can be created under it.
  const fs::path blocker = tmp.path / "blocker";
  std::ofstream(blocker) << "x";
  std::string err;
  EXPECT_FALSE(write_reports(sample_report(), blocker / "out", "", &err));
  EXPECT_NE(err.find("blocker"), std::string::npos) << err;

  // junit.xml cannot be written (its target is a directory): the other three
  // must not be half-replaced and no temporary may remain.
  const fs::path dir = tmp.path / "out";
  fs::create_directories(dir / "junit.xml");
  EXPECT_FALSE(write_reports(sample_report(), dir, "", &err));
  EXPECT_FALSE(err.empty());
  for (const auto& e : fs::recursive_directory_iterator(tmp.path)) EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  EXPECT_FALSE(fs::exists(dir / "report.json"));
}

// --- Diff -----------------------------------------------------------------------

TEST(ReportDiff, RunKey) {
  RunResult r = passing_run();
  EXPECT_EQ(run_key(r), "idle-reaps-half-open [sim seed=7]");
  r.variant = "idle-last";
  r.transport = TransportKind::Asio;
  EXPECT_EQ(run_key(r), "idle-reaps-half-open [asio seed=7 idle-last]");
}

TEST(ReportDiff, NewFailuresFixedStillFailingMissing) {
  auto run = [](const std::string& name, bool passed) {
    RunResult r;
    r.scenario = name;
    r.passed = passed;
    return r;
  };
  Report base;
  base.runs = {run("a", true), run("b", false), run("c", false), run("gone", true), run("gone-failing", false)};
  Report now;
  now.runs = {run("a", false), run("b", true), run("c", false), run("new-fail", false), run("new-pass", true)};
  const ReportDiff d = diff_reports(base, now);
  EXPECT_EQ(d.new_failures, (std::vector<std::string>{"a [sim seed=1]", "new-fail [sim seed=1]"}));
  EXPECT_EQ(d.fixed, (std::vector<std::string>{"b [sim seed=1]"}));
  EXPECT_EQ(d.still_failing, (std::vector<std::string>{"c [sim seed=1]"}));
  EXPECT_EQ(d.missing, (std::vector<std::string>{"gone [sim seed=1]", "gone-failing [sim seed=1]"}));

  // Same scenario, other seed or transport: a different run.
  Report other;
  RunResult r = run("a", true);
  r.seed = 2;
  other.runs = {r};
  const ReportDiff d2 = diff_reports(base, other);
  EXPECT_TRUE(d2.new_failures.empty());
  EXPECT_EQ(d2.missing.size(), 5u);
  EXPECT_TRUE(diff_reports(base, base).new_failures.empty());
  EXPECT_TRUE(diff_reports(base, base).fixed.empty());
  EXPECT_EQ(diff_reports(base, base).still_failing.size(), 3u);
}

// Inconclusive and not-applicable runs are neither passes nor failures in
// any report: JSON carries the status and its notes (and reads them back),
// JUnit makes them <error> and <skipped>, Markdown says why.
TEST(ReportStatuses, InconclusiveAndNotApplicableAreNeitherPassNorFail) {
  Report r;
  r.connfail_version = "t";
  RunResult a;
  a.scenario = "unjudged";
  a.status = "inconclusive";
  a.notes = {"the handler-exception fault at 1s (handler 'echoo', event 'read') never fired"};
  RunResult b;
  b.scenario = "elsewhere";
  b.status = "n/a";
  b.variant = "proxy-no-close";
  b.notes = {"variant 'proxy-no-close' changes nothing here"};
  r.runs = {a, b};
  EXPECT_FALSE(r.passed()) << "an inconclusive run fails the report";
  const auto j = to_json(r);
  EXPECT_EQ(j.at("runs").at(0).at("status"), "inconclusive");
  EXPECT_EQ(j.at("summary").at("inconclusive"), 1);
  EXPECT_EQ(j.at("summary").at("not_applicable"), 1);
  const Report back = report_from_json(j);
  EXPECT_EQ(back.runs.at(0).status, "inconclusive");
  EXPECT_EQ(back.runs.at(0).notes, a.notes);
  const std::string x = to_junit(r);
  EXPECT_NE(x.find("failures=\"0\" errors=\"1\" skipped=\"1\""), std::string::npos) << x;
  EXPECT_NE(x.find("<error message=\"inconclusive"), std::string::npos) << x;
  EXPECT_NE(x.find("<skipped message=\"variant &apos;proxy-no-close&apos; changes nothing here\"/>"), std::string::npos)
      << x;
  const std::string md = to_markdown(r);
  EXPECT_NE(md.find("| **INCONCLUSIVE** |"), std::string::npos) << md;
  EXPECT_NE(md.find("never fired"), std::string::npos) << md;
  // Only n/a: the report passes.
  r.runs = {b};
  EXPECT_TRUE(r.passed());
  // A status that contradicts `passed` is refused when read.
  auto bad = to_json(r);
  bad["runs"][0]["passed"] = true;
  EXPECT_THROW(report_from_json(bad), std::exception);
}

// The streamed reader behind `connfail diff`: the same runs (keys and
// verdicts) as the full reader, from a string or a stream, and one message
// naming the field for anything that is not a connfail report.
TEST(ReportReader, StreamedRunsMatchTheFullReader) {
  const Report rep = sample_report();
  const std::string text = to_json(rep).dump(2);
  Report a, b;
  std::string err;
  ASSERT_TRUE(read_report_runs(text, a, &err)) << err;
  std::istringstream in(text);
  ASSERT_TRUE(read_report_runs(in, b, &err)) << err;
  ASSERT_EQ(a.runs.size(), rep.runs.size());
  ASSERT_EQ(b.runs.size(), rep.runs.size());
  for (std::size_t i = 0; i < rep.runs.size(); ++i) {
    EXPECT_EQ(run_key(a.runs[i]), run_key(rep.runs[i]));
    EXPECT_EQ(run_key(b.runs[i]), run_key(rep.runs[i]));
    EXPECT_EQ(a.runs[i].passed, rep.runs[i].passed) << i;
    EXPECT_EQ(a.runs[i].file, rep.runs[i].file) << i;
    EXPECT_TRUE(a.runs[i].findings.empty()) << "findings are not kept";
  }
  EXPECT_EQ(a.connfail_version, "0.1.0");
  // A diff of the streamed reports sees the one failing run.
  EXPECT_EQ(diff_reports(a, b).still_failing.size(), 1u);
  Report full;
  ASSERT_TRUE(parse_report_text(text, full, &err)) << err;
  EXPECT_EQ(full.runs.size(), rep.runs.size());
  EXPECT_FALSE(parse_report_text(text, full, &err, 100));
  EXPECT_NE(err.find("more than the 100"), std::string::npos) << err;
}

TEST(ReportReader, NamesTheFieldThatIsWrong) {
  const std::string good = to_json(sample_report()).dump();
  auto error_of = [](const std::string& text) {
    Report r;
    std::string err;
    EXPECT_FALSE(read_report_runs(text, r, &err)) << text.substr(0, 200);
    return err;
  };
  auto edited = [&](const std::function<void(nlohmann::json&)>& f) {
    auto j = nlohmann::json::parse(good);
    f(j);
    return j.dump();
  };
  EXPECT_NE(error_of("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1,2]").find("top level"), std::string::npos);
  EXPECT_NE(error_of("{\"runs\": []}").find("no \"schema\""), std::string::npos);
  EXPECT_NE(error_of(edited([](auto& j) { j["schema"] = "other/1"; })).find("schema is \"other/1\""),
            std::string::npos);
  EXPECT_EQ(error_of(edited([](auto& j) { j.erase("runs"); })), "runs: missing");
  EXPECT_EQ(error_of(edited([](auto& j) { j["runs"][1]["transport"] = "tcp"; })),
            "runs[1].transport: expected \"sim\" or \"asio\"");
  EXPECT_EQ(error_of(edited([](auto& j) { j["runs"][2].erase("seed"); })), "runs[2].seed: missing");
  EXPECT_EQ(error_of(edited([](auto& j) { j["runs"][0]["seed"] = -1; })),
            "runs[0].seed: expected an integer in [0, 4294967295]");
  EXPECT_EQ(error_of(edited([](auto& j) { j["runs"][0]["passed"] = "yes"; })), "runs[0].passed: expected true or false");
  EXPECT_EQ(error_of(edited([](auto& j) { j["runs"][0]["status"] = "fail"; })),
            "runs[0].status: \"fail\" contradicts passed: true");
  EXPECT_EQ(error_of(edited([](auto& j) { j["runs"][0]["scenario"] = nlohmann::json::array(); })),
            "runs[0].scenario: expected a value, got an array");
  // Any depth is refused cleanly, not by running out of stack.
  std::string deep = "{\"deep\": ";
  for (int i = 0; i < 100000; ++i) deep += '[';
  EXPECT_NE(error_of(deep).find("nested deeper than"), std::string::npos);
  // Unknown fields are skipped (reports from newer versions still diff).
  Report r;
  std::string err;
  EXPECT_TRUE(read_report_runs(edited([](auto& j) { j["runs"][0]["new_field"] = {{"a", {1, 2, 3}}}; }), r, &err)) << err;
  EXPECT_EQ(r.runs.size(), 3u);
}

}  // namespace
}  // namespace connfail::reports
