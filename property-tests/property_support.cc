#include "connfail/property-tests/property_support.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/detail/Configuration.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "connfail/reports/report_writer.h"
#include "connfail/scenarios/parser.h"

namespace connfail::props {

namespace fs = std::filesystem;
using netcore::TcpState;
using scenarios::RunResult;
using scenarios::Scenario;

scenarios::RunResult run_sim(const Scenario& s, const std::string& variant) {
  scenarios::RunOptions o;
  o.transport = scenarios::TransportKind::Sim;
  o.seed = s.seeds.front();
  o.variant = variant;
  return scenarios::run_scenario(s, o);
}

namespace {

void add_findings(Violations& v, const RunResult& r, const std::set<std::string>& kinds) {
  for (const auto& f : r.findings)
    if (kinds.count(f.kind)) v.push_back(f.kind + ": " + f.message);
}

const std::set<std::string> kLeakKinds = {"orphan",         "close-wait",    "stale-channel", "pending-timers",
                                          "echo-mismatch", "run-error"};

/// Groups some fault was aimed at ("" = a fault aimed at every group).
std::set<std::string> faulted_groups(const Scenario& s) {
  std::set<std::string> g;
  for (const auto& f : s.faults) {
    if (f.targets.empty()) g.insert("");
    for (const auto& t : f.targets) g.insert(t);
  }
  return g;
}

}  // namespace

Violations no_leaks(const Scenario&, const RunResult& r) {
  Violations v;
  add_findings(v, r, kLeakKinds);
  return v;
}

Violations half_open_and_healthy(const Scenario& s, const RunResult& r) {
  Violations v = no_leaks(s, r);
  add_findings(v, r, {"half-open-unreaped", "healthy-closed"});
  return v;
}

Violations clients_come_back(const Scenario& s, const RunResult& r) {
  Violations v = no_leaks(s, r);
  add_findings(v, r, {"not-reconnected"});
  return v;
}

Violations proxy_exact_and_closed(const Scenario& s, const RunResult& r) {
  Violations v = no_leaks(s, r);
  const auto faulted = faulted_groups(s);
  for (const auto& c : r.clients) {
    const auto& g = *std::find_if(s.clients.begin(), s.clients.end(), [&](const auto& x) { return x.name == c.group; });
    if (faulted.count("") || faulted.count(c.group) || g.close == scenarios::CloseStyle::Vanish) continue;
    if (!c.connected) {
      v.push_back("proxy-connect: client " + std::to_string(c.index) + " of group " + c.group +
                  " never connected although nothing hit its path");
      continue;
    }
    if (c.bytes_received < c.bytes_sent_1s_before_end)
      v.push_back("proxy-lost: client " + std::to_string(c.index) + " of group " + c.group + " got back " +
                  std::to_string(c.bytes_received) + " bytes of the " + std::to_string(c.bytes_sent_1s_before_end) +
                  " it sent at least 1 s before its end (" + std::to_string(c.bytes_sent) + " sent in all)");
    if (c.bytes_received > c.bytes_sent)
      v.push_back("proxy-duplicated: client " + std::to_string(c.index) + " of group " + c.group +
                  " got back more than it sent");
  }
  return v;
}

Violations accept_failure_leaves_nothing(const Scenario& s, const RunResult& r) {
  Violations v = no_leaks(s, r);
  std::uint64_t server_entries = 0, failures = 0, open = 0;
  for (const auto& e : r.ledger_entries) {
    if (e.side != netcore::Side::Server) continue;
    ++server_entries;
    if (e.is_open()) ++open;
    if (e.closed_at && e.reason == netcore::CloseReason::AcceptFailure) ++failures;
  }
  if (open > 0) v.push_back("ledger: " + std::to_string(open) + " server channel(s) still open after the run");
  if (server_entries != r.client_connects_ok)
    v.push_back("ledger: " + std::to_string(server_entries) + " server-side record(s) for " +
                std::to_string(r.client_connects_ok) + " completed client connect(s): an accepted socket went unrecorded");
  const auto want = r.ledger.count("accept-failure") ? r.ledger.at("accept-failure") : 0;
  if (failures != want) v.push_back("ledger: accept-failure count disagrees with the report");
  return v;
}

Violations illegal_transitions(const std::vector<scenarios::SocketStateChange>& changes) {
  // RFC 793's diagram (figure 6) plus what ns-3 3.37 does on top of it:
  // a forked child starts from the listener's LISTEN; a socket closed by the
  // application in LISTEN, SYN_SENT or SYN_RCVD goes to CLOSED; a connection
  // reset or given up in any synchronized state goes straight to CLOSED.
  using S = TcpState;
  static const std::set<std::pair<S, S>> legal = {
      {S::Closed, S::Listen},        {S::Closed, S::SynSent},       {S::Listen, S::SynRcvd},
      {S::Listen, S::SynSent},       {S::Listen, S::Closed},        {S::SynSent, S::SynRcvd},
      {S::SynSent, S::Established},  {S::SynSent, S::Closed},       {S::SynRcvd, S::Established},
      {S::SynRcvd, S::FinWait1},     {S::SynRcvd, S::CloseWait},    {S::SynRcvd, S::Listen},
      {S::SynRcvd, S::Closed},       {S::Established, S::FinWait1}, {S::Established, S::CloseWait},
      {S::Established, S::Closed},   {S::FinWait1, S::FinWait2},    {S::FinWait1, S::Closing},
      {S::FinWait1, S::TimeWait},    {S::FinWait1, S::Closed},      {S::FinWait2, S::TimeWait},
      {S::FinWait2, S::Closed},      {S::Closing, S::TimeWait},     {S::Closing, S::Closed},
      {S::CloseWait, S::LastAck},    {S::CloseWait, S::Closed},     {S::LastAck, S::Closed},
      {S::TimeWait, S::Closed},
  };
  Violations v;
  std::map<std::uint64_t, S> last;
  for (const auto& c : changes) {
    auto it = last.find(c.socket);
    if (it != last.end() && it->second != c.from)
      v.push_back("tcp-state: socket " + std::to_string(c.socket) + " on " + c.node + " changed from " +
                  netcore::to_string(c.from) + " but was last seen in " + netcore::to_string(it->second));
    if (!legal.count({c.from, c.to}))
      v.push_back("tcp-state: socket " + std::to_string(c.socket) + " on " + c.node + " " + c.local.to_string() +
                  " -> " + c.remote.to_string() + " went " + netcore::to_string(c.from) + " -> " +
                  netcore::to_string(c.to) + " at t=" + std::to_string(c.t) + "s, not an edge of the TCP state machine");
    last[c.socket] = c.to;
  }
  return v;
}

Violations same_report(const Scenario& s, const RunResult& r) {
  scenarios::Report a, b;
  a.connfail_version = b.connfail_version = "property";
  a.runs.push_back(r);
  b.runs.push_back(run_sim(s, r.variant));
  Violations v;
  if (reports::to_json(a).dump() != reports::to_json(b).dump() ||
      a.runs[0].state_changes.size() != b.runs[0].state_changes.size())
    v.push_back("determinism: report.json differs between two runs of the same scenario and seed");
  if (a.runs[0].trace_hash == 0) v.push_back("determinism: the run has no trace hash");
  return v;
}

Violations state_machine_and_ledger(const Scenario& s, const RunResult& r) {
  Violations v = illegal_transitions(r.state_changes);
  if (r.state_changes.empty() && r.client_connects_ok > 0) v.push_back("tcp-state: no state change was recorded");
  std::set<std::pair<int, std::uint64_t>> sockets;  // (side, socket id) of channels
  for (const auto& e : r.ledger_entries) {
    if (e.closed_at && *e.closed_at < e.opened_at)
      v.push_back("ledger: channel #" + std::to_string(e.id) + " closed before it opened");
    if (e.socket_id != 0 && !sockets.insert({static_cast<int>(e.side), e.socket_id}).second &&
        e.reason != netcore::CloseReason::AcceptFailure)
      v.push_back("ledger: socket " + std::to_string(e.socket_id) + " recorded twice on one side");
  }
  (void)s;
  return v;
}

// ------------------------------------------------------------ counterexamples

namespace {
std::string& default_failures_dir() {
  static std::string dir = "connfail-failures";
  return dir;
}
}  // namespace

void set_default_failures_dir(const std::string& dir) { default_failures_dir() = dir; }

std::string failures_dir() {
  if (const char* d = std::getenv("CONNFAIL_FAILURES_DIR"); d && *d) return d;
  return default_failures_dir();
}

namespace {
// The counterexample file written last in the current test (shrinking
// writes one per failing candidate: only the last, smallest, is kept).
std::string g_current_file;
std::string g_current_variant;
std::string g_current_cli = "connfail";
}  // namespace

std::string replay_command(const std::string& file, const std::string& variant, const std::string& cli) {
  return cli + " replay " + file + (variant.empty() ? "" : " --variant " + variant);
}

std::string write_counterexample(const std::string& property, const Scenario& s, const std::string& variant,
                                 const Violations& why, const std::string& dir, const std::string& cli) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string path =
      fs::absolute(fs::path(dir) / (property + "-" + std::to_string(s.seeds.front()) + ".yaml")).lexically_normal().string();
  std::string text = "# Counterexample of the property '" + property + "'" +
                     (variant.empty() ? std::string() : " against the known-bug variant '" + variant + "'") +
                     ", shrunk by RapidCheck.\n# Replay: " + replay_command(path, variant, cli) + "\n# It failed because:\n";
  for (const auto& w : why) text += "#   " + w.substr(0, 300) + "\n";
  text += scenarios::to_yaml(s);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  fs::rename(tmp, path, ec);
  if (!g_current_file.empty() && g_current_file != path) fs::remove(g_current_file, ec);
  g_current_file = path;
  g_current_variant = variant;
  g_current_cli = cli;
  return path;
}

void forget_counterexample() { g_current_file.clear(); }

void hold(const std::string& property, const Scenario& s, const Check& check, const std::string& variant,
          const std::string& cli) {
  // A generator bug, not a property violation: say so loudly.
  const auto parsed = scenarios::parse_scenario_text(scenarios::to_yaml(s), "generated");
  if (!parsed.ok()) {
    // Printed at once as well: RapidCheck describes a counterexample by
    // running the case again, so a failure that does not repeat would
    // otherwise be reported without its reason.
    const std::string msg = "the generator made an invalid scenario: " + parsed.errors.front().to_string();
    std::cerr << msg << "\n";
    RC_FAIL(msg);
  }
  const RunResult r = run_sim(s, variant);
  const Violations why = check(s, r);
  if (why.empty()) return;
  const std::string file = write_counterexample(property, s, variant, why, failures_dir(), cli);
  std::string msg = "property '" + property + "' violated (" + replay_command(file, variant, cli) + "):";
  for (const auto& w : why) msg += "\n  " + w;
  std::cerr << msg << "\n";
  RC_FAIL(msg);
}

std::optional<Counterexample> find_counterexample(const std::string& property, Family family, const Check& check,
                                                  const std::string& variant, const std::string& dir,
                                                  const Target& target) {
  std::optional<Counterexample> last;
  int cases = 0;
  // Through RapidCheck's checkTestable rather than rc::check: a proof must be
  // repeatable (a seed fixed per property and variant unless RC_PARAMS sets
  // one), may look at up to 1,000 cases (it stops at the first failure), and
  // an expected failure must not be registered as one of the run's failures.
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  const char* env = std::getenv("RC_PARAMS");
  if (!env || std::string(env).find("seed=") == std::string::npos)
    params.seed = std::hash<std::string>{}(property + "/" + variant) & 0xffffffffffffULL;
  params.maxSuccess = std::max(params.maxSuccess, 1000);
  rc::detail::TestMetadata meta;
  meta.id = meta.description = property + " against " + variant;
  const auto result = rc::detail::checkTestable(
      [&] {
        const Scenario s = build(*gen_genes(family), target);
        ++cases;
        const RunResult r = run_sim(s, variant);
        Violations why = check(s, r);
        if (why.empty()) return;
        last = Counterexample{s, why, "", 0};
        RC_FAIL("violated");
      },
      meta, params);
  std::printf("[ expected ] '%s' must fail against the known-bug variant '%s' (seed %llu): ", property.c_str(),
              variant.c_str(), static_cast<unsigned long long>(params.seed));
  rc::detail::FailureResult failure;
  const bool held = !result.match(failure);
  if (!held)
    std::printf("falsified after %d passing case(s), then shrunk\n", failure.numSuccess);
  else
    std::printf("NOT falsified in %d case(s)\n", cases);
  if (held || !last) return std::nullopt;
  last->cases_run = cases;
  last->file = write_counterexample(property, last->scenario, variant, last->why, dir, target.cli);
  g_current_file.clear();  // an expected counterexample: not a failure to report
  return last;
}

namespace {

class ReplayPrinter : public testing::EmptyTestEventListener {
  void OnTestStart(const testing::TestInfo&) override { g_current_file.clear(); }
  void OnTestEnd(const testing::TestInfo& info) override {
    if (info.result() && info.result()->Failed() && !g_current_file.empty())
      std::printf("\nShrunk counterexample written to %s\nReplay it with:\n  %s\n", g_current_file.c_str(),
                  replay_command(g_current_file, g_current_variant, g_current_cli).c_str());
  }
};

}  // namespace

void install_replay_printer() {
  static bool done = false;
  if (done) return;
  done = true;
  testing::UnitTest::GetInstance()->listeners().Append(new ReplayPrinter);
}

}  // namespace connfail::props
