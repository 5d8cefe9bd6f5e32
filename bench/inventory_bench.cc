// Google Benchmark: what one Asio inventory costs, through sock_diag and
// through the /proc files, with the kernel's table holding other sockets'
// rows (bench/README.md). --foreign-rows=N first leaves N TIME_WAIT rows of
// loopback connections this program does not track (default 10000; they
// expire by themselves after the kernel's TIME_WAIT period, 60 s on Linux).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "connfail/netcore/asio/asio_transport.h"

namespace {

using netcore::asio::KernelTableSource;

// n loopback connections, each closed by its client first: n TIME_WAIT rows.
int leave_time_waits(int n) {
  const int l = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 128) != 0 ||
      ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("inventory_bench: loopback listener");
    return 0;
  }
  int made = 0;
  for (; made < n; ++made) {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("inventory_bench: connect");
      if (c >= 0) ::close(c);
      break;
    }
    const int s = ::accept(l, nullptr, nullptr);
    ::close(c);
    if (s >= 0) ::close(s);
  }
  ::close(l);
  return made;
}

void set_source(benchmark::State& state) {
  const auto source = state.range(0) == 0 ? KernelTableSource::SockDiag : KernelTableSource::ProcFiles;
  if (source == KernelTableSource::SockDiag && !netcore::asio::read_diag_tcp_table()) {
    state.SkipWithError("the kernel here does not answer NETLINK_SOCK_DIAG");
    return;
  }
  netcore::asio::set_kernel_table_source(source);
  state.SetLabel(source == KernelTableSource::SockDiag ? "sock_diag" : "proc");
}

// The whole table, every row turned into a KernelTcpEntry.
void BM_WholeTable(benchmark::State& state) {
  set_source(state);
  std::size_t rows = 0;
  for (auto _ : state) rows = netcore::asio::read_kernel_tcp_table().size();
  state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_WholeTable)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// One inventory of a transport holding one listener.
void BM_Inventory(benchmark::State& state) {
  set_source(state);
  netcore::asio::AsioTransport t;
  netcore::ListenOptions o;
  o.address = {"127.0.0.1", 0};
  auto listener = t.listen(o, [](std::shared_ptr<netcore::Socket>) {});
  std::size_t rows = 0;
  for (auto _ : state) rows = t.inventory().size();
  state.counters["ours"] = static_cast<double>(rows);
}
BENCHMARK(BM_Inventory)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  int foreign = 10000;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--foreign-rows=", 15) == 0) {
      char* end = nullptr;
      const long v = std::strtol(argv[i] + 15, &end, 10);
      if (*end != '\0' || v < 0 || v > 100000) {
        std::fprintf(stderr, "inventory_bench: --foreign-rows: expected 0..100000, got '%s'\n", argv[i] + 15);
        return 2;
      }
      foreign = static_cast<int>(v);
      for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      --i;
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  const int made = leave_time_waits(foreign);
  std::fprintf(stderr, "inventory_bench: %d TIME_WAIT rows left in the table\n", made);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
