#include "connfail/cli/merge.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "connfail/reports/report_writer.h"
#include "connfail/scenarios/runner.h"

namespace connfail::cli {

namespace {

using scenarios::Report;
using scenarios::RunResult;
using scenarios::TransportKind;

using PairKey = std::tuple<std::string, std::string, std::uint32_t, std::string>;  // scenario, file, seed, variant

PairKey pair_key(const RunResult& r) { return {r.scenario, r.file, r.seed, r.variant}; }
PairKey pair_key(const scenarios::TransportComparison& c) { return {c.scenario, c.file, c.seed, c.variant}; }

}  // namespace

void order_and_compare(Report& report) {
  auto rank = [](TransportKind t) { return t == TransportKind::Sim ? 0 : 1; };
  std::stable_sort(report.runs.begin(), report.runs.end(), [&](const RunResult& a, const RunResult& b) {
    return std::make_tuple(std::cref(a.file), std::cref(a.scenario), rank(a.transport), std::cref(a.variant), a.seed) <
           std::make_tuple(std::cref(b.file), std::cref(b.scenario), rank(b.transport), std::cref(b.variant), b.seed);
  });
  // Pairs already compared (in a shard that ran both) keep their verdict.
  std::set<PairKey> compared;
  for (const auto& c : report.comparisons) compared.insert(pair_key(c));
  // The runs of pairs not compared yet, moved out and back (not copied: a
  // sweep's runs carry their samples and findings).
  std::vector<std::size_t> open;
  std::vector<RunResult> subset;
  for (std::size_t i = 0; i < report.runs.size(); ++i)
    if (!compared.count(pair_key(report.runs[i]))) {
      open.push_back(i);
      subset.push_back(std::move(report.runs[i]));
    }
  auto fresh = scenarios::compare_transports(subset);
  for (std::size_t k = 0; k < open.size(); ++k) report.runs[open[k]] = std::move(subset[k]);
  for (auto& c : fresh) report.comparisons.push_back(std::move(c));
  std::map<PairKey, std::size_t> asio_at;
  for (std::size_t i = 0; i < report.runs.size(); ++i)
    if (report.runs[i].transport == TransportKind::Asio) asio_at.emplace(pair_key(report.runs[i]), i);
  std::stable_sort(report.comparisons.begin(), report.comparisons.end(),
                   [&](const scenarios::TransportComparison& a, const scenarios::TransportComparison& b) {
                     const auto ia = asio_at.find(pair_key(a)), ib = asio_at.find(pair_key(b));
                     const std::size_t pa = ia == asio_at.end() ? report.runs.size() : ia->second;
                     const std::size_t pb = ib == asio_at.end() ? report.runs.size() : ib->second;
                     return pa < pb;
                   });
}

bool merge_reports(std::vector<std::pair<std::string, Report>> inputs, Report& out, std::string* error) {
  Report merged;
  std::map<std::string, std::string> seen;  // run key -> the input it came from
  std::set<std::tuple<std::string, std::string, int>> skipped;
  std::set<PairKey> compared;
  for (std::size_t n = 0; n < inputs.size(); ++n) {
    auto& [name, r] = inputs[n];
    if (n == 0) {
      merged.connfail_version = r.connfail_version;
    } else if (r.connfail_version != merged.connfail_version) {
      if (error)
        *error = name + " was written by connfail " + (r.connfail_version.empty() ? "(no version)" : r.connfail_version) +
                 ", " + inputs[0].first + " by connfail " +
                 (merged.connfail_version.empty() ? "(no version)" : merged.connfail_version) +
                 ": merge reports of one version (rerun the shards with one build)";
      return false;
    }
    for (std::size_t i = 0; i < r.runs.size(); ++i) {
      const std::string key = reports::run_key(r.runs[i]);
      auto [it, fresh] = seen.emplace(r.runs[i].file + "\n" + key, name);
      if (!fresh) {
        if (error)
          *error = name + ": runs[" + std::to_string(i) + "] (" + key + ") is also in " + it->second +
                   ": each run must come from one shard (the same report given twice, or overlapping --shard values?)";
        return false;
      }
      merged.runs.push_back(std::move(r.runs[i]));
    }
    for (auto& k : r.skipped)
      if (skipped.emplace(k.scenario, k.file, static_cast<int>(k.transport)).second) merged.skipped.push_back(std::move(k));
    for (auto& c : r.comparisons)
      if (compared.insert(pair_key(c)).second) merged.comparisons.push_back(std::move(c));
  }
  order_and_compare(merged);
  out = std::move(merged);
  return true;
}

}  // namespace connfail::cli
