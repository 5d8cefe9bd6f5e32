// FaultProxy on real sockets (loopback): a client talks to a netcore server
// through the proxy, with and without toxics. Assertions are on outcomes
// (bytes, order, which side saw what); where timing is the feature, only a
// lower bound is checked (a loaded machine makes things slower, never faster).
#include "connfail/netcore/asio/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/tests/test_handlers.h"

namespace {

using namespace netcore;
using connfail::testing::pattern;
using connfail::testing::Recorder;
using netcore::asio::Direction;
using netcore::asio::FaultProxy;
using std::chrono::milliseconds;

constexpr std::size_t kChunkLimit = 64 * 1024;  // what one read can deliver

std::size_t count_events(const Recorder& r, const std::string& name) {
  return static_cast<std::size_t>(std::count(r.events.begin(), r.events.end(), name));
}

std::string describe(const std::vector<SocketInfo>& v) {
  std::string s;
  for (const auto& i : v)
    s += "  " + i.local.to_string() + " -> " + i.remote.to_string() + " " + to_string(i.state) + " (" +
         to_string(i.role) + ")\n";
  return s;
}

class FaultProxyTest : public ::testing::Test {
 protected:
  // Ledgers first: they outlive the transport and every channel in it.
  ConnectionLedger server_ledger;
  ConnectionLedger client_ledger;
  asio::AsioTransport t;
  std::shared_ptr<Acceptor> server;
  std::shared_ptr<FaultProxy> proxy;
  std::vector<std::weak_ptr<Channel>> server_children;

  EventLoop& loop() { return t.loop(); }
  bool wait(const std::function<bool()>& cond, Duration limit = std::chrono::seconds(5)) {
    return loop().run_until(cond, limit);
  }

  /// A server with `init`'s pipeline; its children are remembered.
  void serve(PipelineInit init) {
    AcceptorOptions o;
    o.listen.address = {"127.0.0.1", 0};
    server = Acceptor::start(
        t, server_ledger,
        [this, init](Channel& ch) {
          server_children.push_back(ch.shared_from_this());
          init(ch);
        },
        o);
    proxy = FaultProxy::start(t, {"127.0.0.1", 0}, {"127.0.0.1", server->local_address().port}, 42);
  }
  /// Echo server; `rec` (optional) sees what the server reads.
  void serve_echo(std::shared_ptr<Recorder> rec = nullptr) {
    serve([rec](Channel& ch) {
      if (rec) ch.pipeline().add_last("rec", rec);
      echo_server()(ch);
    });
  }
  std::shared_ptr<Channel> server_child(std::size_t i = 0) {
    return i < server_children.size() ? server_children[i].lock() : nullptr;
  }

  struct Client {
    std::shared_ptr<Channel> channel;
    std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
    SocketError error = SocketError::None;
    bool done = false;
  };
  /// Connects through the proxy; `extra` adds handlers after the recorder.
  std::shared_ptr<Client> connect(PipelineInit extra = {}) {
    auto c = std::make_shared<Client>();
    connect_channel(t, client_ledger, proxy->local_address(), std::chrono::seconds(5),
                    [c, extra](Channel& ch) {
                      ch.pipeline().add_last("rec", c->rec);
                      if (extra) extra(ch);
                    },
                    {}, [c](std::shared_ptr<Channel> ch, SocketError e) {
                      c->channel = std::move(ch);
                      c->error = e;
                      c->done = true;
                    });
    return c;
  }
  /// Connected through the proxy all the way to the server.
  std::shared_ptr<Client> connect_established() {
    auto c = connect();
    const std::size_t before = server_children.size();
    EXPECT_TRUE(wait([&] { return c->done && server_children.size() > before; }));
    EXPECT_EQ(c->error, SocketError::None);
    return c;
  }

  /// Writes `data` in pieces of `piece` and flushes.
  void send(const std::shared_ptr<Client>& c, const Bytes& data, std::size_t piece = 16 * 1024) {
    for (std::size_t off = 0; off < data.size(); off += piece) {
      const std::size_t n = std::min(piece, data.size() - off);
      c->channel->write(Bytes(data.begin() + static_cast<long>(off), data.begin() + static_cast<long>(off + n)));
    }
    c->channel->flush();
  }

  bool proxy_leaves_nothing() {
    if (!proxy) return true;
    // One inventory: begin() and end() of two calls' vectors would be
    // iterators into different temporaries (undefined behaviour; under TSan
    // it flipped the answer).
    const auto inv = proxy->inventory();
    return live_connections(inv).empty() && proxy->ledger().open_count() == 0 &&
           std::none_of(inv.begin(), inv.end(), [](const SocketInfo& s) { return s.role == SocketRole::Listener; });
  }
  bool nothing_left() {
    return live_connections(t.inventory()).empty() && server_ledger.open_count() == 0 &&
           client_ledger.open_count() == 0 && (!proxy || proxy->ledger().open_count() == 0);
  }

  /// Closes whatever is left and checks that nobody leaked a connection.
  void TearDown() override {
    // Clients still open are closed by the proxy's close (they see its FIN).
    if (proxy) proxy->close();
    if (server) server->close();
    wait([&] { return nothing_left(); });
    EXPECT_TRUE(live_connections(t.inventory()).empty()) << describe(live_connections(t.inventory()));
    EXPECT_EQ(server_ledger.open_count(), 0u);
    EXPECT_EQ(client_ledger.open_count(), 0u);
    if (proxy) {
      EXPECT_EQ(proxy->ledger().open_count(), 0u);
    }
  }
};

// ----------------------------------------------------------------- passthrough

TEST_F(FaultProxyTest, PassesOneMiBThroughExactlyAndTellsItsSocketsApart) {
  serve_echo();
  auto c = connect_established();
  const Bytes payload = pattern(1 << 20);
  send(c, payload);
  ASSERT_TRUE(wait([&] { return c->rec->bytes.size() >= payload.size(); }));
  EXPECT_TRUE(c->rec->bytes == payload) << "echoed bytes differ from what was sent";

  const auto k = proxy->counters();
  EXPECT_EQ(k.connections, 1u);
  EXPECT_EQ(k.up.bytes, payload.size());
  EXPECT_EQ(k.down.bytes, payload.size());
  EXPECT_EQ(k.up.chunks_delayed + k.down.chunks_delayed, 0u);
  EXPECT_EQ(k.up.bytes_discarded + k.down.bytes_discarded, 0u);
  // Back-pressure: never more than one read's worth held per direction.
  EXPECT_LE(k.up.max_held_bytes, kChunkLimit);
  EXPECT_LE(k.down.max_held_bytes, kChunkLimit);

  // Whose socket is whose: the proxy owns exactly its two open channels.
  EXPECT_EQ(proxy->ledger().open_count(), 2u);
  EXPECT_FALSE(proxy->owns_socket(c->channel->socket()->id()));
  ASSERT_TRUE(server_child());
  EXPECT_FALSE(proxy->owns_socket(server_child()->socket()->id()));
  int owned = 0;
  for (const auto& s : t.inventory())
    if (proxy->owns_socket(s.socket_id)) ++owned;
  EXPECT_EQ(owned, 2);

  // The client's close reaches the server through the proxy.
  c->channel->close();
  ASSERT_TRUE(wait([&] { return !server_child(); }));
  EXPECT_EQ(server_ledger.count(CloseReason::PeerClosed), 1u);
}

// ----------------------------------------------------------------- latency

TEST_F(FaultProxyTest, LatencyAddsAtLeastTheLatencyToARoundTrip) {
  serve_echo();
  auto c = connect_established();
  proxy->set_latency(Direction::Upstream, milliseconds(40));
  proxy->set_latency(Direction::Downstream, milliseconds(30));
  for (int i = 0; i < 3; ++i) {
    const std::size_t before = c->rec->bytes.size();
    const TimePoint t0 = loop().now();
    c->channel->write_and_flush(Bytes{static_cast<std::uint8_t>(i)});
    ASSERT_TRUE(wait([&] { return c->rec->bytes.size() > before; }));
    EXPECT_GE(loop().now() - t0, milliseconds(70)) << "round trip " << i;
  }
  EXPECT_EQ(c->rec->bytes, (Bytes{0, 1, 2}));
  const auto k = proxy->counters();
  EXPECT_GE(k.up.chunks_delayed, 3u);
  EXPECT_GE(k.down.chunks_delayed, 3u);
}

TEST_F(FaultProxyTest, JitterNeverReorders) {
  serve_echo();
  auto c = connect_established();
  proxy->set_latency(Direction::Upstream, milliseconds(1), milliseconds(4));
  proxy->set_latency(Direction::Downstream, milliseconds(1), milliseconds(4));
  // 200 small writes, one per millisecond: many chunks, each with its own delay.
  const Bytes payload = pattern(200 * 64, 3);
  std::weak_ptr<Channel> weak = c->channel;
  for (std::size_t i = 0; i < 200; ++i) {
    Bytes msg(payload.begin() + static_cast<long>(i * 64), payload.begin() + static_cast<long>((i + 1) * 64));
    loop().schedule(milliseconds(static_cast<long>(i)), [weak, msg] {
      if (auto ch = weak.lock()) ch->write_and_flush(msg);
    });
  }
  ASSERT_TRUE(wait([&] { return c->rec->bytes.size() >= payload.size(); }));
  EXPECT_TRUE(c->rec->bytes == payload) << "bytes reordered, lost or duplicated";
  const auto k = proxy->counters();
  EXPECT_GE(k.up.chunks, 10u);
  EXPECT_GE(k.up.chunks_delayed, 10u);
  EXPECT_GE(k.down.chunks_delayed, 10u);
}

// ----------------------------------------------------------------- bandwidth

TEST_F(FaultProxyTest, BandwidthLimitPacesTheTransfer) {
  auto server_rec = std::make_shared<Recorder>();
  serve_echo(server_rec);
  auto c = connect_established();
  constexpr std::uint64_t kRate = 256 * 1024;  // bytes per second
  proxy->set_bandwidth(Direction::Upstream, kRate);
  const Bytes payload = pattern(96 * 1024, 5);
  const TimePoint t0 = loop().now();
  send(c, payload);
  ASSERT_TRUE(wait([&] { return server_rec->bytes.size() >= payload.size(); }));
  const Duration took = loop().now() - t0;
  // B bytes at `rate` take at least B / rate (375 ms here).
  EXPECT_GE(took, milliseconds(payload.size() * 1000 / kRate)) << "faster than the limit";
  ASSERT_TRUE(wait([&] { return c->rec->bytes.size() >= payload.size(); }));
  EXPECT_TRUE(c->rec->bytes == payload);
  const auto k = proxy->counters();
  EXPECT_GT(k.up.writes, k.up.chunks) << "the limit did not pace in slices";
  EXPECT_LE(k.up.max_held_bytes, kChunkLimit);
}

// ----------------------------------------------------------------- slicer

TEST_F(FaultProxyTest, SlicerSplitsChunksAndKeepsTheBytes) {
  auto server_rec = std::make_shared<Recorder>();
  serve_echo(server_rec);
  auto c = connect_established();
  proxy->set_slicer(Direction::Upstream, 64, 32, milliseconds(1));
  const std::size_t reads_before = count_events(*server_rec, "read");
  Bytes all;
  constexpr int kMessages = 4;
  for (int i = 0; i < kMessages; ++i) {  // one message at a time: one chunk each
    const Bytes msg = pattern(1024, static_cast<std::size_t>(i));
    all.insert(all.end(), msg.begin(), msg.end());
    c->channel->write_and_flush(msg);
    ASSERT_TRUE(wait([&] { return c->rec->bytes.size() >= all.size(); }));
  }
  EXPECT_TRUE(c->rec->bytes == all);
  EXPECT_TRUE(server_rec->bytes == all);
  const std::size_t server_reads = count_events(*server_rec, "read") - reads_before;
  EXPECT_GT(server_reads, static_cast<std::size_t>(kMessages)) << "the server saw no more reads than chunks sent";
  const auto k = proxy->counters();
  EXPECT_GE(k.up.writes, 1024u * kMessages / 96) << "pieces of at most 96 bytes";
}

// ------------------------------------------------------------ toxics change

TEST_F(FaultProxyTest, ToxicsChangingMidStreamKeepTheBytesExact) {
  serve_echo();
  auto c = connect_established();
  const Bytes payload = pattern(512 * 1024, 9);
  // Every 5 ms another combination, while the data flows.
  auto p = proxy;
  for (int i = 0; i < 60; ++i) {
    loop().schedule(milliseconds(5 * i), [p, i] {
      const Direction d = i % 2 ? Direction::Upstream : Direction::Downstream;
      switch (i % 4) {
        case 0: p->set_latency(d, milliseconds(1), milliseconds(2)); break;
        case 1: p->set_slicer(d, 4096, 2048, Duration::zero()); break;
        case 2: p->set_bandwidth(d, 64u * 1024 * 1024); break;
        default: p->clear_toxics(); break;
      }
    });
  }
  send(c, payload);
  ASSERT_TRUE(wait([&] { return c->rec->bytes.size() >= payload.size(); }, std::chrono::seconds(8)));
  EXPECT_TRUE(c->rec->bytes == payload);
  const auto k = proxy->counters();
  EXPECT_EQ(k.up.bytes, payload.size());
  EXPECT_EQ(k.down.bytes, payload.size());
  EXPECT_LE(k.up.max_held_bytes, kChunkLimit);
  EXPECT_LE(k.down.max_held_bytes, kChunkLimit);
  proxy->clear_toxics();
}

// ----------------------------------------------------------------- blackhole

TEST_F(FaultProxyTest, BlackholeLetsTheServerReapASilentPeerWhileTheClientStaysOpen) {
  // 25 pings per idle time: a loop stalled for a whole idle time (a busy
  // sanitizer build) would have the server reap a pinging client.
  constexpr auto kIdle = milliseconds(1000);
  serve(heartbeat_server(kIdle));
  std::shared_ptr<HeartbeatSender> sender;
  // The client pings every 40 ms and itself tolerates 10 s of silence.
  auto c = connect([&sender](Channel& ch) { heartbeat_client(milliseconds(40), std::chrono::seconds(10), &sender)(ch); });
  ASSERT_TRUE(wait([&] { return c->done && !server_children.empty(); }));
  ASSERT_EQ(c->error, SocketError::None);

  // Healthy: the pings keep the server from reaping the connection.
  ASSERT_TRUE(wait([&] { return sender->pongs_received() >= 5; }));
  ASSERT_TRUE(server_child()) << "reaped although the client was pinging";

  proxy->set_blackhole(true);
  const std::uint64_t pongs = sender->pongs_received();
  ASSERT_TRUE(wait([&] { return server_ledger.count(CloseReason::Idle) == 1; }))
      << "the server never saw a silent peer";
  EXPECT_EQ(server_ledger.count(CloseReason::Exception), 0u) << "garbage reached the server";
  // The client side stays open: no FIN, no RST reached it.
  loop().run_for(milliseconds(100));
  EXPECT_TRUE(c->channel->is_active());
  EXPECT_EQ(proxy->open_connections(), 1u);
  EXPECT_LE(sender->pongs_received(), pongs + 1) << "data crossed the blackhole";  // one may have been in flight
  auto k = proxy->counters();
  EXPECT_GT(k.up.bytes_discarded, 0u);
  EXPECT_EQ(k.closes_held, 1u);

  // Healed: the close held back now reaches the client. As a FIN, or as an
  // RST: the proxy stopped reading the client's pings once the server side
  // was gone, and Linux resets a socket closed with unread data.
  proxy->set_blackhole(false);
  ASSERT_TRUE(wait([&] { return !c->channel->is_active(); }));
  EXPECT_TRUE(c->channel->close_reason() == CloseReason::PeerClosed ||
              c->channel->close_reason() == CloseReason::Reset)
      << to_string(c->channel->close_reason());
}

// ----------------------------------------------------------------- reset_peer

TEST_F(FaultProxyTest, ResetPeerResetsBothSides) {
  serve_echo();
  auto c = connect_established();
  c->channel->write_and_flush(Bytes{1, 2, 3});
  ASSERT_TRUE(wait([&] { return c->rec->bytes.size() == 3; }));

  EXPECT_EQ(proxy->reset_peer(), 1u);
  ASSERT_TRUE(wait([&] { return !c->channel->is_active() && !server_child(); }));
  EXPECT_EQ(c->channel->close_reason(), CloseReason::Reset);
  ASSERT_EQ(server_ledger.entries().size(), 1u);
  EXPECT_EQ(server_ledger.entries()[0].reason, CloseReason::Reset);
  EXPECT_EQ(proxy->counters().resets, 1u);

  // Option: every new connection is reset some time after it was accepted.
  proxy->set_reset_after(milliseconds(100));
  auto c2 = connect_established();
  ASSERT_TRUE(wait([&] { return !c2->channel->is_active() && !server_child(1); }));
  EXPECT_EQ(c2->channel->close_reason(), CloseReason::Reset);
  ASSERT_EQ(server_ledger.entries().size(), 2u);
  EXPECT_EQ(server_ledger.entries()[1].reason, CloseReason::Reset);
  EXPECT_EQ(proxy->counters().resets, 2u);
  proxy->set_reset_after(Duration::zero());
}

// A client that resets before the proxy has even accepted it: the proxy's
// frontend ends with a reset while its backend connect is still pending, and
// the server must see that reset too, not a FIN (the rst-clients scenario
// lost all ten resets this way when its loop was held up for 300 ms).
TEST_F(FaultProxyTest, AClientResetWhileTheBackendConnectsReachesTheServerAsAReset) {
  serve_echo();
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(c, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(proxy->local_address().port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  linger lg{1, 0};
  ASSERT_EQ(::setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  ::close(c);  // RST, before the loop has run the proxy's accept
  ASSERT_TRUE(wait([&] {
    return server_ledger.entries().size() == 1 && !server_ledger.entries()[0].is_open() &&
           proxy->open_connections() == 0;
  }));
  EXPECT_EQ(server_ledger.entries()[0].reason, CloseReason::Reset)
      << "the server saw " << to_string(server_ledger.entries()[0].reason);
}

// ----------------------------------------------------------------- slow_close

TEST_F(FaultProxyTest, SlowCloseDelaysTheClientsFinToTheServer) {
  serve_echo();
  auto c = connect_established();
  constexpr auto kDelay = milliseconds(300);
  proxy->set_slow_close(Direction::Upstream, kDelay);
  c->channel->write_and_flush(Bytes{7});
  ASSERT_TRUE(wait([&] { return c->rec->bytes.size() == 1; }));

  const TimePoint closed_at = loop().now();
  c->channel->close();
  ASSERT_TRUE(wait([&] { return !server_child(); }));
  ASSERT_EQ(server_ledger.entries().size(), 1u);
  const auto& e = server_ledger.entries()[0];
  EXPECT_EQ(e.reason, CloseReason::PeerClosed);
  ASSERT_TRUE(e.closed_at.has_value());
  EXPECT_GE(*e.closed_at - closed_at, kDelay) << "the server saw the FIN before the delay";
  EXPECT_EQ(proxy->counters().closes_delayed, 1u);
}

// ----------------------------------------------------------------- close()

TEST_F(FaultProxyTest, CloseLeavesNoProxySocketBehind) {
  serve_echo();
  std::vector<std::shared_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(connect_established());
  // Data held by toxics, a close withheld by the blackhole, a pending reset.
  proxy->set_latency(Direction::Upstream, milliseconds(200));
  proxy->set_reset_after(std::chrono::seconds(30));
  clients[0]->channel->write_and_flush(pattern(4096));
  proxy->set_slow_close(Direction::Upstream, std::chrono::seconds(30));
  clients[1]->channel->close();
  loop().run_for(milliseconds(20));
  EXPECT_FALSE(proxy_leaves_nothing());

  const std::uint16_t port = proxy->local_address().port;
  proxy->close();
  ASSERT_TRUE(wait([&] { return proxy_leaves_nothing(); }))
      << describe(live_connections(proxy->inventory()));
  for (const auto& s : live_connections(t.inventory())) EXPECT_NE(s.local.port, port);
  // Every other side saw the proxy go away.
  ASSERT_TRUE(wait([&] { return nothing_left(); }));
  for (const auto& c : clients) EXPECT_FALSE(c->channel->is_active());
  // No timer of the proxy survives its connections.
  ASSERT_TRUE(wait([&] { return loop().pending_timers() == 0; }));
  EXPECT_EQ(loop().pending_timers(), 0u);
}

}  // namespace

namespace {

// A client that leaves while the proxy's upstream connect is still pending
// (the server's accept queue is full, so its SYNs are dropped): the connect
// runs on, as a transparent path would carry the SYN; close() then ends it,
// its socket and its timer at once. Before the cancel, one fd and one timer
// outlived every channel of a run (Netns.AServerWithAnIdleCheckReaps...).
TEST_F(FaultProxyTest, CloseCancelsAnUpstreamConnectStillPending) {
  AcceptorOptions o;
  o.listen.address = {"127.0.0.1", 0};
  o.listen.backlog = 1;
  server = Acceptor::start(t, server_ledger, [](Channel&) {}, o);
  server->listener().pause();
  const Address server_at{"127.0.0.1", server->local_address().port};
  std::vector<std::shared_ptr<Channel>> fillers;
  for (int i = 0; i < 2; ++i)
    connect_channel(t, client_ledger, server_at, std::chrono::seconds(5), [](Channel&) {}, {},
                    [&](std::shared_ptr<Channel> ch, SocketError) {
                      if (ch) fillers.push_back(std::move(ch));
                    });
  ASSERT_TRUE(wait([&] { return fillers.size() == 2; })) << "the accept queue was not filled";
  proxy = FaultProxy::start(t, {"127.0.0.1", 0}, server_at, 42, "", std::chrono::seconds(60));
  const std::size_t fds_before = asio::process_fd_count();
  const std::size_t timers_before = loop().pending_timers();

  auto c = connect();
  ASSERT_TRUE(wait([&] { return c->done && proxy->pending_backend_connects() == 1; }));
  ASSERT_EQ(c->error, SocketError::None);
  loop().run_for(milliseconds(300));
  ASSERT_EQ(proxy->pending_backend_connects(), 1u) << "the upstream connect was not held up";
  // The frontend reads nothing before its backend is up: the client's FIN
  // waits in its socket, behind the SYN the server has not taken yet.
  c->channel->close();
  loop().run_for(milliseconds(100));
  // The leak the check below looks for: the client is gone, the connect
  // (socket and timer) is not.
  EXPECT_EQ(proxy->pending_backend_connects(), 1u);
  EXPECT_GT(asio::process_fd_count(), fds_before);
  EXPECT_GT(loop().pending_timers(), timers_before);

  proxy->close();
  EXPECT_EQ(proxy->pending_backend_connects(), 0u);
  EXPECT_EQ(proxy->counters().connects_cancelled, 1u);
  EXPECT_EQ(proxy->counters().backend_connect_failures, 0u) << "a cancel is not a failed connect";
  loop().run_for(milliseconds(50));
  EXPECT_EQ(loop().pending_timers(), timers_before) << "the connect's timer outlived the proxy";
  EXPECT_LT(asio::process_fd_count(), fds_before) << "the connecting socket's fd outlived the proxy";
  for (const auto& s : live_connections(t.inventory()))
    EXPECT_NE(s.state, TcpState::SynSent) << describe({s});

  for (auto& f : fillers) f->close();
}

}  // namespace
