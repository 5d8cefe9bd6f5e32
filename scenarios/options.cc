#include "connfail/scenarios/options.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace connfail::scenarios {

const char* to_string(OptionType t) {
  switch (t) {
    case OptionType::Flag: return "flag";
    case OptionType::Integer: return "integer";
    case OptionType::Number: return "number";
    case OptionType::Time: return "duration";
    case OptionType::Text: return "text";
    case OptionType::Choice: return "choice";
    case OptionType::TextList: return "list of text";
    case OptionType::TextMap: return "map of text";
    case OptionType::Group: return "group";
  }
  return "?";
}

OptionSpec OptionSpec::required_field() const {
  OptionSpec s = *this;
  s.required = true;
  return s;
}

OptionSpec OptionSpec::positive() const {
  OptionSpec s = *this;
  s.duration_min = Duration(1);
  return s;
}

OptionSpec OptionSpec::at_least(Duration d) const {
  OptionSpec s = *this;
  s.duration_min = d;
  return s;
}

namespace opt {

namespace {
OptionSpec base(std::string name, OptionType type, std::string help) {
  OptionSpec s;
  s.name = std::move(name);
  s.type = type;
  s.help = std::move(help);
  return s;
}
}  // namespace

OptionSpec flag(std::string name, bool def, std::string help) {
  OptionSpec s = base(std::move(name), OptionType::Flag, std::move(help));
  s.flag_default = def;
  return s;
}

OptionSpec integer(std::string name, long long def, long long min, long long max, std::string help) {
  OptionSpec s = base(std::move(name), OptionType::Integer, std::move(help));
  s.int_default = def;
  s.int_min = min;
  s.int_max = max;
  return s;
}

OptionSpec number(std::string name, double def, double min, double max, std::string help) {
  OptionSpec s = base(std::move(name), OptionType::Number, std::move(help));
  s.number_default = def;
  s.number_min = min;
  s.number_max = max;
  return s;
}

OptionSpec duration(std::string name, Duration def, std::string help) {
  OptionSpec s = base(std::move(name), OptionType::Time, std::move(help));
  s.duration_default = def;
  return s;
}

OptionSpec text(std::string name, std::string def, std::string help) {
  OptionSpec s = base(std::move(name), OptionType::Text, std::move(help));
  s.text_default = std::move(def);
  return s;
}

OptionSpec choice(std::string name, std::string def, std::vector<std::string> choices, std::string help) {
  OptionSpec s = base(std::move(name), OptionType::Choice, std::move(help));
  s.text_default = std::move(def);
  s.choices = std::move(choices);
  return s;
}

OptionSpec text_list(std::string name, std::string help) {
  return base(std::move(name), OptionType::TextList, std::move(help));
}

OptionSpec text_map(std::string name, std::string help) {
  return base(std::move(name), OptionType::TextMap, std::move(help));
}

OptionSpec group(std::string name, std::vector<OptionSpec> fields, std::string help) {
  OptionSpec s = base(std::move(name), OptionType::Group, std::move(help));
  s.fields = std::move(fields);
  return s;
}

}  // namespace opt

namespace {

bool valid_name(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

void check_into(const OptionSchema& schema, const std::string& prefix, std::vector<std::string>& out) {
  std::set<std::string> seen;
  for (const auto& f : schema) {
    const std::string where = "option '" + prefix + f.name + "'";
    if (!valid_name(f.name)) out.push_back(where + ": names are [a-z0-9_]+");
    if (!seen.insert(f.name).second) out.push_back(where + " is declared twice");
    if (f.help.empty()) out.push_back(where + " has no help text");
    if (f.required && f.type == OptionType::Group) out.push_back(where + ": a group cannot be required");
    switch (f.type) {
      case OptionType::Integer:
        if (f.int_min > f.int_max) out.push_back(where + ": min > max");
        if (!f.required && (f.int_default < f.int_min || f.int_default > f.int_max))
          out.push_back(where + ": default " + std::to_string(f.int_default) + " is outside [" +
                        std::to_string(f.int_min) + ", " + std::to_string(f.int_max) + "]");
        break;
      case OptionType::Number:
        if (!(f.number_min <= f.number_max) || !std::isfinite(f.number_min) || !std::isfinite(f.number_max))
          out.push_back(where + ": min > max");
        if (!f.required && (f.number_default < f.number_min || f.number_default > f.number_max))
          out.push_back(where + ": default is outside [min, max]");
        break;
      case OptionType::Time:
        if (f.duration_default < Duration::zero() || (!f.required && f.duration_default < f.duration_min))
          out.push_back(where + ": default is below its minimum");
        if (f.duration_default > std::chrono::hours(24)) out.push_back(where + ": default is above 24h");
        break;
      case OptionType::Choice:
        if (f.choices.empty()) out.push_back(where + ": no choices");
        if (!f.required && std::find(f.choices.begin(), f.choices.end(), f.text_default) == f.choices.end())
          out.push_back(where + ": default '" + f.text_default + "' is not one of its choices");
        break;
      case OptionType::Group:
        if (f.fields.empty()) out.push_back(where + ": a group needs fields");
        check_into(f.fields, prefix + f.name + ".", out);
        break;
      default:
        break;
    }
  }
}

}  // namespace

std::vector<std::string> check_schema(const OptionSchema& schema) {
  std::vector<std::string> out;
  check_into(schema, "", out);
  return out;
}

Options Options::defaults(const OptionSchema& schema) {
  Options o;
  for (const auto& f : schema) {
    Value v;
    v.type = f.type;
    switch (f.type) {
      case OptionType::Flag: v.flag = f.flag_default; break;
      case OptionType::Integer: v.integer = f.int_default; break;
      case OptionType::Number: v.number = f.number_default; break;
      case OptionType::Time: v.duration = f.duration_default; break;
      case OptionType::Text:
      case OptionType::Choice: v.text = f.text_default; break;
      case OptionType::TextList:
      case OptionType::TextMap: break;
      case OptionType::Group: v.group = std::make_shared<Options>(defaults(f.fields)); break;
    }
    o.values_[f.name] = std::move(v);
  }
  return o;
}

const Options::Value& Options::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw std::logic_error("no option '" + name + "' in this options block");
  return it->second;
}

Options::Value& Options::value(const std::string& name) {
  auto it = values_.find(name);
  if (it == values_.end()) throw std::logic_error("no option '" + name + "' in this options block");
  return it->second;
}

namespace {
const Options::Value& typed(const Options& o, const std::string& name, OptionType want) {
  const auto& v = o.value(name);
  const bool ok = v.type == want || (want == OptionType::Text && v.type == OptionType::Choice);
  if (!ok)
    throw std::logic_error(std::string("option '") + name + "' is a " + to_string(v.type) + ", read as a " +
                           to_string(want));
  return v;
}
}  // namespace

bool Options::flag(const std::string& name) const { return typed(*this, name, OptionType::Flag).flag; }
long long Options::integer(const std::string& name) const { return typed(*this, name, OptionType::Integer).integer; }
double Options::number(const std::string& name) const { return typed(*this, name, OptionType::Number).number; }
Duration Options::duration(const std::string& name) const { return typed(*this, name, OptionType::Time).duration; }
const std::string& Options::text(const std::string& name) const { return typed(*this, name, OptionType::Text).text; }
const std::vector<std::string>& Options::list(const std::string& name) const {
  return typed(*this, name, OptionType::TextList).list;
}
const std::map<std::string, std::string>& Options::map(const std::string& name) const {
  return typed(*this, name, OptionType::TextMap).map;
}
const Options& Options::group(const std::string& name) const { return *typed(*this, name, OptionType::Group).group; }

bool Options::given(const std::string& name) const { return value(name).given; }
SourcePos Options::pos(const std::string& name) const { return value(name).pos; }

Options::Value& Options::at_path(const std::string& path, OptionType type) {
  const auto dot = path.find('.');
  if (dot != std::string::npos) {
    Value& g = value(path.substr(0, dot));
    if (g.type != OptionType::Group) throw std::logic_error("option '" + path.substr(0, dot) + "' is not a group");
    g.given = true;
    // Copy on write: a group may be shared between copies of an Options.
    g.group = std::make_shared<Options>(*g.group);
    return g.group->at_path(path.substr(dot + 1), type);
  }
  Value& v = value(path);
  const bool ok = v.type == type || (type == OptionType::Text && v.type == OptionType::Choice);
  if (!ok) throw std::logic_error("option '" + path + "' is a " + to_string(v.type) + ", set as a " + to_string(type));
  v.given = true;
  return v;
}

Options& Options::set_flag(const std::string& p, bool v) {
  at_path(p, OptionType::Flag).flag = v;
  return *this;
}
Options& Options::set_integer(const std::string& p, long long v) {
  at_path(p, OptionType::Integer).integer = v;
  return *this;
}
Options& Options::set_number(const std::string& p, double v) {
  at_path(p, OptionType::Number).number = v;
  return *this;
}
Options& Options::set_duration(const std::string& p, Duration v) {
  at_path(p, OptionType::Time).duration = v;
  return *this;
}
Options& Options::set_text(const std::string& p, std::string v) {
  at_path(p, OptionType::Text).text = std::move(v);
  return *this;
}
Options& Options::set_list(const std::string& p, std::vector<std::string> v) {
  at_path(p, OptionType::TextList).list = std::move(v);
  return *this;
}
Options& Options::set_map(const std::string& p, std::map<std::string, std::string> v) {
  at_path(p, OptionType::TextMap).map = std::move(v);
  return *this;
}

bool Options::operator==(const Options& o) const {
  if (values_.size() != o.values_.size()) return false;
  for (const auto& [name, a] : values_) {
    auto it = o.values_.find(name);
    if (it == o.values_.end()) return false;
    const Value& b = it->second;
    if (a.type != b.type) return false;
    switch (a.type) {
      case OptionType::Flag: if (a.flag != b.flag) return false; break;
      case OptionType::Integer: if (a.integer != b.integer) return false; break;
      case OptionType::Number: if (a.number != b.number) return false; break;
      case OptionType::Time: if (a.duration != b.duration) return false; break;
      case OptionType::Text:
      case OptionType::Choice: if (a.text != b.text) return false; break;
      case OptionType::TextList: if (a.list != b.list) return false; break;
      case OptionType::TextMap: if (a.map != b.map) return false; break;
      case OptionType::Group: if (!(*a.group == *b.group)) return false; break;
    }
  }
  return true;
}

}  // namespace connfail::scenarios
