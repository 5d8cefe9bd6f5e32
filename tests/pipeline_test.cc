// Netty 4 event semantics of Channel + Pipeline, pinned on EmbeddedChannel.
#include <gtest/gtest.h>

#include <stdexcept>

#include "connfail/netcore/fault_injector.h"
#include "connfail/netcore/testing/embedded_channel.h"
#include "connfail/netcore/testing/manual_loop.h"
#include "connfail/tests/test_handlers.h"

namespace {

using namespace netcore;
using netcore::testing::EmbeddedChannel;
using connfail::testing::Recorder;

class Thrower final : public Handler {
 public:
  void channel_read(Context&, std::any) override { throw std::runtime_error("boom in read"); }
};

class Consumer final : public Handler {
 public:
  void exception_caught(Context&, std::exception_ptr) override { ++caught; }
  int caught = 0;
};

class Upper final : public Handler {  // outbound: transforms writes
 public:
  void write(Context& ctx, std::any msg, WriteCallback done) override {
    if (auto* s = std::any_cast<std::string>(&msg)) {
      for (auto& c : *s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    ctx.write(std::move(msg), std::move(done));
  }
};

TEST(Pipeline, EventOrderActiveReadsInactive) {
  auto rec = std::make_shared<Recorder>();
  EmbeddedChannel ch({{"rec", rec}});
  ch.write_inbound(Bytes{1, 2, 3});
  ch.write_inbound(Bytes{4});
  EXPECT_TRUE(ch.finish());  // two inbound messages were left unread
  const std::vector<std::string> want = {"active", "read", "read-complete", "read", "read-complete", "inactive"};
  EXPECT_EQ(rec->events, want);
  EXPECT_EQ(ch.read_inbound<Bytes>(), (Bytes{1, 2, 3}));
}

TEST(Pipeline, CloseIsIdempotentAndInactiveFiresExactlyOnce) {
  auto rec = std::make_shared<Recorder>();
  EmbeddedChannel ch({{"rec", rec}});
  ch.channel().close(CloseReason::Idle);
  ch.channel().close(CloseReason::Exception);
  ch.peer_fin();
  ch.socket_error(SocketError::Reset);
  ch.run_pending();
  EXPECT_EQ(rec->inactive_count, 1);
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Idle);
  ASSERT_EQ(ch.ledger().entries().size(), 1u);
  EXPECT_EQ(ch.ledger().entries()[0].reason, CloseReason::Idle);
  EXPECT_EQ(ch.ledger().open_count(), 0u);
}

TEST(Pipeline, InactiveIsNotDeliveredInsideClose) {
  auto rec = std::make_shared<Recorder>();
  EmbeddedChannel ch({{"rec", rec}});
  ch.channel().close();
  EXPECT_EQ(rec->inactive_count, 0) << "inactive must be posted, not re-entrant";
  ch.run_pending();
  EXPECT_EQ(rec->inactive_count, 1);
}

TEST(Pipeline, UnhandledExceptionClosesAndIsRecorded) {
  auto rec = std::make_shared<Recorder>();
  EmbeddedChannel ch({{"thrower", std::make_shared<Thrower>()}, {"rec", rec}});
  ch.write_inbound(Bytes{1});
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
  EXPECT_THROW(ch.check_exception(), std::runtime_error);
  EXPECT_EQ(ch.ledger().entries()[0].detail, "boom in read");
  // The exception travelled downstream of the thrower.
  EXPECT_NE(std::find(rec->events.begin(), rec->events.end(), "exception"), rec->events.end());
}

TEST(Pipeline, ConsumedExceptionDoesNotClose) {
  auto consumer = std::make_shared<Consumer>();
  EmbeddedChannel ch({{"thrower", std::make_shared<Thrower>()}, {"consumer", consumer}});
  ch.write_inbound(Bytes{1});
  EXPECT_TRUE(ch.is_active());
  EXPECT_EQ(consumer->caught, 1);
  EXPECT_NO_THROW(ch.check_exception());
}

TEST(Pipeline, PeerFinClosesByDefaultAndFiresEventWithHalfClosure) {
  {
    EmbeddedChannel ch;
    ch.peer_fin();
    EXPECT_FALSE(ch.is_active());
    EXPECT_EQ(ch.channel().close_reason(), CloseReason::PeerClosed);
  }
  {
    ChannelOptions o;
    o.allow_half_closure = true;
    auto rec = std::make_shared<Recorder>();
    EmbeddedChannel ch({{"rec", rec}}, o);
    ch.peer_fin();
    EXPECT_TRUE(ch.is_active());
    EXPECT_TRUE(rec->input_shutdown);
  }
}

TEST(Pipeline, OutboundTravelsTailToHeadThroughHandlers) {
  EmbeddedChannel ch({{"upper", std::make_shared<Upper>()}});
  bool done = false;
  ch.write_outbound(std::string("hello"), [&](SocketError e) { done = e == SocketError::None; });
  EXPECT_EQ(ch.read_outbound<std::string>(), std::string("HELLO"));
  EXPECT_TRUE(done);
}

TEST(Pipeline, WritesAfterCloseFail) {
  EmbeddedChannel ch;
  ch.channel().close();
  ch.run_pending();
  SocketError result = SocketError::None;
  ch.write_outbound(Bytes{1}, [&](SocketError e) { result = e; });
  EXPECT_EQ(result, SocketError::Other);
}

TEST(Pipeline, DuplicateNamesAreRejected) {
  EmbeddedChannel ch({{"a", std::make_shared<Recorder>()}});
  EXPECT_THROW(ch.pipeline().add_last("a", std::make_shared<Recorder>()), std::invalid_argument);
}

TEST(Pipeline, RemoveCallsHandlerRemovedAndUnlinks) {
  struct Life : Handler {
    void handler_added(Context&) override { ++added; }
    void handler_removed(Context&) override { ++removed; }
    int added = 0, removed = 0;
  };
  auto life = std::make_shared<Life>();
  EmbeddedChannel ch({{"life", life}});
  EXPECT_EQ(life->added, 1);
  EXPECT_TRUE(ch.pipeline().remove("life"));
  EXPECT_EQ(life->removed, 1);
  EXPECT_EQ(ch.pipeline().get("life"), nullptr);
  ch.finish();
  EXPECT_EQ(life->removed, 1);  // not twice
}

TEST(Pipeline, AllHandlersRemovedAfterInactive) {
  struct Life : Handler {
    void handler_removed(Context&) override { ++removed; }
    int removed = 0;
  };
  auto a = std::make_shared<Life>();
  auto b = std::make_shared<Life>();
  EmbeddedChannel ch({{"a", a}, {"b", b}});
  ch.finish();
  EXPECT_EQ(a->removed, 1);
  EXPECT_EQ(b->removed, 1);
}

TEST(Pipeline, WrongMessageTypeAtHeadFailsWriteAndRaises) {
  // A real socket below: only Bytes may reach it. Use a channel without the
  // embedded sink to see the error a missing encoder produces.
  netcore::testing::ManualLoop loop;
  ConnectionLedger ledger;
  auto ch = Channel::create(loop, nullptr, ledger, Side::Client);
  ch->activate();
  SocketError result = SocketError::None;
  ch->write(std::string("not bytes"), [&](SocketError e) { result = e; });
  loop.run_pending();
  EXPECT_EQ(result, SocketError::Other);
  EXPECT_FALSE(ch->is_active());
  EXPECT_EQ(ch->close_reason(), CloseReason::Exception);
  loop.run_pending();
}

TEST(FaultInjector, ThrowsOnNthReadOnly) {
  FaultInjector fi(1);
  fi.throw_on_nth("rec", PipelineEvent::Read, 2);
  auto rec = std::make_shared<Recorder>();
  EmbeddedChannel ch({{"rec", rec}});
  ch.pipeline().set_fault_injector(&fi);
  ch.write_inbound(Bytes{1});
  EXPECT_TRUE(ch.is_active());
  ch.write_inbound(Bytes{2});
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
  EXPECT_EQ(fi.handler_faults_injected(), 1u);
}

TEST(FaultInjector, ProbabilityIsSeededAndRepeatable) {
  auto run = [](std::uint64_t seed) {
    FaultInjector fi(seed);
    fi.throw_with_probability("h", PipelineEvent::Read, 0.3);
    std::vector<int> fired;
    for (int i = 0; i < 200; ++i) {
      try {
        fi.before_handler("h", PipelineEvent::Read);
      } catch (const InjectedFault&) {
        fired.push_back(i);
      }
    }
    return fired;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  const auto n = run(42).size();
  EXPECT_GT(n, 30u);
  EXPECT_LT(n, 90u);
}

TEST(ManualLoop, TimersRunInDeadlineThenSchedulingOrder) {
  netcore::testing::ManualLoop loop;
  std::vector<int> order;
  loop.schedule(std::chrono::milliseconds(10), [&] { order.push_back(2); });
  loop.schedule(std::chrono::milliseconds(5), [&] { order.push_back(1); });
  loop.schedule(std::chrono::milliseconds(10), [&] { order.push_back(3); });
  auto cancelled = loop.schedule(std::chrono::milliseconds(7), [&] { order.push_back(99); });
  EXPECT_TRUE(loop.cancel(cancelled));
  EXPECT_FALSE(loop.cancel(cancelled));
  loop.advance(std::chrono::milliseconds(9));
  EXPECT_EQ(order, (std::vector<int>{1}));
  loop.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(loop.pending_timers(), 0u);
  EXPECT_EQ(loop.now(), std::chrono::milliseconds(10));
}

TEST(Ledger, CountsAndOpenEntries) {
  ConnectionLedger l;
  auto a = l.open(Side::Server, 1, {}, {}, TimePoint(0));
  auto b = l.open(Side::Client, 2, {}, {}, TimePoint(0));
  l.record_failed(Side::Server, 3, {}, {}, TimePoint(5), CloseReason::AcceptFailure, "oom");
  EXPECT_EQ(l.open_count(), 2u);
  l.close(a, TimePoint(10), CloseReason::Idle);
  l.close(a, TimePoint(20), CloseReason::Reset);  // first record wins
  EXPECT_EQ(l.find(a)->reason, CloseReason::Idle);
  EXPECT_EQ(*l.find(a)->closed_at, TimePoint(10));
  EXPECT_EQ(l.open_count(), 1u);
  EXPECT_EQ(l.open_entries().front().id, b);
  EXPECT_EQ(l.count(CloseReason::AcceptFailure), 1u);
}

}  // namespace

namespace {

class ThrowOnClose final : public netcore::Handler {
 public:
  void close(netcore::Context&, netcore::CloseReason) override { throw std::runtime_error("close refused"); }
};

TEST(Pipeline, HandlerThatThrowsOnCloseCannotKeepTheChannelOpen) {
  auto rec = std::make_shared<Recorder>();
  EmbeddedChannel ch({{"rec", rec}, {"stubborn", std::make_shared<ThrowOnClose>()}});
  ch.channel().close(CloseReason::Idle);
  ch.run_pending();
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Idle);
  EXPECT_EQ(rec->inactive_count, 1);
  EXPECT_THROW(ch.check_exception(), std::runtime_error);
}

TEST(Pipeline, UnhandledExceptionWithThrowingCloseTerminates) {
  EmbeddedChannel ch({{"thrower", std::make_shared<Thrower>()}, {"stubborn", std::make_shared<ThrowOnClose>()}});
  ch.write_inbound(Bytes{1});  // read throws -> tail closes -> close throws
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
  EXPECT_EQ(ch.channel().unhandled_exceptions().size(), 2u);
}

}  // namespace

namespace {

// Whatever event a handler throws on, the exception reaches exception_caught
// downstream, the channel closes with reason exception, and nothing escapes
// into the loop.
TEST(Pipeline, AThrowOnAnyEventClosesWithReasonException) {
  using netcore::PipelineEvent;
  const PipelineEvent events[] = {PipelineEvent::Read,  PipelineEvent::ReadComplete, PipelineEvent::UserEvent,
                                  PipelineEvent::Write, PipelineEvent::Flush,        PipelineEvent::ReadRequest};
  for (PipelineEvent ev : events) {
    SCOPED_TRACE(netcore::to_string(ev));
    netcore::FaultInjector fi;
    fi.throw_on_nth("victim", ev, 1);
    auto after = std::make_shared<Recorder>();
    EmbeddedChannel ch({{"victim", std::make_shared<netcore::Handler>()}, {"after", after}});
    ch.pipeline().set_fault_injector(&fi);
    switch (ev) {
      case PipelineEvent::Read:
      case PipelineEvent::ReadComplete:
        ch.write_inbound(Bytes{1});
        break;
      case PipelineEvent::UserEvent:
        ch.pipeline().fire_user_event(42);
        break;
      case PipelineEvent::Write:
      case PipelineEvent::Flush:
        ch.write_outbound(Bytes{1});
        break;
      default:
        ch.channel().read();
        break;
    }
    ch.run_pending();
    EXPECT_EQ(fi.handler_faults_injected(), 1u);
    EXPECT_FALSE(ch.is_active());
    EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
    EXPECT_THROW(ch.check_exception(), netcore::InjectedFault);
    EXPECT_NE(std::find(after->events.begin(), after->events.end(), "exception"), after->events.end());
    EXPECT_EQ(after->inactive_count, 1);
  }
}

}  // namespace

TEST(Ledger, OpenChannelsListsTheChannelWhileOpenAndDropsItAtClose) {
  netcore::testing::EmbeddedChannel ec;
  auto open = ec.ledger().open_channels();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].get(), &ec.channel());
  open.clear();
  ec.channel().close();
  ec.run_pending();
  EXPECT_TRUE(ec.ledger().open_channels().empty());
  EXPECT_EQ(ec.ledger().open_count(), 0u);
}

namespace {

using namespace netcore;
using netcore::testing::EmbeddedChannel;

// Throws from channel_inactive and never passes it on: a handler like the
// ones that must not be able to stop a close from being seen.
class InactiveThrower final : public Handler {
 public:
  void channel_inactive(Context&) override { throw std::runtime_error("boom in inactive"); }
};

TEST(CloseFuture, RunsOnceAfterTheInactiveEventWhateverTheHandlersDo) {
  auto rec = std::make_shared<connfail::testing::Recorder>();
  EmbeddedChannel ch({{"rec", rec}, {"thrower", std::make_shared<InactiveThrower>()}});
  int runs = 0;
  int inactive_seen_first = 0;
  ch.channel().on_close([&] {
    ++runs;
    inactive_seen_first = rec->inactive_count;
  });
  ch.channel().close(CloseReason::Reset);
  EXPECT_EQ(runs, 0) << "a listener never runs from inside close()";
  ch.run_pending();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(inactive_seen_first, 1) << "the listener runs after the inactive event";
  ch.channel().close();
  ch.run_pending();
  EXPECT_EQ(runs, 1) << "a second close runs nothing again";
}

TEST(CloseFuture, AListenerAddedAfterTheCloseStillRunsLater) {
  EmbeddedChannel ch;
  ch.channel().close();
  ch.run_pending();
  int runs = 0;
  ch.channel().on_close([&] { ++runs; });
  EXPECT_EQ(runs, 0);
  ch.run_pending();
  EXPECT_EQ(runs, 1);
}

}  // namespace

// ---- Transport::connect_from's generic cancel, for transports that have
// no way to end a connect early themselves.
namespace {

using namespace netcore;

struct FakeSocket final : Socket {
  bool aborted = false;
  std::uint64_t id() const override { return 1; }
  void set_handler(SocketHandler*) override {}
  void set_reading(bool) override {}
  void write(Bytes, WriteCallback) override {}
  std::size_t pending_outbound() const override { return 0; }
  void shutdown_output() override {}
  void close() override {}
  void abort() override { aborted = true; }
  bool is_open() const override { return !aborted; }
  Address local_address() const override { return {}; }
  Address remote_address() const override { return {}; }
  void set_tcp_options(const TcpOptions&) override {}
};

/// Its connects finish only when the test says so.
struct SlowTransport final : Transport {
  netcore::testing::ManualLoop l;
  std::vector<ConnectFn> pending;
  EventLoop& loop() override { return l; }
  std::string name() const override { return "slow"; }
  std::shared_ptr<Listener> listen(const ListenOptions&, Listener::AcceptFn) override { return nullptr; }
  void connect(const Address&, Duration, ConnectFn done) override { pending.push_back(std::move(done)); }
  std::vector<SocketInfo> inventory() const override { return {}; }
};

TEST(ConnectCanceller, TheGenericCancelReportsOnceAndAbortsTheLateSocket) {
  SlowTransport t;
  auto cancel = std::make_shared<ConnectCanceller>();
  std::vector<SocketError> results;
  t.connect_from("", {"10.0.0.1", 1}, std::chrono::seconds(5),
                 [&](std::shared_ptr<Socket> s, SocketError e) {
                   EXPECT_EQ(s, nullptr);
                   results.push_back(e);
                 },
                 cancel);
  ASSERT_EQ(t.pending.size(), 1u);
  EXPECT_EQ(cancel->pending(), 1u);
  cancel->cancel();
  EXPECT_EQ(cancel->pending(), 0u);
  EXPECT_TRUE(results.empty()) << "done ran inside cancel()";
  t.l.run_pending();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0], SocketError::Cancelled);

  // The underlying connect completes later: its socket is aborted, and done
  // does not run again.
  auto late = std::make_shared<FakeSocket>();
  t.pending[0](late, SocketError::None);
  EXPECT_TRUE(late->aborted);
  EXPECT_EQ(results.size(), 1u);

  // Not cancelled: the connect's own result, and the canceller forgets it.
  auto other = std::make_shared<ConnectCanceller>();
  t.connect_from("", {"10.0.0.1", 1}, std::chrono::seconds(5),
                 [&](std::shared_ptr<Socket>, SocketError e) { results.push_back(e); }, other);
  t.pending[1](nullptr, SocketError::Refused);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1], SocketError::Refused);
  EXPECT_EQ(other->pending(), 0u);
  other->cancel();  // nothing left to cancel
  t.l.run_pending();
  EXPECT_EQ(results.size(), 2u);
}

}  // namespace
