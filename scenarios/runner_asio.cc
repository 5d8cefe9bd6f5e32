// The runner on the real transport: one AsioTransport (loopback) per run; the
// server listens on 127.0.0.1, every client group connects through its own
// FaultProxy, which injects the group's network faults (latency, jitter,
// bandwidth, blackhole for partitions and vanished hosts, RST). Scenario time
// runs `time_scale` times faster or slower than the wall clock.
#include <cmath>
#include <map>
#include <set>

#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/asio/fault_proxy.h"
#include "connfail/scenarios/runner_env.h"

namespace connfail::scenarios {

using namespace netcore;

namespace {

class AsioEnv final : public RunnerEnv {
 public:
  AsioEnv(const Scenario& s, const RunOptions& opts) : s_(s), seed_(opts.seed), scale_(s.time_scale) {
    epoch_ = t_.loop().now();
    fds_before_ = static_cast<long long>(netcore::asio::process_fd_count());
  }
  ~AsioEnv() override {
    for (auto& p : proxies_) p->close();
  }

  EventLoop& loop() override { return t_.loop(); }
  TimePoint epoch() const override { return epoch_; }
  double time_scale() const override { return scale_; }
  Transport& server_transport() override { return t_; }
  Transport& backend_transport() override { return t_; }
  Address server_listen_address() override { return {"127.0.0.1", 0}; }
  Address backend_listen_address() override { return {"127.0.0.1", 0}; }
  Address backend_connect_address(const Address& l) override { return {"127.0.0.1", l.port}; }
  void server_started(const Address& listening) override {
    // Where the server listens (a server process may name its own host).
    Address upstream = listening;
    if (upstream.host.empty() || upstream.host == "0.0.0.0" || upstream.host == "::") upstream.host = "127.0.0.1";
    for (std::size_t g = 0; g < s_.clients.size(); ++g)
      proxies_.push_back(netcore::asio::FaultProxy::start(t_, {"127.0.0.1", 0}, upstream,
                                                          std::uint64_t{seed_} * 1000 + g));
  }
  Transport& client_transport(int, int) override { return t_; }
  void server_down(bool down) override {
    for (auto& p : proxies_) p->set_listening(!down);
  }
  Address client_connect_address(int group, const Address&) override {
    return proxies_.at(static_cast<std::size_t>(group))->local_address();
  }

  void apply_link_fault(const Fault& f, const std::vector<int>& groups, bool on) override {
    using netcore::asio::Direction;
    std::vector<Direction> dirs;
    if (f.direction != scenarios::Direction::FromServer) dirs.push_back(Direction::Upstream);
    if (f.direction != scenarios::Direction::ToServer) dirs.push_back(Direction::Downstream);
    for (int g : groups) {
      auto& p = *proxies_.at(static_cast<std::size_t>(g));
      switch (f.kind) {
        case FaultKind::Jitter:
          for (auto d : dirs) {
            if (!on) {
              p.set_latency(d, Duration::zero(), Duration::zero());
            } else if (f.distribution == JitterDistribution::Uniform) {
              p.set_latency(d, Duration::zero(), scaled(f.max));
            } else {
              // The proxy's jitter is uniform: a normal(mean, sd) bounded
              // delay becomes mean - sd plus a uniform [0, 2 sd], clamped to
              // the bound.
              const Duration lo = std::max(Duration::zero(), f.mean - f.sd);
              const Duration span = std::min(f.sd * 2, f.bound - lo);
              p.set_latency(d, scaled(lo), scaled(std::max(Duration::zero(), span)));
            }
          }
          break;
        case FaultKind::Latency:
          for (auto d : dirs) p.set_latency(d, on ? scaled(f.latency) : Duration::zero(), Duration::zero());
          break;
        case FaultKind::Bandwidth:
          for (auto d : dirs)
            p.set_bandwidth(d, on ? static_cast<std::uint64_t>(std::llround(f.bytes_per_second / scale_)) : 0);
          break;
        case FaultKind::Partition:
          if (!vanished_.count(g)) p.set_blackhole(on);
          break;
        default:
          break;  // not injectable here (the parser rejects these on asio)
      }
    }
  }

  void vanish_group(int group) override {
    vanished_.insert(group);
    proxies_.at(static_cast<std::size_t>(group))->set_blackhole(true);
  }

  void reset_connections(int group, const std::vector<std::shared_ptr<Channel>>&) override {
    proxies_.at(static_cast<std::size_t>(group))->reset_peer();
  }

  std::vector<SocketInfo> inventory() override {
    std::vector<SocketInfo> v = t_.inventory();
    if (!process_inodes_) return v;
    const std::set<unsigned long> inodes = process_inodes_();
    const std::uint16_t port = process_port_;
    const auto rows = netcore::asio::read_kernel_tcp_table(
        [&](std::uint16_t local, std::uint16_t, unsigned long inode) {
          return inode != 0 ? inodes.count(inode) != 0 : local == port;
        });
    for (const auto& r : rows) {
      SocketInfo si;
      si.role = r.state == TcpState::Listen ? SocketRole::Listener : SocketRole::KernelOnly;
      si.state = r.state;
      si.local = r.local;
      si.remote = r.remote;
      si.held_by_app = r.inode != 0;  // the process holds an fd of it
      si.node = external_server_node();
      v.push_back(std::move(si));
    }
    return v;
  }
  void restart_clock() override {
    t_.asio_loop().restart_clock();
    epoch_ = t_.loop().now();
  }
  void watch_server_process(std::function<std::set<unsigned long>()> inodes, std::uint16_t port) override {
    process_inodes_ = std::move(inodes);
    process_port_ = port;
  }

  bool excluded(const SocketInfo& s) override {
    // By ports: reading the inventory again per row would make every sample
    // cost (rows x proxies) reads of /proc/net/tcp.
    for (const auto& p : proxies_)
      if (p->owns(s)) return true;
    return false;
  }

  std::string group_of_remote(const Address& remote) override {
    for (std::size_t g = 0; g < proxies_.size(); ++g)
      for (const auto& pe : proxies_[g]->ledger().entries())
        if (pe.side == Side::Client && pe.local.port == remote.port) return s_.clients[g].name;
    return "";
  }
  std::string server_node() const override { return "local"; }
  std::string backend_node() const override { return "local"; }

  void teardown() override {
    for (auto& p : proxies_) p->close();
    process_inodes_ = nullptr;
  }
  void settle() override {
    // Closes on loopback complete in well under this.
    t_.loop().run_for(std::chrono::milliseconds(200));
  }
  std::optional<long long> fd_delta() override {
    return static_cast<long long>(netcore::asio::process_fd_count()) - fds_before_;
  }
  std::uint64_t trace_hash() override { return 0; }

 private:
  Duration scaled(Duration d) const { return Duration(static_cast<std::int64_t>(std::llround(d.count() * scale_))); }

  const Scenario& s_;
  std::uint32_t seed_;
  double scale_;
  netcore::asio::AsioTransport t_;
  TimePoint epoch_{};
  long long fds_before_ = 0;
  std::vector<std::shared_ptr<netcore::asio::FaultProxy>> proxies_;
  std::set<int> vanished_;
  std::function<std::set<unsigned long>()> process_inodes_;
  std::uint16_t process_port_ = 0;
};

}  // namespace

std::unique_ptr<RunnerEnv> make_asio_env(const Scenario& s, const RunOptions& opts) {
  return std::make_unique<AsioEnv>(s, opts);
}

}  // namespace connfail::scenarios
