// Accept-queue overflow: what Linux does, measured on this machine's kernel
// with real sockets on loopback, and the simulated listener reproducing it.
//
// The workload: a listener with backlog 1 that does not accept for the first
// 2 s; five clients connect 100 ms apart from t = 0.1 s; each client that
// gets connected sends 4 bytes once accepting has resumed and must get them
// echoed ("served"). Linux (tcp_abort_on_overflow = 0) completes the first
// backlog + 1 = 2 handshakes into the accept queue at once; it drops the SYN
// of every later client in silence while the queue is full, so those clients
// sit in SYN-SENT retransmitting their SYN (at 1 s; then 1 s apart on kernels
// with tcp_syn_linear_timeouts, else doubling), and get in with the first
// retransmission after accepting resumes -- unless their connect timeout
// expires first. The test runs the workload on the real kernel (AsioTransport)
// and on the simulated transport and asserts the same outcome per client,
// with two connect timeouts (6 s: all five served; 1.6 s: the three late
// clients time out). Client start times and the resume time are chosen so
// that no retransmission falls within 0.3 s of a deadline on either kernel
// schedule or on the sim's (1 s, doubling).
//
// Two sim-only tests cover what loopback cannot show: handshakes in flight
// together (Linux re-checks the queue at the final ACK and drops that ACK:
// the client believes it is connected while the server holds the request),
// and such a request given up by the server, whose client is reset when it
// finally sends. See docs/sim.md, "The accept queue".
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/sim/sim_world.h"
#include "connfail/tests/test_handlers.h"

namespace {

using namespace netcore;
using namespace std::chrono_literals;
using connfail::sim::SimWorld;
using connfail::sim::WorldConfig;
using connfail::testing::Recorder;

enum class Outcome { QueuedWhilePaused, ConnectedAfterResume, TimedOut, Refused, Other };

const char* name(Outcome o) {
  switch (o) {
    case Outcome::QueuedWhilePaused: return "connected-while-paused";
    case Outcome::ConnectedAfterResume: return "connected-after-resume";
    case Outcome::TimedOut: return "timed-out";
    case Outcome::Refused: return "refused";
    case Outcome::Other: return "other";
  }
  return "?";
}

struct ClientResult {
  Outcome outcome = Outcome::Other;
  bool served = false;
  bool operator==(const ClientResult& o) const { return outcome == o.outcome && served == o.served; }
};

std::string show(const std::vector<ClientResult>& v) {
  std::string s;
  for (const auto& c : v) s += std::string(s.empty() ? "" : ", ") + name(c.outcome) + (c.served ? "+served" : "");
  return s;
}

struct Workload {
  int clients = 5;
  Duration first = 100ms;
  Duration spacing = 100ms;
  Duration resume_at = 2s;
  Duration connect_timeout = 6s;
  Duration end = 7s;
};

/// Runs the workload with `server`/`client` transports on `loop`, whose
/// time starts at `t0`. Returns one result per client.
std::vector<ClientResult> run_workload(EventLoop& loop, Transport& server, Transport& client, const std::string& host,
                                       const Workload& w) {
  const TimePoint t0 = loop.now();
  ConnectionLedger server_ledger, client_ledger;
  AcceptorOptions o;
  o.listen.address = {host == "127.0.0.1" ? "127.0.0.1" : "0.0.0.0", 0};
  o.listen.backlog = 1;
  auto acceptor = Acceptor::start(server, server_ledger, echo_server(), o);
  acceptor->listener().pause();
  const Address to{host, acceptor->local_address().port};

  struct Client {
    std::shared_ptr<Channel> channel;
    std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
    ClientResult result;
    bool done = false;
    bool sent = false;
  };
  std::vector<Client> cs(static_cast<std::size_t>(w.clients));
  auto send = [](Client& c) {
    if (c.sent || !c.channel || !c.channel->is_active()) return;
    c.sent = true;
    c.channel->write_and_flush(Bytes{1, 2, 3, 4});
  };
  bool resumed = false;
  for (int i = 0; i < w.clients; ++i) {
    Client* c = &cs[static_cast<std::size_t>(i)];
    loop.schedule(w.first + w.spacing * i, [&, c] {
      auto rec = c->rec;
      connect_channel(client, client_ledger, to, w.connect_timeout,
                      [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); }, {},
                      [&, c](std::shared_ptr<Channel> ch, SocketError e) {
                        c->done = true;
                        if (!ch) {
                          c->result.outcome = e == SocketError::TimedOut  ? Outcome::TimedOut
                                              : e == SocketError::Refused ? Outcome::Refused
                                                                          : Outcome::Other;
                          return;
                        }
                        c->channel = ch;
                        c->result.outcome = resumed ? Outcome::ConnectedAfterResume : Outcome::QueuedWhilePaused;
                        if (resumed) send(*c);
                      });
    });
  }
  loop.schedule(w.resume_at, [&] {
    resumed = true;
    acceptor->listener().resume();
    // Queued clients send once the server accepts again.
    loop.schedule(300ms, [&] {
      for (auto& c : cs) send(c);
    });
  });
  loop.run_until(
      [&] {
        for (const auto& c : cs)
          if (!c.done || (c.channel && c.channel->is_active() && c.rec->bytes.size() < 4)) return false;
        return loop.now() - t0 > w.resume_at;
      },
      w.end);
  for (auto& c : cs) c.result.served = c.rec->bytes == Bytes{1, 2, 3, 4};
  std::vector<ClientResult> out;
  for (auto& c : cs) {
    out.push_back(c.result);
    if (c.channel) c.channel->close();
  }
  acceptor->close();
  loop.run_until([&] { return client_ledger.open_count() == 0 && server_ledger.open_count() == 0; }, 2s);
  return out;
}

std::vector<ClientResult> on_linux(const Workload& w) {
  asio::AsioTransport t;
  return run_workload(t.loop(), t, t, "127.0.0.1", w);
}

std::vector<ClientResult> on_sim(const Workload& w) {
  WorldConfig cfg;
  cfg.seed = 1;
  SimWorld world(cfg);
  return run_workload(world.loop(), world.transport("server"), world.transport("client0"),
                      world.address_of("server"), w);
}

constexpr ClientResult kQueued{Outcome::QueuedWhilePaused, true};
constexpr ClientResult kLate{Outcome::ConnectedAfterResume, true};
constexpr ClientResult kTimedOut{Outcome::TimedOut, false};

TEST(AcceptQueue, LinuxQueuesBacklogPlusOneAndLetsTheRestInAfterResume) {
  const auto got = on_linux(Workload{});
  EXPECT_EQ(got, (std::vector<ClientResult>{kQueued, kQueued, kLate, kLate, kLate})) << show(got);
}

TEST(AcceptQueue, LinuxTimesOutTheClientsWhoseSynsWereDropped) {
  Workload w;
  w.connect_timeout = 1600ms;
  const auto got = on_linux(w);
  EXPECT_EQ(got, (std::vector<ClientResult>{kQueued, kQueued, kTimedOut, kTimedOut, kTimedOut})) << show(got);
}

TEST(AcceptQueue, SimGivesTheSameOutcomePerClientAsLinux) {
  for (Duration timeout : {Duration(6s), Duration(1600ms)}) {
    Workload w;
    w.connect_timeout = timeout;
    const auto linux_ = on_linux(w);
    const auto sim = on_sim(w);
    EXPECT_EQ(sim, linux_) << "connect timeout " << timeout.count() << " ns\n  linux: " << show(linux_)
                           << "\n  sim:   " << show(sim);
  }
}

// ---- sim only: what loopback cannot show

struct InFlight {
  std::vector<std::shared_ptr<Channel>> clients;
  std::vector<std::shared_ptr<Recorder>> recs;
  int connected = 0;
  int failed = 0;
};

// Six clients on six hosts whose SYNs reach the paused listener (backlog 1)
// before any handshake completes: all six SYNs are admitted (the queue is
// empty), but only backlog + 1 handshakes may complete into the queue.
/// `hosts` client hosts (10 ms links) and an echo server on server:7000 with
/// backlog 1 that does not accept.
struct PausedServer {
  explicit PausedServer(int hosts) : world(config(hosts)) {
    AcceptorOptions o;
    o.listen.address = {"0.0.0.0", 7000};
    o.listen.backlog = 1;
    acceptor = Acceptor::start(world.transport("server"), server_ledger, echo_server(), o);
    acceptor->listener().pause();
  }
  static WorldConfig config(int hosts) {
    WorldConfig cfg;
    cfg.clients = hosts;
    cfg.link.delay = 10ms;
    return cfg;
  }
  SimWorld world;
  ConnectionLedger server_ledger, client_ledger;
  std::shared_ptr<Acceptor> acceptor;
};

TEST(SimAcceptQueue, HandshakesInFlightTogetherQueueOnlyBacklogPlusOneAndTheRestWaitInSynRcvd) {
  PausedServer p(6);
  auto& world = p.world;
  auto& client_ledger = p.client_ledger;
  auto& server_ledger = p.server_ledger;
  auto& acceptor = p.acceptor;
  InFlight f;
  for (int i = 0; i < 6; ++i) {
    auto rec = std::make_shared<Recorder>();
    f.recs.push_back(rec);
    world.at(100ms, [&, i, rec] {
      connect_channel(world.transport("client" + std::to_string(i)), client_ledger, {world.address_of("server"), 7000},
                      30s, [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); }, {},
                      [&](std::shared_ptr<Channel> ch, SocketError) {
                        if (!ch) {
                          ++f.failed;
                          return;
                        }
                        ++f.connected;
                        f.clients.push_back(ch);
                      });
    });
  }
  world.loop().run_for(4s);
  // Every client believes it is connected (it got the SYN-ACK)...
  EXPECT_EQ(f.connected, 6);
  // ...but the server holds two completed connections in its queue and four
  // requests in SYN_RCVD, whose completing ACK it dropped.
  int queued = 0, syn_rcvd = 0;
  for (const auto& s : world.inventory()) {
    if (s.node != "server" || s.role == SocketRole::Listener) continue;
    if (s.state == TcpState::Established) ++queued;
    if (s.state == TcpState::SynRcvd) ++syn_rcvd;
  }
  EXPECT_EQ(queued, 2);
  EXPECT_EQ(syn_rcvd, 4);
  EXPECT_EQ(server_ledger.entries().size(), 0u) << "accepted while paused";

  // Accepting resumes at 5 s: the next SYN-ACK retransmission is answered
  // with an ACK that now completes the handshake; every client is served.
  world.at(5s, [&] { acceptor->listener().resume(); });
  world.at(9s, [&] {
    for (auto& ch : f.clients) ch->write_and_flush(Bytes{9, 9});
  });
  ASSERT_TRUE(world.loop().run_until(
      [&] {
        for (auto& r : f.recs)
          if (r->bytes.size() < 2) return false;
        return true;
      },
      20s));
  EXPECT_EQ(server_ledger.entries().size(), 6u);
  for (auto& ch : f.clients) ch->close();
  acceptor->close();
  world.loop().run_for(5s);
}

// A request the server gave up (its SYN-ACK retransmissions ran out while
// the queue stayed full) leaves a client that believes it is connected; when
// it finally sends, the listener answers with RST: "connected", then reset.
TEST(SimAcceptQueue, AClientWhoseRequestTheServerGaveUpIsResetWhenItSends) {
  PausedServer p(3);
  auto& world = p.world;
  auto& client_ledger = p.client_ledger;
  auto& acceptor = p.acceptor;
  std::vector<std::shared_ptr<Channel>> clients;
  for (int i = 0; i < 3; ++i)
    world.at(100ms, [&, i] {
      connect_channel(world.transport("client" + std::to_string(i)), client_ledger, {world.address_of("server"), 7000},
                      30s, [](Channel&) {}, {}, [&](std::shared_ptr<Channel> ch, SocketError) {
                        if (ch) clients.push_back(ch);
                      });
    });
  world.loop().run_for(2s);
  ASSERT_EQ(clients.size(), 3u);
  // Far past the SYN-ACK give-up (1 + 2 + ... + 32 s): the third request is gone.
  world.loop().run_for(100s);
  int syn_rcvd = 0;
  for (const auto& s : world.inventory())
    if (s.node == "server" && s.state == TcpState::SynRcvd) ++syn_rcvd;
  EXPECT_EQ(syn_rcvd, 0);
  for (auto& ch : clients) ch->write_and_flush(Bytes{1});
  world.loop().run_for(5s);
  int reset = 0, active = 0;
  for (auto& ch : clients) {
    if (!ch->is_active() && ch->close_reason() == CloseReason::Reset) ++reset;
    if (ch->is_active()) ++active;
  }
  EXPECT_EQ(reset, 1) << "the client whose request was given up must be reset when it sends";
  EXPECT_EQ(active, 2) << "the two queued clients stay connected";
  for (auto& ch : clients) ch->close();
  acceptor->close();
  world.loop().run_for(5s);
}

}  // namespace
