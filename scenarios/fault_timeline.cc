#include "connfail/scenarios/fault_timeline.h"

#include "connfail/scenarios/fault_kinds.h"

#include "connfail/scenarios/server_under_test.h"
#include "connfail/scenarios/workload.h"

namespace connfail::scenarios {

using namespace netcore;

PipelineEvent parse_pipeline_event(const std::string& name) {
  for (auto e : {PipelineEvent::Active, PipelineEvent::Read, PipelineEvent::ReadComplete, PipelineEvent::UserEvent,
                 PipelineEvent::Exception, PipelineEvent::Inactive, PipelineEvent::Write, PipelineEvent::Flush,
                 PipelineEvent::ReadRequest, PipelineEvent::Close})
    if (name == to_string(e)) return e;
  return PipelineEvent::Read;  // the parser rejects unknown names
}

namespace {

bool aimed_at_server(FaultKind k) { return fault_kind_info(k).at_server; }

std::string target_of(const Fault& f) {
  if (aimed_at_server(f.kind)) return "server";
  if (f.targets.empty()) return "all";
  std::string target;
  for (const auto& t : f.targets) target += (target.empty() ? "" : ",") + t;
  return target;
}

/// Faults that, without a duration, last until the end of the workload
/// (`duration`): the quiesce is fault-free, so that closes complete before
/// the verdict.
bool lasting(FaultKind k) { return fault_kind_info(k).lasting; }

/// Hosts that vanish are gone for good (their sockets are not judged).
bool permanent(FaultKind k) { return fault_kind_info(k).permanent; }

/// Faults that cut clients off: their groups are not "healthy".
bool disruptive(FaultKind k) { return fault_kind_info(k).disruptive; }

}  // namespace

std::string fault_label(const Fault& f) {
  // What tells two faults of one kind apart.
  std::string what;
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  switch (f.kind) {
    case FaultKind::HandlerException:
      what = " (handler " + f.handler + ", event " + f.event + ", " +
             (f.nth > 0 ? "nth " + std::to_string(f.nth) : "probability " + num(f.probability)) + ")";
      break;
    case FaultKind::AcceptFailure:
      what = std::string(" (") + (f.every > 0 ? "every " + std::to_string(f.every) : "probability " + num(f.probability)) + ")";
      break;
    case FaultKind::Loss:
    case FaultKind::BurstLoss: what = " (rate " + num(f.rate) + ")"; break;
    default: break;
  }
  return std::string(to_string(f.kind)) + what + " at " + format_duration(f.at) +
         (f.duration > Duration::zero() ? " for " + format_duration(f.duration) : "") + " (" + target_of(f) + ")";
}

void schedule_faults(RunContext& rc, ServerUnderTest& server, Workload& workload) {
  const Scenario& s = rc.s;
  auto targets_of = [&](const Fault& f) {
    std::vector<int> gs;
    if (f.targets.empty()) {
      for (std::size_t g = 0; g < s.clients.size(); ++g) gs.push_back(static_cast<int>(g));
    } else {
      for (const auto& t : f.targets)
        if (rc.group_index.count(t)) gs.push_back(rc.group_index.at(t));
    }
    return gs;
  };
  auto vanish = [&rc, &workload](int g) {
    const std::string& name = rc.s.clients[static_cast<std::size_t>(g)].name;
    if (rc.vanished_at.count(name)) return;
    rc.vanished_at[name] = rc.now_s();
    rc.env->vanish_group(g);
    workload.vanish_group(g);
  };
  const double run_end = seconds_of(s.duration + s.quiesce);

  for (Fault f : s.faults) {
    // Without a duration, a lasting fault ends with the workload.
    if (lasting(f.kind) && f.duration == Duration::zero() && f.at < s.duration) f.duration = s.duration - f.at;
    const auto gs = targets_of(f);
    const std::string target = target_of(f);
    FaultEvent ev;
    ev.start = seconds_of(f.at);
    ev.end = f.duration > Duration::zero() ? seconds_of(f.at + f.duration) : ev.start;
    if (permanent(f.kind)) ev.end = run_end;
    ev.kind = to_string(f.kind);
    ev.target = target;
    ev.label = fault_label(f);
    rc.result.faults.push_back(ev);
    const std::string label = fault_label(f);
    if (target == "all" || target == "server")
      rc.faults_by_group[""].push_back(label);
    else
      for (const auto& t : f.targets) rc.faults_by_group[t].push_back(label);
    if (disruptive(f.kind)) {
      if (aimed_at_server(f.kind))
        for (const auto& grp : s.clients) rc.unhealthy.insert(grp.name);
      else
        for (int g : gs) rc.unhealthy.insert(s.clients[static_cast<std::size_t>(g)].name);
    }

    switch (f.kind) {
      case FaultKind::HalfOpen:
        rc.at(f.at, [vanish, gs] {
          for (int g : gs) vanish(g);
        });
        break;
      case FaultKind::AcceptPause:
        // Through the server's accept loop, so that its error back-off cannot
        // end the pause early.
        rc.at(f.at, [&server] { server.pause_accepting(); });
        rc.at(f.at + f.duration, [&server] { server.resume_accepting(); });
        break;
      case FaultKind::ServerRestart:
        rc.at(f.at, [&server, d = f.duration] { server.restart(d); });
        break;
      case FaultKind::HandlerException: {
        const PipelineEvent event = parse_pipeline_event(f.event);
        FaultInjector* inj = &rc.injector;
        rc.at(f.at, [inj, f, event] {
          if (f.nth > 0)
            inj->throw_on_nth(f.handler, event, f.nth);
          else
            inj->throw_with_probability(f.handler, event, f.probability);
        });
        if (f.duration > Duration::zero())
          rc.at(f.at + f.duration, [inj, f, event] { inj->throw_with_probability(f.handler, event, 0.0); });
        break;
      }
      case FaultKind::AcceptFailure: {
        FaultInjector* inj = &rc.injector;
        rc.at(f.at, [inj, f] {
          if (f.every > 0)
            inj->fail_registration_every(f.every);
          else
            inj->fail_registration_with_probability(f.probability);
        });
        if (f.duration > Duration::zero())
          rc.at(f.at + f.duration, [inj] {
            inj->fail_registration_every(0);
            inj->fail_registration_with_probability(0.0);
          });
        break;
      }
      case FaultKind::Rst:
        rc.at(f.at, [&rc, &workload, gs] {
          for (int g : gs) rc.env->reset_connections(g, workload.open_channels(g));
        });
        break;
      default:
        // Link faults: the environment applies and removes them.
        rc.at(f.at, [&rc, f, gs] { rc.env->apply_link_fault(f, gs, true); });
        if (f.duration > Duration::zero())
          rc.at(f.at + f.duration, [&rc, f, gs] { rc.env->apply_link_fault(f, gs, false); });
        break;
    }
  }
}

}  // namespace connfail::scenarios
