// One report out of several (`connfail merge`), and the order a sweep's
// report lists its runs in, so that the report of a sweep run in shards and
// merged equals, byte for byte, the report of the same sweep run at once.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "connfail/scenarios/result.h"

namespace connfail::cli {

/// The canonical order of a sweep's runs: by scenario file, scenario,
/// transport (sim before asio), variant, then seed. Then pairs the sim and
/// asio runs of each scenario, seed and variant that no comparison covers
/// yet (scenarios::compare_transports; a disagreement fails the asio run)
/// and lists every comparison in the order of its asio run.
void order_and_compare(scenarios::Report& report);

/// Merges reports (name: where each came from, for messages). Refuses
/// (false, `error` set, `out` untouched) reports written by different
/// connfail versions and a run present in two of them (each run must come
/// from one shard). Skipped entries are kept once each.
bool merge_reports(std::vector<std::pair<std::string, scenarios::Report>> inputs, scenarios::Report& out,
                   std::string* error);

}  // namespace connfail::cli
