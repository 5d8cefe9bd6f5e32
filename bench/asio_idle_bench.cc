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
//
//   build/default/bench/asio_idle_bench [--connections N] [--workload all|raw|floor|netcore]
//   defaults: --connections 5000 --workload all
//
// Prints the RSS growth per connection (client and server end together)
// and the ratio netcore / floor. Nothing here asserts: bench/README.md
// keeps the figures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio.hpp>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/reference_servers.h"

namespace {

long rss_kib() {
  std::ifstream in("/proc/self/status");
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

long in_child(long (*fn)(int), int n) {
  int p[2];
  if (::pipe(p) != 0) return -1;
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
    } else {
      std::fprintf(stderr, "usage: %s [--connections N] [--workload all|raw|floor|netcore]\n", argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (n <= 0 || (workload != "all" && workload != "raw" && workload != "floor" && workload != "netcore")) {
    std::fprintf(stderr, "asio_idle_bench: --connections must be > 0, --workload all, raw, floor or netcore\n");
    return 2;
  }
  raise_fd_limit(2L * n + 64);
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  if (static_cast<long>(r.rlim_cur) < 2L * n + 64) {
    std::fprintf(stderr, "asio_idle_bench: %d connections need %ld fds; the limit is %ld (ulimit -n)\n", n,
                 2L * n + 64, static_cast<long>(r.rlim_cur));
    return 2;
  }
  struct W {
    const char* name;
    long (*fn)(int);
    long kib = -1;
  };
  W ws[] = {{"raw", raw}, {"floor", floor_asio}, {"netcore", netcore_asio}};
  bool any = false;
  for (auto& w : ws) {
    if (workload != "all" && workload != w.name) continue;
    w.kib = in_child(w.fn, n);
    any = any || w.kib >= 0;
    std::printf("%-8s %6d connections: %8ld KiB RSS growth, %7.2f KiB per connection\n", w.name, n, w.kib,
                static_cast<double>(w.kib) / n);
  }
  if (ws[1].kib > 0 && ws[2].kib > 0)
    std::printf("ratio netcore / floor: %.2f (netcore adds %.2f KiB per connection to plain Asio)\n",
                static_cast<double>(ws[2].kib) / static_cast<double>(ws[1].kib),
                static_cast<double>(ws[2].kib - ws[1].kib) / n);
  return any ? 0 : 1;
}
