// Scenario YAML -> Scenario, with every problem reported as
// file:line:column: field: message. Nothing is run on a file with errors.
//
// Checks: syntax, unknown keys, wrong types, bad units ("5 sec"), out-of-range
// values, references to unknown client groups, and faults that a scenario's
// transports cannot inject (e.g. packet loss on the real transport).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "connfail/scenarios/model.h"

namespace connfail::scenarios {

struct ParseError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown (e.g. file missing)
  int column = 0;  // 1-based
  std::string field;  // dotted path: "faults[2].rate", "server.idle.reader"
  std::string message;
  /// "file:line:column: field: message" (line/column omitted when unknown).
  std::string to_string() const;
};

struct ParseResult {
  std::optional<Scenario> scenario;  // set iff errors is empty
  std::vector<ParseError> errors;
  bool ok() const { return errors.empty(); }
};

/// How much a scenario may ask for (docs/scenarios.md, "Limits"). The
/// fixed limits (file size, nesting, counts) are constants; these two can be
/// raised from the command line.
struct ParseLimits {
  /// Connections x scenario seconds of one run (every client's time from
  /// its connect to the end of the workload): what a run costs on sim.
  double max_work = 1e8;
  /// Wall time of one run on the real transport: (duration + quiesce) x
  /// time_scale.
  Duration max_real_time = std::chrono::hours(1);
  /// CPU time the YAML reader may use on the file (scenarios/yaml_reader.h);
  /// zero: 2 s plus 6 s per MiB of the file (docs/scenarios.md, "Limits").
  /// The fuzz targets set less, to stay inside libFuzzer's per-input timeout.
  std::chrono::milliseconds yaml_cpu{0};
};

ParseResult parse_scenario_text(const std::string& text, const std::string& file_name, const ParseLimits& limits = {});
/// Reads and parses `path`; a missing or unreadable file is one error.
ParseResult parse_scenario_file(const std::string& path, const ParseLimits& limits = {});

/// The transports a scenario file declares (its top-level `transports:`),
/// read without validating anything else (no registry needed: safe from a
/// static initializer). [sim] when it says none or cannot be read.
std::vector<TransportKind> declared_transports(const std::string& path);

/// The scenario as YAML that parse_scenario_text accepts and that gives back
/// an equal Scenario (property tests write counterexamples with it).
std::string to_yaml(const Scenario& s);

}  // namespace connfail::scenarios
