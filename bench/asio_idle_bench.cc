// What an idle connection costs in user space on the Asio transport: N
// loopback connections (both ends in this process) held open and idle,
// measured as resident memory (RSS) growth per connection. Three workloads,
// each in a forked child so each starts from the same RSS:
//   raw      the same N connections as bare fds: the kernel's buffers are
//            not in RSS, so this shows what is left (about nothing);
//   floor    plain Asio, no netcore: a tcp::socket per end with one
//            async_wait(read) outstanding, the least an Asio transport can
//            hold per connection -- the baseline;
//   netcore  netcore's AsioTransport: an Acceptor with the echo pipeline and
//            N connect_channel clients.
// And the server end alone, against Netty (the clients are bare fds, which
// cost nothing in user space):
//   server   netcore on AsioTransport with NettyServer's echo pipeline
//            (IdleStateHandler with a 600 s reader idle time, closer, echo);
//   netty    examples/java-netty's NettyServer in echo mode (IdleStateHandler,
//            closer, echo; one boss and two worker NIO loops) with a 600 s
//            idle time, Netty 4.1 from Debian, run by this program: the
//            JVM's RSS growth, and its live heap growth (jcmd
//            GC.class_histogram, which collects first).
//
//   build/default/bench/asio_idle_bench [--connections N] [--workload all|raw|floor|netcore|server|netty]
//                                       [--loops N]  (the server workload's worker loops; default 1)
//   defaults: --connections 5000 --workload all (netty only when built with
//   the Java example: CONNFAIL_JAVA_TESTS)
//
// Prints the RSS growth per connection (client and server end together)
// and the ratios netcore / floor and server / netty. Nothing here asserts:
// bench/README.md keeps the figures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include <boost/asio.hpp>

#include <csignal>
#include <thread>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/idle_state_handler.h"
#include "connfail/netcore/reference_servers.h"

#ifndef CONNFAIL_NETTY_CLASSPATH
#define CONNFAIL_NETTY_CLASSPATH ""
#endif
#ifndef CONNFAIL_JAVA
#define CONNFAIL_JAVA "java"
#endif

namespace {

long rss_kib_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> value;
      return value;
    }
    in.ignore(4096, '\n');
  }
  return -1;
}

long rss_kib() { return rss_kib_of(::getpid()); }

void raise_fd_limit(long want) {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  if (static_cast<long>(r.rlim_cur) < want) {
    r.rlim_cur = std::min<rlim_t>(r.rlim_max, static_cast<rlim_t>(want));
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

// Bare sockets: a listener, N connects, N accepts; nothing in user space.
long raw(int n) {
  const int l = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(l, 4096);
  ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(2 * n));
  const long before = rss_kib();
  for (int i = 0; i < n; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("asio_idle_bench: connect");
      return -1;
    }
    fds.push_back(c);
    fds.push_back(::accept(l, nullptr, nullptr));
  }
  return rss_kib() - before;
}

// Plain Asio: N accepted and N connected sockets, each waiting to read.
long floor_asio(int n) {
  namespace ba = boost::asio;
  using tcp = ba::ip::tcp;
  ba::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(ba::ip::make_address("127.0.0.1"), 0));
  acc.listen(4096);
  const auto ep = acc.local_endpoint();
  std::vector<std::unique_ptr<tcp::socket>> socks;
  socks.reserve(static_cast<std::size_t>(2 * n));
  const long before = rss_kib();
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<tcp::socket>(io);
    c->connect(ep);
    auto s = std::make_unique<tcp::socket>(acc.accept());
    for (auto* x : {c.get(), s.get()}) x->async_wait(tcp::socket::wait_read, [](const boost::system::error_code&) {});
    socks.push_back(std::move(c));
    socks.push_back(std::move(s));
  }
  io.poll();
  return rss_kib() - before;
}

// netcore on Asio: an Acceptor with the echo pipeline, N connect_channel
// clients, all idle once connected.
long netcore_asio(int n) {
  netcore::asio::AsioTransport t;
  netcore::ConnectionLedger ledger;
  netcore::AcceptorOptions ao;
  ao.listen.address = {"127.0.0.1", 0};
  ao.listen.backlog = 4096;
  auto acceptor = netcore::Acceptor::start(t, ledger, netcore::echo_server(), ao);
  const netcore::Address to = acceptor->local_address();
  std::vector<std::shared_ptr<netcore::Channel>> clients;
  clients.reserve(static_cast<std::size_t>(n));
  int failed = 0;
  const long before = rss_kib();
  // In batches, as a reconnecting fleet would arrive.
  for (int i = 0; i < n;) {
    const int batch = std::min(256, n - i);
    for (int k = 0; k < batch; ++k)
      netcore::connect_channel(t, ledger, to, std::chrono::seconds(10), [](netcore::Channel&) {}, {},
                               [&](std::shared_ptr<netcore::Channel> ch, netcore::SocketError) {
                                 if (ch) clients.push_back(std::move(ch));
                                 else ++failed;
                               });
    i += batch;
    t.loop().run_until([&] { return static_cast<int>(clients.size()) + failed >= i; }, std::chrono::seconds(30));
  }
  // Let every server child be set up.
  t.loop().run_until([&] { return ledger.open_count() >= static_cast<std::size_t>(2 * n); }, std::chrono::seconds(30));
  const long grown = rss_kib() - before;
  if (failed > 0 || static_cast<int>(clients.size()) != n) {
    std::fprintf(stderr, "asio_idle_bench: %d of %d connects failed\n", failed, n);
    return -1;
  }
  return grown;
}

constexpr auto kIdle = std::chrono::seconds(5);  // CPU is measured over this idle stretch

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// User + system CPU seconds of a process (/proc/PID/stat, fields 14 and 15).
double cpu_seconds_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  const auto close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void report_rate_and_idle(const char* name, int n, double connect_s, double idle_cpu_s) {
  std::printf("%-8s %6d connections: connected and accepted in %.2f s (%.0f per s); idle CPU %.1f ms per s\n", name,
              n, connect_s, n / connect_s, 1000.0 * idle_cpu_s / std::chrono::duration<double>(kIdle).count());
  std::fflush(stdout);
}

// N bare client connections to 127.0.0.1:port from a helper process of
// their own (each process then needs only n fds). Returns its pid; `status`
// gets one byte once it is done: 'y' every connect succeeded, 'n' not. The
// helper holds the connections until it is killed.
pid_t spawn_clients(int n, std::uint16_t port, int& status) {
  int p[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, p) != 0) return -1;
  std::fflush(stdout);  // or a child prints the parent's buffered lines again
  const pid_t pid = ::fork();
  if (pid != 0) {
    ::close(p[1]);
    status = p[0];
    return pid;
  }
  ::close(p[0]);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(n));
  char ok = 'y';
  for (int i = 0; i < n; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    // One source address per 20,000 connections: the ephemeral ports of one
    // address (32768-60999) would end at about 28,000.
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | (1u << 8) | static_cast<unsigned>(1 + i / 20000));
    // The port is chosen at connect(), unique per 4-tuple: a TIME_WAIT of
    // an earlier run on loopback can be reused (tcp_tw_reuse).
    const int one = 1;
    if (c >= 0) ::setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (c < 0 || ::bind(c, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("asio_idle_bench: connect");
      ok = 'n';
      break;
    }
    fds.push_back(c);
  }
  (void)!::write(p[1], &ok, 1);
  for (;;) ::pause();
}

/// Waits for the helper's byte; kills it.
bool clients_ok(pid_t helper, int status) {
  char ok = 'n';
  if (::read(status, &ok, 1) != 1) ok = 'n';
  ::close(status);
  ::kill(helper, SIGKILL);
  ::waitpid(helper, nullptr, 0);
  return ok == 'y';
}

// What NettyServer's echo mode has: IdleStateHandler (600 s reader idle:
// armed, never due), the closer, echo.
netcore::PipelineInit netty_echo_pipeline() {
  return [](netcore::Channel& ch) {
    netcore::IdleConfig idle;
    idle.reader = std::chrono::seconds(600);
    ch.pipeline()
        .add_last("idle", std::make_shared<netcore::IdleStateHandler>(idle))
        .add_last("idle-closer", std::make_shared<netcore::IdleCloser>())
        .add_last("echo", std::make_shared<netcore::EchoHandler>());
  };
}

// --loops: the server workload's worker loops (1: the accepting loop only).
int g_loops = 1;

// netcore's equivalent of NettyServer's echo mode on Asio, N bare clients;
// with --loops N, on N worker loops (NettyServer runs 2 workers).
long server_asio(int n) {
  netcore::asio::AsioTransport t(netcore::asio::AsioTransportOptions{g_loops > 1 ? g_loops : 0});
  netcore::ConnectionLedger ledger;
  netcore::AcceptorOptions ao;
  ao.listen.address = {"127.0.0.1", 0};
  ao.listen.backlog = 4096;
  auto acceptor = netcore::Acceptor::start(t, ledger, netty_echo_pipeline(), ao);
  t.loop().run_for(std::chrono::milliseconds(50));
  const long before = rss_kib();
  int status = -1;
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t helper = spawn_clients(n, acceptor->local_address().port, status);
  t.loop().run_until([&] { return ledger.open_count() >= static_cast<std::size_t>(n); }, std::chrono::seconds(120));
  const double connect_s = seconds_since(t0);
  const long grown = rss_kib() - before;
  const double cpu0 = cpu_seconds_of(::getpid());
  t.loop().run_for(kIdle);
  report_rate_and_idle("server", n, connect_s, cpu_seconds_of(::getpid()) - cpu0);
  // Counted before the clients go: with worker loops the server's channels
  // close (on their own threads) as soon as the helper is killed.
  const std::size_t held = ledger.open_count();
  const bool ok = helper > 0 && clients_ok(helper, status);
  // The workers go before the ledger and the acceptor they use.
  t.stop_workers();
  if (!ok || held != static_cast<std::size_t>(n)) {
    std::fprintf(stderr, "asio_idle_bench: the server holds %zu of %d connections\n", held, n);
    std::map<std::string, int> why;
    for (const auto& e : ledger.snapshot())
      if (!e.is_open()) ++why[netcore::to_string(e.reason) + (e.detail.empty() ? "" : " (" + e.detail + ")")];
    for (const auto& [reason, count] : why) std::fprintf(stderr, "  closed %d: %s\n", count, reason.c_str());
    return -1;
  }
  return grown;
}

std::size_t fd_count_of(pid_t pid) {
  std::size_t n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

// Live heap of a JVM in KiB: the "Total" line of jcmd GC.class_histogram
// (which runs a full collection first); -1 if jcmd cannot tell.
long jvm_live_heap_kib(pid_t pid) {
  std::string jcmd = CONNFAIL_JAVA;
  const auto slash = jcmd.rfind('/');
  jcmd = slash == std::string::npos ? "jcmd" : jcmd.substr(0, slash + 1) + "jcmd";
  const std::string cmd = jcmd + " " + std::to_string(pid) + " GC.class_histogram 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return -1;
  char line[512];
  long bytes = -1;
  while (std::fgets(line, sizeof line, f)) {
    long instances = 0, b = 0;
    if (std::sscanf(line, "Total %ld %ld", &instances, &b) == 2) bytes = b;
  }
  ::pclose(f);
  return bytes < 0 ? -1 : bytes / 1024;
}

// A port for the JVM to listen on: below the ephemeral range (the clients'
// sockets, and the TIME_WAIT they leave, take ports from 32768 up), free on
// every address.
std::uint16_t free_port() {
  for (unsigned p = 20000 + static_cast<unsigned>(::getpid()) % 10000, tries = 0; tries < 2000; ++tries, ++p) {
    const std::uint16_t port = static_cast<std::uint16_t>(20000 + (p - 20000) % 12000);
    const int l = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(port);
    const bool ok = ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(l);
    if (ok) return port;
  }
  return 0;
}

long netty_heap_kib = -1;  // the netty workload's live-heap growth

// Netty's echo server in a JVM, N bare clients from here.
long netty(int n) {
  const std::string cp = CONNFAIL_NETTY_CLASSPATH;
  if (cp.empty()) {
    std::fprintf(stderr, "asio_idle_bench: built without the Java example (CONNFAIL_JAVA_TESTS=OFF): no netty workload\n");
    return -1;
  }
  const std::uint16_t port = free_port();
  const std::string port_s = std::to_string(port);
  std::fflush(stdout);  // or a child prints the parent's buffered lines again
  const pid_t jvm = ::fork();
  if (jvm == 0) {
    ::setpgid(0, 0);
    ::execlp(CONNFAIL_JAVA, CONNFAIL_JAVA, "-cp", cp.c_str(), "-Xmx1g", "NettyServer", "--port", port_s.c_str(),
             "--mode", "echo", "--idle-seconds", "600", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto stop = [&] {
    ::kill(-jvm, SIGKILL);
    ::kill(jvm, SIGKILL);
    ::waitpid(jvm, nullptr, 0);
  };
  // Ready when the port accepts (20 s at most).
  bool ready = false;
  for (int i = 0; i < 400 && !ready; ++i) {
    if (::waitpid(jvm, nullptr, WNOHANG) == jvm) break;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    ready = ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(c);
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!ready) {
    std::fprintf(stderr, "asio_idle_bench: the Netty server did not listen on port %u\n", port);
    stop();
    return -1;
  }
  // Warm: the probe's connection set up Netty's per-loop state; let the JIT
  // and the first collection pass.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long heap_before = jvm_live_heap_kib(jvm);
  const long before = rss_kib_of(jvm);
  const std::size_t fds_before = fd_count_of(jvm);
  int status = -1;
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t helper = spawn_clients(n, port, status);
  // Accepted and registered: the JVM holds an fd per connection.
  for (int i = 0; i < 2400 && fd_count_of(jvm) < fds_before + static_cast<std::size_t>(n); ++i) {
    pollfd pf{status, POLLIN, 0};
    if (::poll(&pf, 1, 50) > 0) {  // the helper is done: it failed, or all are connected
      char peek = 0;
      if (::recv(status, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && peek == 'n') break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  const double connect_s = seconds_since(t0);
  const std::size_t held = fd_count_of(jvm) - fds_before;
  const long grown = rss_kib_of(jvm) - before;
  const double cpu0 = cpu_seconds_of(jvm);
  std::this_thread::sleep_for(kIdle);
  report_rate_and_idle("netty", n, connect_s, cpu_seconds_of(jvm) - cpu0);
  const long heap_after = jvm_live_heap_kib(jvm);
  stop();
  const bool ok = helper > 0 && clients_ok(helper, status);
  if (!ok || held < static_cast<std::size_t>(n)) {
    std::fprintf(stderr, "asio_idle_bench: the Netty server holds %zu of %d connections\n", held, n);
    return -1;
  }
  if (heap_before >= 0 && heap_after >= 0) netty_heap_kib = heap_after - heap_before;
  return grown;
}

long in_child(long (*fn)(int), int n) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  std::fflush(stdout);  // or a child prints the parent's buffered lines again
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    const long v = fn(n);
    (void)!::write(p[1], &v, sizeof v);
    ::_exit(0);
  }
  ::close(p[1]);
  long v = -1;
  if (::read(p[0], &v, sizeof v) != static_cast<ssize_t>(sizeof v)) v = -1;
  ::close(p[0]);
  ::waitpid(pid, nullptr, 0);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 5000;
  std::string workload = "all";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--connections" && i + 1 < argc) {
      n = std::atoi(argv[++i]);
    } else if (a == "--workload" && i + 1 < argc) {
      workload = argv[++i];
    } else if (a == "--loops" && i + 1 < argc) {
      g_loops = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--connections N] [--workload all|raw|floor|netcore|server|netty] [--loops N]\n",
                   argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (g_loops < 1 || g_loops > 64) {
    std::fprintf(stderr, "asio_idle_bench: --loops must be 1 to 64\n");
    return 2;
  }
  if (n <= 0 || (workload != "all" && workload != "raw" && workload != "floor" && workload != "netcore" &&
                 workload != "server" && workload != "netty")) {
    std::fprintf(stderr,
                 "asio_idle_bench: --connections must be > 0, --workload all, raw, floor, netcore, server or netty\n");
    return 2;
  }
  // raw, floor and netcore hold both ends in one process; server and netty
  // one end per process.
  const long per_process = (workload == "server" || workload == "netty" ? 1L : 2L) * n + 64;
  raise_fd_limit(per_process);
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  if (static_cast<long>(r.rlim_cur) < per_process) {
    std::fprintf(stderr, "asio_idle_bench: %d connections need %ld fds; the limit is %ld (ulimit -n)\n", n,
                 per_process, static_cast<long>(r.rlim_cur));
    return 2;
  }
  struct W {
    const char* name;
    long (*fn)(int);
    long kib = -1;
  };
  W ws[] = {{"raw", raw}, {"floor", floor_asio}, {"netcore", netcore_asio}, {"server", server_asio}, {"netty", netty}};
  bool any = false;
  for (auto& w : ws) {
    if (workload != "all" && workload != w.name) continue;
    if (workload == "all" && w.fn == netty && std::string(CONNFAIL_NETTY_CLASSPATH).empty()) continue;
    // The netty workload measures another process: it runs here.
    w.kib = w.fn == netty ? netty(n) : in_child(w.fn, n);
    any = any || w.kib >= 0;
    std::printf("%-8s %6d connections: %8ld KiB RSS growth, %7.2f KiB per connection\n", w.name, n, w.kib,
                static_cast<double>(w.kib) / n);
  }
  if (ws[1].kib > 0 && ws[2].kib > 0)
    std::printf("ratio netcore / floor: %.2f (netcore adds %.2f KiB per connection to plain Asio)\n",
                static_cast<double>(ws[2].kib) / static_cast<double>(ws[1].kib),
                static_cast<double>(ws[2].kib - ws[1].kib) / n);
  if (netty_heap_kib >= 0)
    std::printf("netty    live heap growth (after a full GC): %ld KiB, %.2f KiB per connection\n", netty_heap_kib,
                static_cast<double>(netty_heap_kib) / n);
  if (ws[3].kib > 0 && ws[4].kib > 0)
    std::printf("ratio server / netty (RSS per server-side connection): %.2f\n",
                static_cast<double>(ws[3].kib) / static_cast<double>(ws[4].kib));
  return any ? 0 : 1;
}
