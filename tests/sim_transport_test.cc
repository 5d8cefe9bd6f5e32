// ns-3 transport specifics: determinism, inventory facts, simulated time.
#include <gtest/gtest.h>

#include "connfail/netcore/acceptor.h"
#include "connfail/sim/sim_world.h"
#include "connfail/tests/test_handlers.h"

namespace {

using namespace netcore;
using connfail::sim::SimWorld;
using connfail::sim::WorldConfig;
using connfail::testing::Echo;
using connfail::testing::pattern;
using connfail::testing::Recorder;

struct RunResult {
  std::uint64_t hash = 0;
  std::uint64_t packets = 0;
  TimePoint finished_at{};
  std::size_t bytes = 0;
  SimWorld::DemuxCounts demux;
};

// Three clients echo 200 KiB each through the server, then close; `loss`:
// uniform loss both ways on every link.
RunResult echo_workload(std::uint32_t seed, bool linear_demux = false, double loss = 0.0) {
  WorldConfig cfg;
  cfg.seed = seed;
  cfg.clients = 3;
  cfg.linear_demux = linear_demux;
  SimWorld world(cfg);
  if (loss > 0) {
    connfail::sim::LossSpec l;
    l.kind = connfail::sim::LossSpec::Kind::Uniform;
    l.rate = loss;
    for (int i = 0; i < 3; ++i) {
      world.set_loss("client" + std::to_string(i), "server", l);
      world.set_loss("server", "client" + std::to_string(i), l);
    }
  }
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 7000};
  auto acceptor = Acceptor::start(world.transport("server"), ledger,
                                  [](Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<Echo>()); }, o);
  std::vector<std::shared_ptr<Recorder>> recs;
  std::vector<std::shared_ptr<Channel>> chans;
  for (int i = 0; i < 3; ++i) {
    auto rec = std::make_shared<Recorder>();
    recs.push_back(rec);
    connect_channel(world.transport("client" + std::to_string(i)), ledger,
                    {world.address_of("server"), 7000}, std::chrono::seconds(5),
                    [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); }, {},
                    [&chans, i](std::shared_ptr<Channel> ch, SocketError) {
                      ch->write_and_flush(pattern(200 * 1024, static_cast<std::size_t>(i)));
                      chans.push_back(ch);
                    });
  }
  world.loop().run_until([&] {
    for (auto& r : recs)
      if (r->bytes.size() < 200 * 1024) return false;
    return true;
  }, std::chrono::seconds(60));
  for (auto& c : chans) c->close();
  world.loop().run_until([&] { return ledger.open_count() == 0; }, std::chrono::seconds(60));
  RunResult r;
  r.hash = world.trace_hash();
  r.packets = world.packets_sent();
  r.finished_at = world.loop().now();
  for (auto& rec : recs) r.bytes += rec->bytes.size();
  r.demux = world.demux_counts();
  return r;
}

TEST(SimDeterminism, SameSeedSameTraceHash) {
  const RunResult a = echo_workload(11);
  const RunResult b = echo_workload(11);
  EXPECT_EQ(a.bytes, 3u * 200 * 1024);
  EXPECT_GT(a.packets, 100u);
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(a.packets, b.packets);
  EXPECT_EQ(a.finished_at, b.finished_at);
}

// The hash must be able to tell runs apart, or the test above proves nothing.
TEST(SimDeterminism, TraceHashSeesADifferentWorkload) {
  const RunResult a = echo_workload(11);
  WorldConfig cfg;
  cfg.clients = 3;
  cfg.seed = 11;
  cfg.link.delay = std::chrono::milliseconds(2);  // same workload, other timing
  std::uint64_t other = 0;
  {
    SimWorld world(cfg);
    ConnectionLedger ledger;
    AcceptorOptions o;
    o.listen.address = {"0.0.0.0", 7000};
    auto acceptor = Acceptor::start(world.transport("server"), ledger, [](Channel&) {}, o);
    bool done = false;
    connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 7000},
                    std::chrono::seconds(5), [](Channel&) {}, {},
                    [&](std::shared_ptr<Channel> ch, SocketError) {
                      ch->close();
                      done = true;
                    });
    world.loop().run_until([&] { return done; }, std::chrono::seconds(10));
    other = world.trace_hash();
  }
  EXPECT_NE(a.hash, other);
}

// The sim's socket index (sim/tcp_demux.h) changes nothing but speed: the
// same run as with ns-3's own linear lookup, retransmissions included.
TEST(SimDemux, HashIndexAndLinearLookupGiveTheSameRun) {
  const RunResult indexed = echo_workload(5, false, 0.02);
  const RunResult linear = echo_workload(5, true, 0.02);
  EXPECT_EQ(indexed.bytes, 3u * 200 * 1024);
  EXPECT_EQ(indexed.bytes, linear.bytes);
  EXPECT_EQ(indexed.packets, linear.packets);
  EXPECT_EQ(indexed.finished_at, linear.finished_at);
  EXPECT_EQ(indexed.hash, linear.hash);
}

TEST(SimDemux, EstablishedConnectionsAreFoundThroughTheIndex) {
  const RunResult indexed = echo_workload(5, false, 0.02);
  // Left to the lookup: each socket's first segment (the SYN at the
  // listener, the SYN-ACK, the ACK completing the handshake) and little else.
  EXPECT_LE(indexed.demux.linear, 3u * 4);
  EXPECT_GT(indexed.demux.indexed, 20 * indexed.demux.linear);
  const RunResult linear = echo_workload(5, true, 0.02);
  EXPECT_EQ(linear.demux.indexed, 0u);
  EXPECT_EQ(linear.demux.linear, 0u);
}

TEST(SimInventory, ReportsStateOwnerAndTimeInState) {
  SimWorld world;
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 80};
  auto acceptor = Acceptor::start(world.transport("server"), ledger, [](Channel&) {}, o);
  std::shared_ptr<Channel> client;
  connect_channel(world.transport("client0"), ledger, {world.address_of("server"), 80}, std::chrono::seconds(5),
                  [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) { client = ch; });
  ASSERT_TRUE(world.loop().run_until([&] { return client != nullptr; }, std::chrono::seconds(5)));
  world.loop().run_for(std::chrono::seconds(5));

  auto inv = world.inventory();
  int listeners = 0, established = 0;
  for (const auto& s : inv) {
    if (s.state == TcpState::Listen) {
      ++listeners;
      EXPECT_EQ(s.node, "server");
      EXPECT_EQ(s.role, SocketRole::Listener);
    }
    if (s.state == TcpState::Established) {
      ++established;
      EXPECT_TRUE(s.held_by_app);
      EXPECT_EQ(s.role, s.node == "server" ? SocketRole::Accepted : SocketRole::Connected) << s.node;
      ASSERT_TRUE(s.in_state_for.has_value());
      EXPECT_GE(*s.in_state_for, std::chrono::milliseconds(4990));
      EXPECT_LT(*s.in_state_for, std::chrono::milliseconds(5100));
    }
  }
  EXPECT_EQ(listeners, 1);
  EXPECT_EQ(established, 2);  // one per side

  // The client closes first: it ends in TIME_WAIT (not live), the server's
  // child is gone once its FIN is acknowledged.
  client->close();
  world.loop().run_for(std::chrono::seconds(1));
  inv = world.inventory();
  int time_wait = 0;
  for (const auto& s : inv)
    if (s.state == TcpState::TimeWait) ++time_wait;
  EXPECT_EQ(time_wait, 1);
  EXPECT_TRUE(live_connections(inv).empty());
  EXPECT_EQ(ledger.open_count(), 0u);
}

TEST(SimWorldTest, OnlyOneWorldAtATime) {
  SimWorld a;
  EXPECT_THROW(SimWorld b, std::logic_error);
}

TEST(SimWorldTest, UnknownNodeIsAClearError) {
  SimWorld w;
  EXPECT_THROW(w.transport("nosuch"), std::out_of_range);
}

TEST(SimWorldTest, ListenOnAPortInUseFails) {
  SimWorld w;
  ConnectionLedger ledger;
  AcceptorOptions o;
  o.listen.address = {"0.0.0.0", 80};
  auto a = Acceptor::start(w.transport("server"), ledger, [](Channel&) {}, o);
  try {
    auto b = Acceptor::start(w.transport("server"), ledger, [](Channel&) {}, o);
    FAIL() << "second listen on port 80 succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("server:80"), std::string::npos) << e.what();
  }
}

}  // namespace
