// Sim vs. real: the same scenario, seed and variant on both transports.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <tuple>

#include "connfail/scenarios/runner.h"

namespace connfail::scenarios {

namespace {

std::vector<std::string> kinds_of(const RunResult& r) {
  std::set<std::string> k;
  for (const auto& f : r.findings)
    if (f.kind != "transport-disagreement") k.insert(f.kind);
  return {k.begin(), k.end()};
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string outcome(const std::string& status, const std::vector<std::string>& kinds) {
  std::string o = upper(status);
  if (!kinds.empty()) {
    o += " (";
    for (std::size_t i = 0; i < kinds.size(); ++i) o += (i ? ", " : "") + kinds[i];
    o += ")";
  }
  return o;
}

}  // namespace

std::vector<TransportComparison> compare_transports(std::vector<RunResult>& runs) {
  using Key = std::tuple<std::string, std::string, std::uint32_t, std::string>;
  std::map<Key, std::size_t> sim;  // key -> index of the sim run
  for (std::size_t i = 0; i < runs.size(); ++i)
    if (runs[i].transport == TransportKind::Sim) sim.emplace(Key{runs[i].scenario, runs[i].file, runs[i].seed, runs[i].variant}, i);
  std::vector<TransportComparison> out;
  for (auto& a : runs) {
    if (a.transport != TransportKind::Asio) continue;
    auto it = sim.find(Key{a.scenario, a.file, a.seed, a.variant});
    if (it == sim.end()) continue;
    const RunResult& s = runs[it->second];
    if (status_of(s) == "n/a" || status_of(a) == "n/a") continue;
    TransportComparison c;
    c.scenario = a.scenario;
    c.file = a.file;
    c.seed = a.seed;
    c.variant = a.variant;
    c.sim_status = status_of(s);
    c.asio_status = status_of(a);
    c.sim_findings = kinds_of(s);
    c.asio_findings = kinds_of(a);
    c.sim_ledger = s.ledger;
    c.asio_ledger = a.ledger;
    c.sim_client_ledger = s.client_ledger;
    c.asio_client_ledger = a.client_ledger;
    if (c.sim_status != c.asio_status) {
      c.agree = false;
      c.why = "sim " + outcome(c.sim_status, c.sim_findings) + ", asio " + outcome(c.asio_status, c.asio_findings);
    } else if (c.sim_status == "fail" && c.sim_findings != c.asio_findings) {
      c.agree = false;
      c.why = "both FAIL, with different findings: sim " + outcome(c.sim_status, c.sim_findings) + ", asio " +
              outcome(c.asio_status, c.asio_findings);
    }
    if (!c.agree) {
      Finding f;
      f.kind = "transport-disagreement";
      f.evidence = "comparison";
      f.message = "the simulated and the real transport disagree on this scenario and seed: " + c.why;
      a.findings.push_back(std::move(f));
      a.status = "fail";
      a.passed = false;
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace connfail::scenarios
