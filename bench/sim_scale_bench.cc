// sim_scale_bench: the cost of netcore on the simulated transport at scale.
//
// N clients (spread over H client hosts) each send one small DATA frame per
// simulated second to one server, which echoes it; every client link loses
// packets uniformly (per packet, both directions). The same workload runs
// twice, each time in its own forked child process (fresh ns-3 singleton,
// per-workload peak RSS and wall time):
//
//   netcore   SimWorld + Acceptor (FrameDecoder, FrameEncoder, FrameEcho) on
//             the server, connect_channel + the frame codec + a periodic
//             sender on every client.
//   baseline  the same SimWorld topology (same nodes, links, queue discs,
//             loss models and random streams, set through SimWorld::set_loss),
//             but the applications are written directly against ns-3
//             TcpSockets and callbacks: no netcore object exists at run time.
//
// See bench/README.md for what each figure means.
#include <ns3/core-module.h>
#include <ns3/internet-module.h>
#include <ns3/network-module.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/frame_codec.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/sim/raw_tcp.h"
#include "connfail/sim/sim_world.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint16_t kPort = 7000;
constexpr int kMaxSocketsPerHost = 16000;  // ns-3 ephemeral ports: 49153..65535

struct Config {
  int clients = 10000;
  int hosts = 100;
  double seconds = 600;
  double loss = 0.01;
  std::uint32_t seed = 1;
  int payload = 32;
  std::string workload = "both";  // both | netcore | baseline
  std::string demux = "index";     // index | linear (WorldConfig::linear_demux)
};

// Sent from the child to the parent through a pipe: plain data only.
struct Result {
  int ok = 0;
  char error[256] = {};
  double setup_wall = 0;  // building the world and scheduling the clients
  double run_wall = 0;    // the simulation itself
  double sim_seconds = 0;
  std::uint64_t events = 0;  // ns-3 events executed during the run
  std::uint64_t connected = 0;
  std::uint64_t connect_failed = 0;
  std::uint64_t closed = 0;  // client connections that ended before the end of the run
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_echoed = 0;
  std::uint64_t frames_bad = 0;  // echoes that were not the frame sent (wrong size/content/order)
  std::uint64_t packets_sent = 0;
  std::uint64_t packets_dropped = 0;
  std::uint64_t demux_indexed = 0;  // segments delivered through the sim's hash index
  std::uint64_t demux_linear = 0;   // segments left to ns-3's linear endpoint lookup
};

// Shared by both workloads: the client schedule and the frame contents.
// Client k lives on host k % hosts, connects at k * (1 s / clients), sends its
// first frame 1 s after the connection is established and one every second
// after that. Frame payload: 8 bytes sequence, 8 bytes client id, filler.
netcore::Duration connect_time(const Config& c, int k) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * k / c.clients));
}
constexpr netcore::Duration kInterval = std::chrono::seconds(1);

netcore::Bytes make_payload(const Config& c, std::uint64_t client, std::uint64_t seq) {
  netcore::Bytes p(static_cast<std::size_t>(c.payload));
  for (std::size_t i = 0; i < p.size(); ++i) {
    std::uint8_t b;
    if (i < 8) b = static_cast<std::uint8_t>(seq >> (8 * i));
    else if (i < 16) b = static_cast<std::uint8_t>(client >> (8 * (i - 8)));
    else b = static_cast<std::uint8_t>(client + seq + i);
    p[i] = b;
  }
  return p;
}

netcore::Bytes make_frame_bytes(const Config& c, std::uint64_t client, std::uint64_t seq) {
  return netcore::encode_frame(netcore::Frame{netcore::FrameKind::Data, make_payload(c, client, seq)});
}

void apply_loss(connfail::sim::SimWorld& world, const Config& c) {
  if (c.loss <= 0) return;
  connfail::sim::LossSpec loss;
  loss.kind = connfail::sim::LossSpec::Kind::Uniform;
  loss.rate = c.loss;
  for (int h = 0; h < c.hosts; ++h) {
    const std::string host = "client" + std::to_string(h);
    world.set_loss(host, "server", loss);
    world.set_loss("server", host, loss);
  }
}

connfail::sim::WorldConfig world_config(const Config& c) {
  connfail::sim::WorldConfig wc;
  wc.seed = c.seed;
  wc.clients = c.hosts;  // SimWorld's "clients" are client hosts
  wc.linear_demux = c.demux == "linear";
  return wc;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Progress on stderr every tenth of the run (ten extra ns-3 events, the same
// in both workloads).
void schedule_progress(const Config& c, const char* name, Clock::time_point t0) {
  for (int i = 1; i < 10; ++i) {
    const double at = c.seconds * i / 10;
    ns3::Simulator::Schedule(ns3::Seconds(at), [name, at, t0] {
      std::fprintf(stderr, "  %s: %.0f simulated s after %.1f wall s\n", name, at, seconds_since(t0));
    });
  }
}

// ------------------------------------------------------------------ netcore

struct Stats {
  std::uint64_t connected = 0, connect_failed = 0, closed = 0;
  std::uint64_t sent = 0, echoed = 0, bad = 0;
};

// The figures both workloads report once the simulation has run.
void finish(Result& r, const Stats& stats, connfail::sim::SimWorld& world, Clock::time_point t1, std::uint64_t ev0) {
  r.run_wall = seconds_since(t1);
  r.events = ns3::Simulator::GetEventCount() - ev0;
  r.sim_seconds = ns3::Simulator::Now().GetSeconds();
  r.connected = stats.connected;
  r.connect_failed = stats.connect_failed;
  r.closed = stats.closed;
  r.frames_sent = stats.sent;
  r.frames_echoed = stats.echoed;
  r.frames_bad = stats.bad;
  r.packets_sent = world.packets_sent();
  r.packets_dropped = world.packets_dropped();
  const auto demux = world.demux_counts();
  r.demux_indexed = demux.indexed;
  r.demux_linear = demux.linear;
  r.ok = 1;
}

class PeriodicFrameClient final : public netcore::Handler {
 public:
  PeriodicFrameClient(const Config& c, std::uint64_t id, Stats& stats) : c_(c), id_(id), stats_(stats) {}

  void channel_active(netcore::Context& ctx) override {
    arm(ctx);
    ctx.fire_channel_active();
  }
  void channel_inactive(netcore::Context& ctx) override {
    if (timer_ != 0) ctx.loop().cancel(timer_);
    timer_ = 0;
    ++stats_.closed;
    ctx.fire_channel_inactive();
  }
  void handler_removed(netcore::Context& ctx) override {
    if (timer_ != 0) ctx.loop().cancel(timer_);
    timer_ = 0;
  }
  void channel_read(netcore::Context&, std::any msg) override {
    const auto* f = std::any_cast<netcore::Frame>(&msg);
    if (f && f->kind == netcore::FrameKind::Data && f->payload == make_payload(c_, id_, expect_)) {
      ++stats_.echoed;
      ++expect_;
    } else {
      ++stats_.bad;
    }
  }

 private:
  void arm(netcore::Context& ctx) {
    netcore::Context* c = &ctx;
    timer_ = ctx.loop().schedule(kInterval, [this, c] { tick(*c); });
  }
  void tick(netcore::Context& ctx) {
    timer_ = 0;
    if (!ctx.channel().is_active() || ctx.removed()) return;
    ++stats_.sent;
    ctx.write_and_flush(netcore::Frame{netcore::FrameKind::Data, make_payload(c_, id_, seq_++)});
    if (ctx.channel().is_active()) arm(ctx);
  }

  const Config& c_;
  std::uint64_t id_;
  Stats& stats_;
  netcore::TimerId timer_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t expect_ = 0;
};

Result run_netcore(const Config& c) {
  using namespace netcore;
  Result r;
  const auto t0 = Clock::now();
  connfail::sim::SimWorld world(world_config(c));
  apply_loss(world, c);
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", kPort};
  o.listen.backlog = 4096;
  auto acceptor = Acceptor::start(world.transport("server"), ledger, [](Channel& ch) {
    ch.pipeline()
        .add_last("frame-decoder", std::make_shared<FrameDecoder>())
        .add_last("frame-encoder", std::make_shared<FrameEncoder>())
        .add_last("echo", std::make_shared<FrameEcho>());
  }, o);
  const Address server{world.address_of("server"), kPort};
  Stats stats;
  std::vector<std::shared_ptr<Channel>> channels(static_cast<std::size_t>(c.clients));
  std::vector<Transport*> host_transport;
  for (int h = 0; h < c.hosts; ++h) host_transport.push_back(&world.transport("client" + std::to_string(h)));
  for (int k = 0; k < c.clients; ++k) {
    world.loop().schedule(connect_time(c, k), [&, k] {
      const auto id = static_cast<std::uint64_t>(k);
      connect_channel(
          *host_transport[static_cast<std::size_t>(k % c.hosts)], ledger, server, std::chrono::seconds(120),
          [&c, id, &stats](Channel& ch) {
            ch.pipeline()
                .add_last("frame-decoder", std::make_shared<FrameDecoder>())
                .add_last("frame-encoder", std::make_shared<FrameEncoder>())
                .add_last("client", std::make_shared<PeriodicFrameClient>(c, id, stats));
          },
          {}, [&, k](std::shared_ptr<Channel> ch, SocketError) {
            if (ch) {
              ++stats.connected;
              channels[static_cast<std::size_t>(k)] = std::move(ch);
            } else {
              ++stats.connect_failed;
            }
          });
    });
  }
  r.setup_wall = seconds_since(t0);
  const std::uint64_t ev0 = ns3::Simulator::GetEventCount();
  const auto t1 = Clock::now();
  schedule_progress(c, "netcore", t1);
  world.loop().run_for(std::chrono::nanoseconds(static_cast<std::int64_t>(c.seconds * 1e9)));
  finish(r, stats, world, t1, ev0);
  return r;  // the child exits without tearing the world down (see main)
}

// ----------------------------------------------------------------- baseline

// Bytes to send on an ns-3 socket, in order; ns-3's Send takes all or
// nothing, so send what fits and resume from the send callback. Each queued
// frame is one Send() call, like one netcore write.
struct TxQueue {
  std::vector<netcore::Bytes> q;
  std::size_t head = 0, offset = 0;

  void push(ns3::Ptr<ns3::Socket> s, netcore::Bytes b) {
    q.push_back(std::move(b));
    pump(s);
  }
  void pump(ns3::Ptr<ns3::Socket> s) {
    while (head < q.size()) {
      const netcore::Bytes& b = q[head];
      const std::uint32_t avail = s->GetTxAvailable();
      if (avail == 0) return;
      const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(avail, b.size() - offset));
      if (s->Send(ns3::Create<ns3::Packet>(b.data() + offset, n)) < 0) return;
      offset += n;
      if (offset == b.size()) {
        ++head;
        offset = 0;
      }
    }
    q.clear();
    head = 0;
  }
};

// Reads everything the socket holds, then calls on_frame(kind, frame bytes,
// payload pointer, payload size) for each complete frame.
struct RxBuffer {
  netcore::Bytes buf;
  std::size_t pos = 0;

  template <class F>
  void drain(ns3::Ptr<ns3::Socket> s, F&& on_frame) {
    while (true) {
      ns3::Ptr<ns3::Packet> p = s->Recv(64 * 1024, 0);
      if (!p || p->GetSize() == 0) break;
      const std::size_t old = buf.size();
      buf.resize(old + p->GetSize());
      p->CopyData(buf.data() + old, p->GetSize());
    }
    while (buf.size() - pos >= netcore::kFrameHeaderSize + 1) {
      const std::uint8_t* h = buf.data() + pos;
      const std::uint32_t len = (std::uint32_t{h[0]} << 24) | (std::uint32_t{h[1]} << 16) |
                                (std::uint32_t{h[2]} << 8) | std::uint32_t{h[3]};
      if (buf.size() - pos < netcore::kFrameHeaderSize + len) break;
      on_frame(h[4], h, netcore::kFrameHeaderSize + len, h + 5, static_cast<std::size_t>(len - 1));
      pos += netcore::kFrameHeaderSize + len;
    }
    if (pos == buf.size()) {
      buf.clear();
      pos = 0;
    }
  }
};

struct RawServer {
  struct Conn {
    ns3::Ptr<ns3::Socket> s;
    RxBuffer rx;
    TxQueue tx;
    void OnRecv(ns3::Ptr<ns3::Socket>) {
      rx.drain(s, [this](std::uint8_t kind, const std::uint8_t* frame, std::size_t n, const std::uint8_t*,
                         std::size_t) {
        if (kind == static_cast<std::uint8_t>(netcore::FrameKind::Data)) tx.push(s, netcore::Bytes(frame, frame + n));
      });
    }
    void OnSend(ns3::Ptr<ns3::Socket>, std::uint32_t) { tx.pump(s); }
  };
  ns3::Ptr<ns3::Socket> listener;
  std::vector<std::unique_ptr<Conn>> conns;

  bool OnRequest(ns3::Ptr<ns3::Socket>, const ns3::Address&) { return true; }
  void OnAccept(ns3::Ptr<ns3::Socket> s, const ns3::Address&) {
    auto c = std::make_unique<Conn>();
    c->s = s;
    s->SetRecvCallback(ns3::MakeCallback(&Conn::OnRecv, c.get()));
    s->SetSendCallback(ns3::MakeCallback(&Conn::OnSend, c.get()));
    conns.push_back(std::move(c));
  }
};

struct RawClient {
  const Config* c = nullptr;
  Stats* stats = nullptr;
  std::uint64_t id = 0;
  ns3::Ptr<ns3::Node> node;
  ns3::Ipv4Address server;
  ns3::Ptr<ns3::Socket> s;
  RxBuffer rx;
  TxQueue tx;
  std::uint64_t seq = 0, expect = 0;
  bool open = false;

  void Connect() {
    s = connfail::sim::CreateTcpSocket(node);
    s->Bind();
    s->SetConnectCallback(ns3::MakeCallback(&RawClient::OnConnected, this),
                          ns3::MakeCallback(&RawClient::OnFailed, this));
    s->Connect(ns3::InetSocketAddress(server, kPort));
  }
  void OnConnected(ns3::Ptr<ns3::Socket>) {
    open = true;
    ++stats->connected;
    s->SetRecvCallback(ns3::MakeCallback(&RawClient::OnRecv, this));
    s->SetSendCallback(ns3::MakeCallback(&RawClient::OnSend, this));
    s->SetCloseCallbacks(ns3::MakeCallback(&RawClient::OnClosed, this),
                         ns3::MakeCallback(&RawClient::OnClosed, this));
    ns3::Simulator::Schedule(ns3::NanoSeconds(kInterval.count()), &RawClient::Tick, this);
  }
  void OnFailed(ns3::Ptr<ns3::Socket>) { ++stats->connect_failed; }
  void OnClosed(ns3::Ptr<ns3::Socket>) {
    if (!open) return;
    open = false;
    ++stats->closed;
  }
  void Tick() {
    if (!open) return;
    ++stats->sent;
    tx.push(s, make_frame_bytes(*c, id, seq++));
    ns3::Simulator::Schedule(ns3::NanoSeconds(kInterval.count()), &RawClient::Tick, this);
  }
  void OnSend(ns3::Ptr<ns3::Socket>, std::uint32_t) { tx.pump(s); }
  void OnRecv(ns3::Ptr<ns3::Socket>) {
    rx.drain(s, [this](std::uint8_t kind, const std::uint8_t*, std::size_t, const std::uint8_t* payload,
                       std::size_t n) {
      const netcore::Bytes want = make_payload(*c, id, expect);
      if (kind == static_cast<std::uint8_t>(netcore::FrameKind::Data) && n == want.size() &&
          std::equal(want.begin(), want.end(), payload)) {
        ++stats->echoed;
        ++expect;
      } else {
        ++stats->bad;
      }
    });
  }
};

Result run_baseline(const Config& c) {
  Result r;
  const auto t0 = Clock::now();
  connfail::sim::SimWorld world(world_config(c));
  apply_loss(world, c);
  const std::string server_ip = world.address_of("server");
  ns3::Ptr<ns3::Node> server_node = connfail::sim::NodeOf(world, "server");
  std::vector<ns3::Ptr<ns3::Node>> host_nodes;
  for (int h = 0; h < c.hosts; ++h) host_nodes.push_back(connfail::sim::NodeOf(world, "client" + std::to_string(h)));

  RawServer server;
  server.listener = connfail::sim::CreateTcpSocket(server_node);
  if (server.listener->Bind(ns3::InetSocketAddress(ns3::Ipv4Address::GetAny(), kPort)) != 0)
    throw std::runtime_error("baseline: cannot bind the server port");
  server.listener->Listen();
  server.listener->SetAcceptCallback(ns3::MakeCallback(&RawServer::OnRequest, &server),
                                     ns3::MakeCallback(&RawServer::OnAccept, &server));
  Stats stats;
  std::vector<RawClient> clients(static_cast<std::size_t>(c.clients));
  const ns3::Ipv4Address server_addr(server_ip.c_str());
  for (int k = 0; k < c.clients; ++k) {
    RawClient& cl = clients[static_cast<std::size_t>(k)];
    cl.c = &c;
    cl.stats = &stats;
    cl.id = static_cast<std::uint64_t>(k);
    cl.node = host_nodes[static_cast<std::size_t>(k % c.hosts)];
    cl.server = server_addr;
    ns3::Simulator::Schedule(ns3::NanoSeconds(connect_time(c, k).count()), &RawClient::Connect, &cl);
  }
  r.setup_wall = seconds_since(t0);
  const std::uint64_t ev0 = ns3::Simulator::GetEventCount();
  const auto t1 = Clock::now();
  schedule_progress(c, "baseline", t1);
  ns3::Simulator::Stop(ns3::Seconds(c.seconds));
  ns3::Simulator::Run();
  finish(r, stats, world, t1, ev0);
  return r;
}

// -------------------------------------------------------------------- driver

struct Measured {
  std::string name;
  Result r;
  double wall = 0;      // fork to exit, measured by the parent
  double cpu = 0;       // user + system of the child
  double rss_mib = 0;   // ru_maxrss of the child
  int status = 0;
};

Measured run_in_child(const Config& c, const std::string& name) {
  Measured m;
  m.name = name;
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::fflush(nullptr);
  const auto t0 = Clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    Result r;
    try {
      r = name == "netcore" ? run_netcore(c) : run_baseline(c);
    } catch (const std::exception& e) {
      r.ok = 0;
      std::snprintf(r.error, sizeof r.error, "%s", e.what());
    }
    const char* p = reinterpret_cast<const char*>(&r);
    std::size_t left = sizeof r;
    while (left > 0) {
      const ssize_t n = write(fds[1], p, left);
      if (n <= 0) _exit(3);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    // Skip tearing down tens of thousands of sockets: the figures are taken,
    // and the process is about to end anyway.
    _exit(r.ok ? 0 : 2);
  }
  close(fds[1]);
  char* p = reinterpret_cast<char*>(&m.r);
  std::size_t got = 0;
  while (got < sizeof m.r) {
    const ssize_t n = read(fds[0], p + got, sizeof m.r - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fds[0]);
  struct rusage ru {};
  int status = 0;
  wait4(pid, &status, 0, &ru);
  m.wall = seconds_since(t0);
  m.status = status;
  m.cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
          static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  m.rss_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
  if (got != sizeof m.r) {
    m.r = Result{};
    std::snprintf(m.r.error, sizeof m.r.error, "child died (status 0x%x) before reporting", status);
  }
  return m;
}

double events_per_s(const Measured& m) { return m.r.run_wall > 0 ? static_cast<double>(m.r.events) / m.r.run_wall : 0; }
double ratio(double a, double b) { return b != 0 ? a / b : NAN; }

[[noreturn]] void usage(const char* argv0, const std::string& why) {
  std::fprintf(stderr,
               "%s\nusage: %s [--clients N] [--hosts H] [--seconds S] [--loss P] [--seed N]\n"
               "          [--payload BYTES] [--workload both|netcore|baseline] [--demux index|linear]\n"
               "defaults: --clients 10000 --hosts 100 --seconds 600 --loss 0.01 --seed 1 --payload 32\n"
               "          --workload both --demux index\n"
               "--demux linear finds each segment's socket with ns-3 3.37's own lookup, which walks\n"
               "every endpoint on the node (same results, far slower with many connections)\n",
               why.c_str(), argv0);
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(argv[0], "");
    if (i + 1 >= argc) usage(argv[0], "missing value for " + a);
    const std::string v = argv[++i];
    try {
      if (a == "--clients") c.clients = std::stoi(v);
      else if (a == "--hosts") c.hosts = std::stoi(v);
      else if (a == "--seconds") c.seconds = std::stod(v);
      else if (a == "--loss") c.loss = std::stod(v);
      else if (a == "--seed") c.seed = static_cast<std::uint32_t>(std::stoul(v));
      else if (a == "--payload") c.payload = std::stoi(v);
      else if (a == "--workload") c.workload = v;
      else if (a == "--demux") c.demux = v;
      else usage(argv[0], "unknown option " + a);
    } catch (const std::logic_error&) {
      usage(argv[0], "bad value for " + a + ": " + v);
    }
  }
  if (c.clients < 1 || c.hosts < 1 || c.hosts > c.clients) usage(argv[0], "need 1 <= hosts <= clients");
  if ((c.clients + c.hosts - 1) / c.hosts > kMaxSocketsPerHost)
    usage(argv[0], "more than " + std::to_string(kMaxSocketsPerHost) + " clients per host (ns-3 ephemeral ports)");
  if (!(c.seconds > 0)) usage(argv[0], "--seconds must be > 0");
  if (!(c.loss >= 0 && c.loss <= 1)) usage(argv[0], "--loss must be in [0, 1]");
  if (c.payload < 16) usage(argv[0], "--payload must be >= 16 (sequence and client id)");
  if (c.workload != "both" && c.workload != "netcore" && c.workload != "baseline")
    usage(argv[0], "--workload must be both, netcore or baseline");
  if (c.demux != "index" && c.demux != "linear") usage(argv[0], "--demux must be index or linear");
  return c;
}

void print_json_result(const Measured& m) {
  std::printf(
      "{\"ok\":%s,\"wall_s\":%.3f,\"setup_wall_s\":%.3f,\"run_wall_s\":%.3f,\"cpu_s\":%.3f,"
      "\"sim_s\":%.3f,\"events\":%" PRIu64 ",\"events_per_s\":%.0f,\"peak_rss_mib\":%.1f,"
      "\"connected\":%" PRIu64 ",\"connect_failed\":%" PRIu64 ",\"closed\":%" PRIu64 ",\"frames_sent\":%" PRIu64
      ",\"frames_echoed\":%" PRIu64 ",\"frames_bad\":%" PRIu64 ",\"packets_sent\":%" PRIu64
      ",\"packets_dropped\":%" PRIu64 ",\"segments_via_index\":%" PRIu64 ",\"segments_via_lookup\":%" PRIu64 "}",
      m.r.ok ? "true" : "false", m.wall, m.r.setup_wall, m.r.run_wall, m.cpu, m.r.sim_seconds, m.r.events,
      events_per_s(m), m.rss_mib, m.r.connected, m.r.connect_failed, m.r.closed, m.r.frames_sent,
      m.r.frames_echoed, m.r.frames_bad, m.r.packets_sent, m.r.packets_dropped, m.r.demux_indexed, m.r.demux_linear);
}

}  // namespace

int main(int argc, char** argv) {
  const Config c = parse(argc, argv);
  std::printf("sim_scale_bench: %d clients on %d hosts (~%d sockets/host), one %d-byte DATA frame (%d on the wire)\n"
              "per client per second, %.0f simulated s, %.2f%% uniform per-packet loss both ways on every link, seed %u,\n"
              "socket lookup: %s\n\n",
              c.clients, c.hosts, (c.clients + c.hosts - 1) / c.hosts, c.payload,
              c.payload + static_cast<int>(netcore::kFrameHeaderSize) + 1, c.seconds, 100 * c.loss, c.seed,
              c.demux == "index" ? "the sim's hash index (index)" : "ns-3's linear endpoint walk (linear)");
  std::vector<Measured> ms;
  for (const char* name : {"netcore", "baseline"}) {
    if (c.workload != "both" && c.workload != name) continue;
    std::fprintf(stderr, "running %s...\n", name);
    ms.push_back(run_in_child(c, name));
    const Measured& m = ms.back();
    if (!m.r.ok) std::fprintf(stderr, "%s FAILED: %s\n", name, m.r.error);
  }

  // Table.
  const bool both = ms.size() == 2;
  auto row = [&](const char* label, const char* fmt, auto get, bool with_ratio) {
    std::printf("%-24s", label);
    for (const auto& m : ms) {
      char buf[64];
      std::snprintf(buf, sizeof buf, fmt, get(m));
      std::printf(" %16s", buf);
    }
    if (both && with_ratio) std::printf(" %10.2f", ratio(static_cast<double>(get(ms[0])), static_cast<double>(get(ms[1]))));
    std::printf("\n");
  };
  std::printf("%-24s", "");
  for (const auto& m : ms) std::printf(" %16s", m.name.c_str());
  if (both) std::printf(" %10s", "ratio");
  std::printf("\n");
  row("wall s (process)", "%.2f", [](const Measured& m) { return m.wall; }, true);
  row("  setup wall s", "%.2f", [](const Measured& m) { return m.r.setup_wall; }, true);
  row("  run wall s", "%.2f", [](const Measured& m) { return m.r.run_wall; }, true);
  row("cpu s (user+sys)", "%.2f", [](const Measured& m) { return m.cpu; }, true);
  row("simulated s", "%.1f", [](const Measured& m) { return m.r.sim_seconds; }, false);
  row("sim s per wall s", "%.2f", [](const Measured& m) { return m.r.run_wall > 0 ? m.r.sim_seconds / m.r.run_wall : 0.0; }, true);
  row("events executed", "%" PRIu64, [](const Measured& m) { return m.r.events; }, true);
  row("events/s (run)", "%.0f", [](const Measured& m) { return events_per_s(m); }, true);
  row("events per echo", "%.1f", [](const Measured& m) {
    return m.r.frames_echoed ? static_cast<double>(m.r.events) / static_cast<double>(m.r.frames_echoed) : 0.0;
  }, true);
  row("wall us per echo", "%.2f", [](const Measured& m) {
    return m.r.frames_echoed ? 1e6 * m.r.run_wall / static_cast<double>(m.r.frames_echoed) : 0.0;
  }, true);
  row("peak RSS MiB", "%.1f", [](const Measured& m) { return m.rss_mib; }, true);
  row("connected", "%" PRIu64, [](const Measured& m) { return m.r.connected; }, false);
  row("connect failed", "%" PRIu64, [](const Measured& m) { return m.r.connect_failed; }, false);
  row("closed early", "%" PRIu64, [](const Measured& m) { return m.r.closed; }, false);
  row("frames sent", "%" PRIu64, [](const Measured& m) { return m.r.frames_sent; }, false);
  row("frames echoed", "%" PRIu64, [](const Measured& m) { return m.r.frames_echoed; }, true);
  row("bad echoes", "%" PRIu64, [](const Measured& m) { return m.r.frames_bad; }, false);
  row("packets on links", "%" PRIu64, [](const Measured& m) { return m.r.packets_sent; }, true);
  row("packets dropped", "%" PRIu64, [](const Measured& m) { return m.r.packets_dropped; }, true);
  row("segments via index", "%" PRIu64, [](const Measured& m) { return m.r.demux_indexed; }, false);
  row("segments via lookup", "%" PRIu64, [](const Measured& m) { return m.r.demux_linear; }, false);

  // Sanity: every workload ran and echoed frames correctly; both echoed a
  // comparable number (same topology, seed and schedule).
  int rc = 0;
  for (const auto& m : ms) {
    if (!m.r.ok || m.r.frames_echoed == 0 || m.r.frames_bad != 0) {
      std::printf("\nFAIL: %s %s\n", m.name.c_str(),
                  !m.r.ok ? m.r.error : m.r.frames_echoed == 0 ? "echoed no frame" : "received bad echoes");
      rc = 1;
    }
  }
  double diff = 0;
  if (both && rc == 0) {
    const double a = static_cast<double>(ms[0].r.frames_echoed), b = static_cast<double>(ms[1].r.frames_echoed);
    diff = std::fabs(a - b) / std::max(a, b);
    const char* verdict = diff <= 0.01 ? "OK" : diff <= 0.05 ? "WARN" : "FAIL";
    std::printf("\nsanity: frames echoed netcore %.0f vs baseline %.0f, difference %.3f%% (%s; OK <= 1%%, FAIL > 5%%)\n",
                a, b, 100 * diff, verdict);
    if (diff > 0.05) rc = 3;
  }
  double extra_us = 0, extra_events = 0;
  if (both && rc == 0) {
    auto per_echo = [](const Measured& m, double v) { return v / static_cast<double>(m.r.frames_echoed); };
    extra_us = 1e6 * (per_echo(ms[0], ms[0].r.run_wall) - per_echo(ms[1], ms[1].r.run_wall));
    extra_events = per_echo(ms[0], static_cast<double>(ms[0].r.events)) -
                   per_echo(ms[1], static_cast<double>(ms[1].r.events));
    std::printf("netcore overhead: %+.2f wall us and %+.2f events per echoed frame\n", extra_us, extra_events);
  }

  // One JSON line.
  std::printf("\n{\"bench\":\"sim_scale\",\"config\":{\"clients\":%d,\"hosts\":%d,\"seconds\":%g,\"loss\":%g,"
              "\"seed\":%u,\"payload\":%d,\"demux\":\"%s\"}",
              c.clients, c.hosts, c.seconds, c.loss, c.seed, c.payload, c.demux.c_str());
  for (const auto& m : ms) {
    std::printf(",\"%s\":", m.name.c_str());
    print_json_result(m);
  }
  if (both) {
    std::printf(",\"ratio\":{\"wall\":%.3f,\"run_wall\":%.3f,\"events_per_s\":%.3f,\"peak_rss\":%.3f,"
                "\"frames_echoed_diff\":%.5f},\"netcore_extra_us_per_echo\":%.3f,"
                "\"netcore_extra_events_per_echo\":%.3f",
                ratio(ms[0].wall, ms[1].wall), ratio(ms[0].r.run_wall, ms[1].r.run_wall),
                ratio(events_per_s(ms[0]), events_per_s(ms[1])), ratio(ms[0].rss_mib, ms[1].rss_mib), diff, extra_us,
                extra_events);
  }
  std::printf(",\"ok\":%s}\n", rc == 0 ? "true" : "false");
  return rc;
}
