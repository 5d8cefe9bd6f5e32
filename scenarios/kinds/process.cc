// The `process` server kind: a server connfail did not build (a Java Netty
// server, a Go or Rust one), started as a process on the real transport and
// judged from outside (docs/external-servers.md). The plan only describes
// the process; the runner starts, watches and stops it
// (scenarios/server_under_test.cc, netcore/asio/process.h).
// g++ 12 with -fsanitize and -O1 warns falsely inside <regex>
// (-Wmaybe-uninitialized in std::function's move constructor).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <regex>

#include "connfail/scenarios/kinds/builtins.h"

namespace connfail::scenarios::kinds {

using namespace std::chrono_literals;

namespace {

constexpr const char* kFile = "scenarios/kinds/process.cc";

int signal_number(const std::string& name) {
  if (name == "INT") return SIGINT;
  if (name == "HUP") return SIGHUP;
  if (name == "QUIT") return SIGQUIT;
  if (name == "KILL") return SIGKILL;
  if (name == "USR1") return SIGUSR1;
  if (name == "USR2") return SIGUSR2;
  return SIGTERM;
}

bool mentions_port(const std::string& s) { return s.find("{port}") != std::string::npos; }

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

/// Why `program` cannot be run as the first word of the command ("" if it
/// can): looked up in PATH (the scenario's env may set it) as execvp does,
/// or, with a '/', as a path (relative to `cwd` when that is given).
std::string cannot_run(const std::string& program, const std::string& cwd,
                       const std::map<std::string, std::string>& env) {
  if (program.find('/') != std::string::npos) {
    const std::string path = program.front() != '/' && !cwd.empty() ? cwd + "/" + program : program;
    return executable_file(path) ? "" : "'" + path + "' is not an executable file";
  }
  std::string search;
  if (auto it = env.find("PATH"); it != env.end())
    search = it->second;
  else if (const char* p = std::getenv("PATH"))
    search = p;
  else
    search = "/usr/local/bin:/usr/bin:/bin";
  std::size_t from = 0;
  for (;;) {
    const std::size_t colon = search.find(':', from);
    std::string dir = search.substr(from, colon == std::string::npos ? std::string::npos : colon - from);
    if (dir.empty()) dir = ".";
    if (executable_file(dir + "/" + program)) return "";
    if (colon == std::string::npos) break;
    from = colon + 1;
  }
  return "'" + program + "' is not an executable file in any directory of PATH";
}

ServerPlan process_plan(const Options& o) {
  auto x = std::make_shared<ExternalServer>();
  x->argv = o.list("command");
  if (x->argv.empty() || x->argv.front().empty())
    throw OptionError("command", "at least one item: the program to run (looked up in PATH), then its arguments");
  x->env = o.map("env");
  for (const auto& [k, v] : x->env)
    if (k.empty() || k.find('=') != std::string::npos)
      throw OptionError("env", "'" + k + "' is not an environment variable name");
  x->cwd = o.text("cwd");
  if (!x->cwd.empty()) {
    struct stat st {};
    if (::stat(x->cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw OptionError("cwd", "'" + x->cwd + "' is not a directory");
  }
  if (std::string why = cannot_run(x->argv.front(), x->cwd, x->env); !why.empty())
    throw OptionError("command", why + ": the server cannot be started");
  x->host = o.text("host");
  x->port = static_cast<int>(o.integer("port"));
  x->port_pattern = o.text("port_pattern");
  x->ready_timeout = o.duration("ready_timeout");
  x->stop_signal = signal_number(o.text("stop_signal"));
  x->stop_grace = o.duration("stop_grace");
  x->fd_slack = static_cast<int>(o.integer("fd_slack"));
  if (!x->port_pattern.empty()) {
    if (x->port != 0) throw OptionError("port_pattern", "give port or port_pattern, not both");
    try {
      std::regex re(x->port_pattern, std::regex::ECMAScript);
      if (re.mark_count() < 1)
        throw OptionError("port_pattern", "the pattern needs a group that captures the port, e.g. 'port (\\d+)'");
    } catch (const std::regex_error& e) {
      throw OptionError("port_pattern", std::string("not a regular expression: ") + e.what());
    }
  } else if (x->port == 0) {
    bool said = false;
    for (const auto& a : x->argv) said = said || mentions_port(a);
    for (const auto& [k, v] : x->env) said = said || mentions_port(v);
    if (!said)
      throw OptionError("command",
                        "connfail cannot know where the server listens: put {port} in the command or env (connfail "
                        "picks a free port), or set port, or port_pattern to read it from the server's output");
  }
  ServerPlan plan;
  plan.external = x;
  const Duration idle = o.duration("idle_timeout");
  if (idle > Duration::zero()) plan.reader_idle = idle;
  return plan;
}

}  // namespace

void register_process_server(Registry& r) {
  ServerKindEntry e;
  e.name = "process";
  e.description =
      "a server connfail did not build (Java Netty, Go, ...): started as a process, judged from the kernel's socket "
      "table (real transport)";
  e.options = {
      opt::text_list("command", "the command line, one argument per item (no shell); {port} becomes the port")
          .required_field(),
      opt::text_map("env", "environment variables set for the server ({port} becomes the port)"),
      opt::text("cwd", "", "its working directory (\"\": connfail's)"),
      opt::text("host", "127.0.0.1", "the address clients connect to (the server must listen there)"),
      opt::integer("port", 0, 0, 65535,
                   "the port it listens on; 0: connfail picks a free one and puts it where {port} is written"),
      opt::text("port_pattern", "",
                "a regular expression whose first group captures the port from a line the server prints on stdout"),
      opt::duration("ready_timeout", 10s, "how long it may take to accept a connection on its port").positive(),
      opt::choice("stop_signal", "TERM", {"TERM", "INT", "HUP", "QUIT", "KILL", "USR1", "USR2"},
                  "the signal that stops it (to its process group); SIGKILL after stop_grace"),
      opt::duration("stop_grace", 5s, "how long it may take to exit after stop_signal"),
      opt::duration("idle_timeout", 0s,
                    "the reader idle time after which the server is expected to close a silent connection (0: it "
                    "has none); the half-open check's deadline is vanish + this + grace"),
      opt::integer("fd_slack", 0, 0, 100000,
                   "file descriptors it may hold at the verdict beyond its count when it became ready"),
  };
  e.factory = process_plan;
  e.transports = {TransportKind::Asio};
  e.external = true;
  r.add(std::move(e), kFile, __LINE__);
}

}  // namespace connfail::scenarios::kinds
