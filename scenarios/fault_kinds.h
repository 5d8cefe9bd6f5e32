// One table row per fault kind: its name, the fields it takes (and which it
// requires), the transports it runs on, and how it behaves in time. The
// parser, the YAML writer, the fault timeline, the CLI's skip reasons, the
// JSON Schema and the property generators all read it, so a kind is
// described in one place (the values themselves are read in parser.cc).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "connfail/scenarios/model.h"

namespace connfail::scenarios {

struct FaultKindInfo {
  FaultKind kind{};
  const char* name = "";  // as YAML spells it
  /// Fields besides `kind`, in the order the writer writes them.
  std::vector<std::string> fields;
  /// Fields the kind requires (`duration` here: required and positive).
  std::vector<std::string> required;
  bool sim = true;   // runs on the simulated transport
  bool asio = true;  // runs on the real transport
  /// On the real transport only in a network namespace of the run's own
  /// (root, `ip`, `nft`): netcore/asio/netns.h.
  bool asio_needs_netns = false;
  /// Without a duration it lasts until the end of the workload.
  bool lasting = false;
  /// Gone for good (the hosts it takes away never come back).
  bool permanent = false;
  /// Aimed at the server (not at client groups).
  bool at_server = false;
  /// Cuts clients off: their groups are not "healthy".
  bool disruptive = false;
  /// One line for `connfail list` and the schema.
  const char* what = "";
  /// On a transport it does not run on: what to use instead.
  const char* elsewhere = "";

  bool takes(const std::string& field) const;
  bool needs(const std::string& field) const;
};

/// Every kind, in the order the docs and the schema list them.
const std::vector<FaultKindInfo>& fault_kinds();
const FaultKindInfo& fault_kind_info(FaultKind k);
std::optional<FaultKind> fault_kind_named(const std::string& name);

}  // namespace connfail::scenarios
