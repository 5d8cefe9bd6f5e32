// The runner on the real transport: one AsioTransport (loopback) per run; the
// server listens on 127.0.0.1, every client group connects through its own
// FaultProxy, which injects the group's network faults (latency, jitter,
// bandwidth, blackhole for partitions and vanished hosts, RST). Scenario time
// runs `time_scale` times faster or slower than the wall clock.
//
// With packet-level faults (a loss fault, or RunOptions::netns) the whole
// run -- server, server process, proxies, clients -- happens in a network
// namespace of its own (netcore/asio/netns.h): each group's proxy connects
// to the server from its own loopback address (127.1.x.y), and loss,
// partitions and vanished hosts are nftables rules on those addresses, so
// the server's kernel sees real loss and real silence (it retransmits, its
// keepalive probes go unanswered) instead of a proxy that stops forwarding.
#include <sys/resource.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/asio/fault_proxy.h"
#include "connfail/netcore/asio/netns.h"
#include "connfail/scenarios/fault_kinds.h"
#include "connfail/scenarios/runner.h"
#include "connfail/scenarios/runner_env.h"

namespace connfail::scenarios {

using namespace netcore;

namespace {

// Every client costs up to four descriptors on the real transport (its own
// socket, the fault proxy's two, the server's child), plus the server's
// listener, the proxies' listeners and the loop's own. The soft limit is
// raised to what the run needs, up to the hard limit; past that the run
// cannot be built, and is refused with the numbers.
void ensure_fd_limit(const Scenario& s) {
  long long clients = 0;
  for (const auto& g : s.clients) clients += g.count;
  const long long need = clients * 4 + static_cast<long long>(s.clients.size()) * 2 + 256;
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  if (r.rlim_cur != RLIM_INFINITY && static_cast<long long>(r.rlim_cur) >= need) return;
  if (r.rlim_max != RLIM_INFINITY && static_cast<long long>(r.rlim_max) < need)
    throw std::runtime_error(std::to_string(clients) + " clients need about " + std::to_string(need) +
                             " file descriptors on the real transport (4 per client), and the hard limit here is " +
                             std::to_string(static_cast<long long>(r.rlim_max)) +
                             " (ulimit -Hn; raise it, e.g. LimitNOFILE= or /etc/security/limits.conf, or use fewer "
                             "clients)");
  r.rlim_cur = r.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(need) : std::min<rlim_t>(r.rlim_max, need);
  if (::setrlimit(RLIMIT_NOFILE, &r) != 0)
    throw std::runtime_error("cannot raise the file-descriptor limit to " + std::to_string(need) + ": " +
                             std::strerror(errno));
}

class AsioEnv final : public RunnerEnv {
 public:
  AsioEnv(const Scenario& s, const RunOptions& opts)
      : s_(s),
        seed_(opts.seed),
        scale_(s.time_scale),
        ns_((ensure_fd_limit(s), opts.netns || needs_namespace(s)) ? netcore::asio::NetNamespace::create_and_enter()
                                                                  : nullptr) {
    // tcp.sysctl: the namespace's own TCP settings (the host's stay).
    if (ns_)
      for (const auto& [name, value] : s.tcp.sysctl) ns_->set_sysctl(name, value);
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
      // The proxy's connect to the server is the group's real connect: it
      // gets the group's connect_timeout (a fixed 5 s made the harness
      // close clients that a paused accept queue would have let in), but
      // never less than 5 s of wall time: the kernel retries a lost SYN
      // after 1 s and 3 s whatever time_scale says.
      proxies_.push_back(netcore::asio::FaultProxy::start(
          t_, {"127.0.0.1", 0}, upstream, std::uint64_t{seed_} * 1000 + g, source_of(g),
          std::max<Duration>(scaled(s_.clients[g].connect_timeout), std::chrono::seconds(5))));
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
          if (ns_)
            set_drop(&f, g, f.direction, on ? 1.0 : 0.0);
          else if (!vanished_.count(g))
            p.set_blackhole(on);
          break;
        case FaultKind::Loss:
          set_drop(&f, g, f.direction, on ? f.rate : 0.0);
          break;
        default:
          break;  // not injectable here (the parser rejects these on asio)
      }
    }
  }

  void vanish_group(int group) override {
    vanished_.insert(group);
    proxies_.at(static_cast<std::size_t>(group))->set_blackhole(true);
    // And on the wire: not a packet of the host passes any more, whatever
    // its kernel still sends (the FIN of a close, retransmissions, RSTs).
    if (ns_) set_drop(nullptr, group, scenarios::Direction::Both, 1.0);
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
    // By address and port: in a namespace each group's proxy connects from
    // an address of its own, and the kernel may give two of them the same
    // port (one group's connection was once judged as another's).
    for (std::size_t g = 0; g < proxies_.size(); ++g)
      for (const auto& pe : proxies_[g]->ledger().entries())
        if (pe.side == Side::Client && netcore::same_endpoint(pe.local, remote)) return s_.clients[g].name;
    return "";
  }
  std::string server_node() const override { return "local"; }
  std::string backend_node() const override { return "local"; }

  void teardown() override {
    for (auto& p : proxies_) p->close();
    process_inodes_ = nullptr;
  }
  std::string network() const override {
    if (!ns_) return "loopback";
    return "namespace " + ns_->name() + " (packet-level faults: " + std::to_string(ns_->rule_changes()) +
           " nftables rule change(s))";
  }
  void settle() override {
    // Closes on loopback complete in well under this. The worker loops are
    // stopped by now (stop_loops): their queued work runs here too.
    t_.run_all_for(std::chrono::milliseconds(200));
  }
  std::optional<long long> fd_delta() override {
    return static_cast<long long>(netcore::asio::process_fd_count()) - fds_before_;
  }
  std::uint64_t trace_hash() override { return 0; }
  std::size_t pending_timers() override { return t_.pending_timers(); }
  void stop_loops() override { t_.stop_workers(); }

 private:
  Duration scaled(Duration d) const { return Duration(static_cast<std::int64_t>(std::llround(d.count() * scale_))); }

  // A group's own source address for its proxy's upstream connections:
  // 127.1.0.1 for group 0 (all of 127/8 is the loopback's).
  std::string source_of(std::size_t g) const {
    if (!ns_) return "";
    return "127.1." + std::to_string(g / 250) + "." + std::to_string(g % 250 + 1);
  }

  // Sets the drop probability of `fault` (nullptr: a vanished host) on
  // group g's packets, in `dir`; 0 removes it. The whole rule set is
  // written again in one nft transaction.
  void set_drop(const Fault* fault, int g, scenarios::Direction dir, double rate) {
    if (!ns_) return;
    // The timeline hands over copies of the fault: it is known by what it
    // is, not by its address.
    const RuleKey key = fault ? RuleKey{static_cast<int>(fault->kind), fault->at.count(), fault->duration.count(),
                                        fault->pos.line, fault->pos.column, g}
                              : RuleKey{-1, 0, 0, 0, 0, g};
    if (rate <= 0) {
      rules_.erase(key);
    } else {
      const std::string src = source_of(static_cast<std::size_t>(g));
      const long long n = std::llround(std::min(rate, 1.0) * 1e6);
      const std::string action = n >= 1000000 ? "drop" : "numgen random mod 1000000 < " + std::to_string(n) + " drop";
      std::vector<std::string> v;
      if (dir != scenarios::Direction::FromServer) v.push_back("ip saddr " + src + " " + action);
      if (dir != scenarios::Direction::ToServer) v.push_back("ip daddr " + src + " " + action);
      rules_[key] = v;
    }
    std::vector<std::string> all;
    for (const auto& [k, v] : rules_) all.insert(all.end(), v.begin(), v.end());
    ns_->set_rules(all);
  }

  static bool needs_namespace(const Scenario& s) { return asio_needs_namespace(s); }

  const Scenario& s_;
  std::uint32_t seed_;
  double scale_;
  // Before the transport: created (and entered) first, deleted last.
  std::unique_ptr<netcore::asio::NetNamespace> ns_;
  using RuleKey = std::tuple<int, std::int64_t, std::int64_t, int, int, int>;  // kind, at, duration, line, column, group
  std::map<RuleKey, std::vector<std::string>> rules_;
  // The server's children on `loops` worker loops when it asks for more
  // than one (Netty's EventLoopGroup); the proxies and clients stay on the
  // transport's own loop.
  netcore::asio::AsioTransport t_{netcore::asio::AsioTransportOptions{s_.server.loops > 1 ? s_.server.loops : 0}};
  TimePoint epoch_{};
  long long fds_before_ = 0;
  std::vector<std::shared_ptr<netcore::asio::FaultProxy>> proxies_;
  std::set<int> vanished_;
  std::function<std::set<unsigned long>()> process_inodes_;
  std::uint16_t process_port_ = 0;
};

}  // namespace

// Packet-level faults; and keepalive, the user timeout and tcp.sysctl: the
// kernel's own timers, which only see a vanished peer as silence when no
// proxy's socket answers for it, and sysctls that must not touch the host.
bool asio_needs_namespace(const Scenario& s) {
  for (const auto& f : s.faults)
    if (fault_kind_info(f.kind).asio_needs_netns) return true;
  if (s.server.tcp.any() || !s.tcp.sysctl.empty()) return true;
  for (const auto& g : s.clients)
    if (g.tcp.any()) return true;
  return false;
}

std::string asio_unavailable_reason(const Scenario& s, bool force_netns) {
  return force_netns || asio_needs_namespace(s) ? netcore::asio::NetNamespace::unavailable_reason() : "";
}

std::unique_ptr<RunnerEnv> make_asio_env(const Scenario& s, const RunOptions& opts) {
  return std::make_unique<AsioEnv>(s, opts);
}

}  // namespace connfail::scenarios
