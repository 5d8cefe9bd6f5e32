#include "connfail/scenarios/schema.h"

#include <nlohmann/json.hpp>

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
