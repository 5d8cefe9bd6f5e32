// Packet-level faults on the real transport (netcore/asio/netns.h): a run in
// a network namespace of its own, nftables rules by source address. The
// rules drop what they should and only that; a server process runs inside
// the namespace and is judged under real loss and real vanished hosts; no
// namespace (and so no rule) outlives a run, a failed one, or a connfail
// killed mid-run; a namespace a killed run left is removed by the next; and
// without root a scenario that needs one is refused before anything runs.
//
// Needs root (CI runs as root). Not root: every test here FAILS with a
// message saying so; configure with -DCONNFAIL_NETNS_TESTS=OFF to leave
// them out knowingly.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "connfail/netcore/asio/netns.h"
#include "connfail/netcore/asio/process.h"
#include "connfail/scenarios/parser.h"
#include "connfail/scenarios/runner.h"

namespace {

namespace fs = std::filesystem;
using namespace connfail::scenarios;
using namespace std::chrono_literals;
using netcore::asio::NetNamespace;

const std::string kServer = CONNFAIL_EXT_SERVER;

#define REQUIRE_ROOT()                                                                                        \
  do {                                                                                                        \
    const std::string why = NetNamespace::unavailable_reason();                                               \
    ASSERT_TRUE(why.empty()) << why << " (configure with -DCONNFAIL_NETNS_TESTS=OFF to leave these tests out)"; \
  } while (0)

std::string ns_inode() {
  struct stat st {};
  ::stat("/proc/thread-self/ns/net", &st);
  return std::to_string(st.st_ino);
}

bool has_namespace_of(pid_t pid) {
  const std::string prefix = "connfail-" + std::to_string(pid) + "-";
  for (const auto& n : NetNamespace::list_ours())
    if (n.rfind(prefix, 0) == 0) return true;
  return false;
}

// A blocking connect from `source` to 127.0.0.1:port that gives up after
// `wait`: true when it connected.
bool connects_from(const std::string& source, std::uint16_t port, std::chrono::milliseconds wait) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    ::close(fd);
    return false;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to);
  pollfd p{fd, POLLOUT, 0};
  bool ok = false;
  if (::poll(&p, 1, static_cast<int>(wait.count())) == 1) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    ok = err == 0;
  }
  ::close(fd);
  return ok;
}

std::uint16_t listen_loopback(int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 16);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

TEST(Netns, RulesDropOneSourceAddressAndNothingElseAndGoWithTheNamespace) {
  REQUIRE_ROOT();
  const std::string home = ns_inode();
  std::string name;
  {
    auto ns = NetNamespace::create_and_enter();
    name = ns->name();
    EXPECT_NE(ns_inode(), home) << "not inside the new namespace";
    int lfd = -1;
    const std::uint16_t port = listen_loopback(lfd);
    ASSERT_GT(port, 0);
    // Before any rule: both sources connect.
    EXPECT_TRUE(connects_from("127.1.0.1", port, 1000ms));
    EXPECT_TRUE(connects_from("127.1.0.2", port, 1000ms));
    ns->set_rules({"ip saddr 127.1.0.1 drop", "ip daddr 127.1.0.1 drop"});
    EXPECT_FALSE(connects_from("127.1.0.1", port, 700ms)) << "the drop rule let a SYN through";
    EXPECT_TRUE(connects_from("127.1.0.2", port, 1000ms)) << "the rule dropped another host's packets";
    ns->set_rules({});
    EXPECT_TRUE(connects_from("127.1.0.1", port, 1000ms)) << "removing the rule did not heal";
    ::close(lfd);
    EXPECT_EQ(ns->rule_changes(), 2);
  }
  EXPECT_EQ(ns_inode(), home) << "the thread did not come back to its namespace";
  for (const auto& n : NetNamespace::list_ours()) EXPECT_NE(n, name) << "the namespace outlived its owner";
}

TEST(Netns, ANamespaceOfADeadRunIsRemovedAndALiveRunsIsKept) {
  REQUIRE_ROOT();
  // A pid that is certainly dead: a child, reaped.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  // A live one: a child that sleeps until killed.
  const pid_t live = ::fork();
  if (live == 0) {
    ::pause();
    ::_exit(0);
  }
  std::string out;
  const std::string stale = "connfail-" + std::to_string(dead) + "-0";
  const std::string kept = "connfail-" + std::to_string(live) + "-0";
  ASSERT_EQ(netcore::asio::run_command({"ip", "netns", "add", stale}, "", out), 0) << out;
  ASSERT_EQ(netcore::asio::run_command({"ip", "netns", "add", kept}, "", out), 0) << out;
  // Not a count: a test of another process may create a namespace, and so
  // remove the stale one, between the add and this call.
  NetNamespace::remove_stale();
  EXPECT_FALSE(has_namespace_of(dead)) << stale << " was not removed";
  EXPECT_TRUE(has_namespace_of(live)) << kept << " (its process is alive) was removed";
  netcore::asio::run_command({"ip", "netns", "delete", kept}, "", out);
  ::kill(live, SIGKILL);
  ::waitpid(live, nullptr, 0);
}

// ---- a server process inside the namespace, under real faults.

std::string scenario(const std::string& server_args, const std::string& faults, const std::string& duration = "5s") {
  return "name: netns-test\n"
         "transports: [asio]\n"
         "duration: " + duration + "\n"
         "quiesce: 2s\n"
         "server:\n"
         "  kind: process\n"
         "  options:\n"
         "    command: [" + kServer + ", " + server_args + "]\n"
         "    idle_timeout: 2s\n"
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
         "    options: {request_every: 300ms}\n"
         "faults:\n" + faults;
}

// The loss is aimed at steady only: a doomed connection whose SYN or SYN-ACK
// is lost is retried 1 s later, after its host vanished, and the server never
// sees it (2 findings instead of 3, about one run in 16).
const std::string kLossAndHalfOpen =
    "  - kind: loss\n"
    "    at: 0s\n"
    "    rate: 0.01\n"
    "    targets: [steady]\n"
    "  - kind: half-open\n"
    "    at: 1s\n"
    "    targets: [doomed]\n"
    "expect: {half_open_reaped_within_grace: 1s}\n";

RunResult run_text(const std::string& text) {
  ParseResult pr = parse_scenario_text(text, "netns-test.yaml");
  if (!pr.ok()) {
    ADD_FAILURE() << pr.errors.front().to_string() << "\n" << text;
    return {};
  }
  RunOptions o;
  o.transport = TransportKind::Asio;
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

TEST(Netns, AServerWithAnIdleCheckReapsHostsThatVanishedOnTheWire) {
  REQUIRE_ROOT();
  const RunResult r = run_text(scenario("--port, '{port}', --idle-ms, 2000", kLossAndHalfOpen));
  EXPECT_EQ(r.status, "pass") << findings_text(r);
  EXPECT_EQ(r.network.rfind("namespace connfail-", 0), 0u) << r.network;
  EXPECT_FALSE(has_namespace_of(::getpid())) << "the run's namespace outlived it";
}

TEST(Netns, AServerWithoutOneKeepsThemForEver) {
  REQUIRE_ROOT();
  const RunResult r = run_text(scenario("--port, '{port}'", kLossAndHalfOpen));
  EXPECT_EQ(r.status, "fail");
  EXPECT_EQ(count_kind(r, "half-open-unreaped"), 3) << findings_text(r);
  EXPECT_FALSE(has_namespace_of(::getpid()));
}

TEST(Netns, AFailedSetUpLeavesNoNamespace) {
  REQUIRE_ROOT();
  // The server exits at once: a run error, after the namespace was made.
  const RunResult r = run_text(scenario("--port, '{port}', --mode, exit-at-start", kLossAndHalfOpen));
  EXPECT_EQ(status_of(r), "fail");
  EXPECT_EQ(count_kind(r, "run-error"), 1) << findings_text(r);
  EXPECT_FALSE(has_namespace_of(::getpid())) << "a failed run left its namespace";
}

std::string read_file(const std::string& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Netns, KillingConnfailMidRunRemovesItsNamespaceAndStopsTheServer) {
  REQUIRE_ROOT();
  char tmpl[] = "/tmp/connfail-netns-test-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string pid_file = dir + "/pid", file = dir + "/s.yaml";
  std::ofstream(file) << scenario("--port, '{port}', --spawn-child, --pid-file, " + pid_file, kLossAndHalfOpen, "60s");
  for (int sig : {SIGTERM, SIGINT}) {
    std::error_code ec;
    fs::remove(pid_file, ec);
    const pid_t cf = ::fork();
    ASSERT_GE(cf, 0);
    if (cf == 0) {
      ::execl(CONNFAIL_CLI, CONNFAIL_CLI, "run", file.c_str(), "--transport", "asio", "-q", "--out",
              (dir + "/out").c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500 && read_file(pid_file).empty(); ++i) std::this_thread::sleep_for(20ms);
    const pid_t server = static_cast<pid_t>(std::atoi(read_file(pid_file).c_str()));
    ASSERT_GT(server, 0) << "the server never started";
    EXPECT_TRUE(has_namespace_of(cf)) << "the run made no namespace";
    std::this_thread::sleep_for(1s);
    ::kill(cf, sig);
    int st = 0;
    ASSERT_EQ(::waitpid(cf, &st, 0), cf);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == sig) << "connfail ended with wait status " << st;
    EXPECT_FALSE(has_namespace_of(cf)) << "connfail's namespace outlived it (signal " << sig << ")";
    for (int i = 0; i < 100 && netcore::asio::process_group_alive(server); ++i) std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(netcore::asio::process_group_alive(server)) << "the server outlived connfail";
  }
  // The rules lived in the namespace only: the host has no table of ours.
  std::string out;
  ASSERT_EQ(netcore::asio::run_command({"nft", "list", "tables"}, "", out), 0) << out;
  EXPECT_EQ(out.find("connfail"), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(Netns, WithoutRootALossScenarioOnAsioIsRefusedAndNothingRuns) {
  REQUIRE_ROOT();  // to become someone else
  char tmpl[] = "/tmp/connfail-netns-test-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0777);
  const std::string file = dir + "/s.yaml", out_dir = dir + "/out", log = dir + "/log";
  std::ofstream(file) << scenario("--port, '{port}'", kLossAndHalfOpen);
  ::chmod(file.c_str(), 0644);
  const pid_t cf = ::fork();
  ASSERT_GE(cf, 0);
  if (cf == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(126);  // nobody
    ::execl(CONNFAIL_CLI, CONNFAIL_CLI, "run", file.c_str(), "--out", out_dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(cf, &st, 0), cf);
  const std::string text = read_file(log);
  ASSERT_TRUE(WIFEXITED(st)) << text;
  EXPECT_EQ(WEXITSTATUS(st), 2) << text;
  EXPECT_NE(text.find(file + ":"), std::string::npos) << text;
  EXPECT_NE(text.find("faults[0].kind: "), std::string::npos) << text;
  EXPECT_NE(text.find("needs root"), std::string::npos) << text;
  EXPECT_NE(text.find("nothing was run"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out_dir)) << "reports were written although nothing ran";
  fs::remove_all(dir);
}

}  // namespace
