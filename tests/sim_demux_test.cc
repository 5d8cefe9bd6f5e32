// The sim's hash socket index (sim/tcp_demux.h) when a 4-tuple is reused: the
// entry left by the old socket must not capture the new connection's
// segments. (tests/sim_transport_test.cc compares an echo under loss with
// and without the index, tests/scenario_suite_test.cc whole scenario reports.)
#include <gtest/gtest.h>

#include <ns3/inet-socket-address.h>
#include <ns3/ipv4-address.h>
#include <ns3/packet.h>
#include <ns3/simulator.h>
#include <ns3/socket.h>

#include "connfail/netcore/acceptor.h"
#include "connfail/sim/raw_tcp.h"
#include "connfail/sim/sim_world.h"
#include "connfail/tests/test_handlers.h"

namespace {

using namespace netcore;
using connfail::sim::SimWorld;
using connfail::sim::WorldConfig;
using connfail::testing::Echo;

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
// its endpoint gone: the second takes its index entry over when it connects
// (before that, the entry named the first socket and was dropped as stale
// when the SYN-ACK arrived).
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
  // Connects from port 40000, sends `bytes` (echoed back to `sink`), closes.
  auto exchange = [&](Sink& sink, uint32_t bytes) {
    ns3::Ptr<ns3::Socket> s = connfail::sim::CreateTcpSocket(node);
    EXPECT_EQ(s->Bind(ns3::InetSocketAddress(me, 40000)), 0);
    s->SetRecvCallback(ns3::MakeCallback(&Sink::OnRecv, &sink));
    s->Connect(server);
    world.loop().run_for(std::chrono::seconds(1));
    s->Send(ns3::Create<ns3::Packet>(bytes));
    world.loop().run_for(std::chrono::seconds(1));
    s->Close();
    return s;
  };
  ns3::Ptr<ns3::Socket> first = exchange(s1, 1000);
  // TIME_WAIT is 2 MSL: 240 s with ns-3's MaxSegLifetime of 120 s.
  world.loop().run_for(std::chrono::seconds(250));
  ns3::Ptr<ns3::Socket> second = exchange(s2, 2000);
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
  // The second socket replaced the first's entry at connect: no segment met
  // a stale entry, and the whole exchange went through the index and the
  // listener shortcut (no segment walked ns-3's endpoint list).
  EXPECT_EQ(indexed.demux.stale, 0u);
  EXPECT_EQ(indexed.demux.linear, 0u);
  EXPECT_GT(indexed.demux.indexed, 0u);
  const ReuseRun linear = reuse_run(true);
  EXPECT_EQ(linear.second, 2000u);
  EXPECT_EQ(indexed.hash, linear.hash);
}

}  // namespace
