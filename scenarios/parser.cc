// Scenario YAML -> Scenario. See docs/scenarios.md for the format.
//
// The parser never stops at the first problem: it walks the whole document,
// records every error with the position of the offending node and the dotted
// path of the field, and returns them sorted in file order. A scenario is
// returned only when there is no error at all.
#include "connfail/scenarios/parser.h"


#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/pipeline.h"
#include "connfail/scenarios/fault_kinds.h"
#include "connfail/scenarios/field_reader.h"
#include "connfail/scenarios/registry.h"
#include "connfail/scenarios/yaml_reader.h"

namespace connfail::scenarios {

std::string ParseError::to_string() const {
  std::string s = file;
  if (line > 0) {
    s += ":" + std::to_string(line);
    if (column > 0) s += ":" + std::to_string(column);
  }
  if (!s.empty()) s += ": ";
  if (!field.empty()) s += field + ": ";
  s += message;
  return s;
}

namespace {

using namespace std::chrono_literals;
using namespace fields;

constexpr long long kMaxClientsPerGroup = 100000;
// Limits of a scenario file (docs/scenarios.md, "Limits").
constexpr std::size_t kMaxFileBytes = 1u << 20;
constexpr int kMaxDepth = 32;
constexpr std::size_t kMaxGroups = 1000;
constexpr std::size_t kMaxFaults = 1000;
constexpr std::size_t kMaxSeeds = 1000;
// The simulated network: one /24 link per client host, 10.<hi>.<lo>.0
// (sim/sim_world.cc), and ns-3's ephemeral ports 49153..65535 per host.
constexpr long long kSimMaxHosts = 65535;
constexpr long long kSimPortsPerHost = 65535 - 49153 + 1;

// The YAML reader's bounds for a scenario file of `bytes` bytes. Its CPU
// time and memory grow with the document: for a valid 1 MiB file yaml-cpp
// takes about 0.7 s and grows by about 80 MiB here, 1.3 to 2.4 s and about
// 200 MiB under ASan+UBSan (freed memory stays in its quarantine). The
// budget is 2 s plus 6 s per MiB of CPU time and 256 MiB plus 512 MiB per
// MiB of memory, so no valid file within kMaxFileBytes comes near either
// in any build, while a document yaml-cpp never returns from still stops
// within seconds. The wall-clock backstop stays well above the CPU time.
YamlLimits scenario_yaml_limits(std::size_t bytes, std::chrono::milliseconds cpu = std::chrono::milliseconds(0)) {
  YamlLimits l;
  l.max_depth = kMaxDepth;
  l.max_time = cpu.count() > 0 ? cpu
                               : std::chrono::milliseconds(2000 + static_cast<long long>(bytes) * 6000 / (1 << 20));
  l.max_wall = std::max(std::chrono::milliseconds(10000), 3 * l.max_time);
  l.max_memory = (std::size_t{256} << 20) + bytes * 512;
  return l;
}

// This machine's ephemeral port range size (0: unknown).
long long local_port_range() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  long long lo = 0, hi = 0;
  if (!(in >> lo >> hi) || hi < lo) return 0;
  return hi - lo + 1;
}


const EnumTable<TransportKind>& transport_table() {
  static const auto t = enum_table({TransportKind::Sim, TransportKind::Asio});
  return t;
}
const EnumTable<CloseStyle>& close_style_table() {
  static const auto t = enum_table({CloseStyle::None, CloseStyle::Fin, CloseStyle::Rst, CloseStyle::Vanish});
  return t;
}
const EnumTable<FaultKind>& fault_kind_table() {
  static const EnumTable<FaultKind> t = [] {
    EnumTable<FaultKind> out;
    for (const auto& i : fault_kinds()) out.emplace_back(i.name, i.kind);
    return out;
  }();
  return t;
}
const EnumTable<Direction>& direction_table() {
  static const auto t = enum_table({Direction::Both, Direction::ToServer, Direction::FromServer});
  return t;
}
const EnumTable<JitterDistribution>& distribution_table() {
  static const EnumTable<JitterDistribution> t = {{"uniform", JitterDistribution::Uniform},
                                                  {"normal", JitterDistribution::Normal}};
  return t;
}

// Pipeline events a handler fault can be injected on: netcore's own list.
const std::vector<std::string>& pipeline_event_names() {
  static const std::vector<std::string> v = [] {
    using netcore::PipelineEvent;
    std::vector<std::string> out;
    for (PipelineEvent e : {PipelineEvent::Active, PipelineEvent::Read, PipelineEvent::ReadComplete,
                            PipelineEvent::UserEvent, PipelineEvent::Exception, PipelineEvent::Inactive,
                            PipelineEvent::Write, PipelineEvent::Flush, PipelineEvent::ReadRequest,
                            PipelineEvent::Close})
      out.emplace_back(netcore::to_string(e));
    return out;
  }();
  return v;
}

// Close reasons the ledger records (server side): the keys of ledger_counts.
const std::vector<std::string>& close_reason_names() {
  static const std::vector<std::string> v = [] {
    using netcore::CloseReason;
    std::vector<std::string> out;
    for (CloseReason r : {CloseReason::Normal, CloseReason::PeerClosed, CloseReason::Reset, CloseReason::Idle,
                          CloseReason::Exception, CloseReason::AcceptFailure, CloseReason::WriteError,
                          CloseReason::TimedOut, CloseReason::Error, CloseReason::Aborted, CloseReason::Keepalive,
                          CloseReason::UserTimeout})
      out.emplace_back(netcore::to_string(r));
    out.emplace_back("open");  // still open at the verdict
    return out;
  }();
  return v;
}

bool is_name(const std::string& s, bool allow_underscore) {
  if (s.empty()) return false;
  for (char ch : s) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                    (allow_underscore && ch == '_');
    if (!ok) return false;
  }
  return true;
}

// ns-3 DataRate spellings: a number and [prefix]{bps,b/s,Bps,B/s}.
bool is_data_rate(const std::string& s) { return parse_data_rate(s).has_value(); }

// ----------------------------------------------------------- fault fields

std::vector<std::string> fields_of(FaultKind k) {
  std::vector<std::string> out{"kind"};
  const auto& f = fault_kind_info(k).fields;
  out.insert(out.end(), f.begin(), f.end());
  return out;
}

std::vector<std::string> all_fault_fields() {
  std::vector<std::string> out{"kind"};
  for (const auto& f : fault_kinds())
    for (const auto& name : f.fields)
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  return out;
}

// --------------------------------------------------------------- the parse

// Tables are functions, not globals: a user's static initializer (e.g.
// connfail::gtest::register_scenario_tests) may parse a file before this
// file's globals would be constructed.
const std::vector<std::string>& top_keys() {
  static const std::vector<std::string> v = {"name",     "description", "transports", "seeds", "seed",
                                           "duration", "quiesce",     "time_scale", "link",  "server",
                                           "clients",  "faults",      "expect",     "tcp"};
  return v;
}
const std::vector<std::string>& link_keys() {
  static const std::vector<std::string> v = {"rate", "delay"};
  return v;
}
const std::vector<std::string>& server_keys() {
  static const std::vector<std::string> v = {"kind",  "options",   "backlog", "accept_error_backoff",
                                             "loops", "keepalive", "user_timeout"};
  return v;
}
const std::vector<std::string>& client_keys() {
  static const std::vector<std::string> v = {"name",      "count",   "hosts", "start",          "spacing",
                                              "behaviour", "options", "close", "connect_timeout",
                                              "keepalive", "user_timeout"};
  return v;
}
// Keys that were fields of the server or of a client group before kinds and
// behaviours became registry entries: now options of the built-ins.
const std::vector<std::string>& server_option_keys() {
  static const std::vector<std::string> v = {"idle", "pipeline", "backend", "backend_connect_timeout"};
  return v;
}
const std::vector<std::string>& client_option_keys() {
  static const std::vector<std::string> v = {"heartbeat_interval", "client_idle", "request_size",
                                                    "request_every", "reconnect"};
  return v;
}
const std::vector<std::string>& tcp_keys() {
  static const std::vector<std::string> v = {"profile", "sysctl"};
  return v;
}
const std::vector<std::string>& keepalive_keys() {
  static const std::vector<std::string> v = {"idle", "interval", "count"};
  return v;
}
const std::vector<std::string>& close_keys() {
  static const std::vector<std::string> v = {"style", "at"};
  return v;
}
const std::vector<std::string>& reconnect_keys() {
  static const std::vector<std::string> v = {"within", "stable"};
  return v;
}
const std::vector<std::string>& expect_keys() {
  static const std::vector<std::string> v = {"no_orphans",
                                              "close_wait_grace",
                                              "half_open_reaped_within_grace",
                                              "healthy_clients_never_closed",
                                              "max_open_connections",
                                              "ledger_counts",
                                              "client_ledger_counts",
                                              "fd_delta_zero",
                                              "no_pending_timers",
                                              "reconnect"};
  return v;
}

// Top-level facts later checks depend on. The walk reads fields in the order
// of these dependencies (duration and transports, server, clients, then
// faults and expect), not in file order; errors are sorted at the end.
struct TopInfo {
  bool duration_ok = true;
  bool transports_ok = true;
};

class Parser {
 public:
  Parser(Ctx& c, const ParseLimits& limits) : c_(c), limits_(limits) {}

  void parse(const Value& root, Scenario& s) {
    MapView top(c_, root);
    if (!top.ok()) return;
    top.check_keys(c_, top_keys(), "the scenario");

    // name
    if (const Item* it = top.get("name")) {
      if (auto v = read_string(c_, it->value)) {
        if (is_name(*v, false))
          s.name = *v;
        else
          c_.error(it->value, "'" + *v + "' is not a valid name: use lowercase letters, digits and '-' ([a-z0-9-]+)");
      }
    } else {
      top.missing(c_, "name", "the scenario's name ([a-z0-9-]+)");
    }
    if (const Item* it = top.get("description")) {
      if (it->value.node->IsNull())
        s.description.clear();
      else if (auto v = read_string(c_, it->value))
        s.description = *v;
    }

    // transports
    if (const Item* it = top.get("transports")) {
      info_.transports_ok = false;
      if (auto els = list_of(c_, it->value)) {
        std::vector<TransportKind> ts;
        bool ok = true;
        for (const auto& el : *els) {
          auto t = read_enum(c_, el, transport_table(), "transport");
          if (!t) {
            ok = false;
            continue;
          }
          if (std::find(ts.begin(), ts.end(), *t) != ts.end()) {
            c_.error(el, std::string("duplicate transport '") + to_string(*t) + "'");
            ok = false;
            continue;
          }
          ts.push_back(*t);
        }
        if (ok && ts.empty()) {
          c_.error(it->value, "at least one transport: sim, asio");
          ok = false;
        }
        if (ok) {
          s.transports = ts;
          info_.transports_ok = true;
        }
      }
    }

    // seeds / seed
    const Item* seeds = top.get("seeds");
    const Item* seed = top.get("seed");
    if (seeds && seed) {
      c_.error(seed->key_loc, "seed", "give either 'seed' or 'seeds', not both");
    } else if (seed) {
      if (auto n = read_int(c_, seed->value, 0, std::numeric_limits<std::uint32_t>::max()))
        s.seeds = {static_cast<std::uint32_t>(*n)};
    } else if (seeds) {
      if (auto els = list_of(c_, seeds->value)) {
        std::vector<std::uint32_t> v;
        for (const auto& el : *els) {
          auto n = read_int(c_, el, 0, std::numeric_limits<std::uint32_t>::max());
          if (!n) continue;
          const auto u = static_cast<std::uint32_t>(*n);
          if (std::find(v.begin(), v.end(), u) != v.end()) {
            c_.error(el, "duplicate seed " + std::to_string(u));
            continue;
          }
          v.push_back(u);
        }
        if (els->empty())
          c_.error(seeds->value, "at least one seed (a list of integers, e.g. [1, 2, 3])");
        else
          s.seeds = v;
      }
    }

    if (const Item* it = top.get("duration")) {
      auto d = read_duration(c_, it->value, true);
      if (d)
        s.duration = *d;
      else
        info_.duration_ok = false;
    }
    if (const Item* it = top.get("quiesce"))
      if (auto d = read_duration(c_, it->value)) s.quiesce = *d;
    if (const Item* it = top.get("time_scale"))
      if (auto d = read_number(c_, it->value, 0.0, 10.0, true, false)) s.time_scale = *d;

    if (const Item* it = top.get("link")) parse_link(it->value, s);
    if (const Item* it = top.get("tcp")) parse_tcp(it->value, s);

    if (const Item* it = top.get("server"))
      parse_server(it->value, s);
    else
      top.missing(c_, "server", "the server under test (at least server.kind: a registered kind, e.g. echo)");

    if (const Item* it = top.get("clients"))
      parse_clients(it->value, s);
    else
      top.missing(c_, "clients", "at least one client group (a list of {name, count, ...})");

    if (const Item* it = top.get("faults")) parse_faults(it->value, s);
    if (const Item* it = top.get("expect")) parse_expect(it->value, s);
    if (c_.errors.empty()) check_timeline(s);
    check_kernel_timers(s);
  }

 private:
  // ------------------------------------------------------------ timeline

  Loc at(const std::string& path, Loc fallback = {1, 1}) const {
    auto it = c_.where_of.find(path);
    return it == c_.where_of.end() ? fallback : it->second;
  }

  // The whole timeline, once every field is valid: nothing the harness
  // schedules may make a finding against the server (docs/scenarios.md,
  // "Timeline rules").
  void check_timeline(const Scenario& s) {
    const Duration verdict = s.duration + s.quiesce;
    const std::string v_text = format_duration(verdict) + " (duration " + format_duration(s.duration) +
                               " + quiesce " + format_duration(s.quiesce) + ")";
    for (std::size_t i = 0; i < s.clients.size(); ++i) {
      const ClientGroup& g = s.clients[i];
      const std::string p = "clients[" + std::to_string(i) + "]";
      const Duration last = g.start + g.spacing * (g.count - 1);
      if (last >= s.duration) {
        // start < duration is checked on its own: the spacing pushes the last one out.
        const std::string field = p + ".spacing";
        c_.error(at(field, at(p + ".name")), field,
                 "the last client of group '" + g.name + "' (client " + std::to_string(g.count - 1) + ") connects at " +
                     format_duration(last) + " (start + " + std::to_string(g.count - 1) +
                     " x spacing), at or after the end of the workload (duration " + format_duration(s.duration) +
                     "): every client must connect before the workload ends");
      }
      if (g.close != CloseStyle::None && g.close_at < last) {
        // The first client that would close before it connects.
        int first = 0;
        while (first < g.count && g.start + g.spacing * first <= g.close_at) ++first;
        c_.error(at(p + ".close.at"), p + ".close.at",
                 "group '" + g.name + "' closes (" + to_string(g.close) + ") at " + format_duration(g.close_at) +
                     ", before its client " + std::to_string(first) + " connects at " +
                     format_duration(g.start + g.spacing * first) + ": close after the last connect (" +
                     format_duration(last) + ")");
      }
    }
    for (std::size_t i = 0; i < s.faults.size(); ++i) {
      const Fault& f = s.faults[i];
      const std::string p = "faults[" + std::to_string(i) + "]";
      if (f.duration > Duration::zero() && f.at + f.duration > verdict)
        c_.error(at(p + ".duration"), p + ".duration",
                 "the " + std::string(to_string(f.kind)) + " fault lasts until " + format_duration(f.at + f.duration) +
                     ", past the verdict at " + v_text + ": end it by then, or raise quiesce to at least " +
                     format_duration(f.at + f.duration - s.duration));
    }
    check_capacity(s);
    check_fault_targets_exist(s);
    check_external_server(s);
    if (s.expect.reconnect) {
      bool any = false;
      for (const auto& g : s.clients) {
        try {
          any = any || make_client_plan(g, "", VariantContext{}).reconnect.has_value();
        } catch (const std::exception&) {
        }
      }
      if (!any)
        c_.error(at("expect.reconnect"), "expect.reconnect",
                 "no client group reconnects (none of their behaviours has a reconnect policy), so this checks "
                 "nothing: use a reconnecting behaviour (e.g. reconnecting) or remove it");
    }
    if (s.expect.half_open_reaped_within_grace && (server_reader_idle_ || server_keepalive_)) {
      // With keepalive alone the grace is the whole allowance.
      const Duration idle = server_reader_idle_.value_or(Duration::zero());
      // Every moment a host vanishes, and the deadline it sets.
      std::vector<std::pair<Duration, std::string>> vanish;
      for (const auto& g : s.clients)
        if (g.close == CloseStyle::Vanish) vanish.emplace_back(g.close_at, "group '" + g.name + "'");
      for (const auto& f : s.faults)
        if (f.kind == FaultKind::HalfOpen) vanish.emplace_back(f.at, "the half-open fault");
      for (const auto& [t, what] : vanish) {
        const Duration deadline = t + idle + *s.expect.half_open_reaped_within_grace;
        if (deadline <= verdict) continue;
        c_.error(at("expect.half_open_reaped_within_grace"), "expect.half_open_reaped_within_grace",
                 "a half-open peer (" + what + ", gone at " + format_duration(t) + ") is due to be reaped by " +
                     format_duration(deadline) + " (+ reader idle " + format_duration(idle) +
                     " + grace " + format_duration(*s.expect.half_open_reaped_within_grace) +
                     "), after the verdict at " + v_text + ": the check could not be judged; raise quiesce to at least " +
                     format_duration(deadline - s.duration));
        break;
      }
    }
  }

  // Keepalive, the user timeout and sysctls are the kernel's own timers on
  // the real transport: time_scale cannot stretch them.
  void check_kernel_timers(const Scenario& s) {
    if (s.tcp.kind == connfail::sim::TcpProfileKind::Ns3) {
      bool any = s.server.tcp.any();
      for (const auto& g : s.clients) any = any || g.tcp.any();
      if (any)
        c_.error(at("tcp.profile", {1, 1}), "tcp.profile",
                 "keepalive and user_timeout need the linux profile: ns-3 3.37's TCP (profile ns3) has neither");
    }
    const bool asio = std::find(s.transports.begin(), s.transports.end(), TransportKind::Asio) != s.transports.end();
    if (!asio || s.time_scale == 1.0) return;
    bool any = s.server.tcp.any() || !s.tcp.sysctl.empty();
    for (const auto& g : s.clients) any = any || g.tcp.any();
    if (any)
      c_.error(at("time_scale", {1, 1}), "time_scale",
               "keepalive, user_timeout and tcp.sysctl are kernel timers on the real transport, which time_scale "
               "cannot stretch: use time_scale 1 with them (or run on sim only)");
  }

  // What the transports can build (ns-3 aborts the process on an address
  // collision; Linux runs out of ephemeral ports): errors, not crashes.
  void check_capacity(const Scenario& s) {
    const bool sim = std::find(s.transports.begin(), s.transports.end(), TransportKind::Sim) != s.transports.end();
    const bool asio = std::find(s.transports.begin(), s.transports.end(), TransportKind::Asio) != s.transports.end();
    long long hosts = 0, clients = 0;
    for (std::size_t i = 0; i < s.clients.size(); ++i) {
      const ClientGroup& g = s.clients[i];
      const std::string p = "clients[" + std::to_string(i) + "]";
      hosts += g.hosts;
      clients += g.count;
      const long long per_host = (g.count + g.hosts - 1) / g.hosts;
      if (sim && per_host > kSimPortsPerHost)
        c_.error(at(p + ".hosts", at(p + ".count")), p + ".hosts",
                 "group '" + g.name + "' puts " + std::to_string(per_host) + " clients on one host; a simulated host has " +
                     std::to_string(kSimPortsPerHost) + " ephemeral ports (49153-65535): use at least " +
                     std::to_string((g.count + kSimPortsPerHost - 1) / kSimPortsPerHost) + " hosts");
    }
    if (s.clients.size() > kMaxGroups)
      c_.error(at("clients", {1, 1}), "clients",
               std::to_string(s.clients.size()) + " client groups; a scenario may have at most " +
                   std::to_string(kMaxGroups));
    if (s.faults.size() > kMaxFaults)
      c_.error(at("faults", {1, 1}), "faults",
               std::to_string(s.faults.size()) + " faults; a scenario may have at most " + std::to_string(kMaxFaults));
    if (s.seeds.size() > kMaxSeeds)
      c_.error(at("seeds", at("seed", {1, 1})), "seeds",
               std::to_string(s.seeds.size()) + " seeds; a scenario may list at most " + std::to_string(kMaxSeeds) +
                   " (connfail sweep --seeds A..B runs ranges)");
    // What one run costs: every client's time from its connect to the end
    // of the workload.
    double work = 0;
    for (const auto& g : s.clients)
      for (int i = 0; i < g.count; ++i) {
        const Duration from = g.start + g.spacing * i;
        if (from < s.duration) work += std::chrono::duration<double>(s.duration - from).count();
      }
    if (work > limits_.max_work) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%.3g connection-seconds per run (clients x time connected), over the limit of %.3g",
                    work, limits_.max_work);
      c_.error(at("duration", {1, 1}), "duration",
               std::string(buf) + ": shorten it, or raise the limit with --max-work");
    }
    if (asio) {
      const auto wall = std::chrono::duration_cast<Duration>((s.duration + s.quiesce) * s.time_scale);
      if (wall > limits_.max_real_time)
        c_.error(at("time_scale", at("duration", {1, 1})), c_.where_of.count("time_scale") ? "time_scale" : "duration",
                 "a run on the real transport takes (duration + quiesce) x time_scale = " + format_duration(wall) +
                     " of wall time, over the limit of " + format_duration(limits_.max_real_time) +
                     ": lower time_scale, or raise the limit with --max-real-time");
    }
    if (sim && hosts > kSimMaxHosts)
      c_.error(at("clients", {1, 1}), "clients",
               std::to_string(hosts) + " client hosts in all; the simulated network has addresses for " +
                   std::to_string(kSimMaxHosts) + " (one /24 link each under 10.0.0.0/8)");
    if (asio) {
      const long long ports = local_port_range();
      if (ports > 0 && clients > ports)
        c_.error(at("clients", {1, 1}), "clients",
                 std::to_string(clients) + " clients in all; on the real transport every one connects from 127.0.0.1 "
                     "to the server, and this machine has " + std::to_string(ports) +
                     " ephemeral ports (net.ipv4.ip_local_port_range)");
    }
  }

  // A server run as a process (the `process` kind) is judged from outside:
  // nothing can be injected inside it, it keeps no ledger, and its clock
  // runs at wall speed.
  void check_external_server(const Scenario& s) {
    const ServerKindEntry* entry = Registry::global().server(s.server.kind);
    if (entry == nullptr || !entry->external) return;
    const std::string kind = "server kind '" + s.server.kind + "'";
    if (s.time_scale != 1.0)
      c_.error(at("time_scale"), "time_scale",
               "the " + kind + " runs at wall-clock speed (its own timers cannot be scaled): time_scale must be 1");
    for (std::size_t i = 0; i < s.faults.size(); ++i) {
      const Fault& f = s.faults[i];
      if (!fault_kind_info(f.kind).at_server) continue;
      const std::string p = "faults[" + std::to_string(i) + "].kind";
      c_.error(at(p), p,
               "a " + std::string(to_string(f.kind)) + " fault acts inside the server, and the " + kind +
                   " is a process connfail did not build; use faults on the network (partition, half-open, rst, "
                   "jitter, latency, bandwidth)");
    }
    if (!s.expect.ledger_counts.empty())
      c_.error(at("expect.ledger_counts", at("expect")), "expect.ledger_counts",
               "the " + kind + " keeps no ledger connfail can read; count how the clients saw their connections "
               "end with expect.client_ledger_counts");
    if (s.expect.max_open_connections > 0)
      c_.error(at("expect.max_open_connections", at("expect")), "expect.max_open_connections",
               "not checked for the " + kind + " (it keeps no ledger connfail can read)");
  }

  // A handler-exception fault names a handler the server's pipeline has.
  void check_fault_targets_exist(const Scenario& s) {
    std::optional<std::vector<std::string>> names;
    bool looked = false;
    for (std::size_t i = 0; i < s.faults.size(); ++i) {
      const Fault& f = s.faults[i];
      if (f.kind != FaultKind::HandlerException) continue;
      if (!looked) {
        names = server_handler_names(s.server);
        looked = true;
      }
      if (!names) return;  // the plan cannot be dry-run: the run will say if the fault never fired
      if (std::find(names->begin(), names->end(), f.handler) != names->end()) continue;
      const std::string p = "faults[" + std::to_string(i) + "].handler";
      c_.error(at(p), p,
               "the pipeline of server kind '" + s.server.kind + "' has no handler '" + f.handler + "'" +
                   did_you_mean(f.handler, *names) + "; its handlers: " + join(*names));
    }
  }

  void parse_link(const Value& v, Scenario& s) {
    MapView m(c_, v);
    if (!m.ok()) return;
    m.check_keys(c_, link_keys(), "link");
    if (const Item* it = m.get("rate")) {
      if (auto r = read_string(c_, it->value)) {
        if (is_data_rate(*r))
          s.link_rate = *r;
        else
          c_.error(it->value,
                   "expected a data rate like 100Mbps, 1Gbps, 512kbps (from 1bps to 1Tbps), got '" + *r + "'");
      }
    }
    if (const Item* it = m.get("delay"))
      if (auto d = read_duration(c_, it->value)) s.link_delay = *d;
  }

  // ----------------------------------------------------------------- tcp

  void parse_tcp(const Value& v, Scenario& s) {
    MapView m(c_, v);
    if (!m.ok()) return;
    m.check_keys(c_, tcp_keys(), "tcp");
    if (const Item* it = m.get("profile")) {
      if (auto p = read_string(c_, it->value)) {
        if (auto k = connfail::sim::tcp_profile_from_string(*p))
          s.tcp.kind = *k;
        else
          c_.error(it->value, "unknown TCP profile '" + *p + "': linux (the default) or ns3");
      }
    }
    const Item* sys = m.get("sysctl");
    if (sys == nullptr) return;
    MapView sm(c_, sys->value);
    if (!sm.ok()) return;
    std::vector<std::string> names;
    for (const auto& t : connfail::sim::tcp_sysctls()) names.push_back(t.name);
    for (const auto& item : sm.items()) {
      const connfail::sim::TcpSysctl* t = connfail::sim::find_tcp_sysctl(item.key);
      if (t == nullptr) {
        c_.error(item.key_loc, item.value.path,
                 "unknown sysctl '" + item.key + "'" + sm.suggest(item.key, names) + "; the sim models: " + join(names));
        continue;
      }
      if (s.tcp.kind == connfail::sim::TcpProfileKind::Ns3) {
        c_.error(item.key_loc, item.value.path,
                 "'" + item.key + "' applies to the linux profile; tcp.profile ns3 is ns-3 3.37's own TCP, which "
                 "has no such setting");
        continue;
      }
      if (auto n = read_int(c_, item.value, t->min, t->max)) s.tcp.sysctl[item.key] = *n;
    }
    if (s.tcp.get("net.ipv4.tcp_rto_min_us") > s.tcp.get("net.ipv4.tcp_rto_max_ms") * 1000) {
      const Item* it = sm.get("net.ipv4.tcp_rto_min_us");
      if (it == nullptr) it = sm.get("net.ipv4.tcp_rto_max_ms");
      c_.error(it->key_loc, it->value.path,
               "net.ipv4.tcp_rto_min_us (" + std::to_string(s.tcp.get("net.ipv4.tcp_rto_min_us")) +
                   ") is above net.ipv4.tcp_rto_max_ms (" + std::to_string(s.tcp.get("net.ipv4.tcp_rto_max_ms")) +
                   " ms): the minimum RTO must not exceed the maximum");
    }
  }

  // server.keepalive / server.user_timeout, or a client group's.
  void parse_tcp_options(const MapView& m, netcore::TcpOptions& o) {
    if (const Item* it = m.get("keepalive")) {
      if (it->value.node->IsScalar()) {
        if (auto b = read_bool(c_, it->value)) o.keepalive = *b;
      } else {
        MapView km(c_, it->value);
        if (km.ok()) {
          o.keepalive = true;
          km.check_keys(c_, keepalive_keys(), "keepalive (true, false, or a map of idle, interval, count)");
          auto whole = [&](const Item* k, std::optional<Duration>& out) {
            if (k == nullptr) return;
            auto d = read_duration(c_, k->value, true);
            if (!d) return;
            if (*d % std::chrono::seconds(1) != Duration::zero() || *d > std::chrono::seconds(32767))
              c_.error(k->value, "whole seconds from 1s to 32767s (the socket option is in seconds), got " +
                                     format_duration(*d));
            else
              out = *d;
          };
          whole(km.get("idle"), o.keep_idle);
          whole(km.get("interval"), o.keep_interval);
          if (const Item* k = km.get("count"))
            if (auto n = read_int(c_, k->value, 1, 127)) o.keep_count = static_cast<int>(*n);
        }
      }
    }
    if (const Item* it = m.get("user_timeout")) {
      if (auto d = read_duration(c_, it->value)) {
        if (*d % std::chrono::milliseconds(1) != Duration::zero() || *d > std::chrono::milliseconds(INT32_MAX))
          c_.error(it->value, "whole milliseconds (the socket option is in milliseconds), got " + format_duration(*d));
        else
          o.user_timeout = *d;
      }
    }
  }

  // ------------------------------------------------------------- options

  // Reads `v` (an options map) against `schema` into `out`, which holds the
  // defaults already. `what` names the entry for messages ("server kind
  // 'heartbeat'").
  void read_options(const Value& v, const OptionSchema& schema, Options& out, const std::string& what) {
    MapView m(c_, v);
    if (!m.ok()) return;
    std::vector<std::string> known;
    for (const auto& f : schema) known.push_back(f.name);
    if (known.empty()) {
      for (const auto& item : m.items())
        c_.error(item.key_loc, item.value.path, "unknown option '" + item.key + "': " + what + " takes no options");
    } else {
      m.check_keys(c_, known, "the options of " + what);
    }
    for (const auto& f : schema) {
      const Item* it = m.get(f.name);
      if (it == nullptr) {
        if (f.required) m.missing(c_, f.name, f.help);
        continue;
      }
      Options::Value& val = out.value(f.name);
      if (read_option(it->value, f, val, what)) {
        val.given = true;
        val.pos = {it->value.loc.line, it->value.loc.column};
      }
    }
  }

  bool read_option(const Value& v, const OptionSpec& f, Options::Value& val, const std::string& what) {
    switch (f.type) {
      case OptionType::Flag:
        if (auto b = read_bool(c_, v)) return val.flag = *b, true;
        return false;
      case OptionType::Integer:
        if (auto n = read_int(c_, v, f.int_min, f.int_max)) return val.integer = *n, true;
        return false;
      case OptionType::Number:
        if (auto d = read_number(c_, v, f.number_min, f.number_max)) return val.number = *d, true;
        return false;
      case OptionType::Time: {
        auto d = read_duration(c_, v, f.duration_min > Duration::zero() && f.duration_min <= Duration(1));
        if (!d) return false;
        if (*d < f.duration_min) {
          c_.error(v, "must be at least " + format_duration(f.duration_min) + ", got '" + v.node->Scalar() + "'");
          return false;
        }
        val.duration = *d;
        return true;
      }
      case OptionType::Text:
        if (auto t = read_string(c_, v)) return val.text = *t, true;
        return false;
      case OptionType::Choice: {
        auto t = scalar(c_, v, "one of " + join(f.choices));
        if (!t) return false;
        if (std::find(f.choices.begin(), f.choices.end(), *t) == f.choices.end()) {
          c_.error(v, "unknown " + f.name + " '" + *t + "'" + did_you_mean(*t, f.choices) + "; expected one of " +
                          join(f.choices));
          return false;
        }
        val.text = *t;
        return true;
      }
      case OptionType::TextList: {
        auto els = list_of(c_, v);
        if (!els) return false;
        std::vector<std::string> out;
        bool ok = true;
        for (const auto& el : *els) {
          if (auto t = read_string(c_, el))
            out.push_back(*t);
          else
            ok = false;
        }
        if (ok) val.list = std::move(out);
        return ok;
      }
      case OptionType::TextMap: {
        MapView m(c_, v);
        if (!m.ok()) return false;
        std::map<std::string, std::string> out;
        bool ok = true;
        for (const auto& item : m.items()) {
          if (auto t = read_string(c_, item.value))
            out[item.key] = *t;
          else
            ok = false;
        }
        if (ok) val.map = std::move(out);
        return ok;
      }
      case OptionType::Group: {
        auto g = std::make_shared<Options>(*val.group);
        const std::size_t before = c_.errors.size();
        read_options(v, f.fields, *g, what);
        val.group = g;
        return c_.errors.size() == before;
      }
    }
    return false;
  }

  // Where the error about option `field` ("reconnect.max") of an entry goes:
  // the value if the file gives it, else the options map, else `fallback`.
  std::pair<Loc, std::string> option_place(const Options& o, const std::string& field, const std::string& path,
                                           Loc fallback) {
    const Options* cur = &o;
    std::string rest = field;
    Loc best = fallback;
    while (true) {
      const auto dot = rest.find('.');
      const std::string head = rest.substr(0, dot);
      if (!cur->has(head)) break;
      const SourcePos p = cur->pos(head);
      if (p.line > 0) best = {p.line, p.column};
      if (dot == std::string::npos || cur->value(head).type != OptionType::Group) break;
      cur = &cur->group(head);
      rest = rest.substr(dot + 1);
    }
    return {best, join_path(path, field)};
  }

  // Rejects a key that used to be a field and is now an option, saying where
  // it goes. True when `key` was one of those.
  bool moved_to_options(const MapView& m, const Item& item, const std::vector<std::string>& moved,
                        const std::string& owner, const OptionSchema* schema) {
    if (std::find(moved.begin(), moved.end(), item.key) == moved.end()) return false;
    const bool takes_it = schema != nullptr && std::any_of(schema->begin(), schema->end(),
                                                          [&](const OptionSpec& f) { return f.name == item.key; });
    if (takes_it)
      c_.error(item.key_loc, item.value.path,
               "'" + item.key + "' is an option of " + owner + ": write it under " + join_path(m.path(), "options") +
                   " (options: {" + item.key + ": ...})");
    else
      c_.error(item.key_loc, item.value.path,
               "'" + item.key + "' is not a field here, and " + owner +
                   " has no such option either (connfail list --servers --clients --options shows each entry's "
                   "options)");
    return true;
  }

  // An options block: `options:` with no value is an empty block (its
  // required fields are still required).
  void options_block(const MapView& m, const Item* it, const OptionSchema& schema, Options& out,
                     const std::string& owner) {
    if (it != nullptr && !it->value.node->IsNull()) {
      read_options(it->value, schema, out, owner);
      return;
    }
    const std::string opath = join_path(m.path(), "options");
    for (const auto& f : schema)
      if (f.required)
        c_.error(it ? it->key_loc : m.loc(), join_path(opath, f.name),
                 "missing required option '" + f.name + "' of " + owner + ": " + f.help);
  }

  // ---------------------------------------------------------------- server

  void parse_server(const Value& v, Scenario& s) {
    MapView m(c_, v);
    if (!m.ok()) return;
    ServerSpec& srv = s.server;
    const Registry& reg = Registry::global();
    const ServerKindEntry* entry = nullptr;
    Loc kind_loc = m.loc();
    if (const Item* it = m.get("kind")) {
      kind_loc = it->value.loc;
      if (auto k = read_string(c_, it->value)) {
        entry = reg.server(*k);
        if (entry == nullptr) {
          const auto names = reg.server_names();
          c_.error(it->value, "unknown server kind '" + *k + "'" + did_you_mean(*k, names) +
                                  "; registered kinds: " + join(names));
        } else {
          srv.kind = *k;
          srv.pos = {kind_loc.line, kind_loc.column};
          srv.options = Options::defaults(entry->options);
        }
      }
    } else {
      m.missing(c_, "kind", "a registered server kind (connfail list --servers), e.g. echo, heartbeat or proxy");
    }
    const std::string owner = entry ? "server kind '" + entry->name + "'" : std::string("the server kind");
    for (const auto& item : m.items()) {
      if (std::find(server_keys().begin(), server_keys().end(), item.key) != server_keys().end()) continue;
      if (moved_to_options(m, item, server_option_keys(), owner, entry ? &entry->options : nullptr)) continue;
      c_.error(item.key_loc, item.value.path,
               "unknown key '" + item.key + "' in server" + m.suggest(item.key, server_keys()) +
                   "; allowed: " + join(server_keys()) + " (kind-specific settings go under options)");
    }
    if (const Item* it = m.get("backlog"))
      if (auto n = read_int(c_, it->value, 0, 65535)) srv.backlog = static_cast<int>(*n);
    if (const Item* it = m.get("accept_error_backoff"))
      if (auto d = read_duration(c_, it->value)) srv.accept_error_backoff = *d;
    const Item* loops_item = m.get("loops");
    if (loops_item)
      if (auto n = read_int(c_, loops_item->value, 1, kMaxServerLoops)) srv.loops = static_cast<int>(*n);
    parse_tcp_options(m, srv.tcp);
    server_keepalive_ = srv.tcp.keepalive;
    if (entry == nullptr) return;
    const std::string opath = join_path(m.path(), "options");
    const std::size_t before = c_.errors.size();
    Loc options_loc = kind_loc;
    const Item* opts = m.get("options");
    if (opts != nullptr) options_loc = opts->value.loc;
    options_block(m, opts, entry->options, srv.options, owner);
    if (c_.errors.size() != before) return;
    // The kind's own checks: its factory, exactly as a run will call it.
    try {
      const ServerPlan plan = make_server_plan(srv);
      if (plan.external && srv.loops > 1)
        c_.error(loops_item->key_loc, join_path(m.path(), "loops"),
                 "a server process runs its own threads; loops applies to the netcore server kinds");
      for (const char* key : {"keepalive", "user_timeout"})
        if (const Item* it = m.get(key); it && plan.external)
          c_.error(it->key_loc, join_path(m.path(), key),
                   std::string("a server process sets its own socket options; ") + key +
                       " applies to the netcore server kinds (set it in the process, e.g. Netty's "
                       "childOption(ChannelOption.SO_KEEPALIVE, true))");
      reader_idle_ = plan.reader_idle.has_value();
      server_reader_idle_ = plan.reader_idle;
      server_ok_ = true;
    } catch (const OptionError& e) {
      const auto [where, path] = option_place(srv.options, e.field(), opath, options_loc);
      c_.error(where, path, e.what());
    } catch (const std::exception& e) {
      c_.error(kind_loc, join_path(m.path(), "kind"),
               owner + " cannot be built from these options: " + e.what());
    }
    if (!entry->transports.empty() && info_.transports_ok)
      for (auto t : s.transports)
        if (std::find(entry->transports.begin(), entry->transports.end(), t) == entry->transports.end())
          c_.error(kind_loc, join_path(m.path(), "kind"),
                   owner + " cannot run on the " + (t == TransportKind::Sim ? "simulated" : "real") +
                       " transport; use transports: [" + to_string(entry->transports.front()) + "]");
  }

  // --------------------------------------------------------------- clients

  void parse_clients(const Value& v, Scenario& s) {
    auto els = list_of(c_, v);
    if (!els) return;
    if (els->empty()) {
      c_.error(v, "at least one client group (a list of {name, count, ...})");
      return;
    }
    clients_known_ = true;
    std::map<std::string, Loc> seen;
    const Registry& reg = Registry::global();
    for (const auto& el : *els) {
      ClientGroup g;
      g.pos = {el.loc.line, el.loc.column};
      MapView m(c_, el);
      if (!m.ok()) continue;
      if (const Item* it = m.get("name")) {
        if (auto n = read_string(c_, it->value)) {
          group_names_.insert(*n);
          if (!is_name(*n, true)) {
            c_.error(it->value, "'" + *n + "' is not a valid group name: use [a-z0-9_-]+");
          } else if (auto prev = seen.find(*n); prev != seen.end()) {
            c_.error(it->value, "duplicate client group name '" + *n + "' (first at line " +
                                    std::to_string(prev->second.line) + "); group names must be unique");
          } else {
            seen[*n] = it->value.loc;
          }
          g.name = *n;
        }
      } else {
        m.missing(c_, "name", "a unique group name ([a-z0-9_-]+); fault targets refer to it");
      }
      // The behaviour first: its name says what the moved keys belong to.
      const ClientBehaviourEntry* entry = reg.client("echo");
      Loc behaviour_loc = m.loc();
      if (const Item* it = m.get("behaviour")) {
        behaviour_loc = it->value.loc;
        entry = nullptr;
        if (auto b = read_string(c_, it->value)) {
          entry = reg.client(*b);
          if (entry == nullptr) {
            const auto names = reg.client_names();
            c_.error(it->value, "unknown client behaviour '" + *b + "'" + did_you_mean(*b, names) +
                                    "; registered behaviours: " + join(names));
          }
        }
      }
      const std::string owner =
          entry ? "client behaviour '" + entry->name + "'" : std::string("the client behaviour");
      for (const auto& item : m.items()) {
        if (std::find(client_keys().begin(), client_keys().end(), item.key) != client_keys().end()) continue;
        if (moved_to_options(m, item, client_option_keys(), owner, entry ? &entry->options : nullptr)) continue;
        c_.error(item.key_loc, item.value.path,
                 "unknown key '" + item.key + "' in a client group" + m.suggest(item.key, client_keys()) +
                     "; allowed: " + join(client_keys()) + " (behaviour-specific settings go under options)");
      }
      std::optional<long long> count;
      if (const Item* it = m.get("count")) {
        count = read_int(c_, it->value, 1, kMaxClientsPerGroup);
        if (count) g.count = static_cast<int>(*count);
      }
      if (const Item* it = m.get("hosts")) {
        if (auto n = read_int(c_, it->value, 1, kMaxClientsPerGroup)) {
          if (*n > g.count && (count || !m.has("count")))
            c_.error(it->value, "at most count (" + std::to_string(g.count) + ") hosts, got " + std::to_string(*n));
          else
            g.hosts = static_cast<int>(*n);
        }
      }
      if (const Item* it = m.get("start")) {
        if (auto d = read_duration(c_, it->value)) {
          g.start = *d;
          if (info_.duration_ok && *d >= s.duration)
            c_.error(it->value, "must be before the end of the run (duration " + format_duration(s.duration) + ")");
        }
      }
      if (const Item* it = m.get("spacing"))
        if (auto d = read_duration(c_, it->value)) g.spacing = *d;
      if (const Item* it = m.get("close")) parse_close(it->value, s, g);
      if (const Item* it = m.get("connect_timeout"))
        if (auto d = read_duration(c_, it->value, true)) g.connect_timeout = *d;
      parse_tcp_options(m, g.tcp);
      if (entry != nullptr) {
        g.behaviour = entry->name;
        g.options = Options::defaults(entry->options);
        const std::string opath = join_path(m.path(), "options");
        const std::size_t before = c_.errors.size();
        Loc options_loc = behaviour_loc;
        const Item* opts = m.get("options");
        if (opts != nullptr) options_loc = opts->value.loc;
        options_block(m, opts, entry->options, g.options, owner);
        if (c_.errors.size() == before) {
          try {
            (void)make_client_plan(g, "", VariantContext{});
          } catch (const OptionError& e) {
            const auto [where, path] = option_place(g.options, e.field(), opath, options_loc);
            c_.error(where, path, e.what());
          } catch (const std::exception& e) {
            c_.error(behaviour_loc, join_path(m.path(), "behaviour"),
                     owner + " cannot be built from these options: " + e.what());
          }
        }
      }
      s.clients.push_back(std::move(g));
    }
  }

  void parse_close(const Value& v, const Scenario& s, ClientGroup& g) {
    MapView m(c_, v);
    if (!m.ok()) return;
    m.check_keys(c_, close_keys(), "close");
    std::optional<CloseStyle> style;
    if (const Item* it = m.get("style")) {
      style = read_enum(c_, it->value, close_style_table(), "close style");
      if (style) g.close = *style;
    } else {
      m.missing(c_, "style", "none, fin, rst or vanish");
    }
    const Item* at = m.get("at");
    if (style && *style == CloseStyle::None && at != nullptr) {
      c_.error(at->key_loc, at->value.path, "'at' only applies to close styles fin, rst and vanish");
      return;
    }
    if (style && *style != CloseStyle::None && at == nullptr) {
      m.missing(c_, "at", std::string("when close style ") + to_string(*style) + " happens (e.g. 30s)");
      return;
    }
    if (at != nullptr) {
      if (auto d = read_duration(c_, at->value)) {
        g.close_at = *d;
        if (info_.duration_ok && *d >= s.duration)
          c_.error(at->value, "must be before the end of the run (duration " + format_duration(s.duration) + ")");
      }
    }
  }

  void parse_faults(const Value& v, Scenario& s) {
    auto els = list_of(c_, v);
    if (!els) return;
    for (const auto& el : *els) {
      Fault f;
      f.pos = {el.loc.line, el.loc.column};
      MapView m(c_, el);
      if (!m.ok()) continue;
      parse_fault(m, s, f);
      s.faults.push_back(std::move(f));
    }
  }

  void parse_fault(const MapView& m, const Scenario& s, Fault& f) {
    std::optional<FaultKind> kind;
    const Item* kind_item = m.get("kind");
    if (kind_item != nullptr) kind = read_enum(c_, kind_item->value, fault_kind_table(), "fault kind");
    // Keys: against this kind's fields, or against every fault field when
    // the kind itself is wrong.
    static const std::vector<std::string> all = all_fault_fields();
    const std::vector<std::string> own = kind ? fields_of(*kind) : all;
    const std::string kname = kind ? to_string(*kind) : "";
    for (const auto& item : m.items()) {
      if (std::find(own.begin(), own.end(), item.key) != own.end()) continue;
      if (kind && std::find(all.begin(), all.end(), item.key) != all.end()) {
        c_.error(item.key_loc, item.value.path,
                 "'" + item.key + "' does not apply to a " + kname + " fault; " + kname + " faults take: " +
                     join(own));
      } else {
        std::string hint = m.suggest(item.key, own);
        if (hint.empty() && kind) hint = did_you_mean(item.key, all);
        c_.error(item.key_loc, item.value.path,
                 "unknown fault field '" + item.key + "'" + hint + "; " +
                     (kind ? kname + " faults take: " : std::string("fault fields: ")) + join(own));
      }
    }
    if (kind_item == nullptr) m.missing(c_, "kind", "one of " + join(enum_names(fault_kind_table())));
    if (!kind) return;
    f.kind = *kind;
    auto get = [&](const char* key) -> const Item* {
      if (std::find(own.begin(), own.end(), key) == own.end()) return nullptr;
      return m.get(key);
    };

    // Transport support, from the kind's table row.
    if (info_.transports_ok) {
      const FaultKindInfo& info = fault_kind_info(*kind);
      const bool asio = std::find(s.transports.begin(), s.transports.end(), TransportKind::Asio) != s.transports.end();
      const bool sim = std::find(s.transports.begin(), s.transports.end(), TransportKind::Sim) != s.transports.end();
      if (asio && !info.asio)
        c_.error(kind_item->value, kname + " cannot be injected on the real transport (docs/scenarios.md, transport "
                                           "support): use transports: [sim]");
      if (sim && !info.sim)
        c_.error(kind_item->value, kname + " faults are not injected on the simulated transport: " + info.elsewhere +
                                       ", or transports: [asio]");
    }

    if (const Item* it = get("at")) {
      if (auto d = read_duration(c_, it->value)) {
        f.at = *d;
        if (info_.duration_ok && *d >= s.duration)
          c_.error(it->value, "a fault must start before the end of the run: at " + format_duration(*d) +
                                  " >= duration " + format_duration(s.duration));
      }
    }
    const bool needs_duration = fault_kind_info(*kind).needs("duration");
    if (const Item* it = get("duration")) {
      if (auto d = read_duration(c_, it->value, needs_duration)) f.duration = *d;
    } else if (needs_duration) {
      m.missing(c_, "duration", "how long the " + kname + " lasts (e.g. 10s)");
    }

    // Targets.
    const Item* targets = get("targets");
    const Item* target = get("target");
    if (targets && target) {
      c_.error(target->key_loc, target->value.path, "give either 'target' or 'targets', not both");
    } else if (target) {
      if (auto n = read_string(c_, target->value)) {
        check_target(target->value, *n);
        f.targets = {*n};
      }
    } else if (targets) {
      if (auto els = list_of(c_, targets->value)) {
        for (const auto& el : *els) {
          auto n = read_string(c_, el);
          if (!n) continue;
          if (std::find(f.targets.begin(), f.targets.end(), *n) != f.targets.end()) {
            c_.error(el, "duplicate target '" + *n + "'");
            continue;
          }
          check_target(el, *n);
          f.targets.push_back(*n);
        }
      }
    }

    if (const Item* it = get("direction"))
      if (auto d = read_enum(c_, it->value, direction_table(), "direction")) f.direction = *d;

    switch (*kind) {
      case FaultKind::Loss:
        if (const Item* it = get("rate")) {
          if (auto p = read_probability(c_, it->value)) f.rate = *p;
        } else {
          m.missing(c_, "rate", "the per-packet loss probability in [0, 1]");
        }
        break;
      case FaultKind::BurstLoss: {
        if (const Item* it = get("rate")) {
          if (auto p = read_probability(c_, it->value)) f.rate = *p;
        } else {
          m.missing(c_, "rate", "the probability in [0, 1] that a burst starts at a packet");
        }
        std::optional<long long> lo, hi;
        if (const Item* it = get("burst_min")) {
          lo = read_int(c_, it->value, 1, 1000000);
          if (lo) f.burst_min = static_cast<int>(*lo);
        }
        if (const Item* it = get("burst_max")) {
          hi = read_int(c_, it->value, 1, 1000000);
          if (hi) {
            if (*hi < f.burst_min && (lo || !get("burst_min")))
              c_.error(it->value, "burst_max (" + std::to_string(*hi) + ") must be >= burst_min (" +
                                      std::to_string(f.burst_min) + ")");
            else
              f.burst_max = static_cast<int>(*hi);
          }
        } else if (lo) {
          f.burst_max = std::max(f.burst_max, f.burst_min);
        }
        break;
      }
      case FaultKind::GilbertElliott:
        if (const Item* it = get("p_good_to_bad")) {
          if (auto p = read_probability(c_, it->value)) f.p_good_to_bad = *p;
        } else {
          m.missing(c_, "p_good_to_bad", "the probability in [0, 1] of moving from the good to the bad state");
        }
        if (const Item* it = get("p_bad_to_good"))
          if (auto p = read_probability(c_, it->value)) f.p_bad_to_good = *p;
        if (const Item* it = get("loss_good"))
          if (auto p = read_probability(c_, it->value)) f.loss_good = *p;
        if (const Item* it = get("loss_bad"))
          if (auto p = read_probability(c_, it->value)) f.loss_bad = *p;
        break;
      case FaultKind::Jitter: {
        std::optional<JitterDistribution> dist = JitterDistribution::Uniform;
        if (const Item* it = get("distribution")) dist = read_enum(c_, it->value, distribution_table(), "distribution");
        if (!dist) break;
        f.distribution = *dist;
        const bool uniform = *dist == JitterDistribution::Uniform;
        for (const char* key : {"max", "mean", "sd", "bound"}) {
          const Item* it = get(key);
          const bool uniform_field = std::string(key) == "max";
          if (it != nullptr && uniform_field != uniform) {
            c_.error(it->key_loc, it->value.path,
                     std::string("'") + key + "' only applies to distribution " + (uniform ? "normal" : "uniform") +
                         (uniform ? " (uniform jitter takes max)" : " (normal jitter takes mean, sd, bound)"));
            continue;
          }
          if (it == nullptr) continue;
          const std::string k = key;
          // bound 0 would clamp every delay to 0: no jitter at all.
          auto d = read_duration(c_, it->value, k == "max" || k == "sd" || k == "bound");
          if (!d) continue;
          if (k == "max") f.max = *d;
          if (k == "mean") f.mean = *d;
          if (k == "sd") f.sd = *d;
          if (k == "bound") f.bound = *d;
        }
        if (uniform && !get("max")) m.missing(c_, "max", "the largest extra delay per packet (e.g. 20ms)");
        if (!uniform && !get("sd")) m.missing(c_, "sd", "the standard deviation of the extra delay (e.g. 5ms)");
        // Without a bound the draws would be clamped to [0, 0]: no jitter.
        if (!uniform && !get("bound")) f.bound = f.mean + 4 * f.sd;
        if (const Item* it = get("reorder"))
          if (auto b = read_bool(c_, it->value)) f.reorder = *b;
        break;
      }
      case FaultKind::Latency:
        if (const Item* it = get("latency")) {
          if (auto d = read_duration(c_, it->value, true)) f.latency = *d;
        } else {
          m.missing(c_, "latency", "the extra delay per chunk (e.g. 50ms)");
        }
        break;
      case FaultKind::Bandwidth:
        if (const Item* it = get("bytes_per_second")) {
          if (auto n = read_int(c_, it->value, 1)) f.bytes_per_second = static_cast<std::uint64_t>(*n);
        } else {
          m.missing(c_, "bytes_per_second", "the rate limit per direction in bytes per second (>= 1)");
        }
        break;
      case FaultKind::HandlerException: {
        if (const Item* it = get("handler")) {
          if (auto h = read_string(c_, it->value)) {
            if (h->empty())
              c_.error(it->value, "a handler name in the server pipeline (e.g. echo, idle, frame-decoder)");
            else
              f.handler = *h;
          }
        } else {
          m.missing(c_, "handler", "the server pipeline handler that throws (e.g. echo, idle, frame-decoder)");
        }
        if (const Item* it = get("event")) {
          if (auto e = read_string(c_, it->value)) {
            const auto& names = pipeline_event_names();
            if (std::find(names.begin(), names.end(), *e) == names.end())
              c_.error(it->value, "unknown pipeline event '" + *e + "'" + did_you_mean(*e, names) +
                                      "; expected one of " + join(names));
            else
              f.event = *e;
          }
        }
        trigger(m, f, get("probability"), get("nth"), "nth", f.nth);
        break;
      }
      case FaultKind::AcceptFailure:
        trigger(m, f, get("probability"), get("every"), "every", f.every);
        break;
      case FaultKind::HalfOpen:
      case FaultKind::Partition:
      case FaultKind::AcceptPause:
      case FaultKind::Rst:
      case FaultKind::ServerVanish:
      case FaultKind::ServerRestart:
        break;
    }
  }

  // Exactly one of `probability` (in (0, 1]) or a counter (`nth`/`every` >= 1).
  void trigger(const MapView& m, Fault& f, const Item* prob, const Item* counter, const char* counter_name,
               std::uint64_t& counter_value) {
    if (prob && counter) {
      c_.error(counter->key_loc, counter->value.path,
               std::string("give either 'probability' or '") + counter_name + "', not both");
      return;
    }
    if (!prob && !counter) {
      m.missing(c_, "probability",
                std::string("give 'probability' (in (0, 1]) or '") + counter_name + "' (an integer >= 1)");
      return;
    }
    if (prob) {
      if (auto p = read_number(c_, prob->value, 0.0, 1.0, true, false)) f.probability = *p;
    } else {
      if (auto n = read_int(c_, counter->value, 1)) counter_value = static_cast<std::uint64_t>(*n);
    }
  }

  void check_target(const Value& v, const std::string& name) {
    if (!clients_known_) return;
    if (group_names_.count(name) != 0) return;
    std::vector<std::string> names(group_names_.begin(), group_names_.end());
    c_.error(v, "unknown client group '" + name + "'" + did_you_mean(name, names) + "; groups: " + join(names));
  }

  void parse_expect(const Value& v, Scenario& s) {
    MapView m(c_, v);
    if (!m.ok()) return;
    m.check_keys(c_, expect_keys(), "expect");
    Expectations& e = s.expect;
    auto flag = [&](const char* key, bool& out) {
      if (const Item* it = m.get(key))
        if (auto b = read_bool(c_, it->value)) out = *b;
    };
    flag("no_orphans", e.no_orphans);
    if (const Item* it = m.get("close_wait_grace")) {
      if (it->value.node->IsScalar() && it->value.node->Scalar() == "off") {
        e.close_wait_grace = -std::chrono::seconds(1);  // negative: not checked
      } else if (auto d = read_duration(c_, it->value)) {
        e.close_wait_grace = *d;
      }
    }
    if (const Item* it = m.get("half_open_reaped_within_grace")) {
      if (auto d = read_duration(c_, it->value)) {
        if (server_ok_ && !reader_idle_ && !server_keepalive_)
          c_.error(it->value,
                   "needs a server liveness check: a reader idle time (for the built-in kinds: "
                   "server.options.idle.reader; a registered kind states it in its plan), or server.keepalive: a "
                   "half-open peer is reaped within server reader idle + this grace (with keepalive alone: within "
                   "this grace, which must cover keepalive's idle + interval x count)");
        else
          e.half_open_reaped_within_grace = *d;
      }
    }
    flag("healthy_clients_never_closed", e.healthy_clients_never_closed);
    if (const Item* it = m.get("max_open_connections"))
      if (auto n = read_int(c_, it->value, 0, std::numeric_limits<int>::max()))
        e.max_open_connections = static_cast<int>(*n);
    for (const char* key : {"ledger_counts", "client_ledger_counts"}) {
      const Item* it = m.get(key);
      if (it == nullptr) continue;
      auto& out = std::string(key) == "ledger_counts" ? e.ledger_counts : e.client_ledger_counts;
      MapView lc(c_, it->value);
      if (!lc.ok()) continue;
      const auto& reasons = close_reason_names();
      for (const auto& item : lc.items()) {
        if (std::find(reasons.begin(), reasons.end(), item.key) == reasons.end()) {
          c_.error(item.key_loc, item.value.path,
                   "unknown close reason '" + item.key + "'" + did_you_mean(item.key, reasons) + "; expected one of " +
                       join(reasons));
          continue;
        }
        if (auto n = read_int(c_, item.value, 0)) out[item.key] = static_cast<std::uint64_t>(*n);
      }
    }
    flag("fd_delta_zero", e.fd_delta_zero);
    flag("no_pending_timers", e.no_pending_timers);
    if (const Item* it = m.get("reconnect")) {
      MapView r(c_, it->value);
      if (r.ok()) {
        r.check_keys(c_, reconnect_keys(), "expect.reconnect");
        Expectations::Reconnect rc;
        bool ok = true;
        if (const Item* w = r.get("within")) {
          if (auto d = read_duration(c_, w->value, true))
            rc.within = *d;
          else
            ok = false;
        } else {
          r.missing(c_, "within", "how soon every disconnected client must be back (e.g. 20s)");
          ok = false;
        }
        if (const Item* st = r.get("stable")) {
          if (auto d = read_duration(c_, st->value, true))
            rc.stable = *d;
          else
            ok = false;
        }
        if (ok) e.reconnect = rc;
      }
    }
  }

 private:
  Ctx& c_;
  ParseLimits limits_;
  TopInfo info_;
  std::set<std::string> group_names_;
  bool clients_known_ = false;
  bool reader_idle_ = false;
  bool server_keepalive_ = false;
  std::optional<Duration> server_reader_idle_;
  bool server_ok_ = false;
};

// Tabs are not YAML indentation; yaml-cpp's own message for them ("illegal
// map value") does not say so.
void check_tabs(Ctx& c, const std::string& text) {
  int line = 1;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t col = 0;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
      if (text[i] == '\t') {
        c.error({line, static_cast<int>(col) + 1}, "",
                "tab character in indentation: YAML indents with spaces only");
        break;
      }
      ++i;
      ++col;
    }
    while (i < text.size() && text[i] != '\n') ++i;
    if (i < text.size()) ++i;
    ++line;
  }
}

std::string syntax_message(const std::string& msg) {
  std::string m = "YAML syntax error: " + msg;
  if (msg.find("map") != std::string::npos || msg.find("indent") != std::string::npos ||
      msg.find("block") != std::string::npos)
    m += " (check the indentation: keys of one map line up, nested keys are indented further)";
  return m;
}

void sort_errors(std::vector<ParseError>& errors) {
  std::stable_sort(errors.begin(), errors.end(), [](const ParseError& a, const ParseError& b) {
    return std::make_pair(a.line, a.column) < std::make_pair(b.line, b.column);
  });
}

}  // namespace

ParseResult parse_scenario_text(const std::string& text, const std::string& file_name, const ParseLimits& limits) {
  ParseResult result;
  Ctx c{file_name, {}, {}};
  try {
    check_tabs(c, text);
    const bool tabs = !c.errors.empty();
    // A document larger than this is not a scenario someone wrote.
    if (text.size() > kMaxFileBytes) {
      c.error({1, 1}, "",
              "the file is " + std::to_string(text.size()) + " bytes; a scenario file may have at most " +
                  std::to_string(kMaxFileBytes) + " (1 MiB)");
      sort_errors(c.errors);
      result.errors = std::move(c.errors);
      return result;
    }
    // yaml-cpp in a bounded child process (scenarios/yaml_reader.h): no
    // input can hang this call or exhaust the machine.
    const YamlLoad loaded = load_yaml(text, scenario_yaml_limits(text.size(), limits.yaml_cpu));
    const std::vector<YamlNode>& docs = loaded.documents;
    const bool syntax_ok = !loaded.error.has_value();
    if (loaded.error) {
      // A tab in the indentation is the likely cause; do not say it twice.
      const Loc where = loaded.error->line > 0 ? Loc{loaded.error->line, loaded.error->column} : Loc{};
      if (!loaded.error->syntax)
        c.error(where.line > 0 ? where : Loc{1, 1}, "", loaded.error->message);
      else if (!tabs)
        c.error(where, "", syntax_message(loaded.error->message));
    }
    if (syntax_ok) {
      if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
        c.error({1, 1}, "", "empty file: a scenario needs at least name, server.kind and one client group");
      } else {
        for (std::size_t i = 1; i < docs.size(); ++i) {
          const Loc l = loc_of(docs[i]);
          if (l.line > 0) c.error(l, "", "only one YAML document per file: remove the '---' and what follows");
        }
        Value root{&docs[0], "", loc_of(docs[0])};
        if (root.loc.line == 0) root.loc = {1, 1};
        if (!root.node->IsMap()) {
          c.error(root, "the top level must be a map of keys (name, server, clients, ...), got " +
                            describe(*root.node));
        } else {
          Scenario s;
          s.file = file_name;
          Parser p(c, limits);
          p.parse(root, s);
          if (c.errors.empty()) result.scenario = std::move(s);
        }
      }
    }
  } catch (const std::exception& e) {
    c.error({}, "", std::string("internal error while reading the scenario: ") + e.what());
  }
  sort_errors(c.errors);
  result.errors = std::move(c.errors);
  if (!result.errors.empty()) result.scenario.reset();
  return result;
}

std::vector<TransportKind> declared_transports(const std::string& path) {
  std::vector<TransportKind> out;
  try {
    std::ifstream in(path, std::ios::binary);
    std::string text;
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const YamlLoad loaded = text.size() <= kMaxFileBytes ? load_yaml(text, scenario_yaml_limits(text.size())) : YamlLoad{};
    if (!loaded.error && loaded.documents.size() == 1 && loaded.documents[0].IsMap())
      for (const auto& [k, v] : loaded.documents[0].entries)
        if (k.IsScalar() && k.Scalar() == "transports" && v.IsSequence())
          for (const auto& t : v.items) {
            if (t.IsScalar() && t.Scalar() == "sim") out.push_back(TransportKind::Sim);
            if (t.IsScalar() && t.Scalar() == "asio") out.push_back(TransportKind::Asio);
          }
  } catch (const std::exception&) {
  }
  if (out.empty()) out.push_back(TransportKind::Sim);
  return out;
}

ParseResult parse_scenario_file(const std::string& path, const ParseLimits& limits) {
  ParseResult result;
  try {
    std::error_code ec;
    std::string text;
    bool ok = std::filesystem::is_regular_file(path, ec) && !ec;
    if (ok) {
      std::ifstream in(path, std::ios::binary);
      ok = static_cast<bool>(in);
      if (ok) {
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        ok = !in.bad();
      }
    }
    if (!ok) {
      ParseError e;
      e.file = path;
      e.message = "cannot read file";
      result.errors.push_back(std::move(e));
      return result;
    }
    return parse_scenario_text(text, path, limits);
  } catch (const std::exception& e) {
    ParseError err;
    err.file = path;
    err.message = std::string("cannot read file: ") + e.what();
    result.errors = {std::move(err)};
    result.scenario.reset();
    return result;
  }
}

}  // namespace connfail::scenarios
