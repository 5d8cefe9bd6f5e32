// connfail: the command line (connfail::cli_main; cli/main.cc is the
// executable).
//
// Exit codes, for every subcommand: 0 all passed (or were not applicable),
// 1 an expectation failed, 2 bad input (unknown option, malformed scenario,
// missing file, a variant that changes nothing anywhere, ...), 3 nothing
// failed but a run was inconclusive (something it asked for could not be
// judged).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "connfail/cli/cli.h"
#include "connfail/cli/merge.h"
#include "connfail/cli/run_pool.h"
#include "connfail/netcore/asio/process.h"
#include "connfail/reports/report_reader.h"
#include "connfail/reports/report_writer.h"
#include "connfail/scenarios/echo_demo.h"
#include "connfail/scenarios/fault_kinds.h"
#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/registry.h"
#include "connfail/scenarios/runner.h"
#include "connfail/scenarios/schema.h"

namespace {

namespace fs = std::filesystem;
using namespace connfail::scenarios;

constexpr int kPass = 0;
constexpr int kFail = 1;
constexpr int kBadInput = 2;
constexpr int kInconclusive = 3;

/// The program's name as it was called (a user's own CLI built on cli_main
/// is not called connfail): every message starts with it.
std::string g_prog = "connfail";
/// What a scenario may ask for; --max-work and --max-real-time raise it.
ParseLimits g_limits;
std::string g_max_real_time;

/// Adds the limit options to a subcommand that reads scenarios.
void add_limit_options(CLI::App* c) {
  c->add_option("--max-work", g_limits.max_work,
                "Largest run allowed: connections x scenario seconds (default 1e8; a run this size takes hours on sim)");
  c->add_option("--max-real-time", g_max_real_time,
                "Longest real-transport run allowed, wall time: (duration + quiesce) x time_scale (default 1h)");
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void errorf(const char* format, ...) {
  std::fprintf(stderr, "%s: ", g_prog.c_str());
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
}

// ---------------------------------------------------------------- demo --

nlohmann::json to_json(const EchoDemoResult& r) {
  return {{"transport", r.transport},
          {"clients", r.clients},
          {"bytes_sent", r.bytes_sent},
          {"bytes_echoed", r.bytes_echoed},
          {"bytes_match", r.bytes_match},
          {"channels_opened", r.channels_opened},
          {"channels_open_after", r.channels_open_after},
          {"live_sockets_after", r.live_sockets_after},
          {"elapsed_seconds", r.elapsed_seconds},
          {"clock", r.clock},
          {"leaks", r.leaks},
          {"passed", r.passed()}};
}

// Writes `text` to `path` through a temporary file, so a failed run never
// leaves a half-written file behind.
bool write_atomically(const fs::path& path, const std::string& text) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out) {
      fs::remove(tmp, ec);
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
  return !ec;
}

int run_demo(const EchoDemoConfig& cfg, const std::string& transport, const std::string& out) {
  std::vector<EchoDemoResult> results;
  if (transport == "sim" || transport == "both") results.push_back(run_echo_demo_sim(cfg));
  if (transport == "asio" || transport == "both") results.push_back(run_echo_demo_asio(cfg));

  std::printf("connfail demo: %d clients x %zu bytes echoed, seed %u\n\n", cfg.clients, cfg.bytes_per_client,
              cfg.seed);
  std::printf("%-9s %-8s %14s %10s %9s %9s %14s  %s\n", "transport", "verdict", "bytes echoed", "channels",
              "open", "live", "elapsed", "clock");
  bool ok = true;
  nlohmann::json j = {{"schema", "connfail-demo/1"}, {"results", nlohmann::json::array()}};
  for (const auto& r : results) {
    std::printf("%-9s %-8s %14zu %10zu %9zu %9zu %12.3f s  %s\n", r.transport.c_str(),
                r.passed() ? "PASS" : "FAIL", r.bytes_echoed, r.channels_opened, r.channels_open_after,
                r.live_sockets_after, r.elapsed_seconds, r.clock.c_str());
    for (const auto& l : r.leaks) std::printf("    leak: %s\n", l.c_str());
    ok = ok && r.passed();
    j["results"].push_back(to_json(r));
  }
  if (!out.empty()) {
    if (!write_atomically(out, j.dump(2) + "\n")) {
      errorf("cannot write %s\n", out.c_str());
      return kBadInput;
    }
    std::printf("\nwrote %s\n", out.c_str());
  }
  return ok ? kPass : kFail;
}

// ------------------------------------------------------------ scenarios --

/// Expands files and directories (a directory contributes its *.yaml and
/// *.yml files, sorted, not recursing). Missing paths are errors.
bool expand_paths(const std::vector<std::string>& paths, std::vector<std::string>& files) {
  bool ok = true;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(p, ec)) {
        const auto ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) found.push_back(e.path().string());
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) {
        std::fprintf(stderr, "%s: no scenario files (*.yaml) in this directory\n", p.c_str());
        ok = false;
      }
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "%s: no such file or directory\n", p.c_str());
      ok = false;
    }
  }
  return ok;
}

/// Parses every file; prints every error. Returns false if any failed.
bool load_all(const std::vector<std::string>& files, std::vector<Scenario>& out) {
  bool ok = true;
  for (const auto& f : files) {
    ParseResult pr = parse_scenario_file(f, g_limits);
    if (!pr.ok()) {
      ok = false;
      for (const auto& e : pr.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      continue;
    }
    out.push_back(std::move(*pr.scenario));
  }
  return ok;
}

struct RunSelection {
  std::string transport = "";  // "" = each scenario's own
  std::optional<std::uint32_t> seed;
  std::string variant;
  std::string out = "reports";
  std::string junit;
  std::string pcap_dir;
  bool quiet = false;
  bool netns = false;  // --netns: every asio run in a network namespace
  unsigned jobs = 1;   // --jobs: worker processes for sim runs (0: one per core)
};

using connfail::cli::PoolJob;

/// Runs every planned run and returns the results in plan order. With more
/// than one job, the sim runs go to that many worker processes at once
/// (cli/run_pool.h) and the asio runs follow, one at a time, in this
/// process: they run in real time, where a busy machine changes what they
/// measure, and a server process on a fixed port can only run once at a
/// time. `each` sees every result as it comes (in finishing order).
std::vector<RunResult> execute(const std::vector<PoolJob>& plan, unsigned jobs,
                               const std::function<void(const RunResult&)>& each) {
  if (jobs == 0) jobs = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::optional<RunResult>> out(plan.size());
  std::vector<PoolJob> pooled;
  std::vector<std::size_t> pooled_at;
  if (jobs > 1)
    for (std::size_t i = 0; i < plan.size(); ++i)
      if (plan[i].options.transport == TransportKind::Sim) {
        pooled.push_back(plan[i]);
        pooled_at.push_back(i);
      }
  if (pooled.size() > 1)
    connfail::cli::run_in_workers(
        pooled, jobs,
        [&](std::size_t k, RunResult r) {
          each(r);
          out[pooled_at[k]] = std::move(r);
        },
        g_prog);
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (out[i]) continue;
    out[i] = run_scenario(*plan[i].scenario, plan[i].options);
    // What only the property tests read (every client's outcome, every TCP
    // state change, every ledger entry) is most of a run's memory: a sweep
    // of thousands of runs would keep all of it to the end for nothing.
    out[i]->clients = {};
    out[i]->state_changes = {};
    out[i]->ledger_entries = {};
    each(*out[i]);
  }
  std::vector<RunResult> results;
  results.reserve(plan.size());
  for (auto& r : out) results.push_back(std::move(*r));
  return results;
}

/// "<dir>/<scenario>-seed<N>" (the sim adds "-<node>-<peer>.pcap"); sim only.
std::string pcap_prefix(const RunSelection& sel, const Scenario& s, TransportKind t, std::uint32_t seed) {
  if (sel.pcap_dir.empty() || t != TransportKind::Sim) return "";
  std::error_code ec;
  fs::create_directories(sel.pcap_dir, ec);
  return (fs::path(sel.pcap_dir) / (s.name + "-seed" + std::to_string(seed))).string();
}

std::vector<TransportKind> transports_for(const Scenario& s, const std::string& filter) {
  std::vector<TransportKind> ts;
  for (auto t : s.transports) {
    if (filter.empty() || filter == "both" || filter == to_string(t)) ts.push_back(t);
  }
  return ts;
}

/// Why `s` does not run on `t`, which it does not declare.
std::string skip_reason(const Scenario& s, TransportKind t) {
  for (const auto& f : s.faults) {
    const FaultKindInfo& info = fault_kind_info(f.kind);
    const bool sim_only = !info.asio;
    const bool real_only = !info.sim;
    if (t == TransportKind::Asio && sim_only)
      return std::string("its ") + to_string(f.kind) + " fault runs on the simulated transport only";
    if (t == TransportKind::Sim && real_only)
      return std::string("its ") + to_string(f.kind) + " fault runs on the real transport only";
  }
  std::string declared;
  for (auto d : s.transports) declared += (declared.empty() ? "" : ", ") + std::string(to_string(d));
  return "the scenario declares transports: [" + declared + "]";
}

/// The transports of `s` that run here. An asio run that needs a network
/// namespace this machine or user cannot make is bad input (`bad` is set;
/// the message names the fault's line and what it needs): nothing runs.
/// `--transport sim` leaves such runs out.
std::vector<TransportKind> runnable(const Scenario& s, const RunSelection& sel, bool& bad) {
  std::vector<TransportKind> out;
  for (auto t : transports_for(s, sel.transport)) {
    const std::string why = t == TransportKind::Asio ? asio_unavailable_reason(s, sel.netns) : "";
    if (why.empty()) {
      out.push_back(t);
      continue;
    }
    std::size_t i = 0;
    while (i < s.faults.size() && !fault_kind_info(s.faults[i].kind).asio_needs_netns) ++i;
    if (i < s.faults.size())
      errorf("%s:%d:%d: faults[%zu].kind: %s on the real transport %s; run as root, or with --transport sim\n", s.file.c_str(),
             s.faults[i].pos.line, s.faults[i].pos.column, i, to_string(s.faults[i].kind), why.c_str());
    else if (sel.netns)
      errorf("--netns %s\n", why.c_str());
    else
      errorf("%s:%d:%d: server: keepalive, user_timeout and tcp.sysctl on the real transport %s (they are the "
             "kernel's own timers, set in a network namespace of the run's own); run as root, or with --transport "
             "sim\n",
             s.file.c_str(), s.server.pos.line, s.server.pos.column, why.c_str());
    bad = true;
  }
  return out;
}

/// The (scenario, transport) pairs `--transport` asked for that the
/// scenario does not declare: said in the terminal and in the report.
void note_skips(const Scenario& s, const std::string& filter, Report& report) {
  if (filter.empty()) return;
  for (auto t : {TransportKind::Sim, TransportKind::Asio}) {
    if (filter != "both" && filter != to_string(t)) continue;
    if (std::find(s.transports.begin(), s.transports.end(), t) != s.transports.end()) continue;
    Skipped k{s.name, s.file, t, skip_reason(s, t)};
    std::printf("skip  %-36s [%s]  %s\n", s.name.c_str(), to_string(t), k.reason.c_str());
    report.skipped.push_back(std::move(k));
  }
}

/// Everything a run will write must be writable before anything runs:
/// otherwise the runs happen and the reports fail at the end. Creates the
/// directories it needs (and removes them again if a check fails).
bool preflight(const RunSelection& sel) {
  std::vector<fs::path> created;
  auto undo = [&] {
    std::error_code ec;
    for (auto it = created.rbegin(); it != created.rend(); ++it) fs::remove(*it, ec);
  };
  auto dir_ok = [&](const fs::path& dir, const char* what) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
      errorf("%s %s is not a directory\n", what, dir.string().c_str());
      return false;
    }
    // The first missing ancestor is what creating it leaves behind.
    fs::path first_missing;
    for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) first_missing = p;
    if (!fs::exists(dir, ec)) {
      fs::create_directories(dir, ec);
      if (ec) {
        errorf("cannot create %s %s: %s\n", what, dir.string().c_str(), ec.message().c_str());
        return false;
      }
      created.push_back(first_missing);
    }
    const fs::path probe = dir / ".connfail-write-test";
    {
      std::ofstream f(probe);
      if (!f) {
        errorf("cannot write in %s %s\n", what, dir.string().c_str());
        return false;
      }
    }
    fs::remove(probe, ec);
    return true;
  };
  const fs::path out = sel.out.empty() ? fs::path(".") : fs::path(sel.out);
  bool ok = dir_ok(out, "the report directory (--out)");
  if (ok)
    for (const char* name : {"report.json", "report.md", "index.html", "junit.xml"}) {
      std::error_code ec;
      if (name == std::string("junit.xml") && !sel.junit.empty()) continue;
      if (fs::is_directory(out / name, ec)) {
        errorf("%s is a directory: the report cannot be written there\n", (out / name).string().c_str());
        ok = false;
      }
    }
  if (ok && !sel.junit.empty()) {
    std::error_code ec;
    const fs::path j(sel.junit);
    if (fs::is_directory(j, ec)) {
      errorf("--junit %s is a directory\n", sel.junit.c_str());
      ok = false;
    } else if (j.has_parent_path()) {
      ok = dir_ok(j.parent_path(), "the JUnit file's directory (--junit)");
    }
  }
  if (ok && !sel.pcap_dir.empty()) ok = dir_ok(sel.pcap_dir, "the pcap directory (--pcap)");
  if (!ok) {
    undo();
    errorf("nothing was run\n");
  }
  return ok;
}

void print_run(const RunResult& r, bool quiet) {
  std::printf("%-4s  %-36s [%s seed=%u%s]  %.2fs\n", connfail::reports::status_text(status_of(r)).c_str(),
              r.scenario.c_str(), to_string(r.transport), r.seed,
              r.variant.empty() ? "" : (" variant=" + r.variant).c_str(), r.wall_seconds);
  // Why a run is not applicable or inconclusive is said even with -q: it
  // is not a pass.
  if (!r.network.empty() && r.network != "loopback") std::printf("      network: %s\n", r.network.c_str());
  for (const auto& n : r.notes) std::printf("      %s: %s\n", status_of(r) == "n/a" ? "n/a" : "not judged", n.c_str());
  if (quiet) return;
  std::size_t shown = 0;
  for (const auto& f : r.findings) {
    if (++shown > 5) {
      std::printf("      ... and %zu more finding(s), see the report\n", r.findings.size() - 5);
      break;
    }
    std::printf("      %s: %s\n", f.kind.c_str(), f.message.c_str());
  }
  std::fflush(stdout);
}

/// How far a sweep is. On a terminal: one line, rewritten in place. In a
/// log (CI, a pipe): a plain line at every tenth of the runs and at the end,
/// never a carriage return. A failed or inconclusive run is printed in full
/// either way, as soon as it ends.
class Progress {
 public:
  Progress(std::size_t total, bool quiet) : total_(total), quiet_(quiet), tty_(::isatty(STDOUT_FILENO) == 1) {}
  void add(const RunResult& r) {
    ++done_;
    const bool bad = status_of(r) == "fail" || status_of(r) == "inconclusive";
    failed_ += bad ? 1 : 0;
    if (tty_) {
      std::printf("\r[%zu/%zu] %zu failed  %-36s %s seed=%u   ", done_, total_, failed_, r.scenario.c_str(),
                  to_string(r.transport), r.seed);
      if (bad) {
        std::printf("\n");
        print_run(r, quiet_);
      }
    } else {
      if (bad) print_run(r, quiet_);
      const std::size_t step = std::max<std::size_t>(1, total_ / 10);
      if (done_ % step == 0 || done_ == total_) std::printf("[%zu/%zu] %zu failed\n", done_, total_, failed_);
    }
    std::fflush(stdout);
  }
  void end() {
    if (tty_ && done_ > 0) std::printf("\n");
    std::fflush(stdout);
  }

 private:
  std::size_t total_, done_ = 0, failed_ = 0;
  bool quiet_, tty_;
};

/// Sim vs. real, for the scenarios that ran on both transports.
void print_comparisons(const Report& report) {
  if (report.comparisons.empty()) return;
  std::size_t differ = 0;
  for (const auto& c : report.comparisons) differ += c.agree ? 0 : 1;
  std::printf("\nsim vs. real: %zu scenario run(s) on both transports, %s\n", report.comparisons.size(),
              differ == 0 ? "every one agrees" : (std::to_string(differ) + " disagree").c_str());
  for (const auto& c : report.comparisons)
    if (!c.agree)
      std::printf("  DISAGREE  %-36s [seed=%u%s]  %s\n", c.scenario.c_str(), c.seed,
                  c.variant.empty() ? "" : (" variant=" + c.variant).c_str(), c.why.c_str());
  std::fflush(stdout);
}

// Exit codes: 1 when a run failed; else 3 when a run was inconclusive; else
// 0 (runs that were not applicable count for neither).
int finish(const Report& report, const RunSelection& sel) {
  std::size_t failed = 0, inconclusive = 0, na = 0;
  for (const auto& r : report.runs) {
    failed += status_of(r) == "fail" ? 1 : 0;
    inconclusive += status_of(r) == "inconclusive" ? 1 : 0;
    na += status_of(r) == "n/a" ? 1 : 0;
  }
  if (!sel.out.empty() || !sel.junit.empty()) {
    std::string err;
    const fs::path dir = sel.out.empty() ? fs::path(".") : fs::path(sel.out);
    if (!connfail::reports::write_reports(report, dir, sel.junit, &err)) {
      errorf("cannot write the reports: %s\n", err.c_str());
      return kBadInput;
    }
    std::printf("\nreports: %s/{report.json,report.md,index.html}, junit: %s\n", dir.string().c_str(),
                sel.junit.empty() ? (dir / "junit.xml").string().c_str() : sel.junit.c_str());
  }
  std::printf("%zu run(s): %zu passed, %zu failed", report.runs.size(),
              report.runs.size() - failed - inconclusive - na, failed);
  if (inconclusive > 0) std::printf(", %zu inconclusive", inconclusive);
  if (na > 0) std::printf(", %zu not applicable", na);
  std::printf("\n");
  if (failed > 0) return kFail;
  return inconclusive > 0 ? kInconclusive : kPass;
}

/// A variant that changes nothing in any selected scenario would prove
/// nothing: bad input (exit 2), before anything runs.
bool variant_applies_somewhere(const std::vector<Scenario>& scenarios, const std::string& variant) {
  if (variant.empty()) return true;
  for (const auto& s : scenarios)
    if (variant_not_applicable(variant, s).empty()) return true;
  errorf("variant '%s' changes nothing in any of these scenarios:\n", variant.c_str());
  for (const auto& s : scenarios)
    std::fprintf(stderr, "  %s: %s\n", s.name.c_str(), variant_not_applicable(variant, s).c_str());
  errorf("nothing was run\n");
  return false;
}

/// A server process with a fixed port: nothing may listen there yet (it
/// would be taken for the server). Checked before anything runs.
bool ports_free(const std::vector<Scenario>& scenarios) {
  bool ok = true;
  for (const auto& s : scenarios) {
    ServerPlan plan;
    try {
      plan = make_server_plan(s.server);
    } catch (const std::exception&) {
      continue;  // validation reported it
    }
    if (!plan.external || plan.external->port == 0) continue;
    const auto& x = *plan.external;
    if (!netcore::asio::port_accepts(x.host, x.port, std::chrono::milliseconds(200))) continue;
    const SourcePos p = s.server.options.pos("port");
    errorf("%s:%d:%d: server.options.port: port %d on %s is in use (something already accepts connections "
           "there); stop it, or use port 0 and {port}\n",
           s.file.c_str(), p.line, p.column, x.port, x.host.c_str());
    ok = false;
  }
  if (!ok) errorf("nothing was run\n");
  return ok;
}

int cmd_run(const std::vector<std::string>& paths, const RunSelection& sel) {
  std::vector<std::string> files;
  if (!expand_paths(paths, files)) return kBadInput;
  std::vector<Scenario> scenarios;
  if (!load_all(files, scenarios)) {
    errorf("nothing was run (fix the errors above)\n");
    return kBadInput;
  }
  if (!sel.variant.empty() && !is_known_variant(sel.variant)) {
    errorf("unknown variant '%s' (see %s list --variants)\n", sel.variant.c_str(), g_prog.c_str());
    return kBadInput;
  }
  if (!variant_applies_somewhere(scenarios, sel.variant)) return kBadInput;
  bool any = false;
  for (const auto& s : scenarios) any = any || !transports_for(s, sel.transport).empty();
  if (!any) {
    errorf("no scenario declares the %s transport: nothing to run\n", sel.transport.c_str());
    return kBadInput;
  }
  {
    bool bad = false;
    for (const auto& s : scenarios) runnable(s, sel, bad);
    if (bad) {
      errorf("nothing was run\n");
      return kBadInput;
    }
  }
  if (!preflight(sel)) return kBadInput;
  if (!ports_free(scenarios)) return kBadInput;
  Report report;
  report.connfail_version = CONNFAIL_VERSION;
  std::vector<PoolJob> plan;
  for (const auto& s : scenarios) {
    bool unused = false;
    note_skips(s, sel.transport, report);
    const auto ts = runnable(s, sel, unused);
    for (auto t : ts) {
      std::vector<std::uint32_t> seeds = sel.seed ? std::vector<std::uint32_t>{*sel.seed} : s.seeds;
      for (auto seed : seeds) {
        RunOptions o;
        o.transport = t;
        o.seed = seed;
        o.variant = sel.variant;
        o.pcap_prefix = pcap_prefix(sel, s, t, seed);
        o.netns = sel.netns;
        if (!sel.out.empty())
          o.artifacts_dir =
              (fs::path(sel.out) / "servers" / (s.name + "-" + to_string(t) + "-seed" + std::to_string(seed))).string();
        plan.push_back({&s, std::move(o)});
      }
    }
  }
  report.runs = execute(plan, sel.jobs, [&](const RunResult& r) { print_run(r, sel.quiet); });
  report.comparisons = compare_transports(report.runs);
  print_comparisons(report);
  return finish(report, sel);
}

int cmd_validate(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  bool ok = expand_paths(paths, files);
  for (const auto& f : files) {
    ParseResult pr = parse_scenario_file(f, g_limits);
    if (pr.ok()) {
      std::printf("ok    %s (%s)\n", f.c_str(), pr.scenario->name.c_str());
    } else {
      ok = false;
      for (const auto& e : pr.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    }
  }
  return ok ? kPass : kBadInput;
}

std::string option_default(const OptionSpec& f) {
  if (f.required) return "(required)";
  switch (f.type) {
    case OptionType::Flag: return f.flag_default ? "true" : "false";
    case OptionType::Integer: return std::to_string(f.int_default);
    case OptionType::Number: {
      std::ostringstream o;
      o << f.number_default;
      return o.str();
    }
    case OptionType::Time: return format_duration(f.duration_default);
    case OptionType::Text: return f.text_default.empty() ? "\"\"" : f.text_default;
    case OptionType::Choice: return f.text_default;
    case OptionType::TextList: return "[]";
    case OptionType::TextMap: return "{}";
    case OptionType::Group: return "";
  }
  return "";
}

void print_options(const OptionSchema& schema, const std::string& prefix) {
  for (const auto& f : schema) {
    if (f.type == OptionType::Group) {
      std::printf("      %-28s %s\n", (prefix + f.name + ":").c_str(), f.help.c_str());
      print_options(f.fields, prefix + f.name + ".");
      continue;
    }
    std::string type = to_string(f.type);
    if (f.type == OptionType::Choice) {
      type.clear();
      for (const auto& c : f.choices) type += (type.empty() ? "" : "|") + c;
    }
    std::printf("      %-28s %-22s %-10s %s\n", (prefix + f.name).c_str(), type.c_str(), option_default(f).c_str(),
                f.help.c_str());
  }
}

struct ListWhat {
  bool servers = false, clients = false, variants = false, options = false;
};

/// The width that fits every name (a user's long names do not run into
/// their descriptions).
int name_width(const std::vector<std::string>& names) {
  std::size_t w = 22;
  for (const auto& n : names) w = std::max(w, n.size() + 1);
  return static_cast<int>(w);
}

/// One line: folded YAML descriptions end with a newline.
std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (auto& c : text)
    if (c == '\n') c = ' ';
  return text;
}

int cmd_list(const std::vector<std::string>& paths, const ListWhat& what) {
  const Registry& reg = Registry::global();
  if (what.servers || what.clients || what.variants) {
    if (what.servers) {
      std::printf("server kinds (server: {kind: NAME, options: {...}}):\n");
      for (const auto& n : reg.server_names()) {
        const ServerKindEntry* e = reg.server(n);
        std::string ts;
        for (auto t : e->transports) ts += (ts.empty() ? " [" : ", ") + std::string(to_string(t));
        if (!ts.empty()) ts += " only]";
        std::printf("  %-*s %s%s\n", name_width(reg.server_names()), n.c_str(), e->description.c_str(), ts.c_str());
        if (what.options) print_options(e->options, "");
      }
    }
    if (what.clients) {
      std::printf("%sclient behaviours (clients: [{behaviour: NAME, options: {...}}]):\n", what.servers ? "\n" : "");
      for (const auto& n : reg.client_names()) {
        const ClientBehaviourEntry* e = reg.client(n);
        std::printf("  %-*s %s\n", name_width(reg.client_names()), n.c_str(), e->description.c_str());
        if (what.options) print_options(e->options, "");
      }
    }
    if (what.variants) {
      std::printf("%sknown-bug variants (connfail run ... --variant NAME):\n",
                  what.servers || what.clients ? "\n" : "");
      for (const auto& n : reg.variant_names()) {
        const VariantEntry* v = reg.variant(n);
        std::string on;
        for (const auto& k : v->server_kinds) on += (on.empty() ? "" : ", ") + (k == "*" ? "every server kind" : "server " + k);
        for (const auto& b : v->client_behaviours) on += (on.empty() ? "" : ", ") + ("client " + b);
        std::printf("  %-*s %s (changes: %s)\n", name_width(reg.variant_names()), n.c_str(), v->description.c_str(),
                    on.c_str());
      }
    }
    return kPass;
  }
  std::vector<std::string> files;
  if (!expand_paths(paths, files)) return kBadInput;
  std::vector<Scenario> scenarios;
  if (!load_all(files, scenarios)) return kBadInput;
  for (const auto& s : scenarios) {
    std::string ts;
    for (auto t : s.transports) ts += (ts.empty() ? "" : ",") + std::string(to_string(t));
    std::printf("%-36s %-9s %-12s %s\n", s.name.c_str(), ts.c_str(), s.server.kind.c_str(),
                one_line(s.description).c_str());
  }
  return kPass;
}

bool parse_seed_range(const std::string& text, std::uint32_t& a, std::uint32_t& b) {
  const auto dots = text.find("..");
  if (dots == std::string::npos) return false;
  try {
    std::size_t n1 = 0, n2 = 0;
    const auto lo = std::stoul(text.substr(0, dots), &n1);
    const auto hi = std::stoul(text.substr(dots + 2), &n2);
    if (n1 != dots || n2 != text.size() - dots - 2 || lo > hi || hi > 0xffffffffUL) return false;
    a = static_cast<std::uint32_t>(lo);
    b = static_cast<std::uint32_t>(hi);
    return true;
  } catch (...) {
    return false;
  }
}

int cmd_sweep(const std::vector<std::string>& paths, const std::string& seeds, const std::string& shard,
              const RunSelection& sel) {
  std::uint32_t lo = 0, hi = 0;
  if (!parse_seed_range(seeds, lo, hi)) {
    errorf("sweep: --seeds must be A..B with A <= B (got '%s')\n", seeds.c_str());
    return kBadInput;
  }
  std::size_t shard_i = 0, shard_n = 1;
  if (!shard.empty()) {
    if (std::sscanf(shard.c_str(), "%zu/%zu", &shard_i, &shard_n) != 2 || shard_n == 0 || shard_i >= shard_n) {
      errorf("sweep: --shard must be i/n with 0 <= i < n (got '%s')\n", shard.c_str());
      return kBadInput;
    }
  }
  std::vector<std::string> files;
  if (!expand_paths(paths, files)) return kBadInput;
  std::vector<Scenario> scenarios;
  if (!load_all(files, scenarios)) return kBadInput;
  if (!sel.variant.empty() && !is_known_variant(sel.variant)) {
    errorf("sweep: unknown variant '%s' (see %s list --variants)\n", sel.variant.c_str(), g_prog.c_str());
    return kBadInput;
  }
  if (!variant_applies_somewhere(scenarios, sel.variant)) return kBadInput;
  std::vector<PoolJob> jobs;
  std::size_t index = 0;
  {
    bool bad = false;
    for (const auto& s : scenarios) runnable(s, sel, bad);
    if (bad) {
      errorf("nothing was run\n");
      return kBadInput;
    }
  }
  Report report;
  report.connfail_version = CONNFAIL_VERSION;
  bool unused = false;
  for (const auto& s : scenarios)
    for (auto t : runnable(s, sel, unused))
      for (std::uint64_t seed = lo; seed <= hi; ++seed, ++index)
        if (index % shard_n == shard_i) {
          RunOptions o;
          o.transport = t;
          o.seed = static_cast<std::uint32_t>(seed);
          o.variant = sel.variant;
          o.netns = sel.netns;
          jobs.push_back({&s, std::move(o)});
        }
  if (!preflight(sel)) return kBadInput;
  for (auto& j : jobs) j.options.pcap_prefix = pcap_prefix(sel, *j.scenario, j.options.transport, j.options.seed);
  for (const auto& s : scenarios) note_skips(s, sel.transport, report);
  Progress progress(jobs.size(), sel.quiet);
  report.runs = execute(jobs, sel.jobs, [&](const RunResult& r) { progress.add(r); });
  progress.end();
  // The report lists runs in one order whatever the shard or the number of
  // jobs (connfail merge relies on it).
  connfail::cli::order_and_compare(report);
  print_comparisons(report);
  if (jobs.empty()) {
    // Still write (empty) reports: a CI job collecting every shard's files
    // should not trip over a missing one.
    errorf("sweep: this shard has no runs\n");
  }
  return finish(report, sel);
}

// A report of any size: streamed, keeping each run's key and status only
// (reports/report_reader.h).
bool load_report(const std::string& path, Report& out) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    std::fprintf(stderr, "%s: cannot read file\n", path.c_str());
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "%s: cannot read file\n", path.c_str());
    return false;
  }
  std::string err;
  if (!connfail::reports::read_report_runs(in, out, &err)) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), err.c_str());
    return false;
  }
  return true;
}

int cmd_diff(const std::string& base_path, const std::string& new_path) {
  Report base, now;
  if (!load_report(base_path, base) || !load_report(new_path, now)) return kBadInput;
  const auto d = connfail::reports::diff_reports(base, now);
  auto show = [](const char* title, const std::vector<std::string>& v) {
    if (v.empty()) return;
    std::printf("%s (%zu):\n", title, v.size());
    for (const auto& k : v) std::printf("  %s\n", k.c_str());
  };
  show("NEW FAILURES", d.new_failures);
  show("fixed", d.fixed);
  show("still failing", d.still_failing);
  show("missing from the new report", d.missing);
  std::printf("%zu new failure(s)\n", d.new_failures.size());
  return d.new_failures.empty() ? kPass : kFail;
}

/// The full report behind `path` (a report.json, or a directory holding
/// one), for merging: findings, samples and all.
bool load_full_report(const std::string& path, Report& out) {
  std::error_code ec;
  fs::path file(path);
  if (fs::is_directory(file, ec)) file /= "report.json";
  if (!fs::is_regular_file(file, ec)) {
    std::fprintf(stderr, "%s: cannot read file\n", file.string().c_str());
    return false;
  }
  constexpr std::uintmax_t kMax = std::uintmax_t{1} << 30;
  const auto size = fs::file_size(file, ec);
  if (ec || size > kMax) {
    std::fprintf(stderr, "%s: %s\n", file.string().c_str(),
                 ec ? ec.message().c_str() : "larger than 1 GiB: merge fewer runs at a time");
    return false;
  }
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) {
    std::fprintf(stderr, "%s: cannot read file\n", file.string().c_str());
    return false;
  }
  std::string err;
  if (!connfail::reports::parse_report_text(text, out, &err, kMax)) {
    std::fprintf(stderr, "%s: %s\n", file.string().c_str(), err.c_str());
    return false;
  }
  return true;
}

int cmd_merge(const std::vector<std::string>& inputs, const RunSelection& sel) {
  std::vector<std::pair<std::string, Report>> reports;
  bool ok = true;
  for (const auto& p : inputs) {
    Report r;
    if (load_full_report(p, r))
      reports.emplace_back(p, std::move(r));
    else
      ok = false;
  }
  if (!ok) {
    errorf("merge: nothing was written (fix the errors above)\n");
    return kBadInput;
  }
  const std::size_t n = reports.size();
  Report merged;
  std::string err;
  if (!connfail::cli::merge_reports(std::move(reports), merged, &err)) {
    errorf("merge: %s\n", err.c_str());
    errorf("merge: nothing was written\n");
    return kBadInput;
  }
  if (!preflight(sel)) return kBadInput;
  std::printf("merged %zu report(s): %zu run(s)\n", n, merged.runs.size());
  for (const auto& r : merged.runs)
    if (status_of(r) == "fail" || status_of(r) == "inconclusive") print_run(r, sel.quiet);
  print_comparisons(merged);
  return finish(merged, sel);
}

void add_run_options(CLI::App* c, RunSelection& sel, bool with_seed) {
  add_limit_options(c);
  c->add_option("--transport", sel.transport, "sim, asio or both (default: what each scenario declares)")
      ->check(CLI::IsMember({"sim", "asio", "both"}));
  if (with_seed) c->add_option("--seed", sel.seed, "Run this seed instead of the scenario's seeds");
  c->add_option("--variant", sel.variant,
                "Run against a known-bug variant (see: connfail list --variants); default: the correct code");
  c->add_option("--out", sel.out, "Directory for report.json, report.md, index.html, junit.xml")
      ->capture_default_str();
  c->add_option("--junit", sel.junit, "Write the JUnit XML here instead of <out>/junit.xml");
  c->add_option("--pcap", sel.pcap_dir,
                "Sim runs: capture every link into DIR/<scenario>-seed<N>-<node>-<peer>.pcap (off by default)");
  c->add_flag("--quiet,-q", sel.quiet, "One line per run, no findings");
  c->add_option("--jobs,-j", sel.jobs,
                "Run the sim runs in N worker processes at once (0: one per core); the asio runs follow, one at a "
                "time. The report is the same as with 1 (default: 1)")
      ->check(CLI::Range(0u, 1024u));
  c->add_flag("--netns", sel.netns,
              "Run every asio run in a network namespace of its own, with partitions and vanished hosts as packet "
              "drops (a loss fault always does; needs root, ip and nft)");
}

}  // namespace

namespace connfail {

int cli_main(int argc, char** argv) {
  if (argc > 0 && argv[0] != nullptr && *argv[0] != '\0') g_prog = fs::path(argv[0]).filename().string();
  CLI::App app{g_prog + ": connection-failure scenarios for Netty-style servers, on real and simulated TCP.\n"
               "Exit codes: 0 all passed (or were not applicable), 1 an expectation failed, 2 bad input, 3 nothing "
               "failed but a run was inconclusive.",
               g_prog};
  app.require_subcommand(1);

  // run
  RunSelection run_sel;
  std::vector<std::string> run_paths;
  auto* run = app.add_subcommand("run", "Validate, then run scenario files (or directories of them) and write reports");
  run->add_option("paths", run_paths, "Scenario files or directories")->required();
  add_run_options(run, run_sel, true);

  // validate
  std::vector<std::string> validate_paths;
  auto* validate = app.add_subcommand("validate", "Check scenario files; print every error as file:line:column: field: message");
  validate->add_option("paths", validate_paths, "Scenario files or directories")->required();
  add_limit_options(validate);

  // list
  std::vector<std::string> list_paths{"scenarios"};
  ListWhat list_what;
  auto* list = app.add_subcommand(
      "list", "List scenarios (name, transports, server kind, description), or what is registered: server kinds, "
              "client behaviours, known-bug variants");
  list->add_option("paths", list_paths, "Scenario files or directories")->capture_default_str();
  list->add_flag("--servers", list_what.servers, "List the registered server kinds instead");
  list->add_flag("--clients", list_what.clients, "List the registered client behaviours instead");
  list->add_flag("--variants", list_what.variants, "List the known-bug variants instead");
  list->add_flag("--options", list_what.options,
                 "With --servers or --clients: every option of each entry (name, type, default, what it does)");

  // replay
  RunSelection replay_sel;
  std::string replay_file;
  auto* replay = app.add_subcommand("replay", "Run one scenario file (e.g. a counterexample a property test wrote)");
  replay->add_option("file", replay_file, "Scenario file")->required();
  add_run_options(replay, replay_sel, true);

  // sweep
  RunSelection sweep_sel;
  std::vector<std::string> sweep_paths;
  std::string sweep_seeds, sweep_shard;
  auto* sweep = app.add_subcommand("sweep", "Run scenarios over a range of seeds, optionally one shard of it");
  sweep->add_option("paths", sweep_paths, "Scenario files or directories")->required();
  sweep->add_option("--seeds", sweep_seeds, "Seed range A..B (inclusive)")->required();
  sweep->add_option("--shard", sweep_shard, "Run only shard i of n (i/n, 0-based), for parallel CI jobs");
  add_run_options(sweep, sweep_sel, false);

  // merge
  RunSelection merge_sel;
  std::vector<std::string> merge_inputs;
  auto* merge = app.add_subcommand(
      "merge", "Combine report.json files (the shards of a sweep, from a CI matrix) into one report; exit codes as "
               "for run");
  merge->add_option("reports", merge_inputs, "report.json files, or directories holding one")->required();
  merge->add_option("--out", merge_sel.out, "Directory for report.json, report.md, index.html, junit.xml")
      ->capture_default_str();
  merge->add_option("--junit", merge_sel.junit, "Write the JUnit XML here instead of <out>/junit.xml");
  merge->add_flag("--quiet,-q", merge_sel.quiet, "Name each failed run, without its findings");

  // diff
  std::string diff_base, diff_new;
  auto* diff = app.add_subcommand("diff", "Compare two report.json files; exit 1 if NEW has failures BASE did not");
  diff->add_option("base", diff_base, "Baseline report.json")->required();
  diff->add_option("new", diff_new, "New report.json")->required();

  // schema
  std::string schema_out;
  auto* schema = app.add_subcommand(
      "schema", "Print the JSON Schema of scenario files, with the options of every registered server kind and "
                "client behaviour (for editors)");
  schema->add_option("--out", schema_out, "Write it to this file instead of standard output");

  // demo
  EchoDemoConfig cfg;
  std::string transport = "both";
  std::string out = "reports/demo.json";
  auto* demo = app.add_subcommand(
      "demo", "Echo workload over the simulated (ns-3) and the real (Asio, loopback) transport; "
              "exit 0 if every byte came back and nothing leaked, 1 otherwise");
  demo->add_option("--clients", cfg.clients, "Number of clients")->check(CLI::Range(1, 1000))->capture_default_str();
  demo->add_option("--bytes", cfg.bytes_per_client, "Bytes each client echoes")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20))
      ->capture_default_str();
  demo->add_option("--seed", cfg.seed, "Seed of the simulated run")->capture_default_str();
  demo->add_option("--transport", transport, "sim, asio or both")
      ->check(CLI::IsMember({"sim", "asio", "both"}))
      ->capture_default_str();
  demo->add_option("--out", out, "JSON summary file (empty: none)")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and friends exit 0; every usage error is bad input: exit 2.
    return app.exit(e) == 0 ? kPass : kBadInput;
  }
  if (!g_max_real_time.empty()) {
    const auto d = parse_duration(g_max_real_time);
    if (!d || *d <= Duration::zero()) {
      errorf("--max-real-time: expected a duration like 2h or 90m, got '%s'\n", g_max_real_time.c_str());
      return kBadInput;
    }
    g_limits.max_real_time = *d;
  }
  if (!(g_limits.max_work > 0)) {
    errorf("--max-work: expected a positive number\n");
    return kBadInput;
  }
  // An entry the registry refused (a duplicate name, a bad schema): the CLI
  // would not know what the user meant to register; run nothing.
  if (!registration_errors().empty()) {
    for (const auto& e : registration_errors()) errorf("registration refused: %s\n", e.c_str());
    errorf("nothing was run (fix the registrations above)\n");
    return kBadInput;
  }
  try {
    if (*run) return cmd_run(run_paths, run_sel);
    if (*validate) return cmd_validate(validate_paths);
    if (*list) return cmd_list(list_paths, list_what);
    if (*replay) return cmd_run({replay_file}, replay_sel);
    if (*sweep) return cmd_sweep(sweep_paths, sweep_seeds, sweep_shard, sweep_sel);
    if (*merge) return cmd_merge(merge_inputs, merge_sel);
    if (*diff) return cmd_diff(diff_base, diff_new);
    if (*schema) {
      const std::string text = scenario_schema();
      if (schema_out.empty()) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        return kPass;
      }
      if (!write_atomically(schema_out, text)) {
        errorf("schema: cannot write %s\n", schema_out.c_str());
        return kBadInput;
      }
      return kPass;
    }
    if (*demo) return run_demo(cfg, transport, out);
  } catch (const std::exception& e) {
    errorf("%s\n", e.what());
    return kBadInput;
  }
  return kBadInput;
}

}  // namespace connfail
