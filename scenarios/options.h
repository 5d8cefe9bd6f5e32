// Options: the `options:` block of a server kind or client behaviour, checked
// against the schema its registry entry declares (scenarios/registry.h).
//
//   OptionSchema schema = {
//       opt::duration("interval", 10s, "PING every interval").positive(),
//       opt::group("idle", {opt::duration("reader", 0s, "close a peer silent this long (0: off)")},
//                  "the server's IdleStateHandler"),
//       opt::choice("pipeline", "idle-first", {"idle-first", "idle-last"}, "where the idle check sits"),
//   };
//
// The parser reads the block with the same file:line:column: field: message
// errors as the rest of a scenario (unknown keys with a suggestion, wrong
// types, units, ranges, missing required fields) and fills every field the
// file leaves out with its default, so a factory reads typed values and never
// a missing one:
//
//   Duration every = options.duration("interval");
//   Duration reader = options.group("idle").duration("reader");
//
// A factory that finds options that cannot go together throws OptionError
// naming the field; the error is reported at that field's place in the file.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "connfail/netcore/transport.h"

namespace connfail::scenarios {

using netcore::Duration;

/// Where something sits in its file (1-based; 0 = unknown).
struct SourcePos {
  int line = 0;
  int column = 0;
};

enum class OptionType {
  Flag,      // true / false
  Integer,   // within [min, max]
  Number,    // a real number within [min, max]
  Time,      // a duration: "500ms", "5s", ... (>= min, at most 24h)
  Text,      // any string
  Choice,    // one of a fixed list of words
  TextList,  // a list of strings
  TextMap,   // a map of string keys to string values
  Group,     // a nested map with its own fields
};
const char* to_string(OptionType t);

/// One field of an options schema. Made with the opt:: functions below.
struct OptionSpec {
  std::string name;  // [a-z0-9_]+
  OptionType type = OptionType::Flag;
  std::string help;  // one line: what it does and its unit
  bool required = false;  // no default: the file must give it

  bool flag_default = false;
  long long int_default = 0, int_min = 0, int_max = 0;
  double number_default = 0, number_min = 0, number_max = 0;
  Duration duration_default{}, duration_min{};
  std::string text_default;
  std::vector<std::string> choices;  // Choice
  std::vector<OptionSpec> fields;    // Group

  /// No default: a scenario that leaves it out is an error.
  OptionSpec required_field() const;
  /// Duration: must be greater than zero.
  OptionSpec positive() const;
  /// Duration: at least `d`.
  OptionSpec at_least(Duration d) const;
};

using OptionSchema = std::vector<OptionSpec>;

namespace opt {
OptionSpec flag(std::string name, bool def, std::string help);
OptionSpec integer(std::string name, long long def, long long min, long long max, std::string help);
OptionSpec number(std::string name, double def, double min, double max, std::string help);
OptionSpec duration(std::string name, Duration def, std::string help);
OptionSpec text(std::string name, std::string def, std::string help);
OptionSpec choice(std::string name, std::string def, std::vector<std::string> choices, std::string help);
OptionSpec text_list(std::string name, std::string help);
OptionSpec text_map(std::string name, std::string help);
OptionSpec group(std::string name, std::vector<OptionSpec> fields, std::string help);
}  // namespace opt

/// What a schema itself gets wrong (a default out of range, a duplicate
/// field name...): one message per problem, "" when none.
std::vector<std::string> check_schema(const OptionSchema& schema);

/// A factory's complaint about its options. `field` is the option's path
/// inside the options block ("interval", "idle.reader").
class OptionError : public std::invalid_argument {
 public:
  OptionError(std::string field, const std::string& message)
      : std::invalid_argument(message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

/// The values of one options block: every field of its schema, given in the
/// file or at its default.
class Options {
 public:
  struct Value {
    OptionType type = OptionType::Flag;
    bool given = false;  // written in the file (or set by a program), not a default
    SourcePos pos;       // of the value in the file, when given there
    bool flag = false;
    long long integer = 0;
    double number = 0;
    Duration duration{};
    std::string text;  // Text and Choice
    std::vector<std::string> list;
    std::map<std::string, std::string> map;
    std::shared_ptr<Options> group;
  };

  Options() = default;
  /// Every field of `schema` at its default (required fields hold a zero
  /// value and are not `given`).
  static Options defaults(const OptionSchema& schema);

  // Typed reads. An unknown name or a read of the wrong type is a bug in the
  // factory and throws std::logic_error naming the field.
  bool flag(const std::string& name) const;
  long long integer(const std::string& name) const;
  double number(const std::string& name) const;
  Duration duration(const std::string& name) const;
  const std::string& text(const std::string& name) const;  // Text and Choice
  const std::vector<std::string>& list(const std::string& name) const;
  const std::map<std::string, std::string>& map(const std::string& name) const;
  const Options& group(const std::string& name) const;

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  /// Written in the file (or set), as opposed to left at its default.
  bool given(const std::string& name) const;
  /// Where the value sits in the file; {} when it was not written there.
  SourcePos pos(const std::string& name) const;

  // Writes, for programs that build scenarios (property generators,
  // variants). `path` may name a field of a group: "idle.reader". Throws
  // std::logic_error for an unknown field or the wrong type.
  Options& set_flag(const std::string& path, bool v);
  Options& set_integer(const std::string& path, long long v);
  Options& set_number(const std::string& path, double v);
  Options& set_duration(const std::string& path, Duration v);
  Options& set_text(const std::string& path, std::string v);
  Options& set_list(const std::string& path, std::vector<std::string> v);
  Options& set_map(const std::string& path, std::map<std::string, std::string> v);

  const std::map<std::string, Value>& values() const { return values_; }
  Value& value(const std::string& name);  // for the parser
  const Value& value(const std::string& name) const;

  /// Same values (positions are not compared).
  bool operator==(const Options& o) const;
  bool operator!=(const Options& o) const { return !(*this == o); }

 private:
  Value& at_path(const std::string& path, OptionType type);
  std::map<std::string, Value> values_;
};

}  // namespace connfail::scenarios
