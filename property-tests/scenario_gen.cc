#include "connfail/property-tests/scenario_gen.h"

#include <algorithm>
#include <ostream>
#include <stdexcept>
#include <string>

#include "connfail/scenarios/fault_kinds.h"
#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/registry.h"

namespace connfail::props {

using namespace std::chrono;
using scenarios::ClientGroup;
using scenarios::CloseStyle;
using scenarios::Duration;
using scenarios::Fault;
using scenarios::FaultKind;
using scenarios::Scenario;
using scenarios::Options;
using scenarios::ServerSpec;

Target Target::of(const std::string& kind, const std::string& behaviour) {
  Target t;
  t.server_kind = kind;
  t.server_options = ServerSpec::of(kind).options;
  t.client_behaviour = behaviour;
  t.client_options = ClientGroup::of("g", behaviour).options;
  return t;
}

const char* to_string(Family f) {
  switch (f) {
    case Family::Any: return "any";
    case Family::HalfOpen: return "half-open";
    case Family::Proxy: return "proxy";
    case Family::AcceptFailure: return "accept-failure";
    case Family::Reconnect: return "reconnect";
  }
  return "?";
}

namespace {

int mod(int v, int n) { return ((v % n) + n) % n; }
Duration ms(long long v) { return milliseconds(v); }
Duration pct_of(Duration d, int pct) { return Duration(d.count() / 100 * mod(pct, 100)); }

std::string group_name(std::size_t i) { return "g" + std::to_string(i); }

/// The server pipeline's handlers a handler-exception fault may name.
std::vector<std::string> handlers_of(const std::string& kind, const Target& t) {
  if (!t.builtin()) return t.handlers;
  if (kind == "heartbeat") return {"frame-decoder", "heartbeat", "echo", "idle"};
  if (kind == "proxy") return {"proxy-frontend", "idle"};
  return {"echo", "idle"};
}

ClientGroup build_group(const Genes& g, const GroupGene& gg, std::size_t index, Duration duration, Duration idle,
                        const std::string& server, const Target& t) {
  std::string behaviour = "echo";
  if (!t.builtin()) {
    behaviour = t.client_behaviour;
  } else if (g.family == Family::Any) {
    behaviour = mod(gg.behaviour, 4) == 3 ? "silent" : server == "heartbeat" ? "heartbeat" : "echo";
  } else if (g.family == Family::HalfOpen) {
    behaviour = "heartbeat";
  } else if (g.family == Family::Reconnect) {
    behaviour = "reconnecting";
  }
  ClientGroup c = ClientGroup::of(group_name(index), behaviour);
  if (!t.builtin() && !t.client_options.values().empty()) c.options = t.client_options;
  c.count = 1 + mod(gg.count - 1, 12);
  c.hosts = 1 + mod(gg.hosts - 1, c.count);
  // Arrivals spread over the first 60% of the run, so that faults (accept
  // failures, pauses, exceptions on active) meet connections.
  c.start = pct_of(duration, mod(gg.start_pct, 60));
  c.spacing = ms(mod(gg.spacing_ms, 500));
  const auto request_size = static_cast<long long>(1 + mod(gg.request_size - 1, 16384));
  const Duration close_at = std::max<Duration>(seconds(1), pct_of(duration, gg.close_at_pct));
  auto closing = [&](int style_gene, bool allow_vanish) {
    const int n = allow_vanish ? 4 : 3;
    switch (mod(style_gene, n)) {
      case 1: c.close = CloseStyle::Fin; break;
      case 2: c.close = CloseStyle::Rst; break;
      case 3: c.close = CloseStyle::Vanish; break;
      default: c.close = CloseStyle::None; break;
    }
    // A group closes after its last client connected (the timeline rules).
    if (c.close != CloseStyle::None) c.close_at = std::max(close_at, c.start + c.spacing * (c.count - 1));
  };
  if (g.family == Family::Reconnect) {
    // Clients connect early and stay (or close with FIN late): every fault
    // meets them connected.
    c.start = pct_of(duration, mod(gg.start_pct, 10));
    closing(mod(gg.close_style, 2), false);
    if (c.close != CloseStyle::None) c.close_at = std::max(c.close_at, pct_of(duration, 90));
    if (t.builtin()) {
      c.options.set_duration("heartbeat_interval", duration_cast<milliseconds>(idle / 3));
      c.options.set_duration("client_idle", idle + seconds(5));
      c.options.set_duration("reconnect.initial", ms(100 * (1 + mod(gg.rate, 10))));
      c.options.set_duration("reconnect.max", seconds(2 + mod(gg.rate, 3)));
      c.options.set_duration("request_every", mod(gg.behaviour, 2) ? seconds(1) : Duration::zero());
    }
    return c;
  }
  if (!t.builtin()) {
    // A user's behaviour keeps its own options; the genes shape the group.
    const int style = mod(gg.close_style, g.family == Family::HalfOpen ? 3 : 4);
    closing(g.family == Family::HalfOpen && style == 2 ? 3 : style,
            g.family == Family::Any || g.family == Family::HalfOpen);
    return c;
  }
  switch (g.family) {
    case Family::Any:
      if (behaviour == "heartbeat") {
        c.options.set_duration("heartbeat_interval", seconds(1 + mod(gg.rate, 20)));
        c.options.set_duration("request_every",
                               mod(gg.behaviour, 2) ? ms(100 * (1 + mod(gg.rate, 20))) : Duration::zero());
        c.options.set_integer("request_size", request_size);
      } else if (behaviour == "echo") {
        c.options.set_duration("request_every", ms(100 * (1 + mod(gg.rate, 30))));
        c.options.set_integer("request_size", request_size);
      }
      closing(gg.close_style, true);
      break;
    case Family::HalfOpen: {
      // Healthy: interval idle/9, 2 idle/9 or idle/3. Doomed groups vanish.
      const Duration hb = duration_cast<milliseconds>(Duration(idle.count() / 9 * (1 + mod(gg.rate, 3))));
      c.options.set_duration("heartbeat_interval", hb);
      c.options.set_duration("request_every", mod(gg.behaviour, 2) ? hb : Duration::zero());
      c.options.set_integer("request_size", std::min<long long>(request_size, 512));
      const int style = mod(gg.close_style, 3);  // none, fin, vanish
      closing(style == 2 ? 3 : style, true);
      break;
    }
    case Family::Proxy:
      c.options.set_duration("request_every", ms(50 * (1 + mod(gg.rate, 20))));
      c.options.set_integer("request_size", request_size);
      closing(gg.close_style, false);
      break;
    case Family::AcceptFailure:
      c.options.set_duration("request_every", ms(100 * (1 + mod(gg.rate, 10))));
      c.options.set_integer("request_size", request_size);
      closing(gg.close_style, false);
      break;
    case Family::Reconnect:
      break;
  }
  return c;
}

/// One fault, or nothing when the gene does not apply to the family.
std::optional<Fault> build_fault(const Genes& g, const FaultGene& fg, const Scenario& s, const Target& t) {
  const Duration d = s.duration;
  const int groups = static_cast<int>(s.clients.size());
  Fault f;
  f.at = pct_of(d, std::min(fg.at_pct, 90));
  const std::string target = group_name(static_cast<std::size_t>(mod(fg.target, groups)));
  // Windows end before the run does (an accept queue still paused at the
  // verdict holds sockets no channel owns yet).
  const Duration room = d - f.at - seconds(1);
  const Duration window = std::clamp<Duration>(std::max<Duration>(seconds(1), pct_of(d, fg.len_pct)), seconds(1),
                                               std::max<Duration>(seconds(1), room));
  const std::vector<std::string> handlers = handlers_of(s.server.kind, t);

  std::vector<FaultKind> kinds;
  switch (g.family) {
    case Family::Any:
      // Every kind the fault table says runs on sim, but those that take
      // the server away (server-vanish, server-restart: the Reconnect
      // family's), in the table's order.
      for (const auto& k : scenarios::fault_kinds())
        if (k.sim && !(k.at_server && k.disruptive)) kinds.push_back(k.kind);
      break;
    case Family::HalfOpen:
      kinds = {FaultKind::HalfOpen, FaultKind::Loss, FaultKind::Jitter};
      break;
    case Family::Proxy:
      kinds = {FaultKind::Loss, FaultKind::Jitter, FaultKind::Partition, FaultKind::Rst, FaultKind::HalfOpen};
      break;
    case Family::AcceptFailure:
      kinds = {FaultKind::AcceptFailure};
      break;
    case Family::Reconnect:
      kinds = {FaultKind::Rst, FaultKind::Partition, FaultKind::ServerRestart};
      // Early, short: the clients have time to come back within the run.
      f.at = seconds(5) + pct_of(d, mod(fg.at_pct, 25));
      break;
  }
  f.kind = kinds[static_cast<std::size_t>(mod(fg.kind, static_cast<int>(kinds.size())))];
  switch (f.kind) {
    case FaultKind::Loss:
      f.rate = g.family == Family::HalfOpen ? mod(fg.p1, 11) * (kHealthyLossBound / 10) : mod(fg.p1, 11) / 100.0;
      if (g.family == Family::Any && fg.flag) f.duration = window;
      if (g.family != Family::HalfOpen || fg.flag) f.targets = {target};
      break;
    case FaultKind::BurstLoss:
      f.rate = (1 + mod(fg.p1, 10)) / 200.0;
      f.burst_min = 1;
      f.burst_max = 1 + mod(fg.p2, 5);
      f.targets = {target};
      break;
    case FaultKind::GilbertElliott:
      f.p_good_to_bad = (1 + mod(fg.p1, 10)) / 200.0;
      f.p_bad_to_good = 0.2 + mod(fg.p2, 8) / 10.0;
      f.loss_good = 0.0;
      f.loss_bad = 0.5;
      f.targets = {target};
      break;
    case FaultKind::Jitter:
      f.distribution = scenarios::JitterDistribution::Uniform;
      f.max = ms(1 + mod(fg.p1, g.family == Family::HalfOpen ? 20 : 50));
      f.reorder = fg.flag;
      if (g.family != Family::HalfOpen || mod(fg.p2, 2)) f.targets = {target};
      break;
    case FaultKind::HalfOpen:
    case FaultKind::Rst:
      f.targets = {target};
      break;
    case FaultKind::Partition:
      f.targets = {target};
      f.duration = g.family == Family::Reconnect ? seconds(1 + mod(fg.len_pct, 6)) : window;
      break;
    case FaultKind::ServerRestart:
      f.duration = seconds(1 + mod(fg.len_pct, 5));
      break;
    case FaultKind::AcceptPause:
      f.duration = window;
      break;
    case FaultKind::HandlerException: {
      if (handlers.empty()) return std::nullopt;
      f.handler = handlers[static_cast<std::size_t>(mod(fg.p2, static_cast<int>(handlers.size())))];
      f.event = fg.flag ? "active" : "read";
      if (mod(fg.p1, 2) == 0)
        f.nth = static_cast<std::uint64_t>(1 + mod(fg.p1 / 2, 5));
      else
        f.probability = (1 + mod(fg.p1 / 2, 10)) / 10.0;
      break;
    }
    case FaultKind::AcceptFailure:
      if (!fg.flag)
        f.every = static_cast<std::uint64_t>(1 + mod(fg.p1, 10));
      else
        f.probability = (1 + mod(fg.p1, 10)) / 10.0;
      break;
    default:
      // A kind the table offers (Family::Any) that this switch does not
      // build: fail loudly rather than generate fewer faults.
      throw std::logic_error(std::string("scenario_gen: no generator for fault kind ") + to_string(f.kind));
  }
  return f;
}

}  // namespace

Scenario build(const Genes& g, const Target& t) {
  Scenario s;
  s.name = std::string("prop-") + to_string(g.family) + "-" + std::to_string(g.seed);
  s.description = std::string("generated by the ") + to_string(g.family) + " property";
  s.transports = {scenarios::TransportKind::Sim};
  s.seeds = {g.seed};
  s.duration = seconds(20 + mod(g.duration_s - 20, 101));
  const int idle_lo = g.family == Family::HalfOpen ? 6 : 5;
  Duration idle = seconds(idle_lo + mod(g.idle_s - idle_lo, 26));
  if (!t.builtin()) {
    s.server = ServerSpec::of(t.server_kind);
    if (!t.server_options.values().empty()) s.server.options = t.server_options;
    // The kind's own reader idle time, when its plan states one.
    if (auto r = scenarios::server_reader_idle(s.server)) idle = duration_cast<seconds>(*r + seconds(1) - ms(1));
  } else {
    static const char* const kinds[] = {"echo", "heartbeat", "proxy"};
    switch (g.family) {
      case Family::Any: s.server = ServerSpec::of(kinds[mod(g.server_kind, 3)]); break;
      case Family::HalfOpen: s.server = ServerSpec::of("heartbeat"); break;
      case Family::Proxy: s.server = ServerSpec::of("proxy"); break;
      case Family::AcceptFailure: s.server = ServerSpec::of("echo"); break;
      case Family::Reconnect: s.server = ServerSpec::of("heartbeat"); break;
    }
    if (g.family != Family::AcceptFailure) s.server.options.set_duration("idle.reader", idle);
  }
  s.quiesce = idle + seconds(40);
  if (g.family == Family::AcceptFailure) s.quiesce = seconds(30);
  // Long enough that a client lost at the latest fault is judged.
  if (g.family == Family::Reconnect) s.duration = seconds(90 + mod(g.duration_s - 20, 61));
  s.server.backlog = 1 + mod(g.backlog - 1, 128);
  std::vector<GroupGene> groups = g.groups;
  if (groups.empty()) groups.push_back({});
  for (std::size_t i = 0; i < groups.size(); ++i)
    s.clients.push_back(build_group(g, groups[i], i, s.duration, idle, s.server.kind, t));
  for (const auto& fg : g.faults)
    if (auto f = build_fault(g, fg, s, t)) s.faults.push_back(std::move(*f));
  if (g.family == Family::AcceptFailure && s.faults.empty()) {
    Fault f;
    f.kind = FaultKind::AcceptFailure;
    f.every = 1;
    s.faults.push_back(f);
  }
  s.expect.no_orphans = true;
  s.expect.close_wait_grace = seconds(5);
  if (g.family == Family::HalfOpen) {
    s.expect.half_open_reaped_within_grace = seconds(2);
    s.expect.healthy_clients_never_closed = true;
  }
  if (g.family == Family::Reconnect) {
    scenarios::Expectations::Reconnect rc;
    rc.within = seconds(kReconnectBoundSeconds);
    rc.stable = seconds(3);
    s.expect.reconnect = rc;
  }
  return s;
}

rc::Gen<Genes> gen_genes(Family family) {
  // Choices (kinds, styles, targets) are uniform (gen::element shrinks them
  // towards the first); magnitudes use inRange, which RapidCheck scales with
  // the size, so early cases are small.
  return rc::gen::withSize([family](int size) {
    const int max_groups = 1 + size / 40;  // 1..3
    const int max_count = 1 + size / 10;   // 1..11
    const int max_faults = size / 25;      // 0..4
    const auto group = rc::gen::exec([max_count] {
      GroupGene gg;
      gg.count = *rc::gen::inRange(1, max_count + 1);
      gg.hosts = *rc::gen::inRange(1, gg.count + 1);
      gg.start_pct = *rc::gen::inRange(0, 60);
      gg.spacing_ms = *rc::gen::inRange(0, 500);
      gg.behaviour = *rc::gen::element(0, 1, 2, 3);
      gg.rate = *rc::gen::inRange(0, 30);
      gg.request_size = *rc::gen::inRange(1, 16385);
      gg.close_style = *rc::gen::element(0, 1, 2, 3);
      gg.close_at_pct = *rc::gen::inRange(0, 100);
      return gg;
    });
    const auto fault = rc::gen::exec([] {
      FaultGene fg;
      fg.kind = *rc::gen::element(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
      fg.at_pct = *rc::gen::inRange(0, 91);
      fg.len_pct = *rc::gen::inRange(0, 60);
      fg.target = *rc::gen::element(0, 1, 2);
      fg.p1 = *rc::gen::inRange(0, 20);
      fg.p2 = *rc::gen::inRange(0, 20);
      fg.flag = *rc::gen::arbitrary<bool>();
      return fg;
    });
    return rc::gen::exec([=] {
      Genes g;
      g.family = family;
      g.seed = *rc::gen::inRange<std::uint32_t>(1, 1000000);
      g.duration_s = *rc::gen::inRange(20, 121);
      g.idle_s = *rc::gen::inRange(5, 31);
      g.server_kind = *rc::gen::element(0, 1, 2);
      g.backlog = *rc::gen::inRange(1, 129);
      // Variable-length vectors (length bounded by resize): shrinking drops
      // whole groups and faults. The element generators ignore the size.
      g.groups = *rc::gen::resize(max_groups, rc::gen::nonEmpty(rc::gen::container<std::vector<GroupGene>>(group)));
      g.faults = *rc::gen::resize(max_faults, rc::gen::container<std::vector<FaultGene>>(fault));
      return g;
    });
  });
}

rc::Gen<Scenario> gen_scenario(Family f, const Target& t) {
  return rc::gen::map(gen_genes(f), [t](const Genes& g) { return build(g, t); });
}

Size size_of(const Scenario& s) {
  Size z;
  z.groups = static_cast<int>(s.clients.size());
  for (const auto& c : s.clients) z.clients += c.count;
  z.faults = static_cast<int>(s.faults.size());
  return z;
}

void showValue(const Genes& g, std::ostream& os) { os << "\n" << scenarios::to_yaml(build(g)); }

}  // namespace connfail::props

namespace connfail::scenarios {
void showValue(const Scenario& s, std::ostream& os) { os << "\n" << to_yaml(s); }
}  // namespace connfail::scenarios
