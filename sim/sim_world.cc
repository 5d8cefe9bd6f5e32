#include "sim/sim_world.h"

#include <ns3/core-module.h>
#include <ns3/internet-module.h>
#include <ns3/network-module.h>
#include <ns3/point-to-point-module.h>

#include <stdexcept>

#include "sim/jitter_channel.h"
#include "sim/loss_models.h"
#include "sim/ns3_loop.h"
#include "sim/sim_transport.h"

namespace connfail::sim {

namespace {
bool g_world_alive = false;
}

struct SimWorld::Impl {
  WorldConfig cfg;
  Ns3Loop loop;
  TraceSink trace;
  std::vector<std::string> names;
  ns3::NodeContainer nodes;
  std::map<std::string, std::unique_ptr<SimTransport>> transports;
  std::map<std::string, std::string> address;
  std::vector<ns3::NetDeviceContainer> links;  // per client i: Get(0) server side, Get(1) client side
  std::uint64_t dropped = 0;
  std::vector<ns3::Ptr<JitterChannel>> channels;  // per client link
  std::vector<ns3::Ptr<LinkErrorModel>> link_models;  // 2*i: server side of link i, 2*i+1: client side

  void on_drop(ns3::Ptr<const ns3::Packet>) { ++dropped; }

  void on_tx(std::string device, ns3::Ptr<const ns3::Packet> p) {
    const std::int64_t t = ns3::Simulator::Now().GetNanoSeconds();
    trace.mix(&t, sizeof t);
    trace.mix(device.data(), device.size());
    std::vector<std::uint8_t> buf(p->GetSize());
    p->CopyData(buf.data(), p->GetSize());
    trace.mix(buf.data(), buf.size());
    ++trace.packets;
  }
};

SimWorld::SimWorld(WorldConfig cfg) : impl_(std::make_unique<Impl>()) {
  if (g_world_alive) throw std::logic_error("SimWorld: only one world may exist at a time");
  if (cfg.clients < 1) throw std::invalid_argument("SimWorld: at least one client host");
  g_world_alive = true;
  impl_->cfg = cfg;
  // Seeds first, before any random variable exists.
  ns3::RngSeedManager::SetSeed(cfg.seed);
  ns3::RngSeedManager::SetRun(cfg.run);
  ns3::Ipv4AddressGenerator::Reset();
  ns3::Config::SetDefault("ns3::TcpSocket::SegmentSize", ns3::UintegerValue(cfg.segment_size));

  const int n = cfg.clients + 1;
  impl_->nodes.Create(static_cast<uint32_t>(n));
  impl_->names.push_back("server");
  for (int i = 0; i < cfg.clients; ++i) impl_->names.push_back("client" + std::to_string(i));

  ns3::InternetStackHelper stack;
  stack.Install(impl_->nodes);

  ns3::PointToPointHelper p2p;
  p2p.SetDeviceAttribute("DataRate", ns3::StringValue(cfg.link.rate));
  p2p.SetChannelAttribute("Delay", ns3::TimeValue(ns3::NanoSeconds(cfg.link.delay.count())));
  ns3::Ipv4AddressHelper ip;
  for (int i = 0; i < cfg.clients; ++i) {
    auto devs = p2p.Install(impl_->nodes.Get(0), impl_->nodes.Get(static_cast<uint32_t>(i + 1)));
    impl_->links.push_back(devs);
    // The helper cannot build a custom channel: move both devices onto a
    // JitterChannel with the same delay (no jitter until set_jitter()).
    auto channel = ns3::CreateObject<JitterChannel>();
    channel->SetAttribute("Delay", ns3::TimeValue(ns3::NanoSeconds(cfg.link.delay.count())));
    channel->AssignStreams(5000 + 4 * static_cast<int64_t>(i));
    for (uint32_t d = 0; d < 2; ++d) ns3::DynamicCast<ns3::PointToPointNetDevice>(devs.Get(d))->Attach(channel);
    impl_->channels.push_back(channel);
    for (uint32_t d = 0; d < 2; ++d) {
      devs.Get(d)->TraceConnectWithoutContext("PhyRxDrop", ns3::MakeCallback(&Impl::on_drop, impl_.get()));
      auto link_model = ns3::CreateObject<LinkErrorModel>();
      ns3::DynamicCast<ns3::PointToPointNetDevice>(devs.Get(d))->SetReceiveErrorModel(link_model);
      impl_->link_models.push_back(link_model);  // index 2*i + d
    }
    // 10.<hi>.<lo>.0/24 per link: up to 65,535 client hosts.
    const int link = i + 1;
    const std::string base = "10." + std::to_string(link / 256) + "." + std::to_string(link % 256) + ".0";
    ip.SetBase(base.c_str(), "255.255.255.0");
    auto ifs = ip.Assign(devs);
    std::ostringstream os;
    ifs.GetAddress(1).Print(os);
    impl_->address[impl_->names[static_cast<std::size_t>(i + 1)]] = os.str();
    if (i == 0) {
      std::ostringstream ss;
      ifs.GetAddress(0).Print(ss);
      impl_->address["server"] = ss.str();
    }
    for (uint32_t d = 0; d < 2; ++d) {
      const std::string dev = impl_->names[d == 0 ? 0 : static_cast<std::size_t>(i + 1)] + "/" + std::to_string(link);
      devs.Get(d)->TraceConnectWithoutContext(
          "MacTx", ns3::MakeCallback(&Impl::on_tx, impl_.get()).Bind(dev));
    }
  }
  ns3::Ipv4GlobalRoutingHelper::PopulateRoutingTables();
  // Objects (traffic control, devices) initialise in events at time 0: run
  // them now so sockets can be used before the first run_until().
  ns3::Simulator::Stop(ns3::Seconds(0));
  ns3::Simulator::Run();

  for (int i = 0; i < n; ++i) {
    const std::string& name = impl_->names[static_cast<std::size_t>(i)];
    impl_->transports.emplace(
        name, std::make_unique<SimTransport>(impl_->loop, impl_->nodes.Get(static_cast<uint32_t>(i)),
                                             name, impl_->trace));
  }
}

SimWorld::~SimWorld() {
  impl_->transports.clear();
  ns3::Simulator::Destroy();
  g_world_alive = false;
}

netcore::EventLoop& SimWorld::loop() { return impl_->loop; }

netcore::Transport& SimWorld::transport(const std::string& node) {
  auto it = impl_->transports.find(node);
  if (it == impl_->transports.end()) throw std::out_of_range("SimWorld: no node named '" + node + "'");
  return *it->second;
}

std::string SimWorld::address_of(const std::string& node) const {
  auto it = impl_->address.find(node);
  if (it == impl_->address.end()) throw std::out_of_range("SimWorld: no node named '" + node + "'");
  return it->second;
}

std::vector<std::string> SimWorld::nodes() const { return impl_->names; }

std::vector<netcore::SocketInfo> SimWorld::inventory() const {
  std::vector<netcore::SocketInfo> out;
  for (const auto& name : impl_->names) {
    auto v = impl_->transports.at(name)->inventory();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

void SimWorld::set_loss(const std::string& from, const std::string& to, const LossSpec& spec) {
  auto index_of = [&](const std::string& n) -> int {
    for (std::size_t i = 0; i < impl_->names.size(); ++i)
      if (impl_->names[i] == n) return static_cast<int>(i);
    throw std::invalid_argument("set_loss: no node named '" + n + "'");
  };
  const int a = index_of(from), b = index_of(to);
  if ((a == 0) == (b == 0) || a == b)
    throw std::invalid_argument("set_loss: '" + from + "' and '" + to + "' are not directly linked");
  const int client = a == 0 ? b : a;
  const uint32_t rx_side = b == 0 ? 0u : 1u;  // the receiving device drops A->B
  auto prob_ok = [](double p) { return p >= 0.0 && p <= 1.0; };
  ns3::Ptr<ns3::ErrorModel> em;
  // Fixed stream numbers per link and direction: adding a link elsewhere
  // does not reshuffle this link's draws.
  const int64_t stream = 1000 + 16 * static_cast<int64_t>(client) + 8 * rx_side;
  switch (spec.kind) {
    case LossSpec::Kind::None:
      break;
    case LossSpec::Kind::Uniform: {
      if (!prob_ok(spec.rate)) throw std::invalid_argument("set_loss: rate must be in [0, 1]");
      auto m = ns3::CreateObject<ns3::RateErrorModel>();
      m->SetUnit(ns3::RateErrorModel::ERROR_UNIT_PACKET);  // the default is per byte
      m->SetRate(spec.rate);
      m->AssignStreams(stream);
      em = m;
      break;
    }
    case LossSpec::Kind::Burst: {
      if (!prob_ok(spec.burst_start) || spec.burst_min < 1 || spec.burst_max < spec.burst_min)
        throw std::invalid_argument("set_loss: burst_start in [0, 1] and 1 <= burst_min <= burst_max");
      auto start = ns3::CreateObject<ns3::UniformRandomVariable>();
      start->SetStream(stream);
      auto size = ns3::CreateObject<ns3::UniformRandomVariable>();
      size->SetAttribute("Min", ns3::DoubleValue(spec.burst_min));
      size->SetAttribute("Max", ns3::DoubleValue(spec.burst_max + 1));
      size->SetStream(stream + 1);  // its own stream (ns-3's AssignStreams shares one)
      auto m = ns3::CreateObject<ns3::BurstErrorModel>();
      m->SetBurstRate(spec.burst_start);
      m->SetRandomVariable(start);
      m->SetRandomBurstSize(size);
      em = m;
      break;
    }
    case LossSpec::Kind::GilbertElliott: {
      if (!prob_ok(spec.p_good_to_bad) || !prob_ok(spec.p_bad_to_good) || !prob_ok(spec.loss_good) ||
          !prob_ok(spec.loss_bad))
        throw std::invalid_argument("set_loss: Gilbert-Elliott probabilities must be in [0, 1]");
      auto m = ns3::CreateObject<GilbertElliottErrorModel>();
      m->SetParameters(spec.p_good_to_bad, spec.p_bad_to_good, spec.loss_good, spec.loss_bad);
      m->AssignStreams(stream);
      em = m;
      break;
    }
  }
  impl_->link_models[2 * static_cast<std::size_t>(client - 1) + rx_side]->SetLoss(em);
}

void SimWorld::set_link_up(const std::string& client, bool up) {
  std::size_t idx = 0;
  for (; idx < impl_->names.size(); ++idx)
    if (impl_->names[idx] == client) break;
  if (idx == 0 || idx >= impl_->names.size())
    throw std::invalid_argument("set_link_up: '" + client + "' is not a client host");
  impl_->link_models[2 * (idx - 1)]->SetDark(!up);
  impl_->link_models[2 * (idx - 1) + 1]->SetDark(!up);
}

bool SimWorld::link_up(const std::string& client) const {
  for (std::size_t idx = 1; idx < impl_->names.size(); ++idx)
    if (impl_->names[idx] == client) return !impl_->link_models[2 * (idx - 1)]->IsDark();
  throw std::invalid_argument("link_up: '" + client + "' is not a client host");
}

void SimWorld::set_jitter(const std::string& client, const JitterSpec& spec) {
  std::size_t idx = 1;
  for (; idx < impl_->names.size(); ++idx)
    if (impl_->names[idx] == client) break;
  if (idx >= impl_->names.size()) throw std::invalid_argument("set_jitter: '" + client + "' is not a client host");
  auto& ch = impl_->channels[idx - 1];
  auto ns = [](netcore::Duration d) { return ns3::NanoSeconds(d.count()); };
  switch (spec.kind) {
    case JitterSpec::Kind::None:
      ch->ClearJitter();
      break;
    case JitterSpec::Kind::Uniform:
      if (spec.max < netcore::Duration::zero()) throw std::invalid_argument("set_jitter: max must be >= 0");
      ch->SetUniformJitter(ns(spec.max), spec.allow_reorder);
      break;
    case JitterSpec::Kind::Normal:
      if (spec.sd < netcore::Duration::zero() || spec.bound < netcore::Duration::zero())
        throw std::invalid_argument("set_jitter: sd and bound must be >= 0");
      ch->SetNormalJitter(ns(spec.mean), ns(spec.sd), ns(spec.bound), spec.allow_reorder);
      break;
  }
}

std::uint64_t SimWorld::packets_reordered() const {
  std::uint64_t n = 0;
  for (const auto& c : impl_->channels) n += c->Reordered();
  return n;
}

std::uint64_t SimWorld::packets_dropped() const { return impl_->dropped; }

std::uint64_t SimWorld::trace_hash() const { return impl_->trace.hash; }
std::uint64_t SimWorld::packets_sent() const { return impl_->trace.packets; }

}  // namespace connfail::sim
