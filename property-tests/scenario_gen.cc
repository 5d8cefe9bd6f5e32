#include "connfail/property-tests/scenario_gen.h"

#include <algorithm>
#include <ostream>

#include "connfail/scenarios/parser.h"

namespace connfail::props {

using namespace std::chrono;
using scenarios::ClientBehaviour;
using scenarios::ClientGroup;
using scenarios::CloseStyle;
using scenarios::Duration;
using scenarios::Fault;
using scenarios::FaultKind;
using scenarios::Scenario;
using scenarios::ServerKind;

const char* to_string(Family f) {
  switch (f) {
    case Family::Any: return "any";
    case Family::HalfOpen: return "half-open";
    case Family::Proxy: return "proxy";
    case Family::AcceptFailure: return "accept-failure";
  }
  return "?";
}

namespace {

int mod(int v, int n) { return ((v % n) + n) % n; }
Duration ms(long long v) { return milliseconds(v); }
Duration pct_of(Duration d, int pct) { return Duration(d.count() / 100 * mod(pct, 100)); }

std::string group_name(std::size_t i) { return "g" + std::to_string(i); }

/// The server pipeline's handlers a handler-exception fault may name.
std::vector<std::string> handlers_of(ServerKind k) {
  switch (k) {
    case ServerKind::Echo: return {"echo", "idle"};
    case ServerKind::Heartbeat: return {"frame-decoder", "heartbeat", "echo", "idle"};
    case ServerKind::Proxy: return {"proxy-frontend", "idle"};
  }
  return {"echo"};
}

ClientGroup build_group(const Genes& g, const GroupGene& gg, std::size_t index, Duration duration, Duration idle,
                        ServerKind server) {
  ClientGroup c;
  c.name = group_name(index);
  c.count = 1 + mod(gg.count - 1, 12);
  c.hosts = 1 + mod(gg.hosts - 1, c.count);
  // Arrivals spread over the first 60% of the run, so that faults (accept
  // failures, pauses, exceptions on active) meet connections.
  c.start = pct_of(duration, mod(gg.start_pct, 60));
  c.spacing = ms(mod(gg.spacing_ms, 500));
  c.request_size = static_cast<std::uint32_t>(1 + mod(gg.request_size - 1, 16384));
  const Duration close_at = std::max<Duration>(seconds(1), pct_of(duration, gg.close_at_pct));
  auto closing = [&](int style_gene, bool allow_vanish) {
    const int n = allow_vanish ? 4 : 3;
    switch (mod(style_gene, n)) {
      case 1: c.close = CloseStyle::Fin; break;
      case 2: c.close = CloseStyle::Rst; break;
      case 3: c.close = CloseStyle::Vanish; break;
      default: c.close = CloseStyle::None; break;
    }
    if (c.close != CloseStyle::None) c.close_at = close_at;
  };
  switch (g.family) {
    case Family::Any:
      if (server == ServerKind::Heartbeat) {
        c.behaviour = mod(gg.behaviour, 4) == 3 ? ClientBehaviour::Silent : ClientBehaviour::Heartbeat;
        c.heartbeat_interval = seconds(1 + mod(gg.rate, 20));
        c.request_every = mod(gg.behaviour, 2) ? ms(100 * (1 + mod(gg.rate, 20))) : Duration::zero();
      } else {
        c.behaviour = mod(gg.behaviour, 4) == 3 ? ClientBehaviour::Silent : ClientBehaviour::Echo;
        c.request_every = ms(100 * (1 + mod(gg.rate, 30)));
      }
      closing(gg.close_style, true);
      break;
    case Family::HalfOpen: {
      c.behaviour = ClientBehaviour::Heartbeat;
      // Healthy: interval idle/9, 2 idle/9 or idle/3. Doomed groups vanish.
      c.heartbeat_interval = Duration(idle.count() / 9 * (1 + mod(gg.rate, 3)));
      c.heartbeat_interval = duration_cast<milliseconds>(c.heartbeat_interval);
      c.request_every = mod(gg.behaviour, 2) ? c.heartbeat_interval : Duration::zero();
      c.request_size = std::min<std::uint32_t>(c.request_size, 512);
      const int style = mod(gg.close_style, 3);  // none, fin, vanish
      closing(style == 2 ? 3 : style, true);
      break;
    }
    case Family::Proxy:
      c.behaviour = ClientBehaviour::Echo;
      c.request_every = ms(50 * (1 + mod(gg.rate, 20)));
      closing(gg.close_style, false);
      break;
    case Family::AcceptFailure:
      c.behaviour = ClientBehaviour::Echo;
      c.request_every = ms(100 * (1 + mod(gg.rate, 10)));
      closing(gg.close_style, false);
      break;
  }
  return c;
}

/// One fault, or nothing when the gene does not apply to the family.
std::optional<Fault> build_fault(const Genes& g, const FaultGene& fg, const Scenario& s) {
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
  const ServerKind server = s.server.kind;

  std::vector<FaultKind> kinds;
  switch (g.family) {
    case Family::Any:
      kinds = {FaultKind::Loss,      FaultKind::BurstLoss,   FaultKind::GilbertElliott,   FaultKind::Jitter,
               FaultKind::HalfOpen,  FaultKind::Partition,   FaultKind::AcceptPause,      FaultKind::Rst,
               FaultKind::HandlerException, FaultKind::AcceptFailure};
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
      f.duration = window;
      break;
    case FaultKind::AcceptPause:
      f.duration = window;
      break;
    case FaultKind::HandlerException: {
      const auto hs = handlers_of(server);
      f.handler = hs[static_cast<std::size_t>(mod(fg.p2, static_cast<int>(hs.size())))];
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
      return std::nullopt;
  }
  return f;
}

}  // namespace

Scenario build(const Genes& g) {
  Scenario s;
  s.name = std::string("prop-") + to_string(g.family) + "-" + std::to_string(g.seed);
  s.description = std::string("generated by the ") + to_string(g.family) + " property";
  s.transports = {scenarios::TransportKind::Sim};
  s.seeds = {g.seed};
  s.duration = seconds(20 + mod(g.duration_s - 20, 101));
  const int idle_lo = g.family == Family::HalfOpen ? 6 : 5;
  const Duration idle = seconds(idle_lo + mod(g.idle_s - idle_lo, 26));
  s.quiesce = idle + seconds(40);
  s.server.backlog = 1 + mod(g.backlog - 1, 128);
  s.server.idle.reader = idle;
  switch (g.family) {
    case Family::Any: {
      static const ServerKind kinds[] = {ServerKind::Echo, ServerKind::Heartbeat, ServerKind::Proxy};
      s.server.kind = kinds[mod(g.server_kind, 3)];
      break;
    }
    case Family::HalfOpen: s.server.kind = ServerKind::Heartbeat; break;
    case Family::Proxy: s.server.kind = ServerKind::Proxy; break;
    case Family::AcceptFailure:
      s.server.kind = ServerKind::Echo;
      s.server.idle.reader = Duration::zero();
      s.quiesce = seconds(30);
      break;
  }
  std::vector<GroupGene> groups = g.groups;
  if (groups.empty()) groups.push_back({});
  for (std::size_t i = 0; i < groups.size(); ++i)
    s.clients.push_back(build_group(g, groups[i], i, s.duration, idle, s.server.kind));
  for (const auto& fg : g.faults)
    if (auto f = build_fault(g, fg, s)) s.faults.push_back(std::move(*f));
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

rc::Gen<Scenario> gen_scenario(Family f) { return rc::gen::map(gen_genes(f), [](const Genes& g) { return build(g); }); }

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
