#include "connfail/scenarios/schema.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

#include "connfail/scenarios/fault_kinds.h"
#include "connfail/scenarios/registry.h"

namespace connfail::scenarios {

namespace detail {
extern const char* const kScenarioSchemaText;
}

namespace {

using json = nlohmann::ordered_json;

const char* const kNamePattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

json option_json(const OptionSpec& f);

json fields_json(const std::vector<OptionSpec>& fields) {
  json props = json::object();
  json required = json::array();
  for (const auto& f : fields) {
    props[f.name] = option_json(f);
    if (f.required) required.push_back(f.name);
  }
  json o = json::object();
  o["type"] = "object";
  o["properties"] = props;
  if (!required.empty()) o["required"] = required;
  o["additionalProperties"] = false;
  return o;
}

json option_json(const OptionSpec& f) {
  json o = json::object();
  switch (f.type) {
    case OptionType::Flag:
      o["type"] = "boolean";
      if (!f.required) o["default"] = f.flag_default;
      break;
    case OptionType::Integer:
      o["type"] = "integer";
      o["minimum"] = f.int_min;
      o["maximum"] = f.int_max;
      if (!f.required) o["default"] = f.int_default;
      break;
    case OptionType::Number:
      o["type"] = "number";
      o["minimum"] = f.number_min;
      o["maximum"] = f.number_max;
      if (!f.required) o["default"] = f.number_default;
      break;
    case OptionType::Time:
      o["$ref"] = f.duration_min > Duration::zero() ? "#/$defs/positive_duration" : "#/$defs/duration";
      if (!f.required) o["default"] = format_duration(f.duration_default);
      break;
    case OptionType::Text:
      o["type"] = "string";
      if (!f.required) o["default"] = f.text_default;
      break;
    case OptionType::Choice:
      o["type"] = "string";
      o["enum"] = f.choices;
      if (!f.required) o["default"] = f.text_default;
      break;
    case OptionType::TextList:
      o["type"] = "array";
      o["items"] = json{{"type", "string"}};
      break;
    case OptionType::TextMap:
      o["type"] = "object";
      o["additionalProperties"] = json{{"type", "string"}};
      break;
    case OptionType::Group: {
      json g = fields_json(f.fields);
      for (auto it = g.begin(); it != g.end(); ++it) o[it.key()] = it.value();
      break;
    }
  }
  std::string help = f.help;
  if (f.type == OptionType::Time && f.duration_min > Duration(1))
    help += " (at least " + format_duration(f.duration_min) + ")";
  o["description"] = help;
  return o;
}

json options_def(const std::string& what, const std::string& name, const std::string& description,
                 const OptionSchema& schema) {
  json o = json::object();
  o["title"] = "Options of " + what + " '" + name + "'";
  o["description"] = description;
  json f = fields_json(schema);
  for (auto it = f.begin(); it != f.end(); ++it) o[it.key()] = it.value();
  return o;
}

json if_const(const std::string& key, const std::string& value, bool is_default) {
  json when = json{{"properties", json{{key, json{{"const", value}}}}}, {"required", json::array({key})}};
  if (!is_default) return when;
  return json{{"anyOf", json::array({json{{"not", json{{"required", json::array({key})}}}}, when})}};
}


// "a, b and c"
std::string and_list(const std::vector<std::string>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : i + 1 == v.size() ? " and " : ", ") + v[i];
  return out;
}

// The fault definition from the fault-kind table (scenarios/fault_kinds.h):
// the kind names, every field name, and per kind the fields it takes and
// requires. The field definitions themselves and each kind's extra rules
// (jitter's distribution, the probability-or-counter choice) stay in the
// checked-in text; a field the table names and the text does not define is
// a bug caught here.
void fault_rules_from_table(json& fault) {
  json names = json::array();
  json fields = json::array({"kind"});
  std::vector<std::string> sim_only, asio_only;
  for (const auto& k : fault_kinds()) {
    names.push_back(k.name);
    if (k.sim && !k.asio) sim_only.push_back(k.name);
    if (k.asio && !k.sim) asio_only.push_back(k.name);
    for (const auto& f : k.fields) {
      if (!fault["properties"].contains(f))
        throw std::logic_error("fault field '" + f + "' of kind " + k.name + " has no definition in the schema");
      if (std::find(fields.begin(), fields.end(), f) == fields.end()) fields.push_back(f);
    }
  }
  json& kind = fault["properties"]["kind"];
  kind["enum"] = names;
  kind["description"] = "What goes wrong. Each kind takes its own fields (see the per-kind rules). Transport support: " +
                        and_list(sim_only) + (sim_only.size() == 1 ? " is" : " are") + " sim only; " +
                        and_list(asio_only) + (asio_only.size() == 1 ? " is" : " are") +
                        " asio only; every other kind works on both.";
  fault["propertyNames"] = json{{"enum", fields}};
  json rules = json::array();
  for (const auto& k : fault_kinds()) {
    json then = json::object();
    for (const auto& old : fault["allOf"])
      if (old["if"]["properties"]["kind"]["const"] == k.name) then = old["then"];
    // A field the kind constrains further (duration: > 0 where required)
    // keeps its constraint.
    const json old_props = then.contains("properties") ? then["properties"] : json::object();
    json props = json::object();
    props["kind"] = true;
    for (const auto& f : k.fields) props[f] = old_props.contains(f) ? old_props[f] : json(true);
    json rebuilt = json::object();
    rebuilt["properties"] = props;
    rebuilt["additionalProperties"] = false;
    if (!k.required.empty()) rebuilt["required"] = k.required;
    for (auto it = then.begin(); it != then.end(); ++it)
      if (it.key() != "properties" && it.key() != "additionalProperties" && it.key() != "required")
        rebuilt[it.key()] = it.value();
    rules.push_back(json{{"if", if_const("kind", k.name, false)}, {"then", rebuilt}});
  }
  fault["allOf"] = rules;
}

}  // namespace

std::string scenario_schema() {
  json s = json::parse(detail::kScenarioSchemaText);
  const Registry& reg = Registry::global();
  json& defs = s["$defs"];
  for (auto it = defs.begin(); it != defs.end();) {
    const std::string k = it.key();
    if (k.rfind("server_options_", 0) == 0 || k.rfind("client_options_", 0) == 0)
      it = defs.erase(it);
    else
      ++it;
  }

  fault_rules_from_table(defs["fault"]);

  json& server = s["properties"]["server"];
  std::string kinds;
  json server_rules = json::array();
  for (const auto& name : reg.server_names()) {
    const ServerKindEntry* e = reg.server(name);
    kinds += (kinds.empty() ? "" : "; ") + name + ": " + e->description;
    const std::string def = "server_options_" + name;
    defs[def] = options_def("server kind", name, e->description, e->options);
    server_rules.push_back(json{{"if", if_const("kind", name, false)},
                                {"then", json{{"properties", json{{"options", json{{"$ref", "#/$defs/" + def}}}}}}}});
  }
  server["properties"]["kind"]["pattern"] = kNamePattern;
  server["properties"]["kind"]["description"] =
      "A registered server kind (connfail list --servers). Registered here: " + kinds + ".";
  server["allOf"] = server_rules;

  json& group = s["properties"]["clients"]["items"];
  std::string behaviours;
  json client_rules = json::array();
  for (const auto& name : reg.client_names()) {
    const ClientBehaviourEntry* e = reg.client(name);
    behaviours += (behaviours.empty() ? "" : "; ") + name + ": " + e->description;
    const std::string def = "client_options_" + name;
    defs[def] = options_def("client behaviour", name, e->description, e->options);
    client_rules.push_back(json{{"if", if_const("behaviour", name, name == "echo")},
                                {"then", json{{"properties", json{{"options", json{{"$ref", "#/$defs/" + def}}}}}}}});
  }
  group["properties"]["behaviour"]["pattern"] = kNamePattern;
  group["properties"]["behaviour"]["description"] =
      "A registered client behaviour (connfail list --clients). Registered here: " + behaviours + ".";
  group["allOf"] = client_rules;
  return s.dump(2) + "\n";
}

}  // namespace connfail::scenarios
