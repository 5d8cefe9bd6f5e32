#include "connfail/reports/report_reader.h"

#include <fmt/format.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "connfail/reports/report_writer.h"

namespace connfail::reports {

namespace {

using json = nlohmann::json;

/// A SAX handler: follows the path, keeps the top-level "schema" and each
/// run's few fields, skips everything else without storing it.
class RunsSax final : public nlohmann::json_sax<json> {
 public:
  explicit RunsSax(scenarios::Report& out) : out_(out) {}

  std::string error;

  bool null() override { return scalar(Kind::Null, {}, 0, false); }
  bool boolean(bool v) override { return scalar(Kind::Bool, {}, 0, v); }
  bool number_integer(number_integer_t v) override {
    return v < 0 ? scalar(Kind::Negative, {}, 0, false) : scalar(Kind::Unsigned, {}, static_cast<std::uint64_t>(v), false);
  }
  bool number_unsigned(number_unsigned_t v) override { return scalar(Kind::Unsigned, {}, v, false); }
  bool number_float(number_float_t, const string_t&) override { return scalar(Kind::Float, {}, 0, false); }
  bool string(string_t& v) override { return scalar(Kind::String, v, 0, false); }
  bool binary(binary_t&) override { return scalar(Kind::Float, {}, 0, false); }

  bool start_object(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (!stack_.empty()) stack_.back().key = k;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error = fmt::format("not valid JSON at byte {}: {}", position, e.what());
    return false;
  }

  bool finish() {
    if (!error.empty()) return false;
    if (!saw_schema_) return fail("", fmt::format("no \"schema\" field (expected \"{}\")", kReportSchema));
    if (!saw_runs_) return fail("runs", "missing");
    return true;
  }

 private:
  enum class Kind { Null, Bool, Negative, Unsigned, Float, String };
  struct Level {
    bool object = false;
    std::string key;        // the current key, in an object
    std::size_t index = 0;  // the next element's index, in an array
  };
  static constexpr std::size_t kMaxDepth = 256;

  bool fail(const std::string& where, const std::string& what) {
    if (error.empty()) error = where.empty() ? what : where + ": " + what;
    return false;
  }
  std::string run_path(const char* field) const { return fmt::format("runs[{}].{}", run_index_, field); }

  // Where the value about to start sits: (depth of its container, key).
  bool at_top(const char* k) const { return stack_.size() == 1 && stack_[0].object && stack_[0].key == k; }
  bool in_run() const { return stack_.size() == 3 && stack_[0].key == "runs" && !stack_[1].object && stack_[2].object; }
  bool run_field(const char* k) const { return in_run() && stack_[2].key == k; }

  bool open(bool object) {
    if (stack_.size() >= kMaxDepth) return fail("", fmt::format("nested deeper than {} levels", kMaxDepth));
    if (stack_.empty() && !object) return fail("", "expected a JSON object at the top level, got an array");
    if (at_top("runs") && object) return fail("runs", "expected an array, got an object");
    if (at_top("runs")) saw_runs_ = true;
    if (stack_.size() == 2 && stack_[0].key == "runs" && !stack_[1].object) {
      if (!object) return fail(fmt::format("runs[{}]", stack_[1].index), "expected an object, got an array");
      run_index_ = stack_[1].index;
      run_ = scenarios::RunResult{};
      have_ = {};
    }
    if (in_run() && (stack_[2].key == "scenario" || stack_[2].key == "transport" || stack_[2].key == "seed" ||
                     stack_[2].key == "passed" || stack_[2].key == "status"))
      return fail(run_path(stack_[2].key.c_str()), object ? "expected a value, got an object" : "expected a value, got an array");
    stack_.push_back({object, {}, 0});
    return true;
  }

  bool close() {
    const bool was_run = in_run();
    stack_.pop_back();
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
    if (was_run) {
      for (const char* f : {"scenario", "transport", "seed", "passed"})
        if (!have_.count(f)) return fail(run_path(f), "missing");
      if (!run_.status.empty() && (run_.status == "pass") != run_.passed)
        return fail(run_path("status"), fmt::format("\"{}\" contradicts passed: {}", run_.status, run_.passed));
      out_.runs.push_back(run_);
    }
    return true;
  }

  bool scalar(Kind kind, const std::string& s, std::uint64_t u, bool b) {
    if (stack_.empty()) return fail("", "expected a JSON object at the top level");
    if (at_top("schema")) {
      if (kind != Kind::String || s != kReportSchema)
        return fail("", fmt::format("schema is {}, expected \"{}\"", kind == Kind::String ? "\"" + s + "\"" : "not a string",
                                    kReportSchema));
      saw_schema_ = true;
    } else if (at_top("connfail_version") && kind == Kind::String) {
      out_.connfail_version = s;
    } else if (at_top("runs")) {
      return fail("runs", "expected an array");
    } else if (stack_.size() == 2 && stack_[0].key == "runs" && !stack_[1].object) {
      return fail(fmt::format("runs[{}]", stack_[1].index), "expected an object");
    } else if (in_run()) {
      const std::string& k = stack_[2].key;
      auto want_string = [&](std::string& field) {
        if (kind != Kind::String) return fail(run_path(k.c_str()), "expected a string");
        field = s;
        have_.insert(k);
        return true;
      };
      if (k == "scenario") return want_string(run_.scenario);
      if (k == "file") return want_string(run_.file);
      if (k == "variant") return want_string(run_.variant);
      if (k == "status") {
        if (!want_string(run_.status)) return false;
        if (s != "pass" && s != "fail" && s != "inconclusive" && s != "n/a")
          return fail(run_path("status"), fmt::format("unknown status \"{}\" (pass, fail, inconclusive, n/a)", s));
      }
      if (k == "transport") {
        if (kind != Kind::String || (s != "sim" && s != "asio"))
          return fail(run_path("transport"), "expected \"sim\" or \"asio\"");
        run_.transport = s == "sim" ? scenarios::TransportKind::Sim : scenarios::TransportKind::Asio;
        have_.insert(k);
      }
      if (k == "seed") {
        if (kind != Kind::Unsigned || u > std::numeric_limits<std::uint32_t>::max())
          return fail(run_path("seed"), "expected an integer in [0, 4294967295]");
        run_.seed = static_cast<std::uint32_t>(u);
        have_.insert(k);
      }
      if (k == "passed") {
        if (kind != Kind::Bool) return fail(run_path("passed"), "expected true or false");
        run_.passed = b;
        have_.insert(k);
      }
    }
    if (!stack_.back().object) ++stack_.back().index;
    return true;
  }

  scenarios::Report& out_;
  std::vector<Level> stack_;
  bool saw_schema_ = false, saw_runs_ = false;
  std::size_t run_index_ = 0;
  scenarios::RunResult run_;
  std::set<std::string> have_;
};

}  // namespace

namespace {
template <class Input>
bool read_runs(Input&& input, scenarios::Report& out, std::string* error) {
  scenarios::Report r;
  RunsSax sax(r);
  bool parsed = false;
  try {
    parsed = json::sax_parse(std::forward<Input>(input), &sax, json::input_format_t::json, true);
  } catch (const std::exception& e) {
    if (sax.error.empty()) sax.error = e.what();
  }
  if (!parsed || !sax.finish()) {
    if (error) *error = sax.error.empty() ? std::string("not a connfail report") : sax.error;
    return false;
  }
  out = std::move(r);
  return true;
}
}  // namespace

bool read_report_runs(const std::string& text, scenarios::Report& out, std::string* error) {
  return read_runs(text, out, error);
}

bool read_report_runs(std::istream& in, scenarios::Report& out, std::string* error) {
  return read_runs(in, out, error);
}

bool parse_report_text(const std::string& text, scenarios::Report& out, std::string* error, std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    if (error) *error = fmt::format("{} bytes, more than the {} this reader holds", text.size(), max_bytes);
    return false;
  }
  // Depth first (streamed): the full reader holds the whole document.
  scenarios::Report runs;
  if (!read_report_runs(text, runs, error)) return false;
  try {
    out = report_from_json(json::parse(text));
    return true;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return false;
  }
}

}  // namespace connfail::reports
