// soak: a long, bounded run of connect / echo / close cycles on loopback,
// through netcore on the Asio transport, with faults mixed in (fault-proxy
// resets, server handlers that throw, clients that close with RST), and a
// check that nothing accumulates: afterwards the process holds as many file
// descriptors as before, the kernel's table holds no socket of the run in
// any state but TIME_WAIT (which the kernel ends by itself), every ledger is
// empty of open channels, and resident memory grew by at most the stated
// bound after warm-up.
//
//   soak --cycles 1000000 [--batch 10000] [--concurrency 64]
//        [--proxy-share 0.1] [--rss-bound-mib 32]
//
// The cycles run in batches, each with its own echo server, fault proxy and
// ledgers (a ledger keeps every channel it ever saw; one per batch keeps
// the soak's own bookkeeping bounded). Exit 0: every check held; 1: one did
// (each failure is printed); 2: bad arguments.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unistd.h>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/asio/fault_proxy.h"
#include "connfail/netcore/fault_injector.h"
#include "connfail/netcore/reference_servers.h"

namespace {

using namespace netcore;
using namespace std::chrono_literals;

long rss_kib() {
  std::ifstream in("/proc/self/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct Options {
  long cycles = 1000000;
  long batch = 10000;
  int concurrency = 64;
  double proxy_share = 0.1;
  long rss_bound_mib = 32;
  std::uint64_t seed = 1;
  bool progress = false;  // a line per batch
  bool sabotage = false;  // leak a channel per batch, a file descriptor and 64 KiB per cycle: the checks must fail
};

struct Counts {
  long done = 0, connect_failures = 0, echoed_whole = 0, resets = 0, aborts = 0, exceptions = 0;
};

/// One client cycle's pipeline: write a request on active, close (FIN, or
/// RST every 7th) once the echo is back.
class Cycle final : public Handler {
 public:
  Cycle(bool rst, Counts& c) : rst_(rst), c_(c) {}
  void channel_active(Context& ctx) override {
    ctx.write_and_flush(Bytes(64, 0x5a));
    ctx.fire_channel_active();
  }
  void channel_read(Context& ctx, std::any msg) override {
    if (const auto* b = std::any_cast<Bytes>(&msg)) got_ += b->size();
    if (got_ >= 64) {
      ++c_.echoed_whole;
      if (rst_) {
        ++c_.aborts;
        ctx.channel().abort();
      } else {
        ctx.close();
      }
    }
  }

 private:
  bool rst_;
  Counts& c_;
  std::size_t got_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"soak: connect / echo / close cycles on loopback with faults; checks that nothing accumulates"};
  app.add_option("--cycles", o.cycles, "Cycles in all")->check(CLI::Range(1L, 100000000L))->capture_default_str();
  app.add_option("--batch", o.batch, "Cycles per batch (own server, proxy, ledgers)")
      ->check(CLI::Range(1L, 10000000L))
      ->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "Cycles in flight at once")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--proxy-share", o.proxy_share, "Share of cycles through the fault proxy")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--rss-bound-mib", o.rss_bound_mib, "Resident memory may grow by this much after the first batch")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of the fault choices")->capture_default_str();
  app.add_flag("--progress", o.progress, "Print a line per batch (cycles, RSS, fds, transport bookkeeping)");
  app.add_flag("--sabotage", o.sabotage,
               "Leak one client channel per batch, one file descriptor and 64 KiB per cycle, to show the checks "
               "fail (exit 1)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  asio::AsioTransport t;
  EventLoop& loop = t.loop();
  const std::size_t fds_before = asio::process_fd_count();
  std::set<std::uint16_t> ports;  // every port a server or proxy of the run listened on
  Counts c;
  std::mt19937_64 rng(o.seed);
  std::vector<std::shared_ptr<Channel>> leaked;  // --sabotage only
  std::vector<std::vector<char>> hoard;          // --sabotage only: 64 KiB kept per cycle
  if (o.sabotage) (void)::dup(0);
  long warm_rss = 0;
  bool ok = true;
  const auto started = std::chrono::steady_clock::now();

  for (long batch_start = 0; batch_start < o.cycles; batch_start += o.batch) {
    const long n = std::min(o.batch, o.cycles - batch_start);
    ConnectionLedger server_ledger, client_ledger;
    FaultInjector faults(o.seed + static_cast<std::uint64_t>(batch_start));
    faults.throw_with_probability("echo", PipelineEvent::Read, 0.01);
    AcceptorOptions ao;
    ao.listen.address = {"127.0.0.1", 0};
    ao.listen.backlog = 1024;
    ao.faults = &faults;
    auto server = Acceptor::start(t, server_ledger, echo_server(), ao);
    auto proxy = asio::FaultProxy::start(t, {"127.0.0.1", 0}, server->local_address(), o.seed + 7);
    ports.insert(server->local_address().port);
    ports.insert(proxy->local_address().port);
    long launched = 0, finished = 0;
    std::function<void()> launch = [&] {
      if (launched >= n) return;
      ++launched;
      if (o.sabotage) hoard.emplace_back(64 * 1024, 'x');
      const bool via_proxy = std::uniform_real_distribution<double>(0, 1)(rng) < o.proxy_share;
      const bool rst = launched % 7 == 0;
      const bool leak = o.sabotage && launched == n / 2;
      const Address to = via_proxy ? proxy->local_address() : server->local_address();
      if (via_proxy && launched % 50 == 0) {
        // A middlebox resets everything the proxy holds, a little later.
        loop.schedule(1ms, [&, p = std::weak_ptr<asio::FaultProxy>(proxy)] {
          if (auto sp = p.lock()) c.resets += static_cast<long>(sp->reset_peer());
        });
      }
      ChannelOptions co;
      co.label = "soak";
      connect_channel(t, client_ledger, to, 5s,
                      [rst, &c](Channel& ch) { ch.pipeline().add_last("cycle", std::make_shared<Cycle>(rst, c)); }, co,
                      [&, leak](std::shared_ptr<Channel> ch, SocketError) {
                        if (ch && leak) {
                          // Sabotage: never closed, counted as done.
                          ch->pipeline().remove_all();
                          leaked.push_back(ch);
                          ++finished;
                          launch();
                          return;
                        }
                        if (!ch) {
                          ++c.connect_failures;
                          ++finished;
                          launch();
                          return;
                        }
                        ch->on_close([&] {
                          ++finished;
                          launch();
                        });
                      });
    };
    for (int i = 0; i < o.concurrency; ++i) launch();
    loop.run_until([&] { return finished >= n; }, 600s);
    if (finished < n) {
      std::printf("FAIL batch at %ld: %ld of %ld cycles finished within 10 minutes\n", batch_start, finished, n);
      ok = false;
    }
    proxy->close();
    server->close();
    loop.run_until([&] { return server_ledger.open_count() == 0 && client_ledger.open_count() == 0; }, 5s);
    if (server_ledger.open_count() != 0 || client_ledger.open_count() != 0) {
      std::printf("FAIL batch at %ld: %zu server and %zu client channels still open\n", batch_start,
                  server_ledger.open_count(), client_ledger.open_count());
      ok = false;
    }
    c.exceptions += static_cast<long>(server_ledger.count(CloseReason::Exception));
    c.done += finished;
    proxy.reset();
    server.reset();
    loop.run_for(20ms);
    if (warm_rss == 0) warm_rss = rss_kib();
    if (o.progress)
      std::printf("batch at %ld: %ld cycles done, RSS %ld KiB, fds %zu, tracked sockets %zu, client pairs %zu\n",
                  batch_start, c.done, rss_kib(), asio::process_fd_count(), t.tracked_sockets(),
                  t.tracked_client_pairs());
  }
  loop.run_for(200ms);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const std::size_t fds_after = asio::process_fd_count();
  const long rss_end = rss_kib();  // before the table below is read (131072 TIME_WAIT rows can be 16 MiB)
  long lingering = 0, time_wait = 0;
  for (const auto& row : asio::read_kernel_tcp_table()) {
    if (!ports.count(row.local.port) && !ports.count(row.remote.port)) continue;
    if (row.state == TcpState::TimeWait)
      ++time_wait;
    else
      ++lingering;
  }
  std::printf("cycles %ld in %.1f s (%.0f/s); connect failures %ld; echoed whole %ld; client RSTs %ld; proxy resets %ld; "
              "server exceptions %ld\n",
              c.done, secs, c.done / secs, c.connect_failures, c.echoed_whole, c.aborts, c.resets, c.exceptions);
  std::printf("fds before %zu, after %zu; kernel rows of the run: %ld open (not TIME_WAIT), %ld TIME_WAIT; "
              "RSS after the first batch %ld KiB, at the end %ld KiB (+%ld KiB)\n",
              fds_before, fds_after, lingering, time_wait, warm_rss, rss_end, rss_end - warm_rss);
  if (fds_after != fds_before) {
    std::printf("FAIL the process holds %ld more file descriptors than before\n",
                static_cast<long>(fds_after) - static_cast<long>(fds_before));
    ok = false;
  }
  if (lingering != 0) {
    std::printf("FAIL %ld sockets of the run are still in the kernel's table (not TIME_WAIT)\n", lingering);
    ok = false;
  }
  if (rss_end - warm_rss > o.rss_bound_mib * 1024) {
    std::printf("FAIL resident memory grew by %ld KiB after the first batch, more than %ld MiB\n", rss_end - warm_rss,
                o.rss_bound_mib);
    ok = false;
  }
  if (c.done != o.cycles) {
    std::printf("FAIL %ld of %ld cycles ran\n", c.done, o.cycles);
    ok = false;
  }
  std::printf("%s\n", ok ? "soak: every check held" : "soak: FAILED");
  return ok ? 0 : 1;
}
