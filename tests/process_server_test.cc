// The `process` server kind: connfail starts a server it did not build (here
// tests/fixtures/ext_server, a plain POSIX echo server with bug modes),
// judges it from the kernel's socket table for its process group, and always
// stops it. The correct server passes; each bug mode fails with its finding;
// a server that cannot start, never gets ready or crashes is reported with
// its exit status and last stderr lines; nothing is left running, not even
// when connfail itself is killed mid-run.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "connfail/netcore/asio/process.h"
#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/runner.h"
#include "connfail/scenarios/verdict.h"

namespace {

namespace fs = std::filesystem;
using namespace connfail::scenarios;
using namespace std::chrono_literals;

const std::string kServer = CONNFAIL_EXT_SERVER;

struct TempDir {
  TempDir() {
    std::string t = (fs::temp_directory_path() / "connfail-process-test-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

/// A scenario around `server_yaml` (the server: block's body): two echo
/// client groups, `extra` appended (faults, expect).
std::string scenario(const std::string& server_yaml, const std::string& extra = "", const std::string& top = "") {
  return "name: process-test\n"
         "transports: [asio]\n"
         "duration: 5s\n"
         "quiesce: 2s\n" +
         top +
         "server:\n"
         "  kind: process\n"
         "  options:\n" +
         server_yaml +
         "clients:\n"
         "  - name: steady\n"
         "    count: 3\n"
         "    start: 200ms\n"
         "    spacing: 100ms\n"
         "    options: {request_every: 300ms}\n"
         "  - name: doomed\n"
         "    count: 3\n"
         "    start: 200ms\n"
         "    spacing: 100ms\n"
         "    options: {request_every: 300ms}\n" +
         extra;
}

std::string command(const std::string& args) { return "    command: [" + kServer + ", " + args + "]\n"; }

RunResult run_text(const std::string& text, const std::string& artifacts = "") {
  ParseResult pr = parse_scenario_text(text, "process-test.yaml");
  if (!pr.ok()) {
    std::string all;
    for (const auto& e : pr.errors) all += e.to_string() + "\n";
    ADD_FAILURE() << "the scenario does not parse:\n" << all << text;
    return {};
  }
  RunOptions o;
  o.transport = TransportKind::Asio;
  o.artifacts_dir = artifacts;
  return run_scenario(*pr.scenario, o);
}

std::string findings_text(const RunResult& r) {
  std::string s;
  for (const auto& f : r.findings) s += f.kind + ": " + f.message + "\n";
  return s;
}

int count_kind(const RunResult& r, const std::string& kind) {
  int n = 0;
  for (const auto& f : r.findings) n += f.kind == kind ? 1 : 0;
  return n;
}

pid_t read_pid(const std::string& file) {
  std::ifstream in(file);
  int pid = 0;
  in >> pid;
  return pid;
}

/// The group the pid file names is gone (its processes stopped and reaped,
/// or zombies of a parent that is gone).
void expect_gone(const std::string& pid_file) {
  const pid_t pid = read_pid(pid_file);
  ASSERT_GT(pid, 0) << "the server never wrote " << pid_file;
  for (int i = 0; i < 100 && netcore::asio::process_group_alive(pid); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(netcore::asio::process_group_alive(pid)) << "process group " << pid << " outlived the run";
}

std::vector<std::string> parse_errors(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& e : parse_scenario_text(text, "process-test.yaml").errors) out.push_back(e.to_string());
  return out;
}

bool any_contains(const std::vector<std::string>& v, const std::string& what) {
  for (const auto& s : v)
    if (s.find(what) != std::string::npos) return true;
  return false;
}

TEST(ProcessServer, TheCorrectServerPassesAndIsStoppedWithWhatItSpawned) {
  TempDir d;
  const std::string pid_file = d.path + "/pid";
  const RunResult r = run_text(scenario(command("--port, '{port}', --spawn-child, --pid-file, " + pid_file)), d.path + "/run");
  EXPECT_EQ(r.status, "pass") << findings_text(r);
  EXPECT_GT(r.bytes_echoed, 0u);
  // The run saw the server's own sockets in the kernel's table.
  int server_rows = 0;
  for (const auto& smp : r.samples)
    for (const auto& [st, n] : smp.by_state) server_rows += st == "ESTABLISHED" ? n : 0;
  EXPECT_GT(server_rows, 0);
  EXPECT_TRUE(fs::exists(d.path + "/run/server.stdout"));
  EXPECT_TRUE(fs::exists(d.path + "/run/server.stderr"));
  expect_gone(pid_file);
}

TEST(ProcessServer, AServerThatNeverClosesFailsWithCloseWaitAndLeakedFds) {
  TempDir d;
  const std::string pid_file = d.path + "/pid";
  // A grace of half the sampling interval: a CLOSE_WAIT first sampled up to
  // one interval late is still older than that at the verdict.
  const RunResult r = run_text(scenario(command("--port, '{port}', --mode, no-close, --pid-file, " + pid_file),
                                        "expect: {close_wait_grace: 500ms}\n"));
  EXPECT_EQ(r.status, "fail");
  // Six clients and the readiness probe: seven sockets in CLOSE_WAIT.
  EXPECT_EQ(count_kind(r, "close-wait"), 7) << findings_text(r);
  EXPECT_EQ(count_kind(r, "fd-delta"), 1) << findings_text(r);
  EXPECT_EQ(count_kind(r, "left-open"), 0) << "CLOSE_WAIT is reported once, as close-wait\n" << findings_text(r);
  expect_gone(pid_file);
}

TEST(ProcessServer, TheKernelViewReadsADualStackServerLikeAJvm) {
  // Listening on [::], the server's IPv4 peers show as ::ffff:127.0.0.1 in
  // the IPv6 table: the leak is still seen.
  const RunResult r =
      run_text(scenario(command("--port, '{port}', --mode, no-close, --ipv6"), "expect: {close_wait_grace: 500ms}\n"));
  ASSERT_EQ(count_kind(r, "close-wait"), 7) << findings_text(r);
  for (const auto& f : r.findings)
    if (f.kind == "close-wait") {
      EXPECT_NE(f.connection.find("::ffff:127.0.0.1"), std::string::npos) << f.connection;
    }
}

TEST(ProcessServer, AServerReachedOverIpv6) {
  // host ::1: the readiness probe, the free port and the fault proxies'
  // upstream connections all go over IPv6.
  const RunResult r = run_text(scenario(command("--port, '{port}', --ipv6") + "    host: '::1'\n"));
  EXPECT_EQ(r.status, "pass") << findings_text(r);
  EXPECT_GT(r.bytes_echoed, 0u);
}

const std::string kHalfOpen =
    "faults:\n"
    "  - kind: half-open\n"
    "    at: 1s\n"
    "    targets: [doomed]\n"
    "expect: {half_open_reaped_within_grace: 1s}\n";

TEST(ProcessServer, HalfOpenPeersAreReapedByAServerWithAnIdleCheck) {
  const RunResult r = run_text(scenario(command("--port, '{port}', --idle-ms, 2000") + "    idle_timeout: 2s\n", kHalfOpen));
  EXPECT_EQ(r.status, "pass") << findings_text(r);
}

// The half-open check of a server process reads the kernel's rows as sampled.
// The samples drift late on a busy machine, so the last one can fall more than
// an interval before the verdict: a row that sample saw is still there.
std::vector<Finding> half_open_verdict(double last_seen_at) {
  Scenario s;
  s.duration = 5s;
  s.quiesce = 2s;
  s.expect.half_open_reaped_within_grace = 1s;
  VerdictInput in;
  in.scenario = &s;
  in.end_seconds = 7.2;  // the verdict, late
  in.server_reader_idle = 2s;  // deadline: vanish 1 + idle 2 + grace 1 = 4 s
  in.external_node = "server-process";
  in.sample_every = 1;
  in.last_sample = 6.05;  // samples at 0.05, 1.05, ..., 6.05
  in.vanished_at["doomed"] = 1.0;
  in.group_of_remote = [](const netcore::Address& a) { return a.host == "127.1.0.2" ? "doomed" : ""; };
  ConnHistory h;
  h.node = in.external_node;
  h.local = {"127.0.0.1", 29020};
  h.remote = {"127.1.0.2", 40000};
  h.states = {{0.05, "ESTABLISHED"}};
  h.last_seen = last_seen_at;
  in.histories[conn_key(h.node, h.local, h.remote)] = h;
  std::vector<Finding> out;
  for (auto& f : compute_findings(in))
    if (f.kind == "half-open-unreaped") out.push_back(std::move(f));
  return out;
}

TEST(ProcessVerdict, ARowTheLastSampleSawIsNeverClosedHoweverLateTheVerdict) {
  const auto f = half_open_verdict(6.05);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].message.find("was never closed"), std::string::npos) << f[0].message;
}

TEST(ProcessVerdict, ARowGoneBeforeTheLastSampleLeftAfterItWasLastSeen) {
  // Last seen at 4.05: gone by 5.05, after the deadline and its interval.
  const auto late = half_open_verdict(4.05);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_NE(late[0].message.find("left ESTABLISHED only at 5.050s"), std::string::npos) << late[0].message;
  // Last seen at 3.05: gone by 4.05, within the deadline's interval.
  EXPECT_TRUE(half_open_verdict(3.05).empty());
}

TEST(ProcessServer, HalfOpenPeersAreNotReapedByAServerWithoutOne) {
  // The seed bug: no idle check, so the vanished peers' connections stay
  // ESTABLISHED for ever.
  const RunResult r = run_text(scenario(command("--port, '{port}'") + "    idle_timeout: 2s\n", kHalfOpen));
  EXPECT_EQ(r.status, "fail");
  EXPECT_EQ(count_kind(r, "half-open-unreaped"), 3) << findings_text(r);
  for (const auto& f : r.findings)
    if (f.kind == "half-open-unreaped") {
      EXPECT_NE(f.message.find("group 'doomed'"), std::string::npos) << f.message;
      EXPECT_NE(f.message.find("never closed"), std::string::npos) << f.message;
      EXPECT_FALSE(f.faults_seen.empty());
    }
}

TEST(ProcessServer, APortReadFromTheServersOutput) {
  const RunResult r = run_text(scenario(command("--port, 0, --print-port") +
                                        "    port_pattern: 'listening on port (\\d+)'\n"));
  EXPECT_EQ(r.status, "pass") << findings_text(r);
}

TEST(ProcessServer, AServerThatExitsAtStartIsARunErrorWithItsStatusAndStderr) {
  const RunResult r = run_text(scenario(command("--port, '{port}', --mode, exit-at-start")));
  ASSERT_EQ(r.findings.size(), 1u) << findings_text(r);
  EXPECT_EQ(r.findings[0].kind, "run-error");
  EXPECT_NE(r.findings[0].message.find("exited with status 3 before it accepted connections"), std::string::npos)
      << r.findings[0].message;
  EXPECT_NE(r.findings[0].message.find("fatal: the configuration is missing"), std::string::npos)
      << r.findings[0].message;
}

TEST(ProcessServer, AServerThatNeverListensTimesOutAndIsStopped) {
  TempDir d;
  const std::string pid_file = d.path + "/pid";
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = run_text(scenario(command("--port, '{port}', --mode, never-listen, --pid-file, " + pid_file) +
                                        "    ready_timeout: 1500ms\n    stop_grace: 200ms\n"));
  ASSERT_EQ(r.findings.size(), 1u) << findings_text(r);
  EXPECT_NE(r.findings[0].message.find("did not accept connections on 127.0.0.1:"), std::string::npos)
      << r.findings[0].message;
  EXPECT_NE(r.findings[0].message.find("within 1500ms"), std::string::npos) << r.findings[0].message;
  EXPECT_NE(r.findings[0].message.find("waiting for something that never comes"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // the clients never ran
  expect_gone(pid_file);
}

TEST(ProcessServer, ACommandThatCannotBeRunIsAValidationError) {
  auto errs = parse_errors(scenario("    command: [connfail-no-such-program, '{port}']\n"));
  EXPECT_TRUE(any_contains(errs, "process-test.yaml:")) << ::testing::PrintToString(errs);
  EXPECT_TRUE(any_contains(errs, "server.options.command: 'connfail-no-such-program' is not an executable file in any "
                                 "directory of PATH"))
      << ::testing::PrintToString(errs);
  errs = parse_errors(scenario("    command: [./no-such-server, '{port}']\n    cwd: /tmp\n"));
  EXPECT_TRUE(any_contains(errs, "'/tmp/./no-such-server' is not an executable file")) << ::testing::PrintToString(errs);
  errs = parse_errors(scenario("    command: [" + kServer + ", '{port}']\n    cwd: /no/such/dir\n"));
  EXPECT_TRUE(any_contains(errs, "server.options.cwd: '/no/such/dir' is not a directory")) << ::testing::PrintToString(errs);
  // The scenario's own PATH is where the program is looked up.
  const std::string dir = fs::path(kServer).parent_path().string();
  EXPECT_TRUE(parse_errors(scenario("    command: [ext-server, '{port}']\n    env: {PATH: '" + dir + "'}\n")).empty());
}

/// A listener on a free loopback port, held until destroyed. Not close-on-
/// exec: a server started meanwhile would inherit it, unless connfail closes
/// what it does not mean to pass on (it does).
struct Squatter {
  Squatter() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 16) != 0) ADD_FAILURE() << "no listener";
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Squatter() { ::close(fd); }
  int fd = -1;
  int port = 0;
};

TEST(ProcessServer, APortInUseIsRefusedBeforeTheServerStarts) {
  TempDir d;
  Squatter sq;
  const std::string pid_file = d.path + "/pid";
  const std::string yaml =
      scenario(command("--port, '{port}', --pid-file, " + pid_file) + "    port: " + std::to_string(sq.port) + "\n");
  // The runner: a run-error, and the server was never started.
  const RunResult r = run_text(yaml);
  ASSERT_EQ(r.findings.size(), 1u) << findings_text(r);
  EXPECT_NE(r.findings[0].message.find("already accepts connections before the server started"), std::string::npos)
      << r.findings[0].message;
  EXPECT_FALSE(fs::exists(pid_file));
  // The CLI: bad input, exit 2, naming the file, line and field; nothing run.
  const std::string file = d.path + "/s.yaml";
  std::ofstream(file) << yaml;
  const std::string cmd = std::string(CONNFAIL_CLI) + " run " + file + " --out " + d.path + "/out 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int st = ::pclose(p);
  EXPECT_EQ(WEXITSTATUS(st), 2) << out;
  EXPECT_NE(out.find("s.yaml:9:11: server.options.port: port " + std::to_string(sq.port) + " on 127.0.0.1 is in use"),
            std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(pid_file));
  EXPECT_FALSE(fs::exists(d.path + "/out/report.json"));
}

TEST(ProcessServer, AnotherProgramsListenerIsNotTakenForTheServer) {
  // The server never listens, and something else accepts on the port it was
  // told: readiness needs a listener of the server's own.
  Squatter sq;
  const RunResult r = run_text(scenario("    command: [" + kServer + ", --port, '0', --mode, never-listen, --say-port, '" +
                                        std::to_string(sq.port) + "']\n" +
                                        "    port_pattern: 'listening on port (\\d+)'\n    ready_timeout: 1500ms\n"));
  ASSERT_EQ(r.findings.size(), 1u) << findings_text(r);
  EXPECT_NE(r.findings[0].message.find("something accepts connections on 127.0.0.1:" + std::to_string(sq.port) +
                                       ", but no process of the server's holds a listening socket there"),
            std::string::npos)
      << r.findings[0].message;
}

TEST(ProcessServer, AServerThatCrashesDuringTheRunIsAFinding) {
  const RunResult r = run_text(scenario(command("--port, '{port}', --crash-after, 3")));
  ASSERT_EQ(count_kind(r, "server-exited"), 1) << findings_text(r);
  for (const auto& f : r.findings)
    if (f.kind == "server-exited") {
      EXPECT_NE(f.message.find("killed by signal 6 (SIGABRT)"), std::string::npos) << f.message;
      EXPECT_NE(f.message.find("crashing after 3 connections"), std::string::npos) << f.message;
    }
}

TEST(ProcessServer, ValidationRefusesWhatCannotBeJudgedFromOutside) {
  auto errs = parse_errors(scenario("    command: [" + kServer + ", '{port}']\n", "", "time_scale: 0.5\n"));
  EXPECT_TRUE(any_contains(errs, "time_scale must be 1")) << ::testing::PrintToString(errs);
  errs = parse_errors(scenario("    command: [" + kServer + ", '{port}']\n", "faults:\n  - {kind: accept-pause, at: 1s, duration: 1s}\n"));
  EXPECT_TRUE(any_contains(errs, "acts inside the server")) << ::testing::PrintToString(errs);
  errs = parse_errors(scenario("    command: [" + kServer + "]\n"));
  EXPECT_TRUE(any_contains(errs, "cannot know where the server listens")) << ::testing::PrintToString(errs);
  errs = parse_errors(scenario("    command: [" + kServer + "]\n    port_pattern: 'port \\d+'\n"));
  EXPECT_TRUE(any_contains(errs, "a group that captures the port")) << ::testing::PrintToString(errs);
  errs = parse_errors(scenario("    command: []\n    port: 9\n"));
  EXPECT_TRUE(any_contains(errs, "the program to run")) << ::testing::PrintToString(errs);
  std::string on_sim = scenario("    command: [" + kServer + ", '{port}']\n");
  on_sim.replace(on_sim.find("[asio]"), 6, "[sim]");
  errs = parse_errors(on_sim);
  EXPECT_TRUE(any_contains(errs, "cannot run on the simulated transport")) << ::testing::PrintToString(errs);
  errs = parse_errors(scenario("    command: [" + kServer + ", '{port}']\n", "expect: {ledger_counts: {idle: 1}}\n"));
  EXPECT_TRUE(any_contains(errs, "keeps no ledger")) << ::testing::PrintToString(errs);
  // The same scenario with a correct server block parses: the errors above
  // are the fields', not the template's.
  EXPECT_TRUE(parse_errors(scenario("    command: [" + kServer + ", '{port}']\n")).empty());
}

TEST(ProcessServer, KillingConnfailMidRunStopsTheServer) {
  TempDir d;
  const std::string pid_file = d.path + "/pid";
  const std::string file = d.path + "/s.yaml";
  {
    std::string text = scenario(command("--port, '{port}', --spawn-child, --pid-file, " + pid_file));
    text.replace(text.find("duration: 5s"), 12, "duration: 60s");
    std::ofstream(file) << text;
  }
  for (int sig : {SIGTERM, SIGINT}) {
    std::error_code ec;
    fs::remove(pid_file, ec);
    const pid_t cf = ::fork();
    ASSERT_GE(cf, 0);
    if (cf == 0) {
      ::execl(CONNFAIL_CLI, CONNFAIL_CLI, "run", file.c_str(), "--transport", "asio", "-q", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait for the server to be up, and a little longer (clients running).
    for (int i = 0; i < 500 && read_pid(pid_file) == 0; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_GT(read_pid(pid_file), 0) << "the server never started";
    std::this_thread::sleep_for(1s);
    ::kill(cf, sig);
    int st = 0;
    ASSERT_EQ(::waitpid(cf, &st, 0), cf);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == sig) << "connfail ended with wait status " << st;
    expect_gone(pid_file);
  }
}

}  // namespace
