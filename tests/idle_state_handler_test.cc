// IdleStateHandler (Netty 4.1 semantics) and IdleCloser, on EmbeddedChannel's
// manual clock.
#include "connfail/netcore/idle_state_handler.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <vector>

#include "connfail/netcore/testing/embedded_channel.h"

namespace {

using namespace netcore;
using netcore::testing::EmbeddedChannel;

constexpr Duration T = 100ms;

std::shared_ptr<IdleStateHandler> idle(Duration reader, Duration writer, Duration all,
                                       bool observe_output = false) {
  IdleConfig c;
  c.reader = reader;
  c.writer = writer;
  c.all = all;
  c.observe_output = observe_output;
  return std::make_shared<IdleStateHandler>(c);
}

// The IdleStateEvents that reached the end of the pipeline, in order.
std::vector<IdleStateEvent> idle_events(const EmbeddedChannel& ch) {
  std::vector<IdleStateEvent> out;
  for (const auto& e : ch.user_events())
    if (const auto* ev = std::any_cast<IdleStateEvent>(&e)) out.push_back(*ev);
  return out;
}

::testing::AssertionResult last_event_is(const EmbeddedChannel& ch, std::size_t count, IdleState s,
                                         bool first) {
  const auto ev = idle_events(ch);
  if (ev.size() != count)
    return ::testing::AssertionFailure() << "expected " << count << " idle events, got " << ev.size();
  if (ev.empty()) return ::testing::AssertionSuccess();
  if (ev.back().state != s || ev.back().first != first)
    return ::testing::AssertionFailure() << "last event is " << to_string(ev.back().state)
                                         << " first=" << ev.back().first << ", expected "
                                         << to_string(s) << " first=" << first;
  return ::testing::AssertionSuccess();
}

TEST(IdleStateHandler, NamesAndConfigNormalisation) {
  EXPECT_STREQ(to_string(IdleState::ReaderIdle), "reader-idle");
  EXPECT_STREQ(to_string(IdleState::WriterIdle), "writer-idle");
  EXPECT_STREQ(to_string(IdleState::AllIdle), "all-idle");
  auto h = idle(-5ms, 1ns, 250ms, true);
  EXPECT_EQ(h->config().reader, Duration::zero());
  EXPECT_EQ(h->config().writer, 1ms);
  EXPECT_EQ(h->config().all, 250ms);
  EXPECT_TRUE(h->config().observe_output);
}

TEST(IdleStateHandler, ReaderIdleFiresExactlyOnePeriodAfterLastReadComplete) {
  auto h = idle(T, 0ns, 0ns);
  EmbeddedChannel ch({{"idle", h}});
  ch.advance_time(10ms);
  ch.write_inbound(Bytes{1});
  ch.advance_time(T - 1ns);
  EXPECT_TRUE(idle_events(ch).empty()) << "1 ns early";
  ch.advance_time(1ns);
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::ReaderIdle, true));
  EXPECT_EQ(ch.read_inbound<Bytes>(), (Bytes{1}));  // reads are passed on
}

TEST(IdleStateHandler, ReadPostponesAndRepeatsEveryPeriodWithFirstReset) {
  auto h = idle(T, 0ns, 0ns);
  EmbeddedChannel ch({{"idle", h}});
  ch.advance_time(T / 2);
  ch.write_inbound(Bytes{1});
  ch.advance_time(T - 1ns);  // T/2 + T - 1ns
  EXPECT_TRUE(idle_events(ch).empty());
  ch.advance_time(1ns);  // T/2 + T
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::ReaderIdle, true));
  ch.advance_time(T);
  EXPECT_TRUE(last_event_is(ch, 2, IdleState::ReaderIdle, false));
  ch.advance_time(T);
  EXPECT_TRUE(last_event_is(ch, 3, IdleState::ReaderIdle, false));
  // Activity starts a new idle stretch: the next event is "first" again.
  ch.advance_time(T / 4);
  ch.write_inbound(Bytes{2});
  ch.advance_time(T - 1ns);
  EXPECT_EQ(idle_events(ch).size(), 3u);
  ch.advance_time(1ns);
  EXPECT_TRUE(last_event_is(ch, 4, IdleState::ReaderIdle, true));
}

TEST(IdleStateHandler, ReadWithoutReadCompleteIsNotIdle) {
  auto h = idle(T, 0ns, 0ns);
  EmbeddedChannel ch({{"idle", h}});
  ch.pipeline().fire_channel_read(Bytes{1});  // burst in progress
  ch.advance_time(T);
  EXPECT_TRUE(idle_events(ch).empty());
  ch.pipeline().fire_channel_read_complete();  // stamps last read at T
  ch.advance_time(T - 1ns);
  EXPECT_TRUE(idle_events(ch).empty());
  ch.advance_time(1ns);
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::ReaderIdle, true));
}

TEST(IdleStateHandler, WriterIdleIsStampedWhenTheWriteCompletes) {
  auto h = idle(0ns, T, 0ns);
  EmbeddedChannel ch({{"idle", h}});
  ch.set_auto_complete_writes(false);
  SocketError result = SocketError::Reset;
  ch.write_outbound(Bytes{1, 2}, [&](SocketError e) { result = e; });
  ch.advance_time(T / 2);
  ch.complete_writes();  // completes at T/2
  EXPECT_EQ(result, SocketError::None) << "the original callback still runs";
  ch.write_inbound(Bytes{9});  // reads do not count for writer idle
  ch.advance_time(T - 1ns);
  EXPECT_TRUE(idle_events(ch).empty());
  ch.advance_time(1ns);
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::WriterIdle, true));
  // A failed write is activity too.
  ch.write_outbound(Bytes{3});
  ch.complete_writes(0, SocketError::Reset);
  ch.advance_time(T - 1ns);
  EXPECT_EQ(idle_events(ch).size(), 1u);
  ch.advance_time(1ns);
  EXPECT_TRUE(last_event_is(ch, 2, IdleState::WriterIdle, true));
}

TEST(IdleStateHandler, StalledWriteIsWriterIdleEveryPeriodWithoutObserveOutput) {
  auto h = idle(0ns, T, 0ns, /*observe_output=*/false);
  EmbeddedChannel ch({{"idle", h}});
  ch.set_auto_complete_writes(false);
  ch.write_outbound(Bytes(100, 1));  // never completes
  ch.advance_time(T);
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::WriterIdle, true));
  for (std::size_t i = 2; i <= 4; ++i) {
    ch.advance_time(T / 2);
    ch.write_outbound(Bytes(10, 2));  // pending bytes grow, still no completion
    ch.advance_time(T / 2);
    EXPECT_TRUE(last_event_is(ch, i, IdleState::WriterIdle, false)) << "period " << i;
  }
}

TEST(IdleStateHandler, ObserveOutputSuppressesRepeatsWhileOutputChanges) {
  auto h = idle(0ns, T, 0ns, /*observe_output=*/true);
  EmbeddedChannel ch({{"idle", h}});
  ch.set_auto_complete_writes(false);
  ch.write_outbound(Bytes(100, 1));
  ch.advance_time(T);
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::WriterIdle, true)) << "the first event always fires";
  for (int i = 0; i < 3; ++i) {
    ch.advance_time(T / 2);
    ch.write_outbound(Bytes(10, 2));  // pending_outbound_bytes changes
    ch.advance_time(T / 2);
    EXPECT_EQ(idle_events(ch).size(), 1u) << "suppressed in period " << i;
    EXPECT_EQ(h->scheduled_timers(), 1u) << "re-armed even when suppressed";
  }
  // Nothing changes for a full period: idle again (a repeat, not a first).
  ch.advance_time(T);
  EXPECT_TRUE(last_event_is(ch, 2, IdleState::WriterIdle, false));
  ch.advance_time(T);
  EXPECT_TRUE(last_event_is(ch, 3, IdleState::WriterIdle, false));
}

TEST(IdleStateHandler, AllIdleConsidersReadsAndWrites) {
  auto h = idle(0ns, 0ns, T);
  EmbeddedChannel ch({{"idle", h}});
  ch.advance_time(T * 4 / 10);
  ch.write_outbound(Bytes{1});  // completes at 0.4T
  ch.advance_time(T * 4 / 10);
  ch.write_inbound(Bytes{2});  // read at 0.8T
  ch.advance_time(T - 1ns);
  EXPECT_TRUE(idle_events(ch).empty());
  ch.advance_time(1ns);  // 1.8T
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::AllIdle, true));
  ch.advance_time(T);
  EXPECT_TRUE(last_event_is(ch, 2, IdleState::AllIdle, false));
  // A write alone postpones it and starts a new stretch.
  ch.advance_time(T / 2);
  ch.write_outbound(Bytes{3});
  ch.advance_time(T - 1ns);
  EXPECT_EQ(idle_events(ch).size(), 2u);
  ch.advance_time(1ns);
  EXPECT_TRUE(last_event_is(ch, 3, IdleState::AllIdle, true));
}

TEST(IdleStateHandler, EachEnabledKindFiresItsOwnEvent) {
  auto h = idle(T, 2 * T, 3 * T);
  EmbeddedChannel ch({{"idle", h}});
  EXPECT_EQ(h->scheduled_timers(), 3u);
  ch.advance_time(3 * T);
  const auto ev = idle_events(ch);
  ASSERT_EQ(ev.size(), 5u);  // reader at T, 2T, 3T; writer at 2T; all at 3T
  int reader = 0, writer = 0, all = 0;
  for (const auto& e : ev) {
    reader += e.state == IdleState::ReaderIdle;
    writer += e.state == IdleState::WriterIdle;
    all += e.state == IdleState::AllIdle;
  }
  EXPECT_EQ(reader, 3);
  EXPECT_EQ(writer, 1);
  EXPECT_EQ(all, 1);
}

TEST(IdleStateHandler, DisabledKindsScheduleNoTimerAndCloseLeavesNone) {
  auto h = idle(0ns, -1ms, T);
  EmbeddedChannel ch({{"idle", h}});
  EXPECT_EQ(h->scheduled_timers(), 1u);
  EXPECT_EQ(ch.loop().pending_timers(), 1u);
  ch.advance_time(T);
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::AllIdle, true));
  ch.channel().close();
  ch.run_pending();
  EXPECT_EQ(h->scheduled_timers(), 0u);
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
  ch.advance_time(10 * T);
  EXPECT_EQ(idle_events(ch).size(), 1u);
}

TEST(IdleStateHandler, NothingEnabledSchedulesNothing) {
  auto h = idle(0ns, 0ns, 0ns);
  EmbeddedChannel ch({{"idle", h}});
  EXPECT_EQ(h->scheduled_timers(), 0u);
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
  ch.write_inbound(Bytes{1});
  ch.write_outbound(Bytes{2});
  EXPECT_EQ(ch.read_inbound<Bytes>(), (Bytes{1}));
  EXPECT_EQ(ch.read_outbound<Bytes>(), (Bytes{2}));
}

TEST(IdleStateHandler, RemoveCancelsTimersAndNeverRestarts) {
  auto h = idle(T, T, T);
  EmbeddedChannel ch({{"idle", h}});
  EXPECT_EQ(ch.loop().pending_timers(), 3u);
  ASSERT_TRUE(ch.pipeline().remove("idle"));
  EXPECT_EQ(h->scheduled_timers(), 0u);
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
  ch.write_inbound(Bytes{1});
  ch.advance_time(10 * T);
  EXPECT_TRUE(ch.is_active());
  EXPECT_TRUE(idle_events(ch).empty());
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
}

TEST(IdleStateHandler, AddedToActiveChannelStartsTimers) {
  EmbeddedChannel ch;
  ch.advance_time(T / 2);
  auto h = idle(T, 0ns, 0ns);
  ch.pipeline().add_first("idle", h);
  EXPECT_EQ(h->scheduled_timers(), 1u);
  ch.advance_time(T - 1ns);
  EXPECT_TRUE(idle_events(ch).empty()) << "the period starts when the handler is added";
  ch.advance_time(1ns);
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::ReaderIdle, true));
}

TEST(IdleStateHandler, NotSharableAcrossChannels) {
  auto h = idle(T, 0ns, 0ns);
  EmbeddedChannel a({{"idle", h}});
  EmbeddedChannel b;
  b.pipeline().add_first("idle", h);
  b.run_pending();
  EXPECT_FALSE(b.is_active());
  EXPECT_EQ(b.channel().close_reason(), CloseReason::Exception);
  EXPECT_THROW(b.check_exception(), std::logic_error);
  // b's teardown did not cancel a's timer.
  EXPECT_EQ(h->scheduled_timers(), 1u);
  a.advance_time(T);
  EXPECT_TRUE(last_event_is(a, 1, IdleState::ReaderIdle, true));
}

TEST(IdleStateHandler, TimerIsNotRescheduledPerRead) {
  auto h = idle(T, 0ns, 0ns);
  EmbeddedChannel ch({{"idle", h}});
  for (int i = 0; i < 1000; ++i) {
    ch.write_inbound(Bytes{static_cast<std::uint8_t>(i)});
    ch.read_inbound<Bytes>();
  }
  EXPECT_EQ(ch.loop().pending_timers(), 1u);
  EXPECT_EQ(h->scheduled_timers(), 1u);
  EXPECT_EQ(ch.loop().next_deadline(), TimePoint(T)) << "still the timer armed at start";
}

TEST(IdleCloser, ClosesWithIdleReasonAndPassesEventOn) {
  auto h = idle(T, 0ns, 0ns);
  EmbeddedChannel ch({{"idle", h}, {"closer", std::make_shared<IdleCloser>()}});
  ch.advance_time(T);
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Idle);
  ASSERT_EQ(ch.ledger().entries().size(), 1u);
  EXPECT_EQ(ch.ledger().entries()[0].reason, CloseReason::Idle);
  EXPECT_TRUE(last_event_is(ch, 1, IdleState::ReaderIdle, true));
  EXPECT_EQ(h->scheduled_timers(), 0u);
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
}

TEST(IdleCloser, IgnoresKindsNotSelected) {
  auto h = idle(T, 0ns, 3 * T);
  EmbeddedChannel ch(
      {{"idle", h}, {"closer", std::make_shared<IdleCloser>(std::vector<IdleState>{IdleState::AllIdle})}});
  ch.advance_time(2 * T);
  EXPECT_TRUE(ch.is_active());
  EXPECT_TRUE(last_event_is(ch, 2, IdleState::ReaderIdle, false)) << "passed on, not acted on";
  ch.advance_time(T);
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Idle);
  EXPECT_EQ(ch.ledger().entries()[0].reason, CloseReason::Idle);
}

TEST(IdleCloser, IgnoresOtherUserEvents) {
  EmbeddedChannel ch({{"closer", std::make_shared<IdleCloser>()}});
  ch.pipeline().fire_user_event(InputShutdownEvent{});
  ch.run_pending();
  EXPECT_TRUE(ch.is_active());
  EXPECT_EQ(ch.user_events().size(), 1u);
}

}  // namespace
