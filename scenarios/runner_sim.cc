// The runner on the simulated transport: one SimWorld per run, each client
// group on its own host(s), link faults applied to the group's links.
#include <map>
#include <set>

#include "connfail/scenarios/registry.h"
#include "connfail/scenarios/runner_env.h"
#include "connfail/sim/sim_world.h"

namespace connfail::scenarios {

using namespace netcore;

namespace {

sim::LossSpec loss_of(const Fault& f) {
  sim::LossSpec l;
  switch (f.kind) {
    case FaultKind::Loss:
      l.kind = sim::LossSpec::Kind::Uniform;
      l.rate = f.rate;
      break;
    case FaultKind::BurstLoss:
      l.kind = sim::LossSpec::Kind::Burst;
      l.burst_start = f.rate;
      l.burst_min = f.burst_min;
      l.burst_max = f.burst_max;
      break;
    case FaultKind::GilbertElliott:
      l.kind = sim::LossSpec::Kind::GilbertElliott;
      l.p_good_to_bad = f.p_good_to_bad;
      l.p_bad_to_good = f.p_bad_to_good;
      l.loss_good = f.loss_good;
      l.loss_bad = f.loss_bad;
      break;
    default:
      break;
  }
  return l;
}

class SimEnv final : public RunnerEnv {
 public:
  SimEnv(const Scenario& s, const RunOptions& opts) : s_(s) {
    sim::WorldConfig wc;
    wc.seed = opts.seed;
    wc.linear_demux = opts.linear_demux;
    wc.tcp = s.tcp;
    int hosts = 0;
    for (const auto& g : s.clients) {
      std::vector<std::string> names;
      for (int h = 0; h < g.hosts; ++h) names.push_back("client" + std::to_string(hosts++));
      hosts_.push_back(names);
    }
    wc.clients = hosts;
    wc.link.rate = s.link_rate;
    wc.link.delay = s.link_delay;
    wc.backend = make_server_plan(s.server, opts.variant).backend != nullptr;
    wc.backend_link = wc.link;  // `link` applies to the backend's link too
    world_ = std::make_unique<sim::SimWorld>(wc);
    for (std::size_t g = 0; g < hosts_.size(); ++g)
      for (const auto& h : hosts_[g]) host_group_[world_->address_of(h)] = s.clients[g].name;
    epoch_ = world_->loop().now();
    if (!opts.pcap_prefix.empty()) world_->enable_pcap(opts.pcap_prefix);
  }

  EventLoop& loop() override { return world_->loop(); }
  TimePoint epoch() const override { return epoch_; }
  double time_scale() const override { return 1.0; }
  Transport& server_transport() override { return world_->transport("server"); }
  Transport& backend_transport() override { return world_->transport("backend"); }
  Address server_listen_address() override { return {"0.0.0.0", 7000}; }
  Address backend_listen_address() override { return {"0.0.0.0", 7001}; }
  Address backend_connect_address(const Address& l) override { return {world_->address_of("backend"), l.port}; }
  void server_started(const Address&) override {}
  Transport& client_transport(int group, int index) override {
    const auto& hs = hosts_.at(static_cast<std::size_t>(group));
    return world_->transport(hs[static_cast<std::size_t>(index) % hs.size()]);
  }
  Address client_connect_address(int, const Address& server) override {
    return {world_->address_of("server"), server.port};
  }

  void apply_link_fault(const Fault& f, const std::vector<int>& groups, bool on) override {
    if (f.kind == FaultKind::ServerVanish) {
      world_->set_node_up("server", !on);
      return;
    }
    for (int g : groups)
      for (const auto& h : hosts_.at(static_cast<std::size_t>(g))) {
        switch (f.kind) {
          case FaultKind::Loss:
          case FaultKind::BurstLoss:
          case FaultKind::GilbertElliott: {
            const sim::LossSpec l = on ? loss_of(f) : sim::LossSpec{};
            if (f.direction != Direction::FromServer) world_->set_loss(h, "server", l);
            if (f.direction != Direction::ToServer) world_->set_loss("server", h, l);
            break;
          }
          case FaultKind::Jitter: {
            sim::JitterSpec j;
            if (on) {
              j.kind = f.distribution == JitterDistribution::Uniform ? sim::JitterSpec::Kind::Uniform
                                                                     : sim::JitterSpec::Kind::Normal;
              j.max = f.max;
              j.mean = f.mean;
              j.sd = f.sd;
              j.bound = f.bound;
              j.allow_reorder = f.reorder;
              j.to_server = f.direction != Direction::FromServer;
              j.from_server = f.direction != Direction::ToServer;
            }
            world_->set_jitter(h, j);
            break;
          }
          case FaultKind::Partition:
            if (!vanished_.count(h)) world_->set_link_up(h, !on);
            break;
          default:
            break;  // not a sim link fault (the parser rejects these on sim)
        }
      }
  }

  void vanish_group(int group) override {
    for (const auto& h : hosts_.at(static_cast<std::size_t>(group))) {
      vanished_.insert(h);
      world_->set_link_up(h, false);
    }
  }

  void reset_connections(int, const std::vector<std::shared_ptr<Channel>>& chans) override {
    for (const auto& ch : chans) world_->inject_rst(ch->local_address(), ch->remote_address());
  }

  std::vector<SocketInfo> inventory() override { return world_->inventory(); }
  bool excluded(const SocketInfo& s) override { return vanished_.count(s.node) > 0; }
  std::string group_of_remote(const Address& remote) override {
    auto it = host_group_.find(remote.host);
    return it == host_group_.end() ? "" : it->second;
  }
  std::string server_node() const override { return "server"; }
  std::string backend_node() const override { return "backend"; }
  void teardown() override {}
  void settle() override {
    // Enough simulated time for FINs, RSTs and retransmissions to finish.
    world_->loop().run_for(std::chrono::seconds(5));
  }
  std::optional<long long> fd_delta() override { return std::nullopt; }
  std::uint64_t trace_hash() override { return world_->trace_hash(); }
  std::vector<SocketStateChange> state_changes() override {
    std::vector<SocketStateChange> out;
    out.reserve(world_->state_changes().size());
    for (const auto& c : world_->state_changes())
      out.push_back({std::chrono::duration<double>(c.t - epoch_).count(), c.socket, c.node, c.from, c.to, c.local,
                     c.remote});
    return out;
  }

 private:
  const Scenario& s_;
  std::unique_ptr<sim::SimWorld> world_;
  std::vector<std::vector<std::string>> hosts_;
  std::map<std::string, std::string> host_group_;  // host address -> group
  std::set<std::string> vanished_;
  TimePoint epoch_{};
};

}  // namespace

std::unique_ptr<RunnerEnv> make_sim_env(const Scenario& s, const RunOptions& opts) {
  return std::make_unique<SimEnv>(s, opts);
}

}  // namespace connfail::scenarios
