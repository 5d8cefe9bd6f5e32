#include "connfail/scenarios/run_verdict.h"

#include <algorithm>

#include "connfail/netcore/socket_owners.h"
#include "connfail/scenarios/fault_timeline.h"
#include "connfail/scenarios/server_under_test.h"
#include "connfail/scenarios/workload.h"

namespace connfail::scenarios {

using namespace netcore;

void Sampler::sample() {
  Sample smp;
  smp.t = rc_.now_s();
  for (const auto& info : rc_.env->inventory()) {
    if (info.role == SocketRole::Listener || rc_.env->excluded(info)) continue;
    const std::string st = netcore::to_string(info.state);
    ++smp.by_state[st];
    const std::string key = conn_key(info.node, info.local, info.remote);
    ConnHistory& h = histories[key];
    h.last_seen = smp.t;
    if (h.node.empty()) {
      h.node = info.node;
      h.local = info.local;
      h.remote = info.remote;
    }
    if (last_state_[key] != st) {
      last_state_[key] = st;
      histories[key].states.emplace_back(smp.t, st);
      state_since.emplace(key + " " + st, smp.t);
    }
  }
  smp.open_channels = static_cast<int>(rc_.server_ledger.open_count());
  smp.open_backend_channels = static_cast<int>(rc_.backend_ledger.open_count());
  rc_.result.samples.push_back(std::move(smp));
}

void Sampler::start() {
  const Duration every = std::max(rc_.T(rc_.opts.sample_every), Duration(1));  // never 0: the loop below ends
  // At a fixed rate: sample k is due at start + k x every, however late the
  // one before it ran. Each one scheduled `every` after the last would let a
  // busy real-transport loop's lateness add up, and a state's age (what the
  // close-wait check compares with its grace) be measured from a sample
  // that drifted. On sim no timer is ever late, so the times are the same.
  due_ = rc_.loop.now();
  tick_ = [this, every] {
    sample();
    const netcore::TimePoint now = rc_.loop.now();
    do due_ += every;
    while (due_ < now);  // slots a stalled loop missed are skipped, not run in a burst
    timer_ = due_ <= rc_.end_of_run() ? rc_.schedule(due_ - now, tick_) : 0;
  };
  timer_ = rc_.schedule(Duration::zero(), tick_);
}

void Sampler::stop() {
  if (timer_ != 0) rc_.loop.cancel(timer_);
  timer_ = 0;
}

void finish_run(RunContext& rc, Sampler& sampler, ServerUnderTest& server, Workload& workload) {
  const Scenario& s = rc.s;
  RunResult& r = rc.result;
  RunnerEnv& env = *rc.env;

  // The harness's own timers (faults still to end, reconnects, samples)
  // are not the server's: they go now, before anything is counted.
  rc.cancel_harness_timers();

  // Verdict inputs, before teardown.
  VerdictInput in;
  in.scenario = &s;
  in.end_seconds = rc.now_s();
  in.time_scale = rc.scale;
  in.server_reader_idle = server.reader_idle();
  in.state_since = std::move(sampler.state_since);
  in.histories = std::move(sampler.histories);
  in.vanished_at = rc.vanished_at;
  in.faults_by_group = rc.faults_by_group;
  in.unhealthy_groups = rc.unhealthy;
  in.fault_events = r.faults;
  std::vector<SocketInfo> inv;
  for (const auto& info : env.inventory())
    if (!env.excluded(info)) inv.push_back(info);
  in.sockets = attribute_owners(inv, {&rc.server_ledger, &rc.backend_ledger, &rc.client_ledger});
  // Snapshots: teardown adds and closes entries, the verdict is about now.
  // (Copies under the ledgers' locks: worker loops may still write them.)
  const std::vector<LedgerEntry> server_entries = rc.server_ledger.snapshot();
  const std::vector<LedgerEntry> backend_entries = rc.backend_ledger.snapshot();
  const std::vector<LedgerEntry> client_entries = rc.client_ledger.snapshot();
  for (const auto& e : server_entries) {
    if (e.side != Side::Server) continue;
    in.server_conns.push_back({&e, env.group_of_server_conn(e), -1});
  }
  for (const auto& c : workload.clients()) {
    const std::string& group = s.clients[static_cast<std::size_t>(c.group)].name;
    for (auto id : c.ledger_ids) in.client_conns.push_back({&client_entries.at(id - 1), group, c.planned_close});
  }
  // Channels still open that should not be: anything in the server and
  // backend ledgers (every client closed or vanished by now).
  const std::pair<const std::vector<LedgerEntry>*, std::string> owned[] = {{&server_entries, "server"},
                                                                            {&backend_entries, "backend"}};
  for (const auto& [entries, owner] : owned)
    for (const auto& e : *entries)
      if (e.is_open()) {
        // A half-open peer's server connection is reported by the half-open
        // check when it is on; otherwise here.
        const std::string g = env.group_of_server_conn(e);
        if (s.expect.half_open_reaped_within_grace && rc.vanished_at.count(g)) continue;
        in.stale_channels.push_back({&e, owner, owner == "server" ? env.server_node() : env.backend_node(), g});
      }
  in.group_of_remote = [&env](const Address& a) { return env.group_of_remote(a); };
  if (const ExternalServer* x = server.external()) {
    in.external_node = RunnerEnv::external_server_node();
    in.external_fd_delta = server.process_fd_delta();
    in.external_fd_slack = x->fd_slack;
    in.sample_every = seconds_of(rc.opts.sample_every);
    if (!r.samples.empty()) in.last_sample = r.samples.back().t;
  }

  // Teardown: close everything, then look for what outlives it.
  server.stop();
  workload.abort_all();
  env.teardown();
  rc.loop.run_until([&] { return rc.server_ledger.open_count() == 0; }, rc.T(std::chrono::seconds(1)));
  // From here on one thread: the worker loops (asio, server.loops > 1)
  // stop, and what they still had queued runs in settle() below, so the
  // aborts below run at once and nothing is counted while a worker still
  // works.
  env.stop_loops();
  // Close the stale ones too (whatever a broken variant left open), so the
  // timer check sees a clean slate and nothing outlives the transport.
  for (auto* l : {&rc.server_ledger, &rc.backend_ledger, &rc.client_ledger})
    for (auto& ch : l->open_channels()) ch->abort();
  env.settle();
  in.pending_timers_after_teardown = env.pending_timers();
  in.fd_delta = env.fd_delta();

  for (auto& f : compute_findings(in)) r.findings.push_back(std::move(f));
  workload.collect(client_entries);
  r.state_changes = env.state_changes();
  for (const auto* l : {&server_entries, &backend_entries, &client_entries})
    r.ledger_entries.insert(r.ledger_entries.end(), l->begin(), l->end());
  for (const auto& e : server_entries)
    if (e.side == Side::Server) ++r.connections_opened;
  for (const auto& sc : in.server_conns) {
    const auto& e = *sc.entry;
    ++r.ledger[e.closed_at ? netcore::to_string(e.reason) : "open"];
  }
  for (const auto& cc : in.client_conns) {
    const auto& e = *cc.entry;
    ++r.client_ledger[e.closed_at ? netcore::to_string(e.reason) : "open"];
  }
  r.bytes_echoed = rc.echoed;
  r.scenario_seconds = seconds_of(s.duration + s.quiesce);
  r.trace_hash = env.trace_hash();
  // What the scenario asked for but the run could not test.
  for (const Fault& f : s.faults) {
    if (f.kind == FaultKind::HandlerException) {
      const auto st = rc.injector.rule_stats(f.handler, parse_pipeline_event(f.event));
      if (st.fired == 0)
        r.notes.push_back("the handler-exception fault at " + format_duration(f.at) + " (handler '" + f.handler +
                          "', event '" + f.event + "') never fired: the handler met that event " +
                          std::to_string(st.seen) + " time(s) while it was on");
    }
  }
  const bool accept_faults = std::any_of(s.faults.begin(), s.faults.end(),
                                         [](const Fault& f) { return f.kind == FaultKind::AcceptFailure; });
  if (accept_faults && rc.injector.registration_failures_injected() == 0)
    r.notes.push_back("the accept-failure fault never fired: no child registration failed while it was on");
  for (const auto& n : workload.unjudged()) r.notes.push_back(n);
  if (!r.findings.empty())
    r.status = "fail";
  else if (!r.notes.empty())
    r.status = "inconclusive";
  else
    r.status = "pass";
  r.passed = r.status == "pass";
}

}  // namespace connfail::scenarios
