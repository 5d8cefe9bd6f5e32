#include "connfail/scenarios/field_reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace connfail::scenarios::fields {

const char* const kDurationHint = "a duration like 500ms, 5s, 2m (a number and one of us, ms, s, m, h; no space)";

Loc loc_of(const YamlNode& n) {
  if (n.line <= 0) return {};
  return {n.line, n.column};
}


std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string index_path(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::size_t common_prefix(const std::string& a, const std::string& b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// The closest candidate within edit distance 2 ("" when none is that
// close); ties go to the longer common prefix ("rat" -> "rate", not "at").
std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  std::size_t best_d = 3, best_prefix = 0;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    const std::size_t prefix = common_prefix(word, c);
    if (d < best_d || (d == best_d && best != nullptr && prefix > best_prefix)) {
      best_d = d;
      best_prefix = prefix;
      best = &c;
    }
  }
  return best == nullptr ? std::string() : *best;
}

// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string best = closest(word, candidates);
  return best.empty() ? best : " (did you mean '" + best + "'?)";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += sep;
    s += v[i];
  }
  return s;
}

std::string describe(const YamlNode& n) {
  switch (n.kind) {
    case YamlNode::Kind::Map: return "a map";
    case YamlNode::Kind::Sequence: return "a list";
    case YamlNode::Kind::Null: return "nothing";
    case YamlNode::Kind::Scalar: return "'" + n.Scalar() + "'";
  }
  return "nothing";
}


MapView::MapView(Ctx& c, const Value& v) : loc_(v.loc), path_(v.path) {
  if (!v.node->IsMap()) {
    c.error(v, "expected a map, got " + describe(*v.node));
    return;
  }
  ok_ = true;
  // A map's own mark is its first key; an empty flow map `{}` has one too.
  for (const auto& pair : v.node->entries) {
    const YamlNode& k = pair.first;
    const YamlNode& val = pair.second;
    const Loc kl = loc_of(k);
    if (!k.IsScalar()) {
      c.error(kl, path_, "keys must be plain words, got " + describe(k));
      continue;
    }
    Item item{k.Scalar(), kl, Value{&val, join_path(path_, k.Scalar()), {}}};
    // A missing value (`key:` and nothing) has no position of its own:
    // yaml-cpp places it at the next token. Point at the key instead.
    item.value.loc = val.IsNull() ? kl : loc_of(val);
    if (item.value.loc.line == 0) item.value.loc = kl;
    if (auto prev = index_.find(item.key); prev != index_.end()) {
      c.error(kl, item.value.path,
              "duplicate key '" + item.key + "' (first given at line " +
                  std::to_string(items_[prev->second].key_loc.line) + ")");
      continue;
    }
    index_[item.key] = items_.size();
    c.where_of[item.value.path] = item.value.loc;
    items_.push_back(std::move(item));
  }
}

std::optional<std::vector<Value>> list_of(Ctx& c, const Value& v) {
  if (!v.node->IsSequence()) {
    c.error(v, "expected a list, got " + describe(*v.node));
    return std::nullopt;
  }
  std::vector<Value> out;
  std::size_t i = 0;
  for (const auto& el : v.node->items) {
    Value e{&el, index_path(v.path, i++), loc_of(el)};
    if (e.loc.line == 0) e.loc = v.loc;
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<std::string> scalar(Ctx& c, const Value& v, const std::string& expected) {
  if (!v.node->IsScalar()) {
    c.error(v, "expected " + expected + ", got " + describe(*v.node));
    return std::nullopt;
  }
  return v.node->Scalar();
}

std::optional<std::string> read_string(Ctx& c, const Value& v) { return scalar(c, v, "a string"); }

std::optional<bool> read_bool(Ctx& c, const Value& v) {
  auto s = scalar(c, v, "true or false");
  if (!s) return std::nullopt;
  if (*s == "true" || *s == "True" || *s == "TRUE") return true;
  if (*s == "false" || *s == "False" || *s == "FALSE") return false;
  c.error(v, "expected true or false, got '" + *s + "'");
  return std::nullopt;
}

std::string range_text(long long lo, long long hi) {
  if (hi == std::numeric_limits<long long>::max()) return "an integer >= " + std::to_string(lo);
  return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

std::optional<long long> read_int(Ctx& c, const Value& v, long long lo, long long hi) {
  const std::string expected = range_text(lo, hi);
  auto s = scalar(c, v, expected);
  if (!s) return std::nullopt;
  const std::string& t = *s;
  std::size_t i = (!t.empty() && t[0] == '-') ? 1 : 0;
  bool digits = i < t.size();
  for (std::size_t j = i; j < t.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(t[j]))) digits = false;
  if (!digits) {
    c.error(v, "expected " + expected + ", got '" + t + "'");
    return std::nullopt;
  }
  errno = 0;
  const long long n = std::strtoll(t.c_str(), nullptr, 10);
  if (errno == ERANGE || n < lo || n > hi) {
    c.error(v, "out of range: expected " + expected + ", got " + t);
    return std::nullopt;
  }
  return n;
}

// A floating-point number; bounds inclusive unless `lo_open`/`hi_open`.
std::optional<double> read_number(Ctx& c, const Value& v, double lo, double hi, bool lo_open, bool hi_open) {
  std::ostringstream r;
  r << "a number in " << (lo_open ? "(" : "[") << lo << ", " << hi << (hi_open ? ")" : "]");
  const std::string expected = r.str();
  auto s = scalar(c, v, expected);
  if (!s) return std::nullopt;
  const std::string& t = *s;
  bool chars_ok = !t.empty();
  for (char ch : t)
    if (!(std::isdigit(static_cast<unsigned char>(ch)) || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' ||
          ch == '-'))
      chars_ok = false;
  char* end = nullptr;
  const double d = chars_ok ? std::strtod(t.c_str(), &end) : 0.0;
  if (!chars_ok || end == nullptr || *end != '\0' || !std::isfinite(d)) {
    c.error(v, "expected " + expected + ", got '" + t + "'");
    return std::nullopt;
  }
  if (d < lo || d > hi || (lo_open && d == lo) || (hi_open && d == hi)) {
    c.error(v, "out of range: expected " + expected + ", got " + t);
    return std::nullopt;
  }
  return d;
}

std::optional<double> read_probability(Ctx& c, const Value& v) { return read_number(c, v, 0.0, 1.0); }

// A non-negative duration with a unit, at most kMaxDuration; `positive`
// also rejects zero.
std::optional<Duration> read_duration(Ctx& c, const Value& v, bool positive) {
  auto s = scalar(c, v, kDurationHint);
  if (!s) return std::nullopt;
  const std::string& t = *s;
  if (!t.empty() && t[0] == '-' && parse_duration(t.substr(1))) {
    c.error(v, "must not be negative, got '" + t + "'");
    return std::nullopt;
  }
  auto d = parse_duration(t);
  if (!d) {
    std::string msg = std::string("expected ") + kDurationHint + ", got '" + t + "'";
    bool bare_number = !t.empty();
    for (char ch : t)
      if (!(std::isdigit(static_cast<unsigned char>(ch)) || ch == '.')) bare_number = false;
    if (bare_number) msg += " (add a unit, e.g. '" + t + "s')";
    c.error(v, msg);
    return std::nullopt;
  }
  if (positive && *d == Duration::zero()) {
    c.error(v, "must be greater than 0, got '" + t + "'");
    return std::nullopt;
  }
  if (*d > kMaxDuration) {
    c.error(v, "out of range: at most 24h, got '" + t + "'");
    return std::nullopt;
  }
  return d;
}

}  // namespace connfail::scenarios::fields
