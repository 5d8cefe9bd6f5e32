// run_scenario: one scenario, one transport, one seed. The parts of a run
// each live in their own file: the server under test
// (server_under_test.cc), the clients (workload.cc), the faults
// (fault_timeline.cc), the samples and the verdict (run_verdict.cc).
#include "connfail/scenarios/runner.h"

#include <chrono>

#include "connfail/scenarios/fault_timeline.h"
#include "connfail/scenarios/registry.h"
#include "connfail/scenarios/run_context.h"
#include "connfail/scenarios/run_verdict.h"
#include "connfail/scenarios/server_under_test.h"
#include "connfail/scenarios/workload.h"

namespace connfail::scenarios {

std::vector<VariantInfo> known_variants() {
  std::vector<VariantInfo> out;
  const Registry& reg = Registry::global();
  for (const auto& name : reg.variant_names()) out.push_back({name, reg.variant(name)->description});
  return out;
}

bool is_known_variant(const std::string& name) { return Registry::global().variant(name) != nullptr; }

namespace {

RunResult failed_setup(const Scenario& s, const RunOptions& opts, const std::string& why) {
  RunResult r;
  r.scenario = s.name;
  r.file = s.file;
  r.description = s.description;
  r.transport = opts.transport;
  r.seed = opts.seed;
  r.variant = opts.variant;
  r.server_kind = s.server.kind;
  r.findings.push_back(run_error(why));
  return r;
}

}  // namespace

RunResult run_scenario(const Scenario& s, const RunOptions& opts) {
  const auto wall_start = std::chrono::steady_clock::now();
  auto wall = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count(); };
  if (!opts.variant.empty() && !is_known_variant(opts.variant))
    return failed_setup(s, opts, "unknown variant '" + opts.variant + "'");
  // A variant that changes nothing here would pass and prove nothing: the
  // run is not applicable, and is not run.
  if (!opts.variant.empty()) {
    if (std::string why = variant_not_applicable(opts.variant, s); !why.empty()) {
      RunResult r = failed_setup(s, opts, "");
      r.findings.clear();
      r.status = "n/a";
      r.notes.push_back(why);
      r.scenario_seconds = seconds_of(s.duration + s.quiesce);
      return r;
    }
  }

  std::unique_ptr<RunnerEnv> env;
  try {
    env = make_env(s, opts);
  } catch (const std::exception& e) {
    return failed_setup(s, opts, std::string("cannot set up the ") + to_string(opts.transport) + " transport: " + e.what());
  }
  RunContext rc(s, opts, std::move(env));
  RunResult& r = rc.result;
  r.scenario = s.name;
  r.file = s.file;
  r.description = s.description;
  r.transport = opts.transport;
  r.seed = opts.seed;
  r.variant = opts.variant;
  r.server_kind = s.server.kind;
  for (std::size_t g = 0; g < s.clients.size(); ++g) rc.group_index[s.clients[g].name] = static_cast<int>(g);

  ServerUnderTest server(rc);
  Workload workload(rc);
  try {
    server.start();
  } catch (const std::exception& e) {
    r.findings.push_back(run_error(std::string("cannot start the server: ") + e.what()));
    r.wall_seconds = wall();
    return r;
  }
  try {
    workload.schedule(server.address(), VariantContext{server.reader_idle()});
  } catch (const std::exception& e) {
    r.findings.push_back(run_error(std::string("cannot set up the clients: ") + e.what()));
    server.stop();
    r.wall_seconds = wall();
    return r;
  }
  schedule_faults(rc, server, workload);
  Sampler sampler(rc);
  sampler.start();
  rc.at(s.duration, [&workload] { workload.end(); });

  rc.loop.run_until([] { return false; }, rc.end_of_run() - rc.loop.now());
  sampler.stop();
  finish_run(rc, sampler, server, workload);
  r.network = rc.env->network();

  // Everything that holds transport objects goes before the transport
  // itself (a broken accept loop keeps its leaked sockets until now), once
  // no other loop runs.
  rc.env->stop_loops();
  server.release();
  workload.release();
  RunResult out = std::move(rc.result);
  rc.env.reset();
  out.wall_seconds = wall();
  return out;
}

}  // namespace connfail::scenarios
