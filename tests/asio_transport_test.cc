// Asio transport specifics: the kernel TCP table parser and OS inventory.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <thread>
#include <vector>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/asio/asio_transport.h"

namespace {

using namespace netcore;
using netcore::asio::parse_proc_net_tcp;

TEST(ProcNetTcp, ParsesIpv4Rows) {
  const std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n"
      "   1: 0100007F:1F90 0100007F:C350 08 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1\n"
      "   2: 0100007F:C351 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n";
  auto rows = parse_proc_net_tcp(text, false);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].local.host, "127.0.0.1");
  EXPECT_EQ(rows[0].local.port, 8080);
  EXPECT_EQ(rows[0].state, TcpState::Listen);
  EXPECT_EQ(rows[0].inode, 12345u);
  EXPECT_EQ(rows[1].state, TcpState::CloseWait);
  EXPECT_EQ(rows[1].remote.port, 50000);
  EXPECT_EQ(rows[2].state, TcpState::TimeWait);
  EXPECT_EQ(rows[2].inode, 0u);
}

TEST(ProcNetTcp, ParsesIpv6Loopback) {
  const std::string text =
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n";
  auto rows = parse_proc_net_tcp(text, true);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].local.host, "::1");
  EXPECT_EQ(rows[0].local.port, 8080);
}

// A read of /proc/net/tcp that races other sockets repeats rows near a page
// boundary, sometimes in a newer state: one row per socket stays, the later.
TEST(ProcNetTcp, RepeatedRowsCountOnce) {
  const std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0\n"
      "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 101 1 0\n"
      "   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0\n"
      "   3: 0100007F:1F90 0100007F:C350 08 00000000:00000000 00:00000000 00000000     0        0 101 1 0\n"
      "   4: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 103 1 0\n"
      "   5: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0\n";
  auto rows = netcore::asio::dedupe_kernel_rows(parse_proc_net_tcp(text, false));
  ASSERT_EQ(rows.size(), 4u);  // two listeners (SO_REUSEPORT: two inodes), one connection's two ends
  int listeners = 0;
  for (const auto& r : rows) {
    if (r.state == TcpState::Listen) ++listeners;
    if (r.inode == 101) {
      EXPECT_EQ(r.state, TcpState::CloseWait) << "the later copy wins";
    }
  }
  EXPECT_EQ(listeners, 2);
}

// An acceptor on 127.0.0.1, any free port, whose children do nothing.
std::shared_ptr<Acceptor> loopback_acceptor(asio::AsioTransport& t, ConnectionLedger& ledger) {
  AcceptorOptions o;
  o.listen.address = {"127.0.0.1", 0};
  return Acceptor::start(t, ledger, [](Channel&) {}, o);
}

// The two ways to read the kernel's table give the same rows: sockets in
// five states on one listening port, IPv4 and IPv6, TIME_WAIT (no inode)
// included.
TEST(KernelTcpTable, SockDiagAndProcFilesAgree) {
  if (!netcore::asio::read_diag_tcp_table())
    GTEST_SKIP() << "the kernel here does not answer NETLINK_SOCK_DIAG; the inventory reads /proc/net/tcp";
  std::vector<int> fds;
  std::set<std::uint16_t> client_ports;
  auto open_pairs = [&](int family, const char* loopback) -> std::uint16_t {
    const int l = ::socket(family, SOCK_STREAM, 0);
    if (l < 0) return 0;
    fds.push_back(l);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      ::inet_pton(AF_INET, loopback, &a->sin_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      ::inet_pton(AF_INET6, loopback, &a->sin6_addr);
      len = sizeof *a;
    }
    if (::bind(l, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(l, 8) != 0) return 0;
    ::getsockname(l, reinterpret_cast<sockaddr*>(&ss), &len);
    auto connect_one = [&] {
      const int c = ::socket(family, SOCK_STREAM, 0);
      EXPECT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&ss), len), 0);
      return c;
    };
    // ESTABLISHED both ways; FIN_WAIT2 / CLOSE_WAIT; TIME_WAIT; and one
    // still in the accept queue.
    const int c1 = connect_one(), a1 = ::accept(l, nullptr, nullptr);
    const int c2 = connect_one(), a2 = ::accept(l, nullptr, nullptr);
    const int c3 = connect_one(), a3 = ::accept(l, nullptr, nullptr);
    const int c4 = connect_one();
    // Every port of ours: a row is ours only when both its ends are (other
    // tests' TIME_WAIT rows can name a port number that is now ours).
    for (int fd : {c1, c2, c3, c4}) {
      sockaddr_storage a{};
      socklen_t alen = sizeof a;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &alen);
      client_ports.insert(family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port)
                                            : ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port));
    }
    ::close(c2);
    ::close(a3);
    ::close(c3);
    for (int fd : {c1, a1, a2, c4}) fds.push_back(fd);
    (void)a2;
    return family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                             : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  };
  std::set<std::uint16_t> ports;
  if (auto p = open_pairs(AF_INET, "127.0.0.1")) ports.insert(p);
  if (auto p = open_pairs(AF_INET6, "::1")) ports.insert(p);
  ASSERT_FALSE(ports.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // FINs and ACKs on loopback
  using Row = std::tuple<std::string, std::uint16_t, std::string, std::uint16_t, TcpState, unsigned long>;
  auto ours = [&](const std::vector<netcore::asio::KernelTcpEntry>& rows) {
    std::set<Row> out;
    auto mine = [&](std::uint16_t port) { return ports.count(port) > 0 || client_ports.count(port) > 0; };
    for (const auto& r : rows)
      if ((ports.count(r.local.port) || ports.count(r.remote.port)) && mine(r.local.port) &&
          (r.remote.port == 0 || mine(r.remote.port)))
        out.insert({r.local.host, r.local.port, r.remote.host, r.remote.port, r.state, r.inode});
    return out;
  };
  const int families = static_cast<int>(ports.size());
  auto count_states = [](const std::set<Row>& rows) {
    std::map<TcpState, int> n;
    for (const auto& r : rows) ++n[std::get<4>(r)];
    return n;
  };
  auto settled = [&](const std::set<Row>& rows) {
    auto n = count_states(rows);
    return n[TcpState::Listen] == families && n[TcpState::Established] == 4 * families &&
           n[TcpState::CloseWait] == families && n[TcpState::FinWait2] == families && n[TcpState::TimeWait] == families;
  };
  // The two reads are not one snapshot: on a busy machine a FIN or an ACK
  // can still be on its way between them. Compare only a table that held
  // still across both reads (sock_diag before and after /proc) and has
  // reached the states made above, waiting up to 5 s for it.
  std::set<Row> from_diag, from_proc;
  for (int attempt = 0; attempt < 250; ++attempt) {
    from_diag = ours(*netcore::asio::read_diag_tcp_table());
    from_proc = ours(netcore::asio::read_proc_tcp_table());
    if (from_diag == ours(*netcore::asio::read_diag_tcp_table()) && settled(from_diag)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(from_diag, from_proc);
  auto states = count_states(from_diag);
  EXPECT_EQ(states[TcpState::Listen], families);
  EXPECT_EQ(states[TcpState::Established], 4 * families);  // c1, a1, c4 and its peer in the accept queue
  EXPECT_EQ(states[TcpState::CloseWait], families);
  EXPECT_EQ(states[TcpState::FinWait2], families);
  EXPECT_EQ(states[TcpState::TimeWait], families);
  for (int fd : fds) ::close(fd);
}

TEST(AsioInventory, SeesListenerAndConnectionsFromTheKernel) {
  asio::AsioTransport t;
  ConnectionLedger ledger;
  auto acceptor = loopback_acceptor(t, ledger);
  std::shared_ptr<Channel> client;
  connect_channel(t, ledger, {"127.0.0.1", acceptor->local_address().port}, std::chrono::seconds(5),
                  [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) { client = ch; });
  ASSERT_TRUE(t.loop().run_until([&] { return client && acceptor->accepted() == 1; }, std::chrono::seconds(5)));
  auto inv = t.inventory();
  int listeners = 0, established = 0;
  for (const auto& s : inv) {
    if (s.role == SocketRole::Listener) ++listeners;
    if (s.state == TcpState::Established) {
      ++established;
      EXPECT_TRUE(s.held_by_app);
    }
  }
  EXPECT_EQ(listeners, 1);
  EXPECT_EQ(established, 2);
  client->close();
  acceptor->close();
  t.loop().run_until([&] { return live_connections(t.inventory()).empty(); }, std::chrono::seconds(5));
  EXPECT_TRUE(live_connections(t.inventory()).empty());
}

// Other processes' sockets come and go while the inventory is read (ctest -j
// runs other Asio tests beside this one): the kernel's table then comes out
// with rows repeated or missing, and the inventory must still list each of
// ours exactly once. A thread churns loopback connections, closed with RST so
// that no TIME_WAIT piles up, and the inventory is sampled meanwhile. Once
// per source of the kernel's table.
class TableSource : public testing::TestWithParam<asio::KernelTableSource> {
 protected:
  void SetUp() override {
    if (GetParam() == asio::KernelTableSource::SockDiag && !asio::read_diag_tcp_table())
      GTEST_SKIP() << "the kernel here does not answer NETLINK_SOCK_DIAG";
    asio::set_kernel_table_source(GetParam());
  }
  void TearDown() override { asio::set_kernel_table_source(asio::KernelTableSource::Auto); }
};

INSTANTIATE_TEST_SUITE_P(AsioInventory, TableSource,
                         testing::Values(asio::KernelTableSource::SockDiag, asio::KernelTableSource::ProcFiles),
                         [](const testing::TestParamInfo<asio::KernelTableSource>& i) {
                           return std::string(i.param == asio::KernelTableSource::SockDiag ? "SockDiag" : "ProcFiles");
                         });

TEST_P(TableSource, CountsEachSocketOnceWhileOthersComeAndGo) {
  asio::AsioTransport t;
  ConnectionLedger ledger;
  auto acceptor = loopback_acceptor(t, ledger);
  // Sixteen connections, so that some of our rows land near a page (or
  // batch) boundary of the table wherever the 4-tuples hash.
  constexpr int kClients = 16;
  std::vector<std::shared_ptr<Channel>> clients;
  for (int i = 0; i < kClients; ++i)
    connect_channel(t, ledger, {"127.0.0.1", acceptor->local_address().port}, std::chrono::seconds(5),
                    [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) {
                      if (ch) clients.push_back(ch);
                    });
  ASSERT_TRUE(t.loop().run_until([&] { return clients.size() == kClients && acceptor->accepted() == kClients; },
                                 std::chrono::seconds(5)));

  std::atomic<bool> stop{false};
  std::atomic<int> churned{0};
  std::thread churn([&] {
    const int l = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 256) != 0 ||
        ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!stop && std::chrono::steady_clock::now() < deadline) {
      std::vector<int> fds;
      for (int i = 0; i < 64; ++i) {
        const int c = ::socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0) break;
        fds.push_back(c);
        if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) break;
        const int s = ::accept(l, nullptr, nullptr);
        if (s >= 0) fds.push_back(s);
      }
      for (int fd : fds) {
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(fd);
      }
      ++churned;
    }
    ::close(l);
  });
  // Let the churn fill the table past a page before sampling.
  while (churned < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int bad = 0;
  std::string first_bad;
  // 100 samples, or as many as 8 s allow (a table of thousands of rows under
  // TSan takes a while to read).
  int samples = 0;
  const auto sampling_ends = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  for (int sample = 0; sample < 100 && std::chrono::steady_clock::now() < sampling_ends; ++sample, ++samples) {
    int listeners = 0, established = 0;
    for (const auto& s : t.inventory()) {
      if (s.role == SocketRole::Listener) ++listeners;
      if (s.state == TcpState::Established) ++established;
    }
    if (listeners != 1 || established != 2 * kClients) {
      if (bad++ == 0)
        first_bad = "sample " + std::to_string(sample) + ": " + std::to_string(listeners) + " listener(s), " +
                    std::to_string(established) + " established";
    }
  }
  stop = true;
  churn.join();
  EXPECT_GE(churned.load(), 2);
  EXPECT_GE(samples, 10);
  EXPECT_EQ(bad, 0) << bad << " of " << samples << " samples wrong; the first: " << first_bad;
  for (auto& c : clients) c->close();
  acceptor->close();
  t.loop().run_until([&] { return live_connections(t.inventory()).empty(); }, std::chrono::seconds(5));
  const auto live = live_connections(t.inventory());
  std::string rows;
  for (const auto& s : live)
    rows += " " + s.local.to_string() + "->" + s.remote.to_string() + " " + to_string(s.state) +
            (s.held_by_app ? " (held)" : "");
  EXPECT_TRUE(live.empty()) << "left:" << rows;
}

// run_until drives the loop for its whole limit even when the loop has no
// work: run_for(d) lasts d, and a condition that changes without any loop
// work (the kernel's view of a socket, wall time) can be waited for. It used
// to return as soon as the io_context ran out of work.
TEST(AsioLoopTest, RunForLastsItsDurationWithNothingToDo) {
  asio::AsioTransport t;
  const auto start = std::chrono::steady_clock::now();
  t.loop().run_for(std::chrono::milliseconds(100));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST(AsioLoopTest, RunUntilWaitsForAConditionNoLoopWorkChanges) {
  asio::AsioTransport t;
  const auto ready_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  EXPECT_TRUE(t.loop().run_until([&] { return std::chrono::steady_clock::now() >= ready_at; },
                                 std::chrono::seconds(5)));
  EXPECT_FALSE(t.loop().run_until([] { return false; }, std::chrono::milliseconds(20)));
}

// The transport's own bookkeeping stays bounded over many connections: an
// expired weak_ptr to a socket still pins its make_shared block (with the
// 64 KiB read buffer), so the soak once grew ~140 KiB per cycle. 6000
// sockets come and go (closed with RST: no TIME_WAIT rows keep their pairs).
TEST(AsioTransportTest, BookkeepingStaysBoundedOverManyConnections) {
  asio::AsioTransport t;
  ConnectionLedger ledger;
  auto acceptor = loopback_acceptor(t, ledger);
  const int cycles = 3000;
  int launched = 0, finished = 0;
  std::function<void()> launch = [&] {
    if (launched >= cycles) return;
    ++launched;
    connect_channel(t, ledger, {"127.0.0.1", acceptor->local_address().port}, std::chrono::seconds(5),
                    [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) {
                      ++finished;
                      if (ch) ch->abort();
                      launch();
                    });
  };
  for (int i = 0; i < 8; ++i) launch();
  ASSERT_TRUE(t.loop().run_until([&] { return finished == cycles; }, std::chrono::seconds(60)))
      << finished << " of " << cycles << " connects finished";
  // A connection reset while still in the accept queue is never accepted
  // (Linux drops it): most are, not necessarily all.
  t.loop().run_for(std::chrono::milliseconds(200));
  acceptor->close();
  t.loop().run_until([&] { return ledger.open_count() == 0; }, std::chrono::seconds(5));
  EXPECT_GT(acceptor->accepted(), static_cast<std::uint64_t>(cycles / 2));
  EXPECT_LE(t.tracked_sockets(), 2048u) << "of " << 2 * cycles << " sockets";
  EXPECT_LE(t.tracked_client_pairs(), 4096u) << "of " << cycles << " connections";
}

TEST(AsioTransportTest, ListenOnAPortInUseNamesTheAddress) {
  asio::AsioTransport t;
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"127.0.0.1", 0};
  auto a = Acceptor::start(t, ledger, [](Channel&) {}, o);
  o.listen.address.port = a->local_address().port;
  try {
    auto b = Acceptor::start(t, ledger, [](Channel&) {}, o);
    FAIL() << "second listen succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(o.listen.address.port)), std::string::npos)
        << e.what();
  }
}

}  // namespace

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace {

// Out of file descriptors: the acceptor backs off instead of spinning, the
// connection waits in the kernel's queue, and is accepted once fds are back.
//
// Not built under ASan: the sanitizer runtimes need fds of their own (UBSan's
// vptr check probes memory through a pipe) and misreport once the process
// has none left. It runs in the default and tsan presets.
#if !defined(__SANITIZE_ADDRESS__)
TEST(AsioAcceptor, RunsOutOfFdsWithoutSpinningAndRecovers) {
  netcore::asio::AsioTransport t;
  netcore::ConnectionLedger ledger;
  auto acceptor = loopback_acceptor(t, ledger);
  // The client connects while nobody accepts: it waits in the kernel's queue.
  acceptor->listener().pause();
  std::shared_ptr<netcore::Channel> client;
  netcore::connect_channel(t, ledger, {"127.0.0.1", acceptor->local_address().port}, std::chrono::seconds(5),
                           [](netcore::Channel&) {}, {},
                           [&](std::shared_ptr<netcore::Channel> ch, netcore::SocketError) { client = ch; });
  ASSERT_TRUE(t.loop().run_until([&] { return client != nullptr; }, std::chrono::seconds(5)));

  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // The limit caps fd *numbers*: fill every gap below the highest open fd,
  // then allow no number above it, so accept() fails with EMFILE.
  std::vector<int> fillers;
  int top = -1;
  for (;;) {
    const int fd = ::open("/dev/null", O_RDONLY);
    ASSERT_GE(fd, 0);
    bool above = false;
    for (int other = fd + 1; other < fd + 64 && !above; ++other) above = fcntl(other, F_GETFD) != -1;
    if (!above) {  // nothing open above it: the gaps are filled
      top = fd;
      ::close(fd);
      break;
    }
    fillers.push_back(fd);
  }
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(top);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  acceptor->listener().resume();
  t.loop().run_for(std::chrono::milliseconds(500));
  const auto errors = t.accept_errors();
  const auto accepted = acceptor->accepted();
  setrlimit(RLIMIT_NOFILE, &saved);
  for (int fd : fillers) ::close(fd);
  EXPECT_GE(errors, 1u) << "accept never failed: the fd limit did not bite";
  EXPECT_LE(errors, 10u) << "accept errors repeat without back-off: the listener spins";
  EXPECT_EQ(accepted, 0u);

  ASSERT_TRUE(t.loop().run_until([&] { return acceptor->accepted() == 1; }, std::chrono::seconds(5)));
  client->close();
  acceptor->close();
  t.loop().run_until([&] { return netcore::live_connections(t.inventory()).empty() && ledger.open_count() == 0; },
                     std::chrono::seconds(5));
  EXPECT_TRUE(netcore::live_connections(t.inventory()).empty());
  EXPECT_EQ(ledger.open_count(), 0u);
}
#endif  // !__SANITIZE_ADDRESS__

}  // namespace
