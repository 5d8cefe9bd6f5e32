// Loss models of the simulated links.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include <ns3/packet.h>
#include <ns3/rng-seed-manager.h>
#include <ns3/simulator.h>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/fault_injector.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/netcore/socket_owners.h"
#include "connfail/sim/loss_models.h"
#include "connfail/sim/sim_world.h"
#include "connfail/tests/test_handlers.h"

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

TEST(BurstLoss, BurstLengthsStayWithinBurstMinAndBurstMax) {
  ns3::RngSeedManager::SetSeed(5);
  for (auto [lo, hi] : {std::pair{1, 1}, std::pair{2, 4}}) {
    LossSpec spec;
    spec.kind = LossSpec::Kind::Burst;
    spec.burst_start = 0.01;
    spec.burst_min = lo;
    spec.burst_max = hi;
    auto m = connfail::sim::make_loss_model(spec, 40);
    auto p = ns3::Create<ns3::Packet>(100);
    std::map<int, int> lengths;  // burst length -> how many
    int run = 0;
    for (int i = 0; i < 200000; ++i) {
      if (m->IsCorrupt(p)) {
        ++run;
      } else if (run > 0) {
        ++lengths[run];
        run = 0;
      }
    }
    ASSERT_FALSE(lengths.empty());
    // Back-to-back bursts merge into a longer run now and then (a burst may
    // start right after one ends), so look at what most runs are.
    int total = 0, inside = 0;
    for (auto [len, n] : lengths) {
      total += n;
      if (len >= lo && len <= hi) inside += n;
    }
    EXPECT_GT(inside, total * 97 / 100) << "burst sizes outside [" << lo << ", " << hi << "]";
    EXPECT_GT(lengths[hi], 0) << "burst_max never drawn";
  }
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
  std::uint64_t hash = 0;
};

WorldConfig seed5() {
  WorldConfig cfg;
  cfg.seed = 5;
  return cfg;
}

EchoRun echo_in_world(const std::function<void(SimWorld&)>& configure, std::size_t bytes = 1 << 20,
                      const WorldConfig& cfg = seed5()) {
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
  r.hash = world.trace_hash();
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

// ---------------------------------------------------------------- topology

namespace {

using connfail::sim::JitterSpec;
using connfail::sim::LinkSpec;

TEST(SimTopology, BackendHasItsOwnLinkAndAddress) {
  WorldConfig cfg;
  cfg.backend = true;
  cfg.backend_link.delay = std::chrono::milliseconds(5);
  SimWorld world(cfg);
  const auto names = world.nodes();
  EXPECT_EQ(names, (std::vector<std::string>{"server", "client0", "backend"}));
  EXPECT_EQ(world.address_of("backend"), "10.0.0.2");
  EXPECT_EQ(world.address_of("server"), "10.0.1.1");  // unchanged: its client0 interface

  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 8080};
  auto acceptor = Acceptor::start(world.transport("backend"), ledger, echo_server(), o);
  TimePoint server_connected{}, client_connected{};
  std::shared_ptr<Channel> upstream, direct;
  connect_channel(world.transport("server"), ledger, {world.address_of("backend"), 8080}, std::chrono::seconds(5),
                  [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) {
                    upstream = ch;
                    server_connected = world.loop().now();
                  });
  // client0 reaches the backend through the server (routed).
  connect_channel(world.transport("client0"), ledger, {world.address_of("backend"), 8080}, std::chrono::seconds(5),
                  [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) {
                    direct = ch;
                    client_connected = world.loop().now();
                  });
  ASSERT_TRUE(world.loop().run_until([&] { return upstream && direct; }, std::chrono::seconds(5)));
  // One round trip on the 5 ms backend link (plus serialisation).
  EXPECT_GE(server_connected, std::chrono::milliseconds(10));
  EXPECT_LT(server_connected, std::chrono::milliseconds(11));
  // Two links each way: 2 * (1 ms + 5 ms).
  EXPECT_GE(client_connected, std::chrono::milliseconds(12));
  EXPECT_LT(client_connected, std::chrono::milliseconds(13));
  EXPECT_EQ(upstream->remote_address().host, "10.0.0.2");
  EXPECT_EQ(upstream->local_address().host, "10.0.0.1");
  EXPECT_GT(world.packets_sent("backend"), 0u);
  upstream->close();
  direct->close();
  acceptor->close();
  world.loop().run_for(std::chrono::seconds(1));
}

TEST(SimTopology, PerClientLinkOverride) {
  WorldConfig cfg;
  cfg.clients = 2;
  cfg.client_links["client1"] = LinkSpec{"10Mbps", std::chrono::milliseconds(50)};
  SimWorld world(cfg);
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7};
  auto acceptor = Acceptor::start(world.transport("server"), ledger, echo_server(), o);
  std::vector<TimePoint> connected(2);
  std::vector<std::shared_ptr<Channel>> chans(2);
  for (int i = 0; i < 2; ++i)
    connect_channel(world.transport("client" + std::to_string(i)), ledger, {world.address_of("server"), 7},
                    std::chrono::seconds(5), [](Channel&) {}, {}, [&, i](std::shared_ptr<Channel> ch, SocketError) {
                      chans[static_cast<std::size_t>(i)] = ch;
                      connected[static_cast<std::size_t>(i)] = world.loop().now();
                    });
  ASSERT_TRUE(world.loop().run_until([&] { return chans[0] && chans[1]; }, std::chrono::seconds(5)));
  EXPECT_LT(connected[0], std::chrono::milliseconds(3));     // default 1 ms link
  EXPECT_GE(connected[1], std::chrono::milliseconds(100));   // 2 * 50 ms
  EXPECT_LT(connected[1], std::chrono::milliseconds(101));
  for (auto& c : chans) c->close();
  acceptor->close();
  world.loop().run_for(std::chrono::seconds(1));
}

TEST(SimTopology, UnknownOverrideOrHostIsRejected) {
  WorldConfig cfg;
  cfg.client_links["client7"] = LinkSpec{};
  EXPECT_THROW(SimWorld w(cfg), std::invalid_argument);
  SimWorld world;  // the failed construction left no world behind
  EXPECT_THROW(world.set_link_up("backend", false), std::invalid_argument);  // no backend configured
  EXPECT_THROW(world.set_link_up("server", false), std::invalid_argument);
  EXPECT_THROW(world.set_node_up("nosuch", false), std::invalid_argument);
  EXPECT_THROW(world.address_of("backend"), std::out_of_range);
}

// A backend's link has its own stream numbers and is built after the client
// links: a client workload under loss and jitter draws and hashes the same.
TEST(SimTopology, AddingABackendChangesNothingOnTheClientLinks) {
  auto configure = [](SimWorld& w) {
    LossSpec loss;
    loss.kind = LossSpec::Kind::Uniform;
    loss.rate = 0.03;
    w.set_loss("client0", "server", loss);
    w.set_loss("server", "client0", loss);
    JitterSpec j;
    j.kind = JitterSpec::Kind::Uniform;
    j.max = std::chrono::milliseconds(2);
    w.set_jitter("client0", j);
  };
  WorldConfig plain = seed5();
  WorldConfig with_backend = seed5();
  with_backend.backend = true;
  const EchoRun a = echo_in_world(configure, 256 * 1024, plain);
  const EchoRun b = echo_in_world(configure, 256 * 1024, with_backend);
  EXPECT_TRUE(a.exact);
  EXPECT_GT(a.dropped, 0u);
  EXPECT_GT(a.reordered, 0u);
  EXPECT_EQ(a.dropped, b.dropped);
  EXPECT_EQ(a.reordered, b.reordered);
  EXPECT_EQ(a.hash, b.hash);
}

}  // namespace

// ------------------------------------------------------- scheduled faults

namespace {

/// An echo server on server:7 and one client on client0 whose reads land in
/// `rec`.
struct EchoClient {
  ConnectionLedger ledger;
  std::shared_ptr<Acceptor> acceptor;
  std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
  std::shared_ptr<Channel> client;

  /// True once the client is connected (within 5 s).
  bool start(SimWorld& world) {
    AcceptorOptions o;
    o.listen.address = {"0.0.0.0", 7};
    acceptor = Acceptor::start(world.transport("server"), ledger, echo_server(), o);
    auto r = rec;
    connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 7}, std::chrono::seconds(5),
                    [r](Channel& ch) { ch.pipeline().add_last("rec", r); }, {},
                    [this](std::shared_ptr<Channel> ch, SocketError) { client = ch; });
    return world.loop().run_until([&] { return client != nullptr; }, std::chrono::seconds(5));
  }
  void stop(SimWorld& world) {
    if (client) client->close();
    acceptor->close();
    world.loop().run_until([&] { return ledger.open_count() == 0; }, std::chrono::seconds(60));
  }
};

TEST(SimSchedule, LossStartsAtT1AndStopsAtT2) {
  WorldConfig cfg;
  cfg.seed = 3;
  SimWorld world(cfg);
  EchoClient e;
  ASSERT_TRUE(e.start(world));
  auto& client = e.client;
  auto& rec = e.rec;

  // 1000 bytes every 20 ms until t = 8 s.
  Bytes sent;
  std::function<void()> tick = [&] {
    const Bytes chunk = pattern(1000, sent.size() / 1000);
    sent.insert(sent.end(), chunk.begin(), chunk.end());
    client->write_and_flush(chunk);
    if (world.loop().now() < std::chrono::seconds(8)) world.loop().schedule(std::chrono::milliseconds(20), tick);
  };
  world.loop().schedule(std::chrono::milliseconds(20), tick);

  const Duration t1 = std::chrono::seconds(2), t2 = std::chrono::seconds(5);
  LossSpec loss;
  loss.kind = LossSpec::Kind::Uniform;
  loss.rate = 0.3;
  world.schedule_loss(t1, "client0", "server", loss);
  world.schedule_loss(t1, "server", "client0", loss);
  world.schedule_loss(t2, "client0", "server", LossSpec{});
  world.schedule_loss(t2, "server", "client0", LossSpec{});
  // packets_dropped() sampled every 100 ms (after the loss changes at equal times).
  std::vector<std::pair<Duration, std::uint64_t>> samples;
  std::uint64_t sent_at_t1 = 0, sent_at_t2 = 0;  // packets put on client0's link, both ways
  for (int k = 1; k <= 120; ++k) {
    const Duration t = std::chrono::milliseconds(100 * k);
    world.at(t, [&samples, &world, t] { samples.emplace_back(t, world.packets_dropped()); });
  }
  world.at(t1, [&] { sent_at_t1 = world.packets_sent("client0"); });
  world.at(t2, [&] { sent_at_t2 = world.packets_sent("client0"); });
  EXPECT_THROW(world.at(Duration::zero(), [] {}), std::invalid_argument);  // in the past
  EXPECT_THROW(world.schedule_loss(t1, "client0", "client0", loss), std::invalid_argument);

  world.loop().run_until([&] { return samples.size() == 120; }, std::chrono::seconds(20));
  ASSERT_EQ(samples.size(), 120u);
  std::uint64_t at_t2 = 0;
  for (const auto& [t, dropped] : samples) {
    if (t < t1) {
      EXPECT_EQ(dropped, 0u) << "a drop before the loss started, t = " << t.count();
    }
    if (t == t2) at_t2 = dropped;
    if (t > t2) {
      EXPECT_EQ(dropped, at_t2) << "a drop after the loss stopped, t = " << t.count();
    }
  }
  // TCP backs off under 30% loss, so few packets cross the link in those
  // 3 s; about 30% of those that did must have been dropped.
  const std::uint64_t window_sent = sent_at_t2 - sent_at_t1;
  ASSERT_GT(window_sent, 20u);
  EXPECT_GE(at_t2, 8u) << "30% loss for 3 s dropped (almost) nothing";
  const double ratio = static_cast<double>(at_t2) / static_cast<double>(window_sent);
  EXPECT_GT(ratio, 0.15) << at_t2 << " of " << window_sent;
  EXPECT_LT(ratio, 0.45) << at_t2 << " of " << window_sent;
  // Drops at least in the middle of the window: the model was really on.
  EXPECT_GT(samples[34].second, samples[19].second);  // 3.5 s vs 2.0 s

  ASSERT_TRUE(world.loop().run_until([&] { return rec->bytes.size() == sent.size(); }, std::chrono::seconds(120)));
  EXPECT_TRUE(rec->bytes == sent);
  EXPECT_TRUE(client->is_active());
  e.stop(world);
}

}  // namespace

// ------------------------------------------------------ server vanishes

namespace {

/// Records when the channel last read anything (first in the pipeline).
class ReadStamp final : public Handler {
 public:
  void channel_read(Context& ctx, std::any msg) override {
    last = ctx.loop().now();
    ctx.fire_channel_read(std::move(msg));
  }
  TimePoint last{};
};

TEST(SimServerVanish, ClientsWithAnIdleCheckAreReapedWithinReaderIdle) {
  WorldConfig cfg;
  cfg.clients = 2;
  cfg.backend = true;
  SimWorld world(cfg);
  ConnectionLedger ledger;
  const Duration interval = std::chrono::seconds(5), reader_idle = std::chrono::seconds(15);
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 9};
  auto acceptor = Acceptor::start(world.transport("server"), ledger, heartbeat_server(std::chrono::seconds(120)), o);
  std::vector<std::shared_ptr<ReadStamp>> stamps;
  std::vector<std::shared_ptr<Channel>> clients;
  for (int i = 0; i < 2; ++i) {
    auto stamp = std::make_shared<ReadStamp>();
    stamps.push_back(stamp);
    connect_channel(world.transport("client" + std::to_string(i)), ledger, {world.address_of("server"), 9},
                    std::chrono::seconds(5),
                    [stamp, init = heartbeat_client(interval, reader_idle)](Channel& ch) {
                      init(ch);
                      ch.pipeline().add_first("stamp", stamp);
                    },
                    {}, [&](std::shared_ptr<Channel> ch, SocketError) { clients.push_back(ch); });
  }
  world.loop().run_for(std::chrono::milliseconds(12300));  // two PING/PONG rounds
  ASSERT_EQ(clients.size(), 2u);
  for (const auto& s : stamps) EXPECT_GT(s->last, std::chrono::seconds(10)) << "no PONG seen";

  const TimePoint vanished = world.loop().now();
  world.set_node_up("server", false);
  EXPECT_FALSE(world.node_up("server"));
  for (const char* host : {"client0", "client1", "backend"}) EXPECT_FALSE(world.link_up(host)) << host;
  const std::uint64_t dropped_before = world.packets_dropped();

  ASSERT_TRUE(world.loop().run_until([&] { return !clients[0]->is_active() && !clients[1]->is_active(); },
                                     std::chrono::seconds(60)));
  for (std::size_t i = 0; i < 2; ++i) {
    const LedgerEntry* e = ledger.find(clients[i]->id());
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->reason, CloseReason::Idle);
    // Reaped exactly reader_idle after the last read, which was the last
    // PONG, at most one heartbeat interval before the server vanished.
    EXPECT_EQ(*e->closed_at - stamps[i]->last, reader_idle);
    EXPECT_LE(*e->closed_at - vanished, reader_idle);
    EXPECT_GE(*e->closed_at - vanished, reader_idle - interval);
  }
  EXPECT_GT(world.packets_dropped(), dropped_before) << "the clients' PINGs should vanish";
  // The server's side knows nothing: its children are still open.
  EXPECT_EQ(acceptor->children().size(), 2u);

  // Back up: links are lit again unless cut on their own.
  world.set_link_up("client1", false);
  world.set_node_up("server", true);
  EXPECT_TRUE(world.link_up("client0"));
  EXPECT_FALSE(world.link_up("client1"));
  EXPECT_TRUE(world.link_up("backend"));
  for (auto& ch : acceptor->children()) ch->abort();
  acceptor->close();
  world.loop().run_for(std::chrono::seconds(1));
}

}  // namespace

// ---------------------------------------------------------- middlebox RST

namespace {

struct Pcap {
  bool ok = false;
  std::uint32_t magic = 0;
  std::uint16_t major = 0, minor = 0;
  std::uint32_t linktype = 0;
  std::vector<std::vector<std::uint8_t>> records;
  std::vector<std::uint64_t> times_us;
};

// A classic pcap file: 24-byte global header, then 16-byte record headers
// (ts_sec, ts_usec, incl_len, orig_len) each followed by incl_len bytes.
Pcap read_pcap(const std::string& path) {
  Pcap p;
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (b.size() < 24) return p;
  auto u32 = [&](std::size_t at, bool swap) {
    std::uint32_t v;
    std::memcpy(&v, &b[at], 4);
    return swap ? __builtin_bswap32(v) : v;
  };
  p.magic = u32(0, false);
  const bool swap = p.magic == 0xd4c3b2a1u;
  if (p.magic != 0xa1b2c3d4u && !swap) return p;
  p.major = static_cast<std::uint16_t>(swap ? (b[4] << 8 | b[5]) : (b[5] << 8 | b[4]));
  p.minor = static_cast<std::uint16_t>(swap ? (b[6] << 8 | b[7]) : (b[7] << 8 | b[6]));
  p.linktype = u32(20, swap);
  std::size_t at = 24;
  while (at + 16 <= b.size()) {
    const std::uint32_t sec = u32(at, swap), usec = u32(at + 4, swap), incl = u32(at + 8, swap);
    if (at + 16 + incl > b.size()) return p;  // truncated
    p.records.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(at + 16),
                           b.begin() + static_cast<std::ptrdiff_t>(at + 16 + incl));
    p.times_us.push_back(std::uint64_t{sec} * 1000000 + usec);
    at += 16 + incl;
  }
  p.ok = at == b.size();
  return p;
}

// PPP (2 bytes, 0x0021 = IPv4), IPv4 (IHL), TCP flags at byte 13.
int count_tcp_flag(const Pcap& p, std::uint8_t flag) {
  int n = 0;
  for (const auto& r : p.records) {
    if (r.size() < 2 + 20 + 20 || r[0] != 0x00 || r[1] != 0x21 || r[2 + 9] != 6) continue;
    const std::size_t tcp = 2 + static_cast<std::size_t>(r[2] & 0x0f) * 4;
    if (r[tcp + 13] & flag) ++n;
  }
  return n;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "connfail-sim-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

constexpr std::uint8_t kRst = 0x04;

struct RstRun {
  std::size_t rsts_sent = 0;
  CloseReason client_reason = CloseReason::Normal;
  CloseReason server_reason = CloseReason::Normal;
  TimePoint client_closed{}, server_closed{};
  bool client_active = false;
  std::size_t server_resets = 0;
  bool live_left = true;
  std::uint64_t dropped = 0;
  std::uint64_t hash = 0;
  int rst_in_server_pcap = -1, rst_in_client_pcap = -1;
};

// client0 <-> server echo; at t = 2 s a middlebox resets the connection.
RstRun middlebox_rst(bool lose_towards_client, const std::string& pcap_prefix = {}) {
  RstRun r;
  SimWorld world;
  if (!pcap_prefix.empty()) world.enable_pcap(pcap_prefix, "client0");
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7};
  auto acceptor = Acceptor::start(world.transport("server"), ledger, echo_server(), o);
  auto rec = std::make_shared<Recorder>();
  std::shared_ptr<Channel> client;
  connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 7}, std::chrono::seconds(5),
                  [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); }, {},
                  [&](std::shared_ptr<Channel> ch, SocketError) {
                    client = ch;
                    ch->write_and_flush(pattern(100000));
                  });
  world.loop().run_until([&] { return rec->bytes.size() == 100000; }, std::chrono::seconds(2));
  if (rec->bytes.size() != 100000 || !client) return r;
  auto server = acceptor->children().at(0);
  if (lose_towards_client) {
    LossSpec all;
    all.kind = LossSpec::Kind::Uniform;
    all.rate = 1.0;
    world.schedule_loss(std::chrono::milliseconds(1999), "server", "client0", all);
  }
  world.at(std::chrono::seconds(2), [&] {
    r.rsts_sent = world.inject_rst(client->local_address(), client->remote_address());
  });
  world.loop().run_until([&] { return !server->is_active() && (lose_towards_client || !client->is_active()); },
                         std::chrono::seconds(10));
  r.client_active = client->is_active();
  r.client_reason = client->close_reason();
  r.server_reason = server->close_reason();
  if (auto* e = ledger.find(client->id()); e && e->closed_at) r.client_closed = *e->closed_at;
  if (auto* e = ledger.find(server->id()); e && e->closed_at) r.server_closed = *e->closed_at;
  r.server_resets = ledger.count(CloseReason::Reset);
  world.loop().run_for(std::chrono::milliseconds(100));
  r.dropped = world.packets_dropped();
  r.hash = world.trace_hash();
  if (lose_towards_client) {
    client->abort();
    world.loop().run_for(std::chrono::milliseconds(100));
  }
  r.live_left = !live_connections(world.inventory()).empty();
  acceptor->close();
  world.disable_pcap();
  if (!pcap_prefix.empty()) {
    r.rst_in_server_pcap = count_tcp_flag(read_pcap(pcap_prefix + "-server-client0.pcap"), kRst);
    r.rst_in_client_pcap = count_tcp_flag(read_pcap(pcap_prefix + "-client0-server.pcap"), kRst);
  }
  return r;
}

TEST(SimMiddleboxRst, BothEndsSeeResetFromARealSegmentOnTheWire) {
  TempDir dir;
  const RstRun r = middlebox_rst(false, (dir.path / "rst").string());
  EXPECT_EQ(r.rsts_sent, 2u);
  EXPECT_EQ(r.client_reason, CloseReason::Reset);
  EXPECT_EQ(r.server_reason, CloseReason::Reset);
  EXPECT_EQ(r.server_resets, 2u);
  // Each RST crosses one 1 ms, 100 Mbps link (a 40-byte packet + PPP header).
  const Duration one_way = std::chrono::milliseconds(1) + std::chrono::nanoseconds(42 * 80);
  EXPECT_EQ(r.client_closed, std::chrono::seconds(2) + one_way);
  EXPECT_EQ(r.server_closed, std::chrono::seconds(2) + one_way);
  EXPECT_FALSE(r.live_left);
  // Both RSTs pass both devices of the link: one sent, one received each.
  EXPECT_EQ(r.rst_in_server_pcap, 2);
  EXPECT_EQ(r.rst_in_client_pcap, 2);
}

TEST(SimMiddleboxRst, SameWorldSameTraceAndTheRstIsInIt) {
  const RstRun a = middlebox_rst(false);
  const RstRun b = middlebox_rst(false);
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(a.client_closed, b.client_closed);
  const RstRun lost = middlebox_rst(true);
  EXPECT_NE(a.hash, lost.hash);
}

TEST(SimMiddleboxRst, ALostRstResetsOnlyTheOtherSide) {
  const RstRun r = middlebox_rst(true);
  EXPECT_EQ(r.rsts_sent, 2u);
  EXPECT_EQ(r.server_reason, CloseReason::Reset);
  EXPECT_TRUE(r.client_active) << "the RST towards the client was lost";
  EXPECT_GE(r.dropped, 1u);
  EXPECT_EQ(r.server_resets, 1u);
}

TEST(SimMiddleboxRst, NoSuchConnectionSendsNothing) {
  SimWorld world;
  const auto before = world.packets_sent();
  EXPECT_EQ(world.inject_rst({"10.0.1.2", 49153}, {"10.0.1.1", 7}), 0u);
  world.loop().run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(world.packets_sent(), before);
}

}  // namespace

// ------------------------------------------------------------------ pcap

namespace {

TEST(SimPcap, OneLinkCapturedRecordsEqualPacketsOnThatLink) {
  TempDir dir;
  const std::string prefix = (dir.path / "cap").string();
  std::uint64_t on_link1 = 0, on_link0 = 0;
  std::vector<std::string> files;
  {
    WorldConfig cfg;
    cfg.clients = 2;
    SimWorld world(cfg);
    JitterSpec j;  // the capture sits on the devices: jitter channel or not
    j.kind = JitterSpec::Kind::Uniform;
    j.max = std::chrono::milliseconds(1);
    j.allow_reorder = false;
    world.set_jitter("client1", j);
    files = world.enable_pcap(prefix, "client1");
    ConnectionLedger ledger;
    AcceptorOptions o;
    o.listen.address = {"0.0.0.0", 7};
    auto acceptor = Acceptor::start(world.transport("server"), ledger, echo_server(), o);
    std::vector<std::shared_ptr<Recorder>> recs;
    std::vector<std::shared_ptr<Channel>> chans;
    for (int i = 0; i < 2; ++i) {
      auto rec = std::make_shared<Recorder>();
      recs.push_back(rec);
      connect_channel(world.transport("client" + std::to_string(i)), ledger, {world.address_of("server"), 7},
                      std::chrono::seconds(5), [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); }, {},
                      [&chans](std::shared_ptr<Channel> ch, SocketError) {
                        ch->write_and_flush(pattern(100000));
                        chans.push_back(ch);
                      });
    }
    world.loop().run_until([&] { return recs[0]->bytes.size() == 100000 && recs[1]->bytes.size() == 100000; },
                           std::chrono::seconds(10));
    for (auto& c : chans) c->close();
    acceptor->close();
    world.loop().run_until([&] { return ledger.open_count() == 0 && live_connections(world.inventory()).empty(); },
                           std::chrono::seconds(10));
    on_link0 = world.packets_sent("client0");
    on_link1 = world.packets_sent("client1");
    EXPECT_EQ(on_link0 + on_link1, world.packets_sent());
  }  // the world closes its capture files
  ASSERT_EQ(files, (std::vector<std::string>{prefix + "-server-client1.pcap", prefix + "-client1-server.pcap"}));
  EXPECT_FALSE(std::filesystem::exists(prefix + "-server-client0.pcap"));
  EXPECT_GT(on_link1, 100u);
  EXPECT_GT(on_link0, 100u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    ASSERT_TRUE(std::filesystem::exists(f));
    const Pcap p = read_pcap(f);
    EXPECT_TRUE(p.ok) << "not a well-formed pcap file";
    EXPECT_TRUE(p.magic == 0xa1b2c3d4u || p.magic == 0xd4c3b2a1u);
    EXPECT_EQ(p.major, 2);
    EXPECT_EQ(p.minor, 4);
    EXPECT_EQ(p.linktype, 9u);  // LINKTYPE_PPP
    // No loss on the link: each device saw every packet, sent or received.
    EXPECT_EQ(p.records.size(), on_link1);
    EXPECT_TRUE(std::is_sorted(p.times_us.begin(), p.times_us.end()));
    EXPECT_EQ(count_tcp_flag(p, 0x02 /* SYN */), 2);  // SYN and SYN-ACK
  }
}

TEST(SimPcap, AllLinksAtOnce) {
  TempDir dir;
  WorldConfig cfg;
  cfg.clients = 2;
  cfg.backend = true;
  SimWorld world(cfg);
  const auto files = world.enable_pcap((dir.path / "all").string());
  EXPECT_EQ(files.size(), 6u);
  world.disable_pcap();
  for (const auto& f : files) {
    const Pcap p = read_pcap(f);
    EXPECT_TRUE(p.ok) << f;
    EXPECT_TRUE(p.records.empty()) << f;
  }
  EXPECT_THROW(world.enable_pcap((dir.path / "x").string(), "server"), std::invalid_argument);
}

}  // namespace

// ---------------------------------------------------------------- orphans

namespace {

const OwnedSocket* find_owned(const std::vector<OwnedSocket>& v, const std::string& node, std::uint16_t local_port,
                              TcpState state) {
  for (const auto& o : v)
    if (o.info.node == node && o.info.local.port == local_port && o.info.state == state) return &o;
  return nullptr;
}

TEST(SimOrphans, ASocketKeptWithoutAChannelIsAnOrphanWithItsTimeInState) {
  SimWorld world;
  ConnectionLedger ledger;
  // A listener whose accept callback keeps the socket and never builds a
  // channel: the connection has no owner in any ledger.
  std::vector<std::shared_ptr<Socket>> kept;
  TimePoint accepted_at{};
  auto bypass = world.transport("server").listen(ListenOptions{{"0.0.0.0", 9}, 16}, [&](std::shared_ptr<Socket> s) {
    accepted_at = world.loop().now();
    kept.push_back(std::move(s));
  });
  // A proper server on port 7.
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7};
  auto acceptor = Acceptor::start(world.transport("server"), ledger, echo_server(), o);

  std::shared_ptr<Channel> leaky, proper;
  connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 9}, std::chrono::seconds(5),
                  [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) { leaky = ch; });
  connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 7}, std::chrono::seconds(5),
                  [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) { proper = ch; });
  ASSERT_TRUE(world.loop().run_until([&] { return leaky && proper && kept.size() == 1; }, std::chrono::seconds(5)));
  world.loop().run_for(std::chrono::seconds(10));

  auto owned = attribute_owners(world.inventory(), {&ledger});
  const OwnedSocket* orphan = find_owned(owned, "server", 9, TcpState::Established);
  ASSERT_NE(orphan, nullptr);
  EXPECT_TRUE(orphan->orphan) << describe(*orphan);
  EXPECT_NE(orphan->info.socket_id, 0u) << "a Socket object holds it: only the channel is missing";
  ASSERT_TRUE(orphan->info.in_state_for.has_value());
  EXPECT_EQ(*orphan->info.in_state_for, world.loop().now() - accepted_at);
  EXPECT_NE(describe(*orphan).find("ESTABLISHED for 10."), std::string::npos) << describe(*orphan);
  EXPECT_NE(describe(*orphan).find("ORPHAN"), std::string::npos);
  ASSERT_EQ(orphans(owned).size(), 1u) << "only the bypassed socket";
  for (const auto& s : owned)
    if (s.info.node == "client0" || s.info.local.port == 7) {
      EXPECT_FALSE(s.orphan) << describe(s);
      if (s.info.role != SocketRole::Listener) {
        EXPECT_TRUE(s.channel_id.has_value()) << describe(s);
      }
    }

  // Both clients close. The proper connection goes away (client in
  // TIME_WAIT); the bypassed one sits in CLOSE_WAIT, still an orphan.
  const TimePoint closed_at = world.loop().now();
  leaky->close();
  proper->close();
  world.loop().run_for(std::chrono::seconds(5));
  owned = attribute_owners(world.inventory(), {&ledger});
  const OwnedSocket* close_wait = find_owned(owned, "server", 9, TcpState::CloseWait);
  ASSERT_NE(close_wait, nullptr);
  EXPECT_TRUE(close_wait->orphan);
  EXPECT_LE(*close_wait->info.in_state_for, world.loop().now() - closed_at);
  EXPECT_GE(*close_wait->info.in_state_for, world.loop().now() - closed_at - std::chrono::milliseconds(5));
  EXPECT_NE(describe(*close_wait).find("CLOSE_WAIT for 4.9"), std::string::npos) << describe(*close_wait);
  ASSERT_EQ(orphans(owned).size(), 1u);
  for (const auto& s : owned)
    if (!s.orphan) {
      EXPECT_FALSE(s.channel_id.has_value()) << "every channel closed: " << describe(s);
    }

  kept[0]->close();
  bypass->close();
  acceptor->close();
  world.loop().run_for(std::chrono::seconds(1));
  EXPECT_TRUE(orphans(attribute_owners(world.inventory(), {&ledger})).empty());
}

}  // namespace

// ------------------------------------------------------- TCP timestamps

namespace {

// A request answered by data, every 10 s, for minutes: the peer's RTT
// estimate must stay near the real RTT, so that one lost request is
// retransmitted within a second or so. ns-3 3.37 on its own stops echoing
// timestamps on such a connection (CfTcpSocket::SendDataPacket) and the
// retransmission comes after the RTO has grown to its 60 s cap.
TEST(SimTimestamps, ALostRequestOnALongPingPongConnectionIsRetransmittedWithinTwoSeconds) {
  WorldConfig cfg;
  cfg.seed = 5;
  SimWorld world(cfg);
  EchoClient e;
  ASSERT_TRUE(e.start(world));
  auto& client = e.client;
  auto& rec = e.rec;

  // 5 bytes every 10 s; each is echoed at once (data answering data).
  int sent = 0;
  std::function<void()> tick = [&] {
    client->write_and_flush(pattern(5, static_cast<std::size_t>(sent)));
    ++sent;
    if (sent < 20) world.loop().schedule(std::chrono::seconds(10), tick);
  };
  tick();
  // The request sent at about t = 100 s is lost on its way to the server.
  const Duration cut = world.loop().now() + std::chrono::seconds(100) - std::chrono::milliseconds(100);
  world.at(cut, [&] { world.set_link_up("client0", false); });
  world.at(cut + std::chrono::milliseconds(200), [&] { world.set_link_up("client0", true); });
  ASSERT_TRUE(world.loop().run_until([&] { return sent == 11; }, std::chrono::seconds(200)));
  const Duration sent_at = world.loop().now();
  ASSERT_TRUE(world.loop().run_until([&] { return rec->bytes.size() == 5u * 11; }, std::chrono::seconds(9)))
      << "the lost request was not retransmitted before the next one was due";
  EXPECT_LT(world.loop().now() - sent_at, std::chrono::seconds(2)) << "retransmitted only after "
                                                                    << (world.loop().now() - sent_at).count() << " ns";
  EXPECT_GT(world.packets_dropped(), 0u) << "nothing was lost: the test proves nothing";
  e.stop(world);
}

}  // namespace

// ------------------------------------------- jitter per direction, back-off

namespace {

/// One-way delays (ns) of 20 small messages client -> server, 200 ms apart,
/// measured where the server reads them.
std::vector<std::int64_t> one_way_delays(const connfail::sim::JitterSpec& jitter) {
  WorldConfig cfg;
  cfg.seed = 9;
  SimWorld world(cfg);
  world.set_jitter("client0", jitter);
  ConnectionLedger ledger;
  std::vector<std::int64_t> arrivals;
  struct Stamp final : Handler {
    std::vector<std::int64_t>* out;
    EventLoop* loop;
    void channel_read(Context& ctx, std::any msg) override {
      out->push_back(loop->now().count());
      ctx.fire_channel_read(std::move(msg));
    }
  };
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7};
  auto acceptor = Acceptor::start(world.transport("server"), ledger,
                                  [&](Channel& ch) {
                                    auto s = std::make_shared<Stamp>();
                                    s->out = &arrivals;
                                    s->loop = &world.loop();
                                    ch.pipeline().add_last("stamp", s);
                                  },
                                  o);
  std::shared_ptr<Channel> client;
  connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 7}, std::chrono::seconds(5),
                  [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) { client = ch; });
  EXPECT_TRUE(world.loop().run_until([&] { return client != nullptr; }, std::chrono::seconds(5)));
  std::vector<std::int64_t> sent;
  for (int i = 0; i < 20; ++i)
    world.loop().schedule(std::chrono::milliseconds(200 * (i + 1)), [&] {
      sent.push_back(world.loop().now().count());
      client->write_and_flush(Bytes{1});
    });
  world.loop().run_until([&] { return arrivals.size() == 20; }, std::chrono::seconds(20));
  std::vector<std::int64_t> d;
  for (std::size_t i = 0; i < arrivals.size() && i < sent.size(); ++i) d.push_back(arrivals[i] - sent[i]);
  client->close();
  acceptor->close();
  world.loop().run_for(std::chrono::seconds(2));
  return d;
}

TEST(SimJitter, DirectionLimitsTheExtraDelayToOneWay) {
  connfail::sim::JitterSpec j;
  j.kind = connfail::sim::JitterSpec::Kind::Uniform;
  j.max = std::chrono::milliseconds(50);
  j.to_server = false;  // server -> client only: client -> server stays fixed
  const auto fixed = one_way_delays(j);
  ASSERT_EQ(fixed.size(), 20u);
  for (auto d : fixed) EXPECT_EQ(d, fixed.front()) << "jitter reached the direction it was not set on";
  j.to_server = true;
  j.from_server = false;
  const auto varied = one_way_delays(j);
  ASSERT_EQ(varied.size(), 20u);
  EXPECT_NE(*std::min_element(varied.begin(), varied.end()), *std::max_element(varied.begin(), varied.end()))
      << "no jitter on the direction it was set on";
}

// The error back-off pauses accepting for a while; a pause the application
// asked for meanwhile must outlast it (the back-off used to resume it).
TEST(SimAcceptor, ErrorBackoffNeverEndsAPauseTheApplicationAskedFor) {
  SimWorld world(seed5());
  ConnectionLedger ledger;
  FaultInjector faults;
  faults.fail_registration_every(1);
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7};
  o.error_backoff = std::chrono::seconds(1);
  o.faults = &faults;
  auto acceptor = Acceptor::start(world.transport("server"), ledger, echo_server(), o);
  std::vector<std::shared_ptr<Channel>> clients;
  auto connect_at = [&](Duration t) {
    world.at(t, [&] {
      connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 7}, std::chrono::seconds(30),
                      [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) {
                        if (ch) clients.push_back(ch);
                      });
    });
  };
  connect_at(std::chrono::milliseconds(100));  // fails registration: back-off until ~1.1 s
  world.at(std::chrono::milliseconds(500), [&] {
    acceptor->pause_accepting();
    faults.fail_registration_every(0);
  });
  connect_at(std::chrono::milliseconds(1500));  // queued: the application paused
  world.loop().run_until([] { return false; }, std::chrono::milliseconds(2900));
  EXPECT_EQ(acceptor->accept_failures(), 1u);
  // accepted() counts the failed one too.
  EXPECT_EQ(acceptor->accepted(), 1u) << "the back-off resumed a paused acceptor";
  acceptor->resume_accepting();
  world.loop().run_until([&] { return acceptor->accepted() == 2; }, std::chrono::seconds(2));
  EXPECT_EQ(acceptor->accepted(), 2u);
  EXPECT_EQ(acceptor->children().size(), 1u);
  for (auto& c : clients) c->close();
  acceptor->close();
  world.loop().run_for(std::chrono::seconds(2));
}

}  // namespace

// ------------------------------------------- FIN after a gap, in FIN_WAIT_2

namespace {

struct SinkHandler final : SocketHandler {
  Bytes data;
  bool fin = false;
  std::optional<SocketError> error;
  void on_data(Bytes d) override { data.insert(data.end(), d.begin(), d.end()); }
  void on_peer_fin() override { fin = true; }
  void on_error(SocketError e) override { error = e; }
};

// The client half-closes (FIN_WAIT_2). The server's last data segment is lost
// and its FIN arrives first, out of order; the retransmitted segment fills
// the gap. The client has now received everything up to the FIN: Linux
// (and RFC 793) goes to TIME_WAIT. ns-3 3.37's ReceivedData calls
// DoPeerClose, which moves any state to CLOSE_WAIT, so the socket went
// FIN_WAIT_2 -> CLOSE_WAIT -> LAST_ACK, sent a second FIN and waited for its
// ACK (CfTcpSocket::ReceivedData). Found by the tcp-state property.
TEST(SimFinAfterGap, AGapFilledAfterAnOutOfOrderFinLeadsFromFinWait2ToTimeWait) {
  SimWorld world;
  auto& loop = world.loop();
  std::shared_ptr<Socket> accepted, client;
  SinkHandler server_sink, client_sink;
  auto listener = world.transport("server").listen(ListenOptions{{"0.0.0.0", 7}, 16}, [&](std::shared_ptr<Socket> s) {
    accepted = std::move(s);
    accepted->set_handler(&server_sink);
    accepted->set_reading(true);
  });
  world.transport("client0").connect({world.address_of("server"), 7}, std::chrono::seconds(5),
                                     [&](std::shared_ptr<Socket> s, SocketError) {
                                       client = std::move(s);
                                       if (!client) return;
                                       client->set_handler(&client_sink);
                                       client->set_reading(true);
                                     });
  ASSERT_TRUE(loop.run_until([&] { return accepted && client; }, std::chrono::seconds(5)));

  client->shutdown_output();
  ASSERT_TRUE(loop.run_until([&] { return server_sink.fin; }, std::chrono::seconds(5)));
  loop.run_for(std::chrono::milliseconds(100));
  const std::string client_addr = world.address_of("client0");
  auto client_state = [&] {
    for (const auto& s : world.inventory())
      if (s.node == "client0" && s.role != SocketRole::Listener) return s.state;
    return TcpState::Closed;
  };
  ASSERT_EQ(client_state(), TcpState::FinWait2);

  // The data segment goes out while the link is dark; the FIN after the
  // link is back.
  world.set_link_up("client0", false);
  accepted->write(pattern(100), [](SocketError) {});
  loop.run_for(std::chrono::milliseconds(10));
  world.set_link_up("client0", true);
  accepted->close();
  const auto first_fin = loop.now();
  ASSERT_TRUE(loop.run_until([&] { return client_sink.fin; }, std::chrono::seconds(10)));
  EXPECT_GT(loop.now() - first_fin, std::chrono::milliseconds(150)) << "the FIN waited for the retransmission (Linux's 200 ms minimum RTO)";
  EXPECT_EQ(client_sink.data, pattern(100));
  loop.run_for(std::chrono::seconds(1));

  std::vector<std::pair<TcpState, TcpState>> client_changes;
  for (const auto& c : world.state_changes())
    if (c.node == "client0" && c.local.host == client_addr) client_changes.emplace_back(c.from, c.to);
  ASSERT_FALSE(client_changes.empty());
  EXPECT_EQ(client_changes.back(), std::make_pair(TcpState::FinWait2, TcpState::TimeWait));
  for (const auto& [from, to] : client_changes)
    EXPECT_NE(to, TcpState::CloseWait) << "the client went from " << to_string(from) << " to CLOSE_WAIT";
  EXPECT_EQ(client_state(), TcpState::TimeWait);
  // The server saw one FIN exchange: its socket is gone, not waiting for a
  // second FIN's ACK.
  for (const auto& s : world.inventory()) {
    if (s.node == "server") {
      EXPECT_EQ(s.role, SocketRole::Listener) << to_string(s.state);
    }
  }
  listener->close();
}

}  // namespace
