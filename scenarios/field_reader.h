// The scenario parser's field reader: a YAML document read as values with
// a path ("clients[0].spacing") and a position (line, column), and readers
// for each kind of field (maps with unknown-key suggestions, lists, strings,
// booleans, bounded integers and numbers, durations with units, names from a
// table) that record every problem as a ParseError and carry on. It knows
// nothing about scenarios: parser.cc holds the scenario's rules and uses
// this for every field. Internal to the parser (not an API).
#pragma once

#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "connfail/scenarios/model.h"
#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/yaml_reader.h"

namespace connfail::scenarios::fields {

/// Upper bound for every duration in a file: a day of scenario time is far
/// beyond anything meaningful, and it keeps arithmetic on durations safe.
constexpr Duration kMaxDuration = std::chrono::hours(24);
extern const char* const kDurationHint;

// ---------------------------------------------------------------- positions

struct Loc {
  int line = 0;    // 1-based, 0 = unknown
  int column = 0;  // 1-based
};

/// A node and where it sits: the path of the field it is the value of, and
/// the position an error about it names.
struct Value {
  const YamlNode* node = nullptr;  // owned by the document being parsed
  std::string path;
  Loc loc;
};

// One key of a map: the key itself (for unknown/duplicate key errors) and
// its value.
struct Item {
  std::string key;
  Loc key_loc;
  Value value;
};

Loc loc_of(const YamlNode& n);
std::string join_path(const std::string& parent, const std::string& key);
std::string index_path(const std::string& parent, std::size_t i);

// ------------------------------------------------------------------- errors

struct Ctx {
  std::string file;
  std::vector<ParseError> errors;
  /// Where each field read so far sits ("clients[0].spacing" -> 12:14), for
  /// checks that look at several fields at once (the timeline).
  std::map<std::string, Loc> where_of;

  void error(Loc where, std::string field, std::string message) {
    ParseError e;
    e.file = file;
    e.line = where.line;
    e.column = where.column;
    e.field = std::move(field);
    e.message = std::move(message);
    errors.push_back(std::move(e));
  }
  void error(const Value& v, std::string message) { error(v.loc, v.path, std::move(message)); }
};

// ------------------------------------------------------------- suggestions

std::size_t edit_distance(const std::string& a, const std::string& b);
/// The closest candidate within edit distance 2 ("" when none is that
/// close); ties go to the longer common prefix ("rat" -> "rate", not "at").
std::string closest(const std::string& word, const std::vector<std::string>& candidates);
/// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
std::string join(const std::vector<std::string>& v, const char* sep = ", ");

// ------------------------------------------------------------ node helpers

/// What a node is, for "expected X, got Y" messages.
std::string describe(const YamlNode& n);

/// A map read once: checks it is a map, collects its keys in file order and
/// reports duplicate and non-scalar keys. Unknown keys are reported by
/// check_keys() (faults check them against their kind instead).
class MapView {
 public:
  MapView(Ctx& c, const Value& v);

  bool ok() const { return ok_; }
  Loc loc() const { return loc_; }
  const std::string& path() const { return path_; }
  const std::vector<Item>& items() const { return items_; }

  const Item* get(const std::string& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second];
  }
  bool has(const std::string& key) const { return get(key) != nullptr; }

  // Reports every key not in `known`, suggesting the closest known one.
  void check_keys(Ctx& c, const std::vector<std::string>& known, const std::string& what) const {
    for (const auto& item : items_) {
      if (std::find(known.begin(), known.end(), item.key) != known.end()) continue;
      c.error(item.key_loc, item.value.path,
              "unknown key '" + item.key + "' in " + what + suggest(item.key, known) + "; allowed: " + join(known));
    }
  }

  // " (did you mean 'x'?)" for an unknown key of this map, remembering the
  // suggestion: a misspelt required field is then not also reported missing.
  std::string suggest(const std::string& key, const std::vector<std::string>& known) const {
    const std::string best = closest(key, known);
    if (best.empty()) return best;
    suggested_.insert(best);
    return " (did you mean '" + best + "'?)";
  }

  // "missing field" error at the map itself (unless a misspelling of the
  // field was already reported).
  void missing(Ctx& c, const std::string& key, const std::string& what) const {
    if (suggested_.count(key) != 0) return;
    c.error(loc_, join_path(path_, key), "missing required field '" + key + "': " + what);
  }

 private:
  bool ok_ = false;
  Loc loc_;
  std::string path_;
  std::vector<Item> items_;
  std::map<std::string, std::size_t> index_;
  mutable std::set<std::string> suggested_;
};

/// The elements of a list, each with its path and position.
std::optional<std::vector<Value>> list_of(Ctx& c, const Value& v);

// ----------------------------------------------------------- scalar readers

std::optional<std::string> scalar(Ctx& c, const Value& v, const std::string& expected);
std::optional<std::string> read_string(Ctx& c, const Value& v);
std::optional<bool> read_bool(Ctx& c, const Value& v);
std::string range_text(long long lo, long long hi);
std::optional<long long> read_int(Ctx& c, const Value& v, long long lo,
                                  long long hi = std::numeric_limits<long long>::max());
/// A floating-point number; bounds inclusive unless `lo_open`/`hi_open`.
std::optional<double> read_number(Ctx& c, const Value& v, double lo, double hi, bool lo_open = false,
                                  bool hi_open = false);
std::optional<double> read_probability(Ctx& c, const Value& v);
/// A non-negative duration with a unit, at most kMaxDuration; `positive`
/// also rejects zero.
std::optional<Duration> read_duration(Ctx& c, const Value& v, bool positive = false);

// ------------------------------------------------------------ named values

template <class E>
using EnumTable = std::vector<std::pair<std::string, E>>;

template <class E>
EnumTable<E> enum_table(std::initializer_list<E> values) {
  EnumTable<E> t;
  for (E e : values) t.emplace_back(to_string(e), e);
  return t;
}

template <class E>
std::vector<std::string> enum_names(const EnumTable<E>& t) {
  std::vector<std::string> v;
  for (const auto& p : t) v.push_back(p.first);
  return v;
}

template <class E>
std::optional<E> read_enum(Ctx& c, const Value& v, const EnumTable<E>& table, const std::string& what) {
  const auto names = enum_names(table);
  auto s = scalar(c, v, what + " (one of " + join(names) + ")");
  if (!s) return std::nullopt;
  for (const auto& p : table)
    if (p.first == *s) return p.second;
  c.error(v, "unknown " + what + " '" + *s + "'" + did_you_mean(*s, names) + "; expected one of " + join(names));
  return std::nullopt;
}

}  // namespace connfail::scenarios::fields
