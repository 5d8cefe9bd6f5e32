// Scenario -> YAML that parse_scenario_text reads back into an equal
// Scenario (except `file` and the faults' source positions). Fields equal to
// their defaults are left out, except the ones a reader wants to see (name,
// duration, server.kind, each group's name and count, each fault's kind and
// at). Output is deterministic: keys in a fixed order, one spelling per value.
//
// Only the fields a fault kind accepts are written (a Loss fault's
// `latency` is not); a jitter fault writes only its distribution's fields.
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "connfail/scenarios/fault_kinds.h"
#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/registry.h"

namespace connfail::scenarios {

namespace {

// The shortest decimal spelling that reads back as exactly `v`.
std::string number(double v) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

const char* distribution_name(JitterDistribution d) {
  return d == JitterDistribution::Normal ? "normal" : "uniform";
}

class Writer {
 public:
  Writer() {
    out_.SetIndent(2);
    out_.SetSeqFormat(YAML::Block);
    out_.SetMapFormat(YAML::Block);
  }

  std::string write(const Scenario& s) {
    const Scenario d;
    out_ << YAML::BeginMap;
    kv("name", s.name);
    if (!s.description.empty()) kv("description", s.description);
    if (s.transports != d.transports) {
      out_ << YAML::Key << "transports" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (auto t : s.transports) out_ << to_string(t);
      out_ << YAML::EndSeq;
    }
    if (s.seeds != d.seeds) {
      out_ << YAML::Key << "seeds" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (auto seed : s.seeds) out_ << seed;
      out_ << YAML::EndSeq;
    }
    kv("duration", format_duration(s.duration));
    if (s.quiesce != d.quiesce) kv("quiesce", format_duration(s.quiesce));
    if (s.time_scale != d.time_scale) kv("time_scale", number(s.time_scale));
    if (s.link_rate != d.link_rate || s.link_delay != d.link_delay) {
      out_ << YAML::Key << "link" << YAML::Value << YAML::BeginMap;
      if (s.link_rate != d.link_rate) kv("rate", s.link_rate);
      if (s.link_delay != d.link_delay) kv("delay", format_duration(s.link_delay));
      out_ << YAML::EndMap;
    }
    if (!(s.tcp == d.tcp)) {
      out_ << YAML::Key << "tcp" << YAML::Value << YAML::BeginMap;
      if (s.tcp.kind != d.tcp.kind) kv("profile", connfail::sim::to_string(s.tcp.kind));
      if (!s.tcp.sysctl.empty()) {
        out_ << YAML::Key << "sysctl" << YAML::Value << YAML::BeginMap;
        for (const auto& [name, value] : s.tcp.sysctl) out_ << YAML::Key << name << YAML::Value << value;
        out_ << YAML::EndMap;
      }
      out_ << YAML::EndMap;
    }
    server(s.server);
    out_ << YAML::Key << "clients" << YAML::Value << YAML::BeginSeq;
    for (const auto& g : s.clients) group(g);
    out_ << YAML::EndSeq;
    if (!s.faults.empty()) {
      out_ << YAML::Key << "faults" << YAML::Value << YAML::BeginSeq;
      for (const auto& f : s.faults) fault(f);
      out_ << YAML::EndSeq;
    }
    expect(s.expect);
    out_ << YAML::EndMap;
    std::string text = out_.c_str();
    if (text.empty() || text.back() != '\n') text += '\n';
    return text;
  }

 private:
  void kv(const char* key, const std::string& value) { out_ << YAML::Key << key << YAML::Value << value; }
  void kv(const char* key, const char* value) { kv(key, std::string(value)); }
  void kv_dur(const char* key, Duration v) { kv(key, format_duration(v)); }
  void kv_bool(const char* key, bool v) { out_ << YAML::Key << key << YAML::Value << YAML::TrueFalseBool << v; }
  template <class Int>
  void kv_int(const char* key, Int v) {
    out_ << YAML::Key << key << YAML::Value << v;
  }

  // The fields of `o` that differ from their defaults, in schema order.
  static bool differs(const OptionSpec& f, const Options::Value& v) {
    switch (f.type) {
      case OptionType::Flag: return v.flag != f.flag_default;
      case OptionType::Integer: return f.required || v.integer != f.int_default;
      case OptionType::Number: return f.required || v.number != f.number_default;
      case OptionType::Time: return f.required || v.duration != f.duration_default;
      case OptionType::Text:
      case OptionType::Choice: return f.required || v.text != f.text_default;
      case OptionType::TextList: return f.required || !v.list.empty();
      case OptionType::TextMap: return f.required || !v.map.empty();
      case OptionType::Group:
        for (const auto& sub : f.fields)
          if (v.group && v.group->has(sub.name) && differs(sub, v.group->value(sub.name))) return true;
        return false;
    }
    return false;
  }

  void option_fields(const OptionSchema& schema, const Options& o) {
    for (const auto& f : schema) {
      if (!o.has(f.name)) continue;
      const Options::Value& v = o.value(f.name);
      if (!differs(f, v)) continue;
      const char* key = f.name.c_str();
      switch (f.type) {
        case OptionType::Flag: kv_bool(key, v.flag); break;
        case OptionType::Integer: kv_int(key, v.integer); break;
        case OptionType::Number: kv(key, number(v.number)); break;
        case OptionType::Time: kv_dur(key, v.duration); break;
        case OptionType::Text:
        case OptionType::Choice: kv(key, v.text); break;
        case OptionType::TextList:
          out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
          for (const auto& t : v.list) out_ << YAML::DoubleQuoted << t;
          out_ << YAML::EndSeq;
          break;
        case OptionType::TextMap:
          out_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
          for (const auto& [mk, mv] : v.map) out_ << YAML::Key << mk << YAML::Value << YAML::DoubleQuoted << mv;
          out_ << YAML::EndMap;
          break;
        case OptionType::Group:
          out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap;
          option_fields(f.fields, *v.group);
          out_ << YAML::EndMap;
          break;
      }
    }
  }

  void options(const OptionSchema* schema, const Options& o) {
    if (schema == nullptr) return;
    bool any = false;
    for (const auto& f : *schema)
      if (o.has(f.name) && differs(f, o.value(f.name))) any = true;
    if (!any) return;
    out_ << YAML::Key << "options" << YAML::Value << YAML::BeginMap;
    option_fields(*schema, o);
    out_ << YAML::EndMap;
  }

  void server(const ServerSpec& srv) {
    const ServerSpec d;
    out_ << YAML::Key << "server" << YAML::Value << YAML::BeginMap;
    kv("kind", srv.kind);
    if (srv.backlog != d.backlog) kv_int("backlog", srv.backlog);
    if (srv.accept_error_backoff != d.accept_error_backoff) kv_dur("accept_error_backoff", srv.accept_error_backoff);
    if (srv.loops != d.loops) kv_int("loops", srv.loops);
    tcp_options(srv.tcp);
    const ServerKindEntry* e = Registry::global().server(srv.kind);
    options(e ? &e->options : nullptr, srv.options);
    out_ << YAML::EndMap;
  }

  void group(const ClientGroup& g) {
    const ClientGroup d;
    out_ << YAML::BeginMap;
    kv("name", g.name);
    kv_int("count", g.count);
    if (g.hosts != d.hosts) kv_int("hosts", g.hosts);
    if (g.start != d.start) kv_dur("start", g.start);
    if (g.spacing != d.spacing) kv_dur("spacing", g.spacing);
    if (g.behaviour != d.behaviour) kv("behaviour", g.behaviour);
    const ClientBehaviourEntry* e = Registry::global().client(g.behaviour);
    options(e ? &e->options : nullptr, g.options);
    if (g.close != CloseStyle::None) {
      out_ << YAML::Key << "close" << YAML::Value << YAML::Flow << YAML::BeginMap;
      kv("style", to_string(g.close));
      kv_dur("at", g.close_at);
      out_ << YAML::EndMap;
    }
    if (g.connect_timeout != d.connect_timeout) kv_dur("connect_timeout", g.connect_timeout);
    tcp_options(g.tcp);
    out_ << YAML::EndMap;
  }

  void tcp_options(const netcore::TcpOptions& o) {
    if (o.keepalive && (o.keep_idle || o.keep_interval || o.keep_count)) {
      out_ << YAML::Key << "keepalive" << YAML::Value << YAML::Flow << YAML::BeginMap;
      if (o.keep_idle) kv_dur("idle", *o.keep_idle);
      if (o.keep_interval) kv_dur("interval", *o.keep_interval);
      if (o.keep_count) kv_int("count", *o.keep_count);
      out_ << YAML::EndMap;
    } else if (o.keepalive) {
      out_ << YAML::Key << "keepalive" << YAML::Value << true;
    }
    if (o.user_timeout > Duration::zero()) kv_dur("user_timeout", o.user_timeout);
  }

  void fault(const Fault& f) {
    const Fault d;
    out_ << YAML::BeginMap;
    kv("kind", to_string(f.kind));
    kv_dur("at", f.at);
    const FaultKindInfo& info = fault_kind_info(f.kind);
    const bool has_duration = info.takes("duration");
    const bool has_targets = info.takes("targets");
    const bool has_direction = info.takes("direction");
    // A required duration is always written.
    if (has_duration && (f.duration != d.duration || info.needs("duration")))
      kv_dur("duration", f.duration);
    if (has_targets && !f.targets.empty()) {
      out_ << YAML::Key << "targets" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& t : f.targets) out_ << t;
      out_ << YAML::EndSeq;
    }
    if (has_direction && f.direction != d.direction) kv("direction", to_string(f.direction));
    switch (f.kind) {
      case FaultKind::Loss:
        kv("rate", number(f.rate));
        break;
      case FaultKind::BurstLoss:
        kv("rate", number(f.rate));
        if (f.burst_min != d.burst_min) kv_int("burst_min", f.burst_min);
        if (f.burst_max != d.burst_max) kv_int("burst_max", f.burst_max);
        break;
      case FaultKind::GilbertElliott:
        kv("p_good_to_bad", number(f.p_good_to_bad));
        if (f.p_bad_to_good != d.p_bad_to_good) kv("p_bad_to_good", number(f.p_bad_to_good));
        if (f.loss_good != d.loss_good) kv("loss_good", number(f.loss_good));
        if (f.loss_bad != d.loss_bad) kv("loss_bad", number(f.loss_bad));
        break;
      case FaultKind::Jitter:
        if (f.distribution != d.distribution) kv("distribution", distribution_name(f.distribution));
        if (f.distribution == JitterDistribution::Uniform) {
          kv_dur("max", f.max);
        } else {
          if (f.mean != d.mean) kv_dur("mean", f.mean);
          kv_dur("sd", f.sd);
          kv_dur("bound", f.bound);  // always: absent means mean + 4 sd, not the default 0
        }
        if (f.reorder != d.reorder) kv_bool("reorder", f.reorder);
        break;
      case FaultKind::Latency:
        kv_dur("latency", f.latency);
        break;
      case FaultKind::Bandwidth:
        kv_int("bytes_per_second", f.bytes_per_second);
        break;
      case FaultKind::HandlerException:
        kv("handler", f.handler);
        if (f.event != d.event) kv("event", f.event);
        if (f.nth > 0)
          kv_int("nth", f.nth);
        else
          kv("probability", number(f.probability));
        break;
      case FaultKind::AcceptFailure:
        if (f.every > 0)
          kv_int("every", f.every);
        else
          kv("probability", number(f.probability));
        break;
      case FaultKind::HalfOpen:
      case FaultKind::Partition:
      case FaultKind::AcceptPause:
      case FaultKind::Rst:
      case FaultKind::ServerVanish:
      case FaultKind::ServerRestart:
        break;
    }
    out_ << YAML::EndMap;
  }

  void expect(const Expectations& e) {
    const Expectations d;
    const bool grace_differs = (e.close_wait_grace < Duration::zero())
                                   ? !(d.close_wait_grace < Duration::zero())
                                   : e.close_wait_grace != d.close_wait_grace;
    const bool any = e.no_orphans != d.no_orphans || grace_differs || e.half_open_reaped_within_grace ||
                     e.healthy_clients_never_closed != d.healthy_clients_never_closed ||
                     e.max_open_connections != d.max_open_connections || !e.ledger_counts.empty() ||
                     !e.client_ledger_counts.empty() ||
                     e.fd_delta_zero != d.fd_delta_zero || e.no_pending_timers != d.no_pending_timers ||
                     e.reconnect.has_value();
    if (!any) return;
    out_ << YAML::Key << "expect" << YAML::Value << YAML::BeginMap;
    if (e.no_orphans != d.no_orphans) kv_bool("no_orphans", e.no_orphans);
    if (grace_differs) {
      if (e.close_wait_grace < Duration::zero())
        kv("close_wait_grace", "off");
      else
        kv_dur("close_wait_grace", e.close_wait_grace);
    }
    if (e.half_open_reaped_within_grace) kv_dur("half_open_reaped_within_grace", *e.half_open_reaped_within_grace);
    if (e.healthy_clients_never_closed != d.healthy_clients_never_closed)
      kv_bool("healthy_clients_never_closed", e.healthy_clients_never_closed);
    if (e.max_open_connections != d.max_open_connections) kv_int("max_open_connections", e.max_open_connections);
    if (!e.ledger_counts.empty()) {
      out_ << YAML::Key << "ledger_counts" << YAML::Value << YAML::BeginMap;
      for (const auto& [reason, n] : e.ledger_counts) kv_int(reason.c_str(), n);
      out_ << YAML::EndMap;
    }
    if (!e.client_ledger_counts.empty()) {
      out_ << YAML::Key << "client_ledger_counts" << YAML::Value << YAML::BeginMap;
      for (const auto& [reason, n] : e.client_ledger_counts) kv_int(reason.c_str(), n);
      out_ << YAML::EndMap;
    }
    if (e.fd_delta_zero != d.fd_delta_zero) kv_bool("fd_delta_zero", e.fd_delta_zero);
    if (e.no_pending_timers != d.no_pending_timers) kv_bool("no_pending_timers", e.no_pending_timers);
    if (e.reconnect) {
      out_ << YAML::Key << "reconnect" << YAML::Value << YAML::Flow << YAML::BeginMap;
      kv_dur("within", e.reconnect->within);
      if (e.reconnect->stable != Expectations::Reconnect{}.stable) kv_dur("stable", e.reconnect->stable);
      out_ << YAML::EndMap;
    }
    out_ << YAML::EndMap;
  }

  YAML::Emitter out_;
};

}  // namespace

std::string to_yaml(const Scenario& s) { return Writer().write(s); }

}  // namespace connfail::scenarios
