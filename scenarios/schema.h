// The JSON Schema of scenario files, for editors: the checked-in
// scenarios/schema/scenario.schema.json, with the parts that depend on what
// is registered -- each server kind's and client behaviour's options --
// generated from the registry. `connfail schema` prints it (a user's own
// CLI includes their kinds); for the built-ins it equals the checked-in
// file byte for byte (a test guards it). A kind the schema does not know
// takes any options: the parser is the authority.
#pragma once

#include <string>

namespace connfail::scenarios {

/// The schema for everything registered now, as JSON text (2-space indent,
/// a trailing newline).
std::string scenario_schema();

}  // namespace connfail::scenarios
