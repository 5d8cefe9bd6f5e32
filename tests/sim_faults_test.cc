// Loss models of the simulated links.
#include <gtest/gtest.h>

#include <functional>

#include <ns3/packet.h>
#include <ns3/rng-seed-manager.h>
#include <ns3/simulator.h>

#include "netcore/acceptor.h"
#include "netcore/reference_servers.h"
#include "sim/loss_models.h"
#include "sim/sim_world.h"
#include "tests/test_handlers.h"

namespace {

using namespace netcore;
using connfail::sim::GilbertElliottErrorModel;
using connfail::sim::LossSpec;
using connfail::sim::SimWorld;
using connfail::sim::WorldConfig;
using connfail::testing::pattern;
using connfail::testing::Recorder;

struct LossRun {
  double rate = 0;
  double mean_run = 0;  // mean length of consecutive losses
};

LossRun measure(ns3::Ptr<ns3::ErrorModel> m, int n) {
  auto p = ns3::Create<ns3::Packet>(100);
  int lost = 0, runs = 0;
  bool prev = false;
  for (int i = 0; i < n; ++i) {
    const bool l = m->IsCorrupt(p);
    lost += l;
    if (l && !prev) ++runs;
    prev = l;
  }
  return {static_cast<double>(lost) / n, runs ? static_cast<double>(lost) / runs : 0.0};
}

TEST(GilbertElliott, LongRunLossMatchesTheAnalyticValueWithinOnePercent) {
  ns3::RngSeedManager::SetSeed(3);
  auto m = ns3::CreateObject<GilbertElliottErrorModel>();
  m->SetParameters(/*p_gb=*/0.05, /*p_bg=*/0.5, /*loss_good=*/0.0, /*loss_bad=*/0.5);
  m->AssignStreams(1);
  const double expected = m->StationaryLoss();  // pi_b = 0.05/0.55; loss = pi_b * 0.5
  EXPECT_NEAR(expected, 0.05 / 0.55 * 0.5, 1e-12);
  const LossRun r = measure(m, 1000000);
  EXPECT_NEAR(r.rate, expected, 0.01 * expected) << "measured " << r.rate << " analytic " << expected;
  ns3::Simulator::Destroy();
}

TEST(GilbertElliott, LossesComeInBurstsUnlikeUniformLoss) {
  ns3::RngSeedManager::SetSeed(3);
  auto ge = ns3::CreateObject<GilbertElliottErrorModel>();
  ge->SetParameters(0.01, 0.1, 0.0, 0.9);  // long bad spells
  ge->AssignStreams(1);
  auto uni = ns3::CreateObject<ns3::RateErrorModel>();
  uni->SetUnit(ns3::RateErrorModel::ERROR_UNIT_PACKET);
  uni->SetRate(ge->StationaryLoss());
  uni->AssignStreams(5);
  const LossRun g = measure(ge, 200000);
  const LossRun u = measure(uni, 200000);
  EXPECT_NEAR(g.rate, u.rate, 0.2 * u.rate);
  EXPECT_GT(g.mean_run, 3.0 * u.mean_run) << "GE run " << g.mean_run << " uniform run " << u.mean_run;
  ns3::Simulator::Destroy();
}

// Echoes `bytes` from client0 through an echo server in a world that
// `configure` has set up (loss, jitter...), then closes and settles.
struct EchoRun {
  std::size_t echoed = 0;
  bool exact = false;
  std::uint64_t dropped = 0;
  std::uint64_t reordered = 0;
  bool leaks = true;
};

EchoRun echo_in_world(const std::function<void(SimWorld&)>& configure, std::size_t bytes = 1 << 20) {
  WorldConfig cfg;
  cfg.seed = 5;
  SimWorld world(cfg);
  configure(world);
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7};
  auto acceptor = Acceptor::start(world.transport("server"), ledger, echo_server(), o);
  auto rec = std::make_shared<Recorder>();
  std::shared_ptr<Channel> client;
  const Bytes payload = pattern(bytes);
  connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 7}, std::chrono::seconds(30),
                  [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); }, {},
                  [&](std::shared_ptr<Channel> ch, SocketError) {
                    client = ch;
                    if (ch) ch->write_and_flush(payload);
                  });
  world.loop().run_until([&] { return rec->bytes.size() >= payload.size(); }, std::chrono::seconds(600));
  EchoRun r;
  r.echoed = rec->bytes.size();
  r.exact = rec->bytes == payload;
  r.dropped = world.packets_dropped();
  r.reordered = world.packets_reordered();
  if (client) client->close();
  acceptor->close();
  world.loop().run_until([&] { return ledger.open_count() == 0 && live_connections(world.inventory()).empty(); },
                         std::chrono::seconds(600));
  r.leaks = ledger.open_count() != 0 || !live_connections(world.inventory()).empty();
  return r;
}

EchoRun echo_under_loss(const LossSpec& loss) {
  return echo_in_world([&](SimWorld& w) {
    w.set_loss("client0", "server", loss);
    w.set_loss("server", "client0", loss);
  });
}

TEST(SimLoss, FivePercentUniformLossStillDeliversEveryByte) {
  LossSpec loss;
  loss.kind = LossSpec::Kind::Uniform;
  loss.rate = 0.05;
  const auto r = echo_under_loss(loss);
  EXPECT_EQ(r.echoed, 1u << 20);
  EXPECT_TRUE(r.exact);
  EXPECT_GT(r.dropped, 50u) << "the loss model dropped (almost) nothing";
  EXPECT_FALSE(r.leaks);
}

TEST(SimLoss, BurstAndGilbertElliottLossStillDeliverEveryByte) {
  LossSpec burst;
  burst.kind = LossSpec::Kind::Burst;
  burst.burst_start = 0.01;
  burst.burst_min = 2;
  burst.burst_max = 4;
  const auto b = echo_under_loss(burst);
  EXPECT_TRUE(b.exact);
  EXPECT_GT(b.dropped, 20u);
  EXPECT_FALSE(b.leaks);

  LossSpec ge;
  ge.kind = LossSpec::Kind::GilbertElliott;
  ge.p_good_to_bad = 0.01;
  ge.p_bad_to_good = 0.3;
  ge.loss_good = 0.0;
  ge.loss_bad = 0.5;
  const auto g = echo_under_loss(ge);
  EXPECT_TRUE(g.exact);
  EXPECT_GT(g.dropped, 10u);
  EXPECT_FALSE(g.leaks);
}

TEST(SimLoss, SameSeedSameDrops) {
  LossSpec loss;
  loss.kind = LossSpec::Kind::Uniform;
  loss.rate = 0.05;
  EXPECT_EQ(echo_under_loss(loss).dropped, echo_under_loss(loss).dropped);
}

TEST(SimLoss, BadSpecsAreRejected) {
  SimWorld world;
  LossSpec bad;
  bad.kind = LossSpec::Kind::Uniform;
  bad.rate = 1.5;
  EXPECT_THROW(world.set_loss("client0", "server", bad), std::invalid_argument);
  LossSpec ok;
  ok.kind = LossSpec::Kind::Uniform;
  EXPECT_THROW(world.set_loss("client0", "client0", ok), std::invalid_argument);
  EXPECT_THROW(world.set_loss("nosuch", "server", ok), std::invalid_argument);
}

}  // namespace

namespace {

TEST(SimHalfOpen, SilentPeerStaysEstablishedWithoutAnIdleCheckAndIsReapedWithOne) {
  for (bool idle_check : {false, true}) {
    SCOPED_TRACE(idle_check ? "with idle check" : "without idle check");
    SimWorld world;
    ConnectionLedger ledger;
    const Duration idle = std::chrono::seconds(30);
    AcceptorOptions o;
    o.listen.address = {"0.0.0.0", 9};
    auto acceptor = Acceptor::start(world.transport("server"), ledger,
                                    idle_check ? heartbeat_server(idle) : echo_server(), o);
    std::shared_ptr<Channel> client;
    connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 9}, std::chrono::seconds(5),
                    [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) { client = ch; });
    ASSERT_TRUE(world.loop().run_until([&] { return client && ledger.open_count() == 2; }, std::chrono::seconds(5)));
    const TimePoint vanished = world.loop().now();
    world.set_link_up("client0", false);  // the client host vanishes: no FIN, no RST

    if (!idle_check) {
      world.loop().run_for(std::chrono::seconds(600));
      int established = 0;
      for (const auto& s : world.transport("server").inventory())
        if (s.state == TcpState::Established) {
          ++established;
          EXPECT_GE(*s.in_state_for, std::chrono::seconds(600));
        }
      EXPECT_EQ(established, 1) << "the server should hold the dead peer's connection forever";
      EXPECT_EQ(ledger.open_count(), 2u);
    } else {
      ASSERT_TRUE(world.loop().run_until([&] { return ledger.count(CloseReason::Idle) == 1; },
                                         std::chrono::seconds(600)));
      const Duration took = world.loop().now() - vanished;
      // The last read was the handshake, just before the link went dark.
      EXPECT_LE(took, idle + std::chrono::milliseconds(1));
      EXPECT_GE(took, idle - std::chrono::milliseconds(5));
    }
    if (client) client->abort();
    for (auto& ch : acceptor->children()) ch->abort();  // the held connection, if any
    acceptor->close();
    world.loop().run_for(std::chrono::milliseconds(1));
  }
}

TEST(SimPartition, TenSecondPartitionHealsAndTheConnectionSurvives) {
  SimWorld world;
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 9};
  auto acceptor = Acceptor::start(world.transport("server"), ledger, echo_server(), o);
  auto rec = std::make_shared<Recorder>();
  std::shared_ptr<Channel> client;
  connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 9}, std::chrono::seconds(5),
                  [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); }, {},
                  [&](std::shared_ptr<Channel> ch, SocketError) { client = ch; });
  ASSERT_TRUE(world.loop().run_until([&] { return client != nullptr; }, std::chrono::seconds(5)));
  client->write_and_flush(pattern(1000, 1));
  ASSERT_TRUE(world.loop().run_until([&] { return rec->bytes.size() == 1000; }, std::chrono::seconds(5)));

  world.set_link_up("client0", false);
  client->write_and_flush(pattern(5000, 2));  // sent into the partition
  world.loop().run_for(std::chrono::seconds(10));
  EXPECT_EQ(rec->bytes.size(), 1000u) << "bytes crossed a cut link";
  EXPECT_GT(world.packets_dropped(), 0u);
  world.set_link_up("client0", true);
  ASSERT_TRUE(world.loop().run_until([&] { return rec->bytes.size() == 6000; }, std::chrono::seconds(120)));
  EXPECT_TRUE(client->is_active());
  EXPECT_EQ(ledger.count(CloseReason::TimedOut) + ledger.count(CloseReason::Reset), 0u);
  Bytes want = pattern(1000, 1);
  const Bytes more = pattern(5000, 2);
  want.insert(want.end(), more.begin(), more.end());
  EXPECT_TRUE(rec->bytes == want);
  client->close();
  acceptor->close();
  world.loop().run_until([&] { return ledger.open_count() == 0 && live_connections(world.inventory()).empty(); },
                         std::chrono::seconds(60));
  EXPECT_TRUE(live_connections(world.inventory()).empty());
}

}  // namespace

namespace {

EchoRun transfer_with_jitter(const connfail::sim::JitterSpec& spec) {
  return echo_in_world([&](SimWorld& w) { w.set_jitter("client0", spec); }, 2 << 20);
}

TEST(SimJitter, ReorderingPreventedNeverDeliversOutOfOrderAllowedDoes) {
  connfail::sim::JitterSpec spec;
  spec.kind = connfail::sim::JitterSpec::Kind::Uniform;
  spec.max = std::chrono::milliseconds(5);
  spec.allow_reorder = false;
  const EchoRun fifo = transfer_with_jitter(spec);
  EXPECT_TRUE(fifo.exact);
  EXPECT_EQ(fifo.reordered, 0u);

  spec.allow_reorder = true;
  const EchoRun reorder = transfer_with_jitter(spec);
  EXPECT_TRUE(reorder.exact);
  EXPECT_GT(reorder.reordered, 100u);

  connfail::sim::JitterSpec normal;
  normal.kind = connfail::sim::JitterSpec::Kind::Normal;
  normal.mean = std::chrono::milliseconds(2);
  normal.sd = std::chrono::milliseconds(1);
  normal.bound = std::chrono::milliseconds(5);
  normal.allow_reorder = false;
  const EchoRun n = transfer_with_jitter(normal);
  EXPECT_TRUE(n.exact);
  EXPECT_EQ(n.reordered, 0u);
}

}  // namespace
