// The sim's hash socket index (sim/tcp_demux.h) against ns-3's own linear
// endpoint lookup: the same runs, byte for byte, and the index really used.
// (tests/scenario_suite_test.cc compares whole scenario reports too.)
#include <gtest/gtest.h>

#include <ns3/inet-socket-address.h>
#include <ns3/ipv4-address.h>
#include <ns3/packet.h>
#include <ns3/simulator.h>
#include <ns3/socket.h>

#include "netcore/acceptor.h"
#include "sim/raw_tcp.h"
#include "sim/sim_world.h"
#include "tests/test_handlers.h"

namespace {

using namespace netcore;
using connfail::sim::SimWorld;
using connfail::sim::WorldConfig;
using connfail::testing::Echo;
using connfail::testing::pattern;
using connfail::testing::Recorder;

struct EchoRun {
  std::uint64_t hash = 0, packets = 0;
  TimePoint finished_at{};
  std::size_t bytes = 0;
  SimWorld::DemuxCounts demux;
};

// Eight clients on two hosts echo 64 KiB each through the server under 2%
// loss (retransmissions, duplicate ACKs), then close.
EchoRun echo_run(bool linear_demux) {
  WorldConfig cfg;
  cfg.seed = 5;
  cfg.clients = 2;
  cfg.linear_demux = linear_demux;
  SimWorld world(cfg);
  connfail::sim::LossSpec loss;
  loss.kind = connfail::sim::LossSpec::Kind::Uniform;
  loss.rate = 0.02;
  for (const char* h : {"client0", "client1"}) {
    world.set_loss(h, "server", loss);
    world.set_loss("server", h, loss);
  }
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7000};
  auto acceptor = Acceptor::start(world.transport("server"), ledger,
                                  [](Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<Echo>()); }, o);
  std::vector<std::shared_ptr<Recorder>> recs;
  std::vector<std::shared_ptr<Channel>> chans;
  for (int i = 0; i < 8; ++i) {
    auto rec = std::make_shared<Recorder>();
    recs.push_back(rec);
    connect_channel(world.transport("client" + std::to_string(i % 2)), ledger, {world.address_of("server"), 7000},
                    std::chrono::seconds(5), [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); }, {},
                    [&chans, i](std::shared_ptr<Channel> ch, SocketError) {
                      ch->write_and_flush(pattern(64 * 1024, static_cast<std::size_t>(i)));
                      chans.push_back(ch);
                    });
  }
  world.loop().run_until([&] {
    for (auto& r : recs)
      if (r->bytes.size() < 64 * 1024) return false;
    return true;
  }, std::chrono::seconds(120));
  for (auto& c : chans) c->close();
  world.loop().run_until([&] { return ledger.open_count() == 0; }, std::chrono::seconds(60));
  world.loop().run_for(std::chrono::seconds(1));
  EchoRun r;
  r.hash = world.trace_hash();
  r.packets = world.packets_sent();
  r.finished_at = world.loop().now();
  for (auto& rec : recs) r.bytes += rec->bytes.size();
  r.demux = world.demux_counts();
  return r;
}

TEST(SimDemux, HashIndexAndLinearLookupGiveTheSameRun) {
  const EchoRun indexed = echo_run(false);
  const EchoRun linear = echo_run(true);
  EXPECT_EQ(indexed.bytes, 8u * 64 * 1024);
  EXPECT_EQ(indexed.bytes, linear.bytes);
  EXPECT_EQ(indexed.packets, linear.packets);
  EXPECT_EQ(indexed.finished_at, linear.finished_at);
  EXPECT_EQ(indexed.hash, linear.hash);
}

TEST(SimDemux, EstablishedConnectionsAreFoundThroughTheIndex) {
  const EchoRun indexed = echo_run(false);
  // Left to the lookup: each server child's and client's first segment
  // (SYN at the listener, SYN-ACK, the handshake's ACK), a few per connection.
  EXPECT_LE(indexed.demux.linear, 8u * 4);
  EXPECT_GT(indexed.demux.indexed, 20 * indexed.demux.linear);
  const EchoRun linear = echo_run(true);
  EXPECT_EQ(linear.demux.indexed, 0u);
  EXPECT_EQ(linear.demux.linear, 0u);
}

// Reads whatever arrives on a raw ns-3 socket.
struct Sink {
  std::size_t bytes = 0;
  void OnRecv(ns3::Ptr<ns3::Socket> s) {
    while (ns3::Ptr<ns3::Packet> p = s->Recv()) bytes += p->GetSize();
  }
};

struct ReuseRun {
  std::uint64_t hash = 0;
  std::size_t first = 0, second = 0;
  SimWorld::DemuxCounts demux;
};

// A client connects from a fixed port, closes first (TIME_WAIT on its side),
// and once TIME_WAIT is over connects again from the same port: the same
// 4-tuple for a new pair of sockets. The first client socket is kept alive,
// its endpoint gone, so the index still names it when the SYN-ACK for the
// second arrives.
ReuseRun reuse_run(bool linear_demux) {
  WorldConfig cfg;
  cfg.seed = 3;
  cfg.linear_demux = linear_demux;
  SimWorld world(cfg);
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7000};
  auto acceptor = Acceptor::start(world.transport("server"), ledger,
                                  [](Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<Echo>()); }, o);
  ns3::Ptr<ns3::Node> node = connfail::sim::NodeOf(world, "client0");
  const ns3::Ipv4Address me(world.address_of("client0").c_str());
  const ns3::InetSocketAddress server(ns3::Ipv4Address(world.address_of("server").c_str()), 7000);
  Sink s1, s2;

  ns3::Ptr<ns3::Socket> first = connfail::sim::CreateTcpSocket(node);
  EXPECT_EQ(first->Bind(ns3::InetSocketAddress(me, 40000)), 0);
  first->SetRecvCallback(ns3::MakeCallback(&Sink::OnRecv, &s1));
  first->Connect(server);
  world.loop().run_for(std::chrono::seconds(1));
  first->Send(ns3::Create<ns3::Packet>(1000));
  world.loop().run_for(std::chrono::seconds(1));
  first->Close();
  // TIME_WAIT is 2 MSL: 240 s with ns-3's MaxSegLifetime of 120 s.
  world.loop().run_for(std::chrono::seconds(250));

  ns3::Ptr<ns3::Socket> second = connfail::sim::CreateTcpSocket(node);
  EXPECT_EQ(second->Bind(ns3::InetSocketAddress(me, 40000)), 0);
  second->SetRecvCallback(ns3::MakeCallback(&Sink::OnRecv, &s2));
  second->Connect(server);
  world.loop().run_for(std::chrono::seconds(1));
  second->Send(ns3::Create<ns3::Packet>(2000));
  world.loop().run_for(std::chrono::seconds(1));
  second->Close();
  world.loop().run_for(std::chrono::seconds(5));

  ReuseRun r;
  r.hash = world.trace_hash();
  r.first = s1.bytes;
  r.second = s2.bytes;
  r.demux = world.demux_counts();
  return r;
}

TEST(SimDemux, AFourTupleReusedAfterTimeWaitReachesTheNewSocket) {
  const ReuseRun indexed = reuse_run(false);
  EXPECT_EQ(indexed.first, 1000u);
  EXPECT_EQ(indexed.second, 2000u);
  // The entry naming the first socket (endpoint gone) was seen and dropped.
  EXPECT_GE(indexed.demux.stale, 1u);
  const ReuseRun linear = reuse_run(true);
  EXPECT_EQ(linear.second, 2000u);
  EXPECT_EQ(indexed.hash, linear.hash);
}

}  // namespace
