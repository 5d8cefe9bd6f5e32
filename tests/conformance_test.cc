// One conformance suite, every transport: each test body runs on real
// sockets (Asio, loopback) and on simulated TCP (ns-3). The Netty testsuite
// pattern: the body is written once, only the environment differs.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/asio/asio_transport.h"
#include "connfail/netcore/channel.h"
#include "connfail/netcore/fault_injector.h"
#include "connfail/netcore/proxy.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/sim/sim_world.h"
#include "connfail/tests/test_handlers.h"

using namespace netcore;
using connfail::testing::Echo;
using connfail::testing::pattern;
using connfail::testing::Recorder;

// ------------------------------------------------------------ environments
// Named plainly and outside any namespace: the type name is what ctest shows
// after each test ("Conformance.EchoOneMiBInChunks<Asio>").

struct Asio {
  static constexpr int kTickSlackMs = 250;  // wall clock: scheduling jitter (sanitizers, 2 busy cores)
  asio::AsioTransport t;
  EventLoop& loop() { return t.loop(); }
  Transport& server() { return t; }
  Transport& client() { return t; }
  Transport& backend() { return t; }
  std::string backend_host() const { return "127.0.0.1"; }
  std::string listen_host() const { return "127.0.0.1"; }
  std::string server_host() const { return "127.0.0.1"; }
  std::vector<SocketInfo> inventory() { return t.inventory(); }
  std::optional<std::size_t> fd_count() const { return asio::process_fd_count(); }
  /// Wall time here.
  Duration limit() const { return std::chrono::seconds(20); }
  /// How long a broken variant's leak must persist to count: on loopback
  /// every close completes in milliseconds.
  Duration leak_limit() const { return std::chrono::seconds(2); }
};

struct Sim {
  static constexpr int kTickSlackMs = 1;  // simulated time: exact to a tick
  connfail::sim::SimWorld world{[] {
    connfail::sim::WorldConfig c;
    c.seed = 7;
    c.clients = 2;  // client0: the client; client1: a backend host for the proxy
    return c;
  }()};
  EventLoop& loop() { return world.loop(); }
  Transport& server() { return world.transport("server"); }
  Transport& client() { return world.transport("client0"); }
  Transport& backend() { return world.transport("client1"); }
  std::string backend_host() const { return world.address_of("client1"); }
  std::string listen_host() const { return "0.0.0.0"; }
  std::string server_host() const { return world.address_of("server"); }
  std::vector<SocketInfo> inventory() { return world.inventory(); }
  std::optional<std::size_t> fd_count() const { return std::nullopt; }
  /// Simulated time here.
  Duration limit() const { return std::chrono::seconds(300); }
  Duration leak_limit() const { return limit(); }
};

namespace {

// ------------------------------------------------------------ the checks

std::string describe(const std::vector<SocketInfo>& v) {
  std::string s;
  for (const auto& i : v)
    s += "  " + i.node + " " + i.local.to_string() + " -> " + i.remote.to_string() + " " +
         to_string(i.state) + " (" + to_string(i.role) + ")\n";
  return s;
}

/// No connection is left: no live socket in any inventory, nothing open in
/// the ledger. Returns a failure naming what remains.
template <class Env>
::testing::AssertionResult no_leaks(Env& env, const ConnectionLedger& ledger) {
  const auto live = live_connections(env.inventory());
  if (!live.empty())
    return ::testing::AssertionFailure() << live.size() << " live socket(s) remain:\n" << describe(live);
  if (ledger.open_count() != 0)
    return ::testing::AssertionFailure() << ledger.open_count() << " channel(s) still open in the ledger";
  return ::testing::AssertionSuccess();
}

/// Drives the loop until the environment has no leak or `limit` passed.
template <class Env>
::testing::AssertionResult settle_without_leaks(Env& env, const ConnectionLedger& ledger, Duration limit) {
  env.loop().run_until([&] { return static_cast<bool>(no_leaks(env, ledger)); }, limit);
  return no_leaks(env, ledger);
}
template <class Env>
::testing::AssertionResult settle_without_leaks(Env& env, const ConnectionLedger& ledger) {
  return settle_without_leaks(env, ledger, env.limit());
}
/// For a broken variant whose leak is expected to stay: waits leak_limit()
/// (a shorter wall time on Asio) before calling it a leak.
template <class Env>
::testing::AssertionResult settle_expecting_a_leak(Env& env, const ConnectionLedger& ledger) {
  return settle_without_leaks(env, ledger, env.leak_limit());
}

template <class Env>
class Conformance : public ::testing::Test {
 protected:
  ConnectionLedger ledger;  // declared first: outlives the transports
  Env env;

  std::shared_ptr<Acceptor> serve(PipelineInit init, ChannelOptions child = {}, int backlog = 128) {
    AcceptorOptions o;
    o.listen.address = {env.listen_host(), 0};
    o.listen.backlog = backlog;
    o.child = child;
    return Acceptor::start(env.server(), ledger, std::move(init), o);
  }
  Address server_address(const std::shared_ptr<Acceptor>& a) {
    return {env.server_host(), a->local_address().port};
  }

  struct Connected {
    std::shared_ptr<Channel> channel;
    SocketError error = SocketError::None;
    bool done = false;
  };
  /// Starts a connect; the result lands in the returned object.
  std::shared_ptr<Connected> connect(const Address& to, PipelineInit init, Duration timeout = std::chrono::seconds(10),
                                     ChannelOptions opts = {}, std::shared_ptr<ConnectCanceller> cancel = nullptr) {
    auto r = std::make_shared<Connected>();
    connect_channel(env.client(), ledger, to, timeout, std::move(init), opts,
                    [r](std::shared_ptr<Channel> ch, SocketError e) {
                      r->channel = std::move(ch);
                      r->error = e;
                      r->done = true;
                    },
                    "", std::move(cancel));
    return r;
  }
  bool wait(const std::function<bool()>& cond) { return env.loop().run_until(cond, env.limit()); }

  /// Backlog 1 and nobody accepting: the queue takes backlog + 1 connections
  /// (Linux's sk_acceptq_is_full), then SYNs are dropped in silence. Holds
  /// the two connections that fill it; close() lets everything go.
  struct FullQueue {
    std::shared_ptr<Acceptor> acceptor;
    std::shared_ptr<Connected> f1, f2;
    void close() {
      f1->channel->close();
      f2->channel->close();
      acceptor->close();
    }
  };
  FullQueue full_accept_queue() {
    FullQueue q;
    q.acceptor = serve([](Channel&) {}, {}, 1);
    q.acceptor->listener().pause();
    q.f1 = connect(server_address(q.acceptor), [](Channel&) {});
    q.f2 = connect(server_address(q.acceptor), [](Channel&) {});
    EXPECT_TRUE(wait([&] { return q.f1->done && q.f2->done; }));
    EXPECT_EQ(q.f1->error, SocketError::None);
    EXPECT_EQ(q.f2->error, SocketError::None);
    return q;
  }
};

// Order matters to the build file: type 0 is Asio, type 1 is Sim.
using Envs = ::testing::Types<Asio, Sim>;
TYPED_TEST_SUITE(Conformance, Envs);

// ------------------------------------------------------------ the bodies

TYPED_TEST(Conformance, EchoOneMiBInChunks) {
  auto acceptor = this->serve([](Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<Echo>()); });
  auto rec = std::make_shared<Recorder>();
  auto c = this->connect(this->server_address(acceptor),
                         [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); });
  ASSERT_TRUE(this->wait([&] { return c->done; }));
  ASSERT_EQ(c->error, SocketError::None);

  const Bytes payload = pattern(1 << 20);
  constexpr std::size_t kChunk = 16 * 1024;
  std::size_t completed = 0;
  for (std::size_t off = 0; off < payload.size(); off += kChunk) {
    Bytes chunk(payload.begin() + static_cast<long>(off), payload.begin() + static_cast<long>(off + kChunk));
    c->channel->write(std::move(chunk), [&](SocketError e) {
      if (e == SocketError::None) ++completed;
    });
  }
  c->channel->flush();
  ASSERT_TRUE(this->wait([&] { return rec->bytes.size() >= payload.size(); }));
  EXPECT_EQ(completed, payload.size() / kChunk);
  EXPECT_TRUE(rec->bytes == payload) << "echoed bytes differ from what was sent";

  c->channel->close();
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
  EXPECT_EQ(this->ledger.count(CloseReason::Normal), 1u);       // the client
  EXPECT_EQ(this->ledger.count(CloseReason::PeerClosed), 1u);   // the server saw FIN
}

TYPED_TEST(Conformance, PeerHalfCloseClosesBothSides) {
  auto server_rec = std::make_shared<Recorder>();
  auto acceptor = this->serve([server_rec](Channel& ch) { ch.pipeline().add_last("rec", server_rec); });
  auto client_rec = std::make_shared<Recorder>();
  auto c = this->connect(this->server_address(acceptor),
                         [client_rec](Channel& ch) { ch.pipeline().add_last("rec", client_rec); });
  ASSERT_TRUE(this->wait([&] { return c->done && server_rec->events.size() >= 1; }));
  ASSERT_EQ(c->error, SocketError::None);

  c->channel->shutdown_output();  // FIN from the client
  ASSERT_TRUE(this->wait([&] { return server_rec->inactive_count == 1 && client_rec->inactive_count == 1; }));
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
  for (const auto& e : this->ledger.entries()) EXPECT_EQ(e.reason, CloseReason::PeerClosed) << to_string(e.side);
  EXPECT_EQ(server_rec->events.front(), "active");
  EXPECT_EQ(server_rec->events.back(), "inactive");
}

// The leak check above must be able to fail: a server that allows
// half-closure and ignores the FIN (never closes) leaves its socket in
// CLOSE_WAIT, and no_leaks() has to say so.
TYPED_TEST(Conformance, LeakCheckCatchesServerThatIgnoresPeerFin) {
  ChannelOptions broken;
  broken.allow_half_closure = true;  // ...and nobody handles InputShutdownEvent
  auto server_rec = std::make_shared<Recorder>();
  auto acceptor = this->serve([server_rec](Channel& ch) { ch.pipeline().add_last("rec", server_rec); }, broken);
  auto c = this->connect(this->server_address(acceptor), [](Channel&) {});
  ASSERT_TRUE(this->wait([&] { return c->done && !server_rec->events.empty(); }));
  c->channel->close();
  ASSERT_TRUE(this->wait([&] { return server_rec->input_shutdown; }));
  acceptor->close();

  const auto verdict = settle_expecting_a_leak(this->env, this->ledger);
  EXPECT_FALSE(verdict) << "the leak check passed although the server never closed";
  const std::string msg = verdict.message();
  EXPECT_NE(msg.find("CLOSE_WAIT"), std::string::npos) << msg;

  // Closing it (what the correct server does) clears the finding.
  for (auto& ch : acceptor->children()) ch->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

TYPED_TEST(Conformance, AbortIsSeenAsResetByThePeer) {
  std::shared_ptr<Channel> server_child;
  auto acceptor = this->serve([&](Channel& ch) { server_child = ch.shared_from_this(); });
  auto client_rec = std::make_shared<Recorder>();
  auto c = this->connect(this->server_address(acceptor),
                         [client_rec](Channel& ch) { ch.pipeline().add_last("rec", client_rec); });
  ASSERT_TRUE(this->wait([&] { return c->done && server_child != nullptr; }));
  ASSERT_EQ(c->error, SocketError::None);

  server_child->abort();
  ASSERT_TRUE(this->wait([&] { return client_rec->inactive_count == 1; }));
  EXPECT_EQ(c->channel->close_reason(), CloseReason::Reset) << to_string(c->channel->close_reason());
  server_child.reset();
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

TYPED_TEST(Conformance, ConnectRefused) {
  // A port that had a listener a moment ago and has none now.
  std::uint16_t port = 0;
  {
    auto a = this->serve([](Channel&) {});
    port = a->local_address().port;
    a->close();
  }
  this->env.loop().run_for(std::chrono::milliseconds(10));
  auto c = this->connect({this->env.server_host(), port}, [](Channel&) {});
  ASSERT_TRUE(this->wait([&] { return c->done; }));
  EXPECT_EQ(c->error, SocketError::Refused) << to_string(c->error);
  EXPECT_EQ(c->channel, nullptr);
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

TYPED_TEST(Conformance, ConnectTimeoutWhenAcceptQueueIsFull) {
  auto q = this->full_accept_queue();
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto c = this->connect(this->server_address(q.acceptor), [](Channel&) {}, std::chrono::milliseconds(500));
  const auto started = this->env.loop().now();
  ASSERT_TRUE(this->wait([&] { return c->done; }));
  EXPECT_EQ(c->error, SocketError::TimedOut) << to_string(c->error);
  EXPECT_GE(this->env.loop().now() - started, std::chrono::milliseconds(500));

  q.close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

// A connect the network never answers holds a socket (SYN_SENT) and a
// timer until its timeout; cancelling it gives both back at once. (The
// FaultProxy's upstream connects ended a run this way: one fd and one timer
// past the verdict.)
TYPED_TEST(Conformance, ACancelledConnectGivesBackItsSocketAndTimerAtOnce) {
  auto q = this->full_accept_queue();
  ASSERT_FALSE(::testing::Test::HasFailure());
  const auto acceptor = q.acceptor;
  const auto sockets_before = live_connections(this->env.inventory()).size();
  const auto timers_before = this->env.loop().pending_timers();
  const auto fds_before = this->env.fd_count();

  auto cancel = std::make_shared<ConnectCanceller>();
  auto c = this->connect(this->server_address(acceptor), [](Channel&) {}, std::chrono::seconds(60), {}, cancel);
  this->env.loop().run_for(std::chrono::milliseconds(300));
  // What the check below looks for is there while the connect is pending.
  ASSERT_FALSE(c->done) << to_string(c->error);
  EXPECT_EQ(cancel->pending(), 1u);
  // (The Asio inventory lists connected sockets; its connecting one shows
  // in the process's fds.)
  if (fds_before) {
    EXPECT_GT(*this->env.fd_count(), *fds_before) << "no connecting socket to cancel";
  } else {
    EXPECT_GT(live_connections(this->env.inventory()).size(), sockets_before) << "no SYN_SENT socket to cancel";
  }
  EXPECT_GT(this->env.loop().pending_timers(), timers_before);

  const auto cancelled_at = this->env.loop().now();
  cancel->cancel();
  EXPECT_EQ(cancel->pending(), 0u);
  EXPECT_EQ(this->env.loop().pending_timers(), timers_before) << "the connect's timer outlived the cancel";
  if (fds_before) {
    EXPECT_EQ(*this->env.fd_count(), *fds_before) << "the connecting socket's fd outlived the cancel";
  }
  ASSERT_TRUE(this->wait([&] { return c->done; }));
  EXPECT_EQ(c->error, SocketError::Cancelled) << to_string(c->error);
  EXPECT_LT(this->env.loop().now() - cancelled_at, std::chrono::seconds(1));
  EXPECT_EQ(live_connections(this->env.inventory()).size(), sockets_before)
      << describe(live_connections(this->env.inventory()));

  // A connect started with a cancelled canceller ends at once, the same way.
  auto late = this->connect(this->server_address(acceptor), [](Channel&) {}, std::chrono::seconds(60), {}, cancel);
  ASSERT_TRUE(this->wait([&] { return late->done; }));
  EXPECT_EQ(late->error, SocketError::Cancelled);
  EXPECT_EQ(this->env.loop().pending_timers(), timers_before);

  q.close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

TYPED_TEST(Conformance, ListenerPausedThenResumed) {
  auto server_rec = std::make_shared<Recorder>();
  auto acceptor = this->serve([server_rec](Channel& ch) {
    ch.pipeline().add_last("rec", server_rec);
    ch.pipeline().add_last("echo", std::make_shared<Echo>());
  });
  acceptor->listener().pause();
  auto client_rec = std::make_shared<Recorder>();
  auto c = this->connect(this->server_address(acceptor),
                         [client_rec](Channel& ch) { ch.pipeline().add_last("rec", client_rec); });
  ASSERT_TRUE(this->wait([&] { return c->done; }));
  ASSERT_EQ(c->error, SocketError::None);  // the handshake completes into the queue
  c->channel->write_and_flush(pattern(100));
  this->env.loop().run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(acceptor->accepted(), 0u);
  EXPECT_TRUE(server_rec->events.empty());
  EXPECT_TRUE(client_rec->bytes.empty());

  acceptor->listener().resume();
  ASSERT_TRUE(this->wait([&] { return client_rec->bytes.size() == 100; }));
  EXPECT_EQ(acceptor->accepted(), 1u);
  c->channel->close();
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

TYPED_TEST(Conformance, ThousandConnectCloseCyclesLeaveNothingBehind) {
  auto acceptor = this->serve([](Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<Echo>()); });
  // Counted with the listener open (the reactor's own fds exist by then).
  const auto fds_before = this->env.fd_count();
  const Address to = this->server_address(acceptor);
  constexpr int kCycles = 1000;
  int closed = 0;
  for (int i = 0; i < kCycles; ++i) {
    auto c = this->connect(to, [](Channel&) {});
    ASSERT_TRUE(this->wait([&] { return c->done; })) << "cycle " << i;
    ASSERT_EQ(c->error, SocketError::None) << "cycle " << i;
    c->channel->close();
    ++closed;
  }
  EXPECT_EQ(closed, kCycles);
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
  EXPECT_EQ(this->ledger.entries().size(), 2u * kCycles);
  EXPECT_EQ(acceptor->accepted(), static_cast<std::uint64_t>(kCycles));
  if (fds_before) {
    EXPECT_EQ(this->env.fd_count(), fds_before);
  }
  acceptor->close();
}

TYPED_TEST(Conformance, AcceptFailureForceClosesTheChild) {
  FaultInjector faults;
  faults.fail_registration_every(3);  // std::bad_alloc at every 3rd child set-up
  AcceptorOptions o;
  o.listen.address = {this->env.listen_host(), 0};
  o.faults = &faults;
  auto acceptor = Acceptor::start(this->env.server(), this->ledger,
                                  [](Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<Echo>()); }, o);
  constexpr int kAttempts = 30;
  std::vector<std::shared_ptr<Recorder>> recs;
  std::vector<std::shared_ptr<typename TestFixture::Connected>> conns;
  for (int i = 0; i < kAttempts; ++i) {
    auto rec = std::make_shared<Recorder>();
    recs.push_back(rec);
    auto c = this->connect(this->server_address(acceptor), [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); });
    ASSERT_TRUE(this->wait([&] { return c->done && acceptor->accepted() == static_cast<std::uint64_t>(i + 1); }));
    conns.push_back(c);
  }
  // Every force-closed child reached its client as a reset.
  ASSERT_TRUE(this->wait([&] { return this->ledger.count(CloseReason::Reset) == kAttempts / 3; }));
  EXPECT_EQ(acceptor->accept_failures(), static_cast<std::uint64_t>(kAttempts / 3));
  EXPECT_EQ(this->ledger.count(CloseReason::AcceptFailure), static_cast<std::size_t>(kAttempts / 3));
  for (auto& c : conns)
    if (c->channel) c->channel->close();
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

// The Netty 3 bug: the accept loop catches the error and neither registers
// nor closes the socket. The leak check has to catch it.
TYPED_TEST(Conformance, LeakCheckCatchesAcceptLoopThatSwallowsTheError) {
  std::vector<std::shared_ptr<Socket>> swallowed;  // accepted, never closed
  ListenOptions lo;
  lo.address = {this->env.listen_host(), 0};
  auto listener = this->env.server().listen(lo, [&](std::shared_ptr<Socket> s) { swallowed.push_back(s); });
  auto c = this->connect({this->env.server_host(), listener->local_address().port}, [](Channel&) {});
  ASSERT_TRUE(this->wait([&] { return c->done && swallowed.size() == 1; }));
  c->channel->close();  // the client leaves; the server socket sits in CLOSE_WAIT
  listener->close();
  const auto verdict = settle_expecting_a_leak(this->env, this->ledger);
  EXPECT_FALSE(verdict) << "the leak check passed although the accepted socket was never closed";
  EXPECT_NE(std::string(verdict.message()).find("CLOSE_WAIT"), std::string::npos) << verdict.message();
  swallowed.front()->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

// --- proxy -----------------------------------------------------------------

/// Writes `total` bytes in chunks, the next one only after the previous write
/// completed; collects what it reads.
class Source final : public Handler {
 public:
  Source(std::size_t total, std::size_t seed) : data_(pattern(total, seed)) {}
  void channel_active(Context& ctx) override {
    ctx_ = &ctx;
    next();
    ctx.fire_channel_active();
  }
  void channel_read(Context& ctx, std::any msg) override {
    if (auto* b = std::any_cast<Bytes>(&msg)) received.insert(received.end(), b->begin(), b->end());
    ctx.fire_channel_read(std::move(msg));
  }
  bool all_sent() const { return off_ >= data_.size(); }
  Bytes received;

 private:
  void next() {
    if (off_ >= data_.size() || !ctx_->channel().is_active()) return;
    const std::size_t n = std::min<std::size_t>(64 * 1024, data_.size() - off_);
    Bytes chunk(data_.begin() + static_cast<long>(off_), data_.begin() + static_cast<long>(off_ + n));
    off_ += n;
    ctx_->write_and_flush(std::move(chunk), [this](SocketError e) {
      if (e == SocketError::None) next();
    });
  }
  Bytes data_;
  std::size_t off_ = 0;
  Context* ctx_ = nullptr;
};

/// A slow consumer: reads one chunk every `period` (auto-read off).
void read_slowly(const std::shared_ptr<Channel>& ch, Duration period) {
  std::weak_ptr<Channel> weak = ch;
  ch->loop().schedule(period, [weak, period] {
    auto c = weak.lock();
    if (!c || !c->is_active()) return;
    c->read();
    read_slowly(c, period);
  });
}

TYPED_TEST(Conformance, ProxyCarriesTenMiBBothWaysWithBoundedMemory) {
  constexpr std::size_t kTotal = 10u << 20;
  std::shared_ptr<Source> backend_side;
  AcceptorOptions bo;
  bo.listen.address = {this->env.listen_host(), 0};
  auto backend = Acceptor::start(this->env.backend(), this->ledger, [&](Channel& ch) {
    backend_side = std::make_shared<Source>(kTotal, 2);
    ch.pipeline().add_last("source", backend_side);
  }, bo);
  auto stats = std::make_shared<ProxyStats>();
  ProxyOptions po;
  po.backend = {this->env.backend_host(), backend->local_address().port};
  auto proxy = this->serve(proxy_initializer(this->env.server(), this->ledger, po, stats));

  auto client_side = std::make_shared<Source>(kTotal, 1);
  ChannelOptions slow;
  slow.auto_read = false;
  auto c = this->connect(this->server_address(proxy),
                         [client_side](Channel& ch) { ch.pipeline().add_last("source", client_side); },
                         std::chrono::seconds(10), slow);
  ASSERT_TRUE(this->wait([&] { return c->done; }));
  ASSERT_EQ(c->error, SocketError::None);
  read_slowly(c->channel, std::chrono::milliseconds(2));

  ASSERT_TRUE(this->wait([&] {
    return backend_side && backend_side->received.size() >= kTotal && client_side->received.size() >= kTotal;
  })) << "up " << (backend_side ? backend_side->received.size() : 0) << " down " << client_side->received.size();
  EXPECT_TRUE(backend_side->received == pattern(kTotal, 1)) << "client -> backend bytes differ";
  EXPECT_TRUE(client_side->received == pattern(kTotal, 2)) << "backend -> client bytes differ";
  EXPECT_EQ(stats->bytes_up, kTotal);
  EXPECT_EQ(stats->bytes_down, kTotal);
  // One chunk in flight per direction: never more than a read's worth queued.
  EXPECT_LE(stats->max_pending_outbound, 64u * 1024) << stats->max_pending_outbound;
  EXPECT_GT(stats->max_pending_outbound, 0u);

  c->channel->close();
  proxy->close();
  backend->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

TYPED_TEST(Conformance, ProxyClosesClientWhenBackendDies) {
  std::shared_ptr<Channel> backend_child;
  AcceptorOptions bo;
  bo.listen.address = {this->env.listen_host(), 0};
  auto backend = Acceptor::start(this->env.backend(), this->ledger,
                                 [&](Channel& ch) { backend_child = ch.shared_from_this(); }, bo);
  auto stats = std::make_shared<ProxyStats>();
  ProxyOptions po;
  po.backend = {this->env.backend_host(), backend->local_address().port};
  auto proxy = this->serve(proxy_initializer(this->env.server(), this->ledger, po, stats));
  auto rec = std::make_shared<Recorder>();
  auto c = this->connect(this->server_address(proxy), [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); });
  ASSERT_TRUE(this->wait([&] { return c->done && backend_child != nullptr; }));
  backend_child->abort();  // the backend crashes: RST to the proxy
  ASSERT_TRUE(this->wait([&] { return rec->inactive_count == 1; }));
  EXPECT_EQ(c->channel->close_reason(), CloseReason::PeerClosed);
  backend_child.reset();
  proxy->close();
  backend->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

TYPED_TEST(Conformance, ProxyClosesBackendWhenClientDies) {
  auto backend_rec = std::make_shared<Recorder>();
  AcceptorOptions bo;
  bo.listen.address = {this->env.listen_host(), 0};
  auto backend = Acceptor::start(this->env.backend(), this->ledger,
                                 [&](Channel& ch) { ch.pipeline().add_last("rec", backend_rec); }, bo);
  auto stats = std::make_shared<ProxyStats>();
  ProxyOptions po;
  po.backend = {this->env.backend_host(), backend->local_address().port};
  auto proxy = this->serve(proxy_initializer(this->env.server(), this->ledger, po, stats));
  auto c = this->connect(this->server_address(proxy), [](Channel&) {});
  ASSERT_TRUE(this->wait([&] { return c->done && !backend_rec->events.empty(); }));
  c->channel->abort();  // the client vanishes with a RST
  ASSERT_TRUE(this->wait([&] { return backend_rec->inactive_count == 1; }));
  proxy->close();
  backend->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
  EXPECT_EQ(this->ledger.count(CloseReason::Reset), 1u);  // the proxy's frontend
}

TYPED_TEST(Conformance, ProxyClosesClientWhenBackendConnectFails) {
  std::uint16_t dead_port = 0;
  {
    AcceptorOptions bo;
    bo.listen.address = {this->env.listen_host(), 0};
    auto gone = Acceptor::start(this->env.backend(), this->ledger, [](Channel&) {}, bo);
    dead_port = gone->local_address().port;
    gone->close();
  }
  auto stats = std::make_shared<ProxyStats>();
  ProxyOptions po;
  po.backend = {this->env.backend_host(), dead_port};
  auto proxy = this->serve(proxy_initializer(this->env.server(), this->ledger, po, stats));
  auto rec = std::make_shared<Recorder>();
  auto c = this->connect(this->server_address(proxy), [rec](Channel& ch) { ch.pipeline().add_last("rec", rec); });
  ASSERT_TRUE(this->wait([&] { return c->done && rec->inactive_count == 1; }));
  EXPECT_EQ(stats->backend_connect_failures, 1u);
  proxy->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

// --- idle check and heartbeat ------------------------------------------

TYPED_TEST(Conformance, HalfOpenClientIsReapedByTheServersIdleCheck) {
  const Duration idle = std::chrono::milliseconds(300);
  auto acceptor = this->serve(heartbeat_server(idle));
  // A client that connects, says nothing and never closes.
  auto c = this->connect(this->server_address(acceptor), [](Channel&) {});
  ASSERT_TRUE(this->wait([&] { return c->done && this->ledger.open_count() == 2; }));
  ASSERT_TRUE(this->wait([&] { return this->ledger.count(CloseReason::Idle) == 1; }));
  for (const auto& e : this->ledger.entries())
    if (e.reason == CloseReason::Idle) {
      EXPECT_EQ(e.side, Side::Server);
      // From the server channel's activation, where its idle clock starts,
      // to its close: the idle timeout + one tick (1 ms; wall-clock slack on
      // Asio). Not from when the test saw both ends open, which can be late.
      ASSERT_TRUE(e.closed_at.has_value());
      const Duration took = *e.closed_at - e.opened_at;
      EXPECT_GE(took, idle - std::chrono::milliseconds(2));
      EXPECT_LE(took, idle + std::chrono::milliseconds(TypeParam::kTickSlackMs));
    }
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

TYPED_TEST(Conformance, HeartbeatingClientIsNeverClosed) {
  // A ping every 200 ms: a loop would have to stall 400 ms for a false reap.
  const Duration idle = std::chrono::milliseconds(600);
  auto acceptor = this->serve(heartbeat_server(idle));
  std::shared_ptr<HeartbeatSender> sender;
  auto c = this->connect(this->server_address(acceptor), heartbeat_client(idle / 3, idle, &sender));
  ASSERT_TRUE(this->wait([&] { return c->done; }));
  ASSERT_EQ(c->error, SocketError::None);
  this->env.loop().run_for(idle * 6);
  EXPECT_TRUE(c->channel->is_active());
  EXPECT_EQ(this->ledger.open_count(), 2u);
  EXPECT_EQ(this->ledger.count(CloseReason::Idle), 0u);
  EXPECT_GE(sender->pings_sent(), 15u);
  EXPECT_GE(sender->pongs_received() + 1, sender->pings_sent());
  c->channel->close();
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

// The bug the idle check exists for: an idle handler placed at the END of the
// pipeline never sees reads the responder swallowed, so it reaps a healthy
// heartbeating client. The ledger shows it.
TYPED_TEST(Conformance, IdleHandlerPlacedLastClosesAHealthyClient) {
  const Duration idle = std::chrono::milliseconds(300);
  auto acceptor = this->serve([idle](Channel& ch) {
    IdleConfig cfg;
    cfg.reader = idle;
    ch.pipeline()
        .add_last("frame-decoder", std::make_shared<FrameDecoder>())
        .add_last("frame-encoder", std::make_shared<FrameEncoder>())
        .add_last("heartbeat", std::make_shared<HeartbeatResponder>())
        .add_last("idle", std::make_shared<IdleStateHandler>(cfg))
        .add_last("idle-closer", std::make_shared<IdleCloser>());
  });
  auto c = this->connect(this->server_address(acceptor), heartbeat_client(idle / 3, idle * 10));
  ASSERT_TRUE(this->wait([&] { return c->done; }));
  this->env.loop().run_for(idle * 3);
  EXPECT_EQ(this->ledger.count(CloseReason::Idle), 1u) << "the misplaced idle check should have fired";
  EXPECT_FALSE(c->channel->is_active());
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
}

// --- acceptor ----------------------------------------------------------------

TYPED_TEST(Conformance, ThousandAttemptsWithEveryKthRegistrationFailingLeaveNothing) {
  constexpr int kAttempts = 1000;
  constexpr int kEvery = 7;
  FaultInjector faults;
  faults.fail_registration_every(kEvery);
  AcceptorOptions o;
  o.listen.address = {this->env.listen_host(), 0};
  o.faults = &faults;
  auto acceptor = Acceptor::start(this->env.server(), this->ledger, echo_server(), o);
  for (int i = 0; i < kAttempts; ++i) {
    auto c = this->connect(this->server_address(acceptor), [](Channel&) {});
    ASSERT_TRUE(this->wait([&] { return c->done && acceptor->accepted() == static_cast<std::uint64_t>(i + 1); }))
        << "attempt " << i;
    if (c->channel) c->channel->close();
  }
  acceptor->close();
  EXPECT_TRUE(settle_without_leaks(this->env, this->ledger));
  EXPECT_EQ(this->ledger.count(CloseReason::AcceptFailure), static_cast<std::size_t>(kAttempts / kEvery));
  EXPECT_EQ(faults.registration_failures_injected(), static_cast<std::uint64_t>(kAttempts / kEvery));
  EXPECT_EQ(acceptor->accept_failures(), static_cast<std::uint64_t>(kAttempts / kEvery));
}

}  // namespace
