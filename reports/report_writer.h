// Reports for people and for CI, written from a Report:
//   report.json  versioned schema "connfail-report/1"; deterministic on sim
//   report.md    verdict table, findings, per-run summary
//   index.html   self-contained (inline CSS + SVG): per-run plot of open
//                connections per TCP state over time with the fault timeline
//                overlaid, verdict table, leak details
//   junit.xml    one <testcase> per scenario x transport x seed
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "connfail/scenarios/result.h"

namespace connfail::reports {

using scenarios::Report;
using scenarios::RunResult;

inline constexpr const char* kReportSchema = "connfail-report/1";

nlohmann::json to_json(const Report& r);
/// Inverse of to_json (for `connfail diff`). Throws std::runtime_error with a
/// clear message on a document that is not a connfail report.
Report report_from_json(const nlohmann::json& j);

std::string to_markdown(const Report& r);
std::string to_html(const Report& r);
std::string to_junit(const Report& r);

/// Writes report.json, report.md, index.html and junit.xml into `dir`
/// (created if missing), each through a temporary file renamed into place,
/// so a failed write leaves no partial file. `junit_path` overrides where
/// junit.xml goes when not empty. Returns false and sets `error` on failure.
bool write_reports(const Report& r, const std::filesystem::path& dir, const std::string& junit_path,
                   std::string* error);

/// A run is identified by scenario, transport, seed and variant.
std::string run_key(const RunResult& r);
/// "PASS", "FAIL", "INCONCLUSIVE", "N/A" (bold where it is bad, in Markdown).
std::string status_text(const std::string& status, bool markdown = false);

/// Seconds for people: "90 s", "1.5 s", "0.125 s" (at most millisecond
/// precision, trailing zeros dropped; "n/a" if not finite).
std::string human_seconds(double s);

struct ReportDiff {
  std::vector<std::string> new_failures;  // failing in NEW, passing or absent in BASE
  std::vector<std::string> fixed;         // failing in BASE, passing in NEW
  std::vector<std::string> still_failing;
  std::vector<std::string> missing;       // in BASE, not in NEW
};
ReportDiff diff_reports(const Report& base, const Report& now);

}  // namespace connfail::reports
