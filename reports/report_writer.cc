// report.json, report.md, junit.xml, writing them to disk, and diffing two
// reports. index.html lives in report_html.cc.
#include "connfail/reports/report_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

namespace connfail::reports {

using nlohmann::json;
using scenarios::FaultEvent;
using scenarios::Finding;
using scenarios::Sample;
using scenarios::TransportKind;

namespace {

// ---------------------------------------------------------------------------
// Shared text helpers


std::string plural(std::size_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// ---------------------------------------------------------------------------
// JSON

/// Seconds in report.json: rounded to the microsecond, so the shortest
/// round-trip spelling nlohmann prints is at most six decimals ("0.1", not
/// "0.10000000000000001") and stable across runs and platforms. Non-finite
/// values become null (JSON has no NaN/inf).
json seconds_json(double s) {
  if (!std::isfinite(s)) return nullptr;
  double v = std::round(s * 1e6) / 1e6;
  if (v == 0) v = 0.0;  // no "-0.0"
  return v;
}

json finding_json(const Finding& f) {
  return json{{"kind", f.kind},
              {"message", f.message},
              {"evidence", f.evidence},
              {"connection", f.connection},
              {"history", f.history},
              {"faults_seen", f.faults_seen}};
}

json sample_json(const Sample& s) {
  json by_state = json::object();
  for (const auto& [state, n] : s.by_state) by_state[state] = n;
  json j{{"t", seconds_json(s.t)}, {"by_state", std::move(by_state)}, {"open_channels", s.open_channels}};
  // Only runs with a backend (a proxy) have backend channels to count.
  if (s.open_backend_channels > 0) j["open_backend_channels"] = s.open_backend_channels;
  return j;
}

json fault_json(const FaultEvent& f) {
  json j{{"start", seconds_json(f.start)}, {"end", seconds_json(f.end)}, {"kind", f.kind}, {"target", f.target}};
  if (!f.label.empty()) j["label"] = f.label;
  return j;
}

json run_json(const RunResult& r) {
  json findings = json::array();
  for (const auto& f : r.findings) findings.push_back(finding_json(f));
  json ledger = json::object();
  for (const auto& [reason, n] : r.ledger) ledger[reason] = n;
  json client_ledger = json::object();
  for (const auto& [reason, n] : r.client_ledger) client_ledger[reason] = n;
  json faults = json::array();
  for (const auto& f : r.faults) faults.push_back(fault_json(f));
  json samples = json::array();
  for (const auto& s : r.samples) samples.push_back(sample_json(s));
  return json{{"scenario", r.scenario},
              {"file", r.file},
              {"description", r.description},
              {"transport", scenarios::to_string(r.transport)},
              {"seed", r.seed},
              {"variant", r.variant},
              {"server_kind", r.server_kind},
              {"network", r.network},
              {"status", status_of(r)},
              {"notes", r.notes},
              {"passed", r.passed},
              {"findings", std::move(findings)},
              {"ledger", std::move(ledger)},
              {"client_ledger", std::move(client_ledger)},
              {"counters",
               {{"connections_opened", r.connections_opened},
                {"client_connects_ok", r.client_connects_ok},
                {"client_connects_failed", r.client_connects_failed},
                {"reconnects", r.reconnects},
                {"bytes_echoed", r.bytes_echoed}}},
              {"scenario_seconds", seconds_json(r.scenario_seconds)},
              {"trace_hash", fmt::format("{:016x}", r.trace_hash)},
              {"faults", std::move(faults)},
              {"samples", std::move(samples)}};
}

// --- reading, with a path in every error ("runs[2].findings[0].kind") -------

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw std::runtime_error("not a connfail report: " + (where.empty() ? what : where + ": " + what));
}

const char* type_name(const json& j) { return j.type_name(); }

/// The member `key` of object `o`, or nullptr when absent. Throws when
/// `required` and absent.
const json* member(const json& o, const char* key, const std::string& where, bool required) {
  auto it = o.find(key);
  if (it == o.end()) {
    if (required) bad(where, fmt::format("missing field \"{}\"", key));
    return nullptr;
  }
  return &*it;
}

std::string path_of(const std::string& where, const char* key) {
  return where.empty() ? std::string(key) : where + "." + key;
}

const json& expect_object(const json& j, const std::string& where) {
  if (!j.is_object()) bad(where, fmt::format("expected an object, got {}", type_name(j)));
  return j;
}

const json& expect_array(const json& j, const std::string& where) {
  if (!j.is_array()) bad(where, fmt::format("expected an array, got {}", type_name(j)));
  return j;
}

std::string as_string(const json& j, const std::string& where) {
  if (!j.is_string()) bad(where, fmt::format("expected a string, got {}", type_name(j)));
  return j.get<std::string>();
}

bool as_bool(const json& j, const std::string& where) {
  if (!j.is_boolean()) bad(where, fmt::format("expected true or false, got {}", type_name(j)));
  return j.get<bool>();
}

std::uint64_t as_uint(const json& j, const std::string& where, std::uint64_t max) {
  std::uint64_t v = 0;
  if (j.is_number_unsigned()) {
    v = j.get<std::uint64_t>();
  } else if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
    v = static_cast<std::uint64_t>(j.get<std::int64_t>());
  } else {
    bad(where, fmt::format("expected a non-negative integer, got {}", j.is_number() ? j.dump() : type_name(j)));
  }
  if (v > max) bad(where, fmt::format("{} is out of range (max {})", v, max));
  return v;
}

int as_int(const json& j, const std::string& where) {
  if (!j.is_number_integer()) bad(where, fmt::format("expected an integer, got {}", type_name(j)));
  const auto v = j.get<std::int64_t>();
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    bad(where, fmt::format("{} is out of range", v));
  return static_cast<int>(v);
}

/// A number of seconds; null stands for a non-finite value.
double as_seconds(const json& j, const std::string& where) {
  if (j.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (!j.is_number()) bad(where, fmt::format("expected a number of seconds, got {}", type_name(j)));
  return j.get<double>();
}

std::vector<std::string> as_strings(const json& j, const std::string& where) {
  expect_array(j, where);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < j.size(); ++i) out.push_back(as_string(j[i], fmt::format("{}[{}]", where, i)));
  return out;
}

std::string opt_string(const json& o, const char* key, const std::string& where) {
  const json* v = member(o, key, where, false);
  return v ? as_string(*v, path_of(where, key)) : std::string();
}

TransportKind parse_transport(const json& j, const std::string& where) {
  const std::string s = as_string(j, where);
  for (auto t : {TransportKind::Sim, TransportKind::Asio})
    if (s == scenarios::to_string(t)) return t;
  bad(where, fmt::format("unknown transport \"{}\" (expected \"sim\" or \"asio\")", s));
}

std::uint64_t parse_hash(const json& j, const std::string& where) {
  const std::string s = as_string(j, where);
  if (s.size() != 16 || s.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    bad(where, fmt::format("expected 16 hex digits, got \"{}\"", s));
  return std::stoull(s, nullptr, 16);
}

Finding parse_finding(const json& j, const std::string& where) {
  expect_object(j, where);
  Finding f;
  f.kind = as_string(*member(j, "kind", where, true), path_of(where, "kind"));
  f.message = opt_string(j, "message", where);
  f.evidence = opt_string(j, "evidence", where);
  f.connection = opt_string(j, "connection", where);
  if (const json* v = member(j, "history", where, false)) f.history = as_strings(*v, path_of(where, "history"));
  if (const json* v = member(j, "faults_seen", where, false))
    f.faults_seen = as_strings(*v, path_of(where, "faults_seen"));
  return f;
}

Sample parse_sample(const json& j, const std::string& where) {
  expect_object(j, where);
  Sample s;
  s.t = as_seconds(*member(j, "t", where, true), path_of(where, "t"));
  if (const json* v = member(j, "by_state", where, false)) {
    const std::string w = path_of(where, "by_state");
    expect_object(*v, w);
    for (const auto& [state, n] : v->items()) s.by_state[state] = as_int(n, w + "." + state);
  }
  if (const json* v = member(j, "open_channels", where, false))
    s.open_channels = as_int(*v, path_of(where, "open_channels"));
  if (const json* v = member(j, "open_backend_channels", where, false))
    s.open_backend_channels = as_int(*v, path_of(where, "open_backend_channels"));
  return s;
}

FaultEvent parse_fault(const json& j, const std::string& where) {
  expect_object(j, where);
  FaultEvent f;
  f.kind = as_string(*member(j, "kind", where, true), path_of(where, "kind"));
  f.target = opt_string(j, "target", where);
  f.start = as_seconds(*member(j, "start", where, true), path_of(where, "start"));
  const json* end = member(j, "end", where, false);
  f.end = end ? as_seconds(*end, path_of(where, "end")) : f.start;
  f.label = opt_string(j, "label", where);
  return f;
}

RunResult parse_run(const json& j, const std::string& where) {
  expect_object(j, where);
  RunResult r;
  r.scenario = as_string(*member(j, "scenario", where, true), path_of(where, "scenario"));
  r.file = opt_string(j, "file", where);
  r.description = opt_string(j, "description", where);
  r.transport = parse_transport(*member(j, "transport", where, true), path_of(where, "transport"));
  r.seed = static_cast<std::uint32_t>(
      as_uint(*member(j, "seed", where, true), path_of(where, "seed"), std::numeric_limits<std::uint32_t>::max()));
  r.variant = opt_string(j, "variant", where);
  r.server_kind = opt_string(j, "server_kind", where);
  r.network = opt_string(j, "network", where);
  r.passed = as_bool(*member(j, "passed", where, true), path_of(where, "passed"));
  r.status = opt_string(j, "status", where);  // absent in reports from before statuses: from `passed`
  const std::string st = status_of(r);
  if (st != "pass" && st != "fail" && st != "inconclusive" && st != "n/a")
    bad(path_of(where, "status"), fmt::format("unknown status \"{}\" (pass, fail, inconclusive, n/a)", st));
  if ((st == "pass") != r.passed)
    bad(path_of(where, "status"), fmt::format("status \"{}\" contradicts passed: {}", st, r.passed));
  if (const json* v = member(j, "notes", where, false)) r.notes = as_strings(*v, path_of(where, "notes"));
  constexpr auto u64max = std::numeric_limits<std::uint64_t>::max();
  if (const json* v = member(j, "findings", where, false)) {
    const std::string w = path_of(where, "findings");
    expect_array(*v, w);
    for (std::size_t i = 0; i < v->size(); ++i) r.findings.push_back(parse_finding((*v)[i], fmt::format("{}[{}]", w, i)));
  }
  if (const json* v = member(j, "ledger", where, false)) {
    const std::string w = path_of(where, "ledger");
    expect_object(*v, w);
    for (const auto& [reason, n] : v->items()) r.ledger[reason] = as_uint(n, w + "." + reason, u64max);
  }
  if (const json* v = member(j, "client_ledger", where, false)) {
    const std::string w = path_of(where, "client_ledger");
    expect_object(*v, w);
    for (const auto& [reason, n] : v->items()) r.client_ledger[reason] = as_uint(n, w + "." + reason, u64max);
  }
  if (const json* v = member(j, "counters", where, false)) {
    const std::string w = path_of(where, "counters");
    expect_object(*v, w);
    auto counter = [&](const char* key, std::uint64_t* out) {
      if (const json* c = member(*v, key, w, false)) *out = as_uint(*c, path_of(w, key), u64max);
    };
    counter("connections_opened", &r.connections_opened);
    counter("client_connects_ok", &r.client_connects_ok);
    counter("client_connects_failed", &r.client_connects_failed);
    counter("reconnects", &r.reconnects);
    counter("bytes_echoed", &r.bytes_echoed);
  }
  if (const json* v = member(j, "scenario_seconds", where, false))
    r.scenario_seconds = as_seconds(*v, path_of(where, "scenario_seconds"));
  if (const json* v = member(j, "trace_hash", where, false)) r.trace_hash = parse_hash(*v, path_of(where, "trace_hash"));
  if (const json* v = member(j, "faults", where, false)) {
    const std::string w = path_of(where, "faults");
    expect_array(*v, w);
    for (std::size_t i = 0; i < v->size(); ++i) r.faults.push_back(parse_fault((*v)[i], fmt::format("{}[{}]", w, i)));
  }
  if (const json* v = member(j, "samples", where, false)) {
    const std::string w = path_of(where, "samples");
    expect_array(*v, w);
    r.samples.reserve(v->size());
    for (std::size_t i = 0; i < v->size(); ++i) r.samples.push_back(parse_sample((*v)[i], fmt::format("{}[{}]", w, i)));
  }
  return r;
}

// ---------------------------------------------------------------------------
// Markdown

/// Text outside code spans: backslash-escapes what CommonMark/GFM would read
/// as markup (emphasis, links, inline HTML, table cells, entities); newlines
/// become spaces so a value never breaks a list item or a table row.
std::string md_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '\\': case '`': case '*': case '[': case ']': case '<': case '|': case '&': case '~':
        out += '\\';
        out += c;
        break;
      case '_': {
        // Intraword underscores are literal in GFM; only escape at word edges.
        const bool inner = i > 0 && i + 1 < s.size() && word(s[i - 1]) && word(s[i + 1]);
        if (!inner) out += '\\';
        out += c;
        break;
      }
      case '\n': case '\r': case '\t':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// A code span that survives backticks, pipes (in tables) and newlines.
std::string md_code(std::string_view s, bool in_table = false) {
  std::string body;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t') body += ' ';
    else if (c == '|' && in_table) body += "\\|";
    else body += c;
  }
  std::size_t longest = 0, run = 0;
  for (char c : body) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(longest + 1, '`');
  const bool pad = !body.empty() && (body.front() == '`' || body.back() == '`');
  return fence + (pad ? " " : "") + body + (pad ? " " : "") + fence;
}

constexpr std::size_t kMdMaxFindings = 20;
constexpr std::size_t kMdMaxList = 10;

void md_list_line(std::string& out, const char* label, const std::vector<std::string>& items, bool code) {
  if (items.empty()) return;
  out += fmt::format("  - {}: ", label);
  const std::size_t n = std::min(items.size(), kMdMaxList);
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += code ? " → " : "; ";
    out += code ? md_code(items[i]) : md_text(items[i]);
  }
  if (items.size() > n) out += fmt::format(" … ({} more)", items.size() - n);
  out += '\n';
}

// ---------------------------------------------------------------------------
// XML (JUnit)

/// Escapes for element text and attribute values; drops characters XML 1.0
/// cannot carry at all (control characters other than tab, CR, LF).
std::string xml_escape(std::string_view s, bool attribute) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += attribute ? "&quot;" : "\""; break;
      case '\'': out += attribute ? "&apos;" : "'"; break;
      case '\n': out += attribute ? "&#10;" : "\n"; break;
      case '\r': out += attribute ? "&#13;" : "\r"; break;
      case '\t': out += attribute ? "&#9;" : "\t"; break;
      default:
        if (u < 0x20 || u == 0x7f) out += '?';
        else out += c;
    }
  }
  return out;
}

std::string findings_text(const RunResult& r) {
  std::string out;
  for (const auto& f : r.findings) {
    out += fmt::format("{}{}: {}\n", f.kind, f.evidence.empty() ? std::string() : " (" + f.evidence + ")", f.message);
    if (!f.connection.empty()) out += fmt::format("  connection: {}\n", f.connection);
    for (const auto& h : f.history) out += fmt::format("  {}\n", h);
    for (const auto& fs : f.faults_seen) out += fmt::format("  fault seen: {}\n", fs);
  }
  if (r.findings.empty()) out += "the run failed without a finding (see report.json)\n";
  if (!r.faults.empty()) {
    out += "faults in this run:\n";
    for (const auto& f : r.faults) out += fmt::format("  {}\n", f.label.empty() ? f.kind + " (" + f.target + ")" : f.label);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Files

std::atomic<unsigned> g_tmp_counter{0};

bool write_all(int fd, const std::string& data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

/// Writes `data` to a fresh temporary file next to `target`; returns its path
/// or "" (with `error` set) on failure, leaving nothing behind.
std::filesystem::path write_temp(const std::filesystem::path& target, const std::string& data, std::string* error) {
  const std::filesystem::path tmp =
      target.parent_path() / fmt::format(".{}.{}.{}.tmp", target.filename().string(), ::getpid(), g_tmp_counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (error) *error = fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno));
    return {};
  }
  bool ok = write_all(fd, data) && ::fsync(fd) == 0;
  const int saved = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    if (error) *error = fmt::format("cannot write {}: {}", tmp.string(), std::strerror(saved ? saved : errno));
    ::unlink(tmp.c_str());
    return {};
  }
  return tmp;
}

}  // namespace

// ---------------------------------------------------------------------------

namespace {
json skipped_json(const std::vector<scenarios::Skipped>& skipped) {
  json out = json::array();
  for (const auto& k : skipped)
    out.push_back(json{{"scenario", k.scenario},
                       {"file", k.file},
                       {"transport", scenarios::to_string(k.transport)},
                       {"reason", k.reason}});
  return out;
}
json counts_json(const std::map<std::string, std::uint64_t>& m) {
  json o = json::object();
  for (const auto& [k, n] : m) o[k] = n;
  return o;
}

json comparisons_json(const std::vector<scenarios::TransportComparison>& cs) {
  json out = json::array();
  for (const auto& c : cs)
    out.push_back(json{{"scenario", c.scenario},
                       {"file", c.file},
                       {"seed", c.seed},
                       {"variant", c.variant},
                       {"agree", c.agree},
                       {"why", c.why},
                       {"sim", {{"status", c.sim_status},
                                {"findings", c.sim_findings},
                                {"ledger", counts_json(c.sim_ledger)},
                                {"client_ledger", counts_json(c.sim_client_ledger)}}},
                       {"asio", {{"status", c.asio_status},
                                 {"findings", c.asio_findings},
                                 {"ledger", counts_json(c.asio_ledger)},
                                 {"client_ledger", counts_json(c.asio_client_ledger)}}}});
  return out;
}
}  // namespace

json to_json(const Report& r) {
  std::map<std::string, std::size_t> by;
  json runs = json::array();
  for (const auto& run : r.runs) {
    ++by[status_of(run)];
    runs.push_back(run_json(run));
  }
  json out{{"schema", kReportSchema},
           {"connfail_version", r.connfail_version},
           {"passed", r.passed()},
           {"summary",
            {{"runs", r.runs.size()},
             {"passed", by["pass"]},
             {"failed", by["fail"]},
             {"inconclusive", by["inconclusive"]},
             {"not_applicable", by["n/a"]},
             {"skipped", r.skipped.size()}}},
           {"runs", std::move(runs)},
           {"skipped", skipped_json(r.skipped)}};
  // Only when something ran on both transports (a sim-only report stays as it was).
  if (!r.comparisons.empty()) out["comparisons"] = comparisons_json(r.comparisons);
  return out;
}

Report report_from_json(const json& j) {
  if (!j.is_object()) bad("", fmt::format("expected a JSON object at the top level, got {}", type_name(j)));
  const json* schema = member(j, "schema", "", false);
  if (!schema) bad("", fmt::format("no \"schema\" field (expected \"{}\")", kReportSchema));
  if (!schema->is_string() || schema->get<std::string>() != kReportSchema)
    bad("", fmt::format("schema is {}, expected \"{}\"", schema->dump(), kReportSchema));
  Report r;
  r.connfail_version = opt_string(j, "connfail_version", "");
  const json& runs = expect_array(*member(j, "runs", "", true), "runs");
  r.runs.reserve(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) r.runs.push_back(parse_run(runs[i], fmt::format("runs[{}]", i)));
  if (const json* sk = member(j, "skipped", "", false)) {
    expect_array(*sk, "skipped");
    for (std::size_t i = 0; i < sk->size(); ++i) {
      const std::string where = fmt::format("skipped[{}]", i);
      const json& e = (*sk)[i];
      expect_object(e, where);
      scenarios::Skipped k;
      k.scenario = as_string(*member(e, "scenario", where, true), path_of(where, "scenario"));
      k.file = opt_string(e, "file", where);
      k.transport = parse_transport(*member(e, "transport", where, true), path_of(where, "transport"));
      k.reason = opt_string(e, "reason", where);
      r.skipped.push_back(std::move(k));
    }
  }
  if (const json* cs = member(j, "comparisons", "", false)) {
    expect_array(*cs, "comparisons");
    const std::uint64_t u64max = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = 0; i < cs->size(); ++i) {
      const std::string where = fmt::format("comparisons[{}]", i);
      const json& e = (*cs)[i];
      expect_object(e, where);
      scenarios::TransportComparison c;
      c.scenario = as_string(*member(e, "scenario", where, true), path_of(where, "scenario"));
      c.file = opt_string(e, "file", where);
      c.seed = static_cast<std::uint32_t>(as_uint(*member(e, "seed", where, true), path_of(where, "seed"), 0xffffffffULL));
      c.variant = opt_string(e, "variant", where);
      c.agree = as_bool(*member(e, "agree", where, true), path_of(where, "agree"));
      c.why = opt_string(e, "why", where);
      auto side = [&](const char* name, std::string& status, std::vector<std::string>& kinds,
                      std::map<std::string, std::uint64_t>& ledger, std::map<std::string, std::uint64_t>& client) {
        const std::string w = path_of(where, name);
        const json& o = expect_object(*member(e, name, where, true), w);
        status = as_string(*member(o, "status", w, true), path_of(w, "status"));
        if (const json* f = member(o, "findings", w, false)) kinds = as_strings(*f, path_of(w, "findings"));
        for (auto [key, map] : {std::pair<const char*, std::map<std::string, std::uint64_t>*>{"ledger", &ledger},
                                {"client_ledger", &client}})
          if (const json* l = member(o, key, w, false)) {
            const std::string lw = path_of(w, key);
            expect_object(*l, lw);
            for (const auto& [reason, n] : l->items()) (*map)[reason] = as_uint(n, lw + "." + reason, u64max);
          }
      };
      side("sim", c.sim_status, c.sim_findings, c.sim_ledger, c.sim_client_ledger);
      side("asio", c.asio_status, c.asio_findings, c.asio_ledger, c.asio_client_ledger);
      r.comparisons.push_back(std::move(c));
    }
  }
  return r;
}

std::string to_markdown(const Report& r) {
  const std::size_t total = r.runs.size();
  std::size_t failed = 0, inconclusive = 0;  // what a gate stops on
  for (const auto& run : r.runs) {
    failed += status_of(run) == "fail" ? 1 : 0;
    inconclusive += status_of(run) == "inconclusive" ? 1 : 0;
  }
  const std::string verdict = failed > 0 ? "FAIL" : inconclusive > 0 ? "INCONCLUSIVE" : "PASS";

  std::string out;
  out += fmt::format("# connfail report: {}\n\n", verdict);
  if (verdict == "PASS") {
    out += fmt::format("**PASS**: {}", total == 1 ? std::string("the run passed")
                                                    : fmt::format("all {} runs passed or were not applicable", total));
  } else {
    out += fmt::format("**{}**: of {}, {} failed", verdict, plural(total, "run", "runs"), failed);
    if (inconclusive > 0) out += fmt::format(" and {} {} inconclusive", inconclusive, inconclusive == 1 ? "was" : "were");
  }
  if (!r.connfail_version.empty()) out += fmt::format(" (connfail {})", md_text(r.connfail_version));
  out += "\n\n";

  if (total == 0) {
    out += "No runs.\n";
    return out;
  }

  out += "| scenario | transport | seed | variant | verdict | findings | opened | scenario time |\n";
  out += "|---|---|---:|---|---|---:|---:|---:|\n";
  for (const auto& run : r.runs) {
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", md_text(run.scenario),
                       scenarios::to_string(run.transport), run.seed,
                       run.variant.empty() ? std::string("—") : md_code(run.variant, true),
                       status_text(status_of(run), true), run.findings.size(), run.connections_opened,
                       human_seconds(run.scenario_seconds));
  }

  for (const auto& k : r.skipped)
    out += fmt::format("\n- {} [{}] skipped: {}", md_text(k.scenario), scenarios::to_string(k.transport),
                       md_text(k.reason));
  if (!r.comparisons.empty()) {
    std::size_t differ = 0;
    for (const auto& c : r.comparisons) differ += c.agree ? 0 : 1;
    out += fmt::format("\n\n## Sim vs. real\n\n{} on both transports: {}.\n\n", plural(r.comparisons.size(), "scenario run", "scenario runs"),
                       differ == 0 ? std::string("every one agrees") : fmt::format("{} disagree", differ));
    out += "| scenario | seed | variant | sim | asio | server closes (sim / asio) | client closes (sim / asio) | agree |\n";
    out += "|---|---:|---|---|---|---|---|---|\n";
    auto counts = [](const std::map<std::string, std::uint64_t>& m) {
      std::string s;
      for (const auto& [k, n] : m) s += (s.empty() ? "" : ", ") + fmt::format("{} {}", n, k);
      return s.empty() ? std::string("—") : s;
    };
    auto side = [](const std::string& status, const std::vector<std::string>& kinds) {
      std::string s = status_text(status, false);
      for (std::size_t i = 0; i < kinds.size(); ++i) s += (i ? ", " : " (") + kinds[i] + (i + 1 == kinds.size() ? ")" : "");
      return s;
    };
    for (const auto& c : r.comparisons)
      out += fmt::format("| {} | {} | {} | {} | {} | {} / {} | {} / {} | {} |\n", md_text(c.scenario), c.seed,
                         c.variant.empty() ? std::string("—") : md_code(c.variant, true),
                         md_text(side(c.sim_status, c.sim_findings)), md_text(side(c.asio_status, c.asio_findings)),
                         md_text(counts(c.sim_ledger)), md_text(counts(c.asio_ledger)), md_text(counts(c.sim_client_ledger)),
                         md_text(counts(c.asio_client_ledger)), c.agree ? "yes" : "**no**");
  }
  for (const auto& run : r.runs)
    if (status_of(run) == "n/a" && !run.notes.empty())
      out += fmt::format("\n- {} not applicable: {}", md_text(run_key(run)), md_text(run.notes.front()));
  if (failed + inconclusive == 0) return out + "\n";
  out += "\n## Failures\n";
  for (const auto& run : r.runs) {
    if (run.passed || status_of(run) == "n/a") continue;
    out += fmt::format("\n### {}\n\n", md_text(run_key(run)));
    if (!run.file.empty()) out += fmt::format("File {}", md_code(run.file));
    if (!run.description.empty()) out += fmt::format("{}{}", run.file.empty() ? "" : ": ", md_text(run.description));
    if (!run.file.empty() || !run.description.empty()) out += "\n\n";
    if (status_of(run) == "inconclusive") {
      out += "**Inconclusive**: no finding, but the scenario could not be judged:\n";
      for (const auto& note : run.notes) out += fmt::format("- {}\n", md_text(note));
    } else if (run.findings.empty()) {
      out += "- the run failed without a finding (see report.json)\n";
    }
    const std::size_t n = std::min(run.findings.size(), kMdMaxFindings);
    for (std::size_t i = 0; i < n; ++i) {
      const Finding& f = run.findings[i];
      out += fmt::format("- **{}**{}: {}\n", md_text(f.kind),
                         f.evidence.empty() ? std::string() : " (" + md_text(f.evidence) + ")", md_text(f.message));
      if (!f.connection.empty()) out += fmt::format("  - connection: {}\n", md_code(f.connection));
      md_list_line(out, "history", f.history, true);
      md_list_line(out, "faults seen", f.faults_seen, false);
    }
    if (run.findings.size() > n)
      out += fmt::format("- … and {} more (see report.json)\n", run.findings.size() - n);
  }
  return out;
}

std::string to_junit(const Report& r) {
  // One <testsuite> per scenario file (or scenario name when it has no file),
  // in the order the runs first name them.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const RunResult*>> suites;
  for (const auto& run : r.runs) {
    const std::string name = run.file.empty() ? run.scenario : run.file;
    auto [it, inserted] = suites.try_emplace(name);
    if (inserted) order.push_back(name);
    it->second.push_back(&run);
  }
  auto secs = [](double s) { return fmt::format("{:.3f}", std::isfinite(s) && s > 0 ? s : 0.0); };

  // fail -> <failure>; inconclusive -> <error> (nothing failed, nothing was
  // shown either: a CI job must not count it as a pass); n/a -> <skipped>.
  std::size_t failures = 0, errors = 0, skipped = 0;
  double total_time = 0;
  for (const auto& run : r.runs) {
    failures += status_of(run) == "fail" ? 1 : 0;
    errors += status_of(run) == "inconclusive" ? 1 : 0;
    skipped += status_of(run) == "n/a" ? 1 : 0;
    if (std::isfinite(run.wall_seconds) && run.wall_seconds > 0) total_time += run.wall_seconds;
  }
  skipped += r.skipped.size();

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format(
      "<testsuites name=\"connfail\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">\n",
      r.runs.size() + r.skipped.size(), failures, errors, skipped, secs(total_time));
  for (const auto& name : order) {
    const auto& runs = suites[name];
    std::size_t f = 0, e = 0, k = 0;
    double t = 0;
    for (const auto* run : runs) {
      f += status_of(*run) == "fail" ? 1 : 0;
      e += status_of(*run) == "inconclusive" ? 1 : 0;
      k += status_of(*run) == "n/a" ? 1 : 0;
      if (std::isfinite(run->wall_seconds) && run->wall_seconds > 0) t += run->wall_seconds;
    }
    out += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">\n",
        xml_escape(name, true), runs.size(), f, e, k, secs(t));
    for (const auto* run : runs) {
      const std::string head =
          fmt::format("    <testcase name=\"{}\" classname=\"connfail.{}\" time=\"{}\"", xml_escape(run_key(*run), true),
                      scenarios::to_string(run->transport), secs(run->wall_seconds));
      if (run->passed) {
        out += head + "/>\n";
        continue;
      }
      out += head + ">\n";
      std::string notes;
      for (const auto& n : run->notes) notes += n + "\n";
      if (status_of(*run) == "n/a") {
        out += fmt::format("      <skipped message=\"{}\"/>\n",
                           xml_escape(run->notes.empty() ? std::string("not applicable") : run->notes.front(), true));
      } else if (status_of(*run) == "inconclusive") {
        out += fmt::format("      <error message=\"{}\" type=\"inconclusive\">{}</error>\n",
                           xml_escape("inconclusive: the scenario could not be judged", true),
                           xml_escape(notes, false));
      } else {
        out += fmt::format("      <failure message=\"{}\" type=\"leak\">{}</failure>\n",
                           xml_escape(plural(run->findings.size(), "finding", "findings"), true),
                           xml_escape(findings_text(*run), false));
      }
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  if (!r.skipped.empty()) {
    out += fmt::format("  <testsuite name=\"skipped\" tests=\"{}\" failures=\"0\" errors=\"0\" skipped=\"{}\" time=\"0.000\">\n",
                       r.skipped.size(), r.skipped.size());
    for (const auto& k : r.skipped)
      out += fmt::format(
          "    <testcase name=\"{} [{}]\" classname=\"connfail.{}\" time=\"0.000\">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
          xml_escape(k.scenario, true), scenarios::to_string(k.transport), scenarios::to_string(k.transport),
          xml_escape(k.reason, true));
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

bool write_reports(const Report& r, const std::filesystem::path& dir, const std::string& junit_path,
                   std::string* error) {
  namespace fs = std::filesystem;
  struct Out {
    fs::path target;
    std::string data;
    fs::path tmp;
  };
  std::vector<Out> outs;
  try {
    // Render everything first: an exception here leaves the disk untouched.
    outs.push_back({dir / "report.json", to_json(r).dump(2) + "\n", {}});
    outs.push_back({dir / "report.md", to_markdown(r), {}});
    outs.push_back({dir / "index.html", to_html(r), {}});
    outs.push_back({junit_path.empty() ? dir / "junit.xml" : fs::path(junit_path), to_junit(r), {}});
  } catch (const std::exception& e) {
    if (error) *error = fmt::format("cannot render the reports: {}", e.what());
    return false;
  }

  for (const auto& o : outs) {
    const fs::path parent = o.target.parent_path();
    if (parent.empty()) continue;
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) {
      if (error) *error = fmt::format("cannot create directory {}: {}", parent.string(), ec.message());
      return false;
    }
  }

  for (const auto& o : outs) {
    std::error_code ec;
    if (fs::is_directory(o.target, ec)) {
      if (error) *error = fmt::format("cannot write {}: it is a directory", o.target.string());
      return false;
    }
  }

  // Every temporary file first, then the renames: a failed write leaves
  // neither a partial file nor a temporary one.
  auto cleanup = [&] {
    for (auto& o : outs)
      if (!o.tmp.empty()) ::unlink(o.tmp.c_str());
  };
  for (auto& o : outs) {
    o.tmp = write_temp(o.target, o.data, error);
    if (o.tmp.empty()) {
      cleanup();
      return false;
    }
  }
  for (auto& o : outs) {
    if (::rename(o.tmp.c_str(), o.target.c_str()) != 0) {
      if (error) *error = fmt::format("cannot rename {} to {}: {}", o.tmp.string(), o.target.string(), std::strerror(errno));
      cleanup();
      return false;
    }
    o.tmp.clear();
  }
  return true;
}

std::string human_seconds(double s) {
  if (!std::isfinite(s)) return "n/a";
  std::string t = fmt::format("{:.3f}", s);
  while (!t.empty() && t.back() == '0') t.pop_back();
  if (!t.empty() && t.back() == '.') t.pop_back();
  if (t == "-0") t = "0";
  return t + " s";
}

std::string status_text(const std::string& status, bool markdown) {
  if (status == "pass") return "PASS";
  if (status == "n/a") return "N/A";
  if (status == "inconclusive") return markdown ? "**INCONCLUSIVE**" : "INCONCLUSIVE";
  return markdown ? "**FAIL**" : "FAIL";
}

std::string run_key(const RunResult& r) {
  std::string key = fmt::format("{} [{} seed={}", r.scenario, scenarios::to_string(r.transport), r.seed);
  if (!r.variant.empty()) key += " " + r.variant;
  return key + "]";
}

ReportDiff diff_reports(const Report& base, const Report& now) {
  std::map<std::string, bool> base_passed;  // a key seen twice: failing wins
  // A run passes the gate when it passed or did not apply; fail and
  // inconclusive do not.
  auto ok = [](const RunResult& run) { return run.passed || status_of(run) == "n/a"; };
  for (const auto& run : base.runs) {
    auto [it, inserted] = base_passed.try_emplace(run_key(run), ok(run));
    if (!inserted) it->second = it->second && ok(run);
  }
  std::map<std::string, bool> now_passed;
  std::vector<std::string> now_order;
  for (const auto& run : now.runs) {
    auto [it, inserted] = now_passed.try_emplace(run_key(run), ok(run));
    if (inserted) now_order.push_back(it->first);
    else it->second = it->second && ok(run);
  }

  ReportDiff d;
  for (const auto& key : now_order) {
    const bool passing = now_passed[key];
    const auto b = base_passed.find(key);
    if (!passing) {
      if (b == base_passed.end() || b->second) d.new_failures.push_back(key);
      else d.still_failing.push_back(key);
    } else if (b != base_passed.end() && !b->second) {
      d.fixed.push_back(key);
    }
  }
  std::set<std::string> seen;
  for (const auto& run : base.runs) {
    const std::string key = run_key(run);
    if (!now_passed.count(key) && seen.insert(key).second) d.missing.push_back(key);
  }
  return d;
}

}  // namespace connfail::reports
