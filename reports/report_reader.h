// Reading a report.json from anywhere (a CI artifact, a baseline checked in
// long ago) for `connfail diff`: streamed, keeping only what a diff needs
// of each run (scenario, file, transport, seed, variant, passed, status),
// so a report of any size costs memory in proportion to its number of runs
// and any nesting depth is fine. Every problem is one message naming the
// field ("runs[2].transport: expected sim or asio, got \"tcp\"").
#pragma once

#include <istream>
#include <string>

#include "connfail/scenarios/result.h"

namespace connfail::reports {

/// Fills `out` with the runs of the report.json text (their findings,
/// samples and faults are not kept). False with `error` set when the text
/// is not a connfail report.
bool read_report_runs(const std::string& text, scenarios::Report& out, std::string* error);
/// The same, streaming from `in` (a file of any size: memory grows with its
/// runs, not its bytes).
bool read_report_runs(std::istream& in, scenarios::Report& out, std::string* error);

/// The full reader (report_from_json) behind a size limit and without
/// exceptions: for a report small enough to hold (at most `max_bytes`).
bool parse_report_text(const std::string& text, scenarios::Report& out, std::string* error,
                       std::size_t max_bytes = 16u << 20);

}  // namespace connfail::reports
