#include "connfail/sim/sim_world.h"

#include <ns3/core-module.h>
#include <ns3/internet-module.h>
#include <ns3/network-module.h>
#include <ns3/point-to-point-module.h>

#include <array>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "connfail/sim/cf_tcp_socket.h"
#include "connfail/sim/jitter_channel.h"
#include "connfail/sim/loss_models.h"
#include "connfail/sim/ns3_loop.h"
#include "connfail/sim/raw_tcp.h"
#include "connfail/sim/sim_transport.h"
#include "connfail/sim/tcp_demux.h"

namespace connfail::sim {

namespace {

bool g_world_alive = false;

// Fixed random stream numbers, so that adding a node, a link or a fault
// elsewhere never reshuffles a link's draws. Client host i (node index
// c = i + 1): loss 1000 + 16c (+8 towards the host; +1 burst sizes), jitter
// 5000 + 4i. The backend link has its own numbers below 1000.
constexpr int64_t kClientLossStream = 1000;
constexpr int64_t kClientJitterStream = 5000;
constexpr int64_t kBackendLossStream = 100;
constexpr int64_t kBackendJitterStream = 200;

std::string print(ns3::Ipv4Address a) {
  std::ostringstream os;
  a.Print(os);
  return os.str();
}

bool synchronized(ns3::TcpSocket::TcpStates_t s) {
  switch (s) {
    case ns3::TcpSocket::SYN_RCVD:
    case ns3::TcpSocket::ESTABLISHED:
    case ns3::TcpSocket::CLOSE_WAIT:
    case ns3::TcpSocket::LAST_ACK:
    case ns3::TcpSocket::FIN_WAIT_1:
    case ns3::TcpSocket::FIN_WAIT_2:
    case ns3::TcpSocket::CLOSING:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct SimWorld::Impl {
  /// One point-to-point link between "server" and a host.
  struct Link {
    std::string host;           // "client<i>" or "backend"
    std::size_t host_node = 0;  // index in names / nodes
    ns3::NetDeviceContainer devs;  // Get(0) server side, Get(1) host side
    ns3::Ptr<JitterChannel> channel;
    std::array<ns3::Ptr<LinkErrorModel>, 2> models;  // receive models, as devs
    int64_t loss_stream = 0;
    bool cut = false;
    std::uint64_t tx = 0;  // packets put on the link, both directions
  };
  struct Capture {
    std::string path;
    ns3::Ptr<ns3::PcapFileWrapper> file;  // null once closed
  };

  WorldConfig cfg;
  Ns3Loop loop;
  TraceSink trace;
  std::vector<std::string> names;  // node index -> name; 0 is "server"
  ns3::NodeContainer nodes;
  std::map<std::string, std::unique_ptr<SimTransport>> transports;
  std::map<std::string, std::string> address;
  std::vector<Link> links;  // clients in order, then the backend
  std::vector<bool> down;   // per node
  std::vector<Capture> captures;
  std::uint64_t dropped = 0;
  std::map<uint32_t, std::string> node_names;  // ns-3 node id -> name
  std::vector<StateChange> changes;

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
  void on_link_tx(std::size_t link, ns3::Ptr<const ns3::Packet>) { ++links[link].tx; }
  void on_sniff(std::size_t capture, ns3::Ptr<const ns3::Packet> p) {
    auto& c = captures[capture];
    if (c.file) c.file->Write(ns3::Simulator::Now(), p);
  }

  std::size_t node_index(const std::string& name, const char* what) const {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return i;
    throw std::invalid_argument(std::string(what) + ": no node named '" + name + "'");
  }
  Link& link_of(const std::string& host, const char* what) {
    for (auto& l : links)
      if (l.host == host) return l;
    throw std::invalid_argument(std::string(what) + ": '" + host + "' is not a host with a link (client or backend)");
  }
  const Link& link_of(const std::string& host, const char* what) const {
    return const_cast<Impl*>(this)->link_of(host, what);
  }
  void update_dark(Link& l) {
    const bool dark = l.cut || down[0] || down[l.host_node];
    l.models[0]->SetDark(dark);
    l.models[1]->SetDark(dark);
  }

  /// Builds a link between the server and node `host_node`, with its devices,
  /// jitter channel, error models, addresses and traces.
  void add_link(ns3::PointToPointHelper& p2p, ns3::Ipv4AddressHelper& ip, std::size_t host_node,
                const LinkSpec& spec, const std::string& base, int64_t loss_stream, int64_t jitter_stream,
                const std::string& device_suffix) {
    Link l;
    l.host = names[host_node];
    l.host_node = host_node;
    l.loss_stream = loss_stream;
    p2p.SetDeviceAttribute("DataRate", ns3::StringValue(spec.rate));
    p2p.SetChannelAttribute("Delay", ns3::TimeValue(ns3::NanoSeconds(spec.delay.count())));
    l.devs = p2p.Install(nodes.Get(0), nodes.Get(static_cast<uint32_t>(host_node)));
    // The helper cannot build a custom channel: move both devices onto a
    // JitterChannel with the same delay (no jitter until set_jitter()).
    l.channel = ns3::CreateObject<JitterChannel>();
    l.channel->SetAttribute("Delay", ns3::TimeValue(ns3::NanoSeconds(spec.delay.count())));
    l.channel->AssignStreams(jitter_stream);
    for (uint32_t d = 0; d < 2; ++d) ns3::DynamicCast<ns3::PointToPointNetDevice>(l.devs.Get(d))->Attach(l.channel);
    for (uint32_t d = 0; d < 2; ++d) {
      l.devs.Get(d)->TraceConnectWithoutContext("PhyRxDrop", ns3::MakeCallback(&Impl::on_drop, this));
      l.models[d] = ns3::CreateObject<LinkErrorModel>();
      ns3::DynamicCast<ns3::PointToPointNetDevice>(l.devs.Get(d))->SetReceiveErrorModel(l.models[d]);
    }
    ip.SetBase(base.c_str(), "255.255.255.0");
    auto ifs = ip.Assign(l.devs);
    address[l.host] = print(ifs.GetAddress(1));
    if (address.find("server") == address.end()) address["server"] = print(ifs.GetAddress(0));
    const std::size_t index = links.size();
    for (uint32_t d = 0; d < 2; ++d) {
      const std::string dev = (d == 0 ? names[0] : l.host) + "/" + device_suffix;
      l.devs.Get(d)->TraceConnectWithoutContext("MacTx", ns3::MakeCallback(&Impl::on_tx, this).Bind(dev));
      l.devs.Get(d)->TraceConnectWithoutContext("MacTx", ns3::MakeCallback(&Impl::on_link_tx, this).Bind(index));
    }
    links.push_back(std::move(l));
  }

  ns3::Ptr<ns3::ErrorModel> make_loss(const LossSpec& spec, int64_t stream) const {
    return make_loss_model(spec, stream);
  }

  /// The receive model that drops packets travelling from -> to, and the
  /// model that set_loss() would install (built and checked now).
  std::pair<ns3::Ptr<LinkErrorModel>, ns3::Ptr<ns3::ErrorModel>> prepare_loss(const std::string& from,
                                                                             const std::string& to,
                                                                             const LossSpec& spec) {
    const std::size_t a = node_index(from, "set_loss"), b = node_index(to, "set_loss");
    if ((a == 0) == (b == 0))
      throw std::invalid_argument("set_loss: '" + from + "' and '" + to + "' are not directly linked");
    Link& l = link_of(names[a == 0 ? b : a], "set_loss");
    const uint32_t rx_side = b == 0 ? 0u : 1u;  // the receiving device drops A->B
    return {l.models[rx_side], make_loss(spec, l.loss_stream + 8 * static_cast<int64_t>(rx_side))};
  }
};

namespace {
// Both branches set every attribute: Config::SetDefault outlives a world,
// and the next world may use the other profile.
void apply_tcp_profile(const TcpProfile& p) {
  using ns3::Config::SetDefault;
  if (p.kind == TcpProfileKind::Linux) {
    // Linux's RTO is SRTT + max(4 * RTTVAR, rto_min): ns-3's clock
    // granularity takes exactly that place in its formula (RFC 6298's G),
    // and its MinRto (a floor on the sum) is then not wanted.
    SetDefault("ns3::TcpSocketBase::MinRto", ns3::TimeValue(ns3::Seconds(0)));
    SetDefault("ns3::TcpSocketBase::ClockGranularity",
               ns3::TimeValue(ns3::MicroSeconds(p.get("net.ipv4.tcp_rto_min_us"))));
    // 1 + tcp_syn_retries SYNs; SYN-ACKs: CfTcpSocket's fork.
    SetDefault("ns3::TcpSocket::ConnCount", ns3::UintegerValue(static_cast<uint32_t>(p.get("net.ipv4.tcp_syn_retries")) + 1));
    // Data give-up is by time (CfTcpSocket::ReTxTimeout); the count is a
    // backstop that the time budget always reaches first.
    SetDefault("ns3::TcpSocket::DataRetries", ns3::UintegerValue(static_cast<uint32_t>(p.get("net.ipv4.tcp_retries2")) + 1));
    // Linux's delayed ACK: TCP_DELACK_MIN 40 ms (quick ACKs aside).
    SetDefault("ns3::TcpSocket::DelAckTimeout", ns3::TimeValue(ns3::MilliSeconds(40)));
    // TIME_WAIT = 2 MSL = 60 s (TCP_TIMEWAIT_LEN).
    SetDefault("ns3::TcpSocketBase::MaxSegLifetime", ns3::DoubleValue(30.0));
  } else {
    SetDefault("ns3::TcpSocketBase::MinRto", ns3::TimeValue(ns3::Seconds(1)));
    SetDefault("ns3::TcpSocketBase::ClockGranularity", ns3::TimeValue(ns3::MilliSeconds(1)));
    SetDefault("ns3::TcpSocket::ConnCount", ns3::UintegerValue(6));
    SetDefault("ns3::TcpSocket::DataRetries", ns3::UintegerValue(6));
    SetDefault("ns3::TcpSocket::DelAckTimeout", ns3::TimeValue(ns3::MilliSeconds(200)));
    SetDefault("ns3::TcpSocketBase::MaxSegLifetime", ns3::DoubleValue(120.0));
  }
  CfTcpSocket::SetProfile(p);
}
}  // namespace

SimWorld::SimWorld(WorldConfig cfg) : impl_(std::make_unique<Impl>()) {
  if (g_world_alive) throw std::logic_error("SimWorld: only one world may exist at a time");
  if (cfg.clients < 1) throw std::invalid_argument("SimWorld: at least one client host");
  for (const auto& [name, spec] : cfg.client_links) {
    bool known = false;
    for (int i = 0; i < cfg.clients && !known; ++i) known = name == "client" + std::to_string(i);
    if (!known) throw std::invalid_argument("SimWorld: client_links names no client host '" + name + "'");
  }
  g_world_alive = true;
  impl_->cfg = cfg;
  // Seeds first, before any random variable exists.
  ns3::RngSeedManager::SetSeed(cfg.seed);
  ns3::RngSeedManager::SetRun(cfg.run);
  ns3::Ipv4AddressGenerator::Reset();
  ns3::Config::SetDefault("ns3::TcpSocket::SegmentSize", ns3::UintegerValue(cfg.segment_size));
  // Linux's initial SYN (and SYN-ACK) retransmission timeout, TCP_TIMEOUT_INIT
  // = 1 s (RFC 6298), instead of ns-3's 3 s: connect timing, accept-queue
  // overflow and SYN_RCVD give-up then look as they do on Linux.
  ns3::Config::SetDefault("ns3::TcpSocket::ConnTimeout", ns3::TimeValue(ns3::Seconds(1)));
  apply_tcp_profile(cfg.tcp);

  impl_->nodes.Create(static_cast<uint32_t>(cfg.clients + 1));
  impl_->names.push_back("server");
  for (int i = 0; i < cfg.clients; ++i) impl_->names.push_back("client" + std::to_string(i));

  ns3::InternetStackHelper stack;
  stack.Install(impl_->nodes);
  if (!cfg.linear_demux)
    for (uint32_t i = 0; i < impl_->nodes.GetN(); ++i) TcpDemux::Install(impl_->nodes.Get(i));

  ns3::PointToPointHelper p2p;
  ns3::Ipv4AddressHelper ip;
  for (int i = 0; i < cfg.clients; ++i) {
    const std::size_t node = static_cast<std::size_t>(i + 1);
    auto over = cfg.client_links.find(impl_->names[node]);
    const LinkSpec& spec = over == cfg.client_links.end() ? cfg.link : over->second;
    // 10.<hi>.<lo>.0/24 per client link (link = i + 1): up to 65,535 hosts.
    const int link = i + 1;
    const std::string base = "10." + std::to_string(link / 256) + "." + std::to_string(link % 256) + ".0";
    impl_->add_link(p2p, ip, node, spec, base, kClientLossStream + 16 * static_cast<int64_t>(node),
                    kClientJitterStream + 4 * static_cast<int64_t>(i), std::to_string(link));
  }
  if (cfg.backend) {
    // Built after every client link, so the clients' objects are created in
    // the same order (and draw the same) with or without a backend.
    ns3::Ptr<ns3::Node> b = ns3::CreateObject<ns3::Node>();
    stack.Install(b);
    if (!cfg.linear_demux) TcpDemux::Install(b);
    impl_->nodes.Add(b);
    impl_->names.push_back("backend");
    impl_->add_link(p2p, ip, impl_->names.size() - 1, cfg.backend_link, "10.0.0.0", kBackendLossStream,
                    kBackendJitterStream, "backend");
  }
  impl_->down.assign(impl_->names.size(), false);
  ns3::Ipv4GlobalRoutingHelper::PopulateRoutingTables();
  // Objects (traffic control, devices) initialise in events at time 0: run
  // them now so sockets can be used before the first run_until().
  ns3::Simulator::Stop(ns3::Seconds(0));
  ns3::Simulator::Run();

  CfTcpSocket::ResetSerials();
  for (std::size_t i = 0; i < impl_->names.size(); ++i)
    impl_->node_names[impl_->nodes.Get(static_cast<uint32_t>(i))->GetId()] = impl_->names[i];
  CfTcpSocket::SetStateObserver([impl = impl_.get()](const CfTcpSocket& s, ns3::TcpSocket::TcpStates_t from,
                                                      ns3::TcpSocket::TcpStates_t to) {
    StateChange c;
    c.t = netcore::Duration(ns3::Simulator::Now().GetNanoSeconds());
    c.socket = s.Serial();
    auto n = impl->node_names.find(s.GetNode() ? s.GetNode()->GetId() : UINT32_MAX);
    c.node = n == impl->node_names.end() ? "?" : n->second;
    c.from = to_state(from);
    c.to = to_state(to);
    c.local = s.LastLocal();
    c.remote = s.LastPeer();
    impl->changes.push_back(std::move(c));
  });
  for (std::size_t i = 0; i < impl_->names.size(); ++i) {
    const std::string& name = impl_->names[i];
    impl_->transports.emplace(
        name, std::make_unique<SimTransport>(impl_->loop, impl_->nodes.Get(static_cast<uint32_t>(i)), name,
                                             impl_->trace));
  }
}

SimWorld::~SimWorld() {
  CfTcpSocket::SetStateObserver({});
  disable_pcap();
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
  auto [model, loss] = impl_->prepare_loss(from, to, spec);
  model->SetLoss(loss);
}

void SimWorld::schedule_loss(netcore::Duration t, const std::string& from, const std::string& to,
                             const LossSpec& spec) {
  auto [model, loss] = impl_->prepare_loss(from, to, spec);
  at(t, [model = model, loss = loss] { model->SetLoss(loss); });
}

void SimWorld::at(netcore::Duration t, std::function<void()> fn) {
  const netcore::Duration now = impl_->loop.now();
  if (t < now) throw std::invalid_argument("SimWorld::at: time " + std::to_string(t.count()) + " ns is in the past");
  Impl* impl = impl_.get();
  ns3::Simulator::Schedule(ns3::NanoSeconds((t - now).count()),
                           [impl, fn = std::move(fn)] { impl->loop.dispatch(fn); });
}

void SimWorld::set_link_up(const std::string& host, bool up) {
  auto& l = impl_->link_of(host, "set_link_up");
  l.cut = !up;
  impl_->update_dark(l);
}

bool SimWorld::link_up(const std::string& host) const {
  const auto& l = impl_->link_of(host, "link_up");
  return !l.models[0]->IsDark();
}

void SimWorld::set_node_up(const std::string& node, bool up) {
  const std::size_t n = impl_->node_index(node, "set_node_up");
  impl_->down[n] = !up;
  for (auto& l : impl_->links)
    if (n == 0 || l.host_node == n) impl_->update_dark(l);
}

bool SimWorld::node_up(const std::string& node) const {
  return !impl_->down[impl_->node_index(node, "node_up")];
}

void SimWorld::set_jitter(const std::string& host, const JitterSpec& spec) {
  auto& ch = impl_->link_of(host, "set_jitter").channel;
  // Wire 0 carries what device 0 (the server's side) sends.
  ch->SetJitterDirections(spec.from_server, spec.to_server);
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
  for (const auto& l : impl_->links) n += l.channel->Reordered();
  return n;
}

std::uint64_t SimWorld::packets_dropped() const { return impl_->dropped; }

std::size_t SimWorld::inject_rst(const netcore::Address& a, const netcore::Address& b) {
  struct Target {
    ns3::Ptr<ns3::Node> node;
    ns3::Ptr<CfTcpSocket> socket;
    ns3::InetSocketAddress local{ns3::Ipv4Address::GetAny(), 0};
    ns3::InetSocketAddress peer{ns3::Ipv4Address::GetAny(), 0};
  };
  auto same = [](const ns3::InetSocketAddress& x, const netcore::Address& y) {
    return x.GetPort() == y.port && print(x.GetIpv4()) == y.host;
  };
  // Find every endpoint first (in node, then socket-list order), send after:
  // sending never changes a socket list, but keep the two steps apart.
  std::vector<Target> targets;
  for (uint32_t n = 0; n < impl_->nodes.GetN(); ++n) {
    ns3::Ptr<ns3::Node> node = impl_->nodes.Get(n);
    ns3::ObjectVectorValue list;
    node->GetObject<ns3::TcpL4Protocol>()->GetAttribute("SocketList", list);
    for (auto it = list.Begin(); it != list.End(); ++it) {
      auto s = ns3::DynamicCast<CfTcpSocket>(it->second);
      if (!s || !synchronized(s->GetTcpState())) continue;
      ns3::Address la, pa;
      if (s->GetSockName(la) != 0 || s->GetPeerName(pa) != 0) continue;
      if (!ns3::InetSocketAddress::IsMatchingType(la) || !ns3::InetSocketAddress::IsMatchingType(pa)) continue;
      Target t;
      t.node = node;
      t.socket = s;
      t.local = ns3::InetSocketAddress::ConvertFrom(la);
      t.peer = ns3::InetSocketAddress::ConvertFrom(pa);
      if ((same(t.local, a) && same(t.peer, b)) || (same(t.local, b) && same(t.peer, a))) targets.push_back(t);
    }
  }
  std::size_t sent = 0;
  for (const Target& t : targets) {
    // The receiver's link: its own route towards the peer. The middlebox sits
    // on that link and sends from the far end, towards the receiver.
    ns3::Ptr<ns3::Ipv4> ipv4 = t.node->GetObject<ns3::Ipv4>();
    ns3::Ipv4Header probe;
    probe.SetDestination(t.peer.GetIpv4());
    ns3::Socket::SocketErrno err = ns3::Socket::ERROR_NOTERROR;
    ns3::Ptr<ns3::Ipv4Route> route =
        ipv4->GetRoutingProtocol()->RouteOutput(ns3::Ptr<ns3::Packet>(), probe, ns3::Ptr<ns3::NetDevice>(), err);
    if (!route || !route->GetOutputDevice()) continue;
    ns3::Ptr<ns3::NetDevice> near = route->GetOutputDevice();
    ns3::Ptr<ns3::Channel> channel = near->GetChannel();
    if (!channel || channel->GetNDevices() != 2) continue;
    ns3::Ptr<ns3::NetDevice> far = channel->GetDevice(channel->GetDevice(0) == near ? 1 : 0);

    ns3::TcpHeader tcp;
    tcp.SetSourcePort(t.peer.GetPort());
    tcp.SetDestinationPort(t.local.GetPort());
    tcp.SetSequenceNumber(t.socket->RcvNxt());
    tcp.SetAckNumber(ns3::SequenceNumber32(0));
    // RST alone: ns-3 treats RST+ACK in ESTABLISHED as an illegal flag
    // combination (it answers with its own RST); Linux accepts either.
    tcp.SetFlags(ns3::TcpHeader::RST);
    tcp.SetWindowSize(0);
    ns3::Ptr<ns3::Packet> p = ns3::Create<ns3::Packet>();
    p->AddHeader(tcp);
    ns3::Ipv4Header iph;
    iph.SetSource(t.peer.GetIpv4());
    iph.SetDestination(t.local.GetIpv4());
    iph.SetProtocol(ns3::TcpL4Protocol::PROT_NUMBER);
    iph.SetPayloadSize(p->GetSize());
    iph.SetTtl(64);
    p->AddHeader(iph);
    if (far->Send(p, far->GetBroadcast(), ns3::Ipv4L3Protocol::PROT_NUMBER)) ++sent;
  }
  return sent;
}

std::vector<std::string> SimWorld::enable_pcap(const std::string& path_prefix, const std::string& host) {
  std::vector<Impl::Link*> which;
  if (host.empty()) {
    for (auto& l : impl_->links) which.push_back(&l);
  } else {
    which.push_back(&impl_->link_of(host, "enable_pcap"));
  }
  std::vector<std::string> files;
  ns3::PcapHelper helper;
  for (Impl::Link* l : which) {
    for (uint32_t d = 0; d < 2; ++d) {
      const std::string& node = d == 0 ? impl_->names[0] : l->host;
      const std::string& peer = d == 0 ? l->host : impl_->names[0];
      Impl::Capture c;
      c.path = path_prefix + "-" + node + "-" + peer + ".pcap";
      c.file = helper.CreateFile(c.path, std::ios::out, ns3::PcapHelper::DLT_PPP, 65535);
      const std::size_t index = impl_->captures.size();
      impl_->captures.push_back(c);
      l->devs.Get(d)->TraceConnectWithoutContext("PromiscSniffer",
                                                 ns3::MakeCallback(&Impl::on_sniff, impl_.get()).Bind(index));
      files.push_back(c.path);
    }
  }
  return files;
}

void SimWorld::disable_pcap() {
  for (auto& c : impl_->captures) {
    if (!c.file) continue;
    c.file->Close();
    c.file = nullptr;
  }
}

std::uint64_t SimWorld::trace_hash() const { return impl_->trace.hash; }

ns3::Ptr<ns3::Node> NodeOf(SimWorld& world, const std::string& name) {
  // SimWorld's public face has no ns-3 types: find the node by its address.
  const ns3::Ipv4Address want(world.address_of(name).c_str());
  for (auto it = ns3::NodeList::Begin(); it != ns3::NodeList::End(); ++it) {
    ns3::Ptr<ns3::Ipv4> ipv4 = (*it)->GetObject<ns3::Ipv4>();
    if (!ipv4) continue;
    for (uint32_t i = 0; i < ipv4->GetNInterfaces(); ++i)
      for (uint32_t a = 0; a < ipv4->GetNAddresses(i); ++a)
        if (ipv4->GetAddress(i, a).GetLocal() == want) return *it;
  }
  throw std::out_of_range("NodeOf: no ns-3 node has " + name + "'s address");
}

SimWorld::DemuxCounts SimWorld::demux_counts() const {
  DemuxCounts c;
  for (uint32_t i = 0; i < impl_->nodes.GetN(); ++i) {
    ns3::Ptr<ns3::Node> n = impl_->nodes.Get(i);
    if (ns3::Ptr<TcpDemux> d = n->GetObject<TcpDemux>()) {
      c.indexed += d->indexed_deliveries();
      c.linear += d->fallback_deliveries();
      c.stale += d->stale_entries();
    }
  }
  return c;
}

const std::vector<StateChange>& SimWorld::state_changes() const { return impl_->changes; }
std::uint64_t SimWorld::packets_sent() const { return impl_->trace.packets; }
std::uint64_t SimWorld::packets_sent(const std::string& host) const {
  return impl_->link_of(host, "packets_sent").tx;
}

}  // namespace connfail::sim
