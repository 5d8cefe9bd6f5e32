// HeartbeatSender / HeartbeatResponder on EmbeddedChannel.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "connfail/netcore/frame_codec.h"
#include "connfail/netcore/heartbeat.h"
#include "connfail/netcore/testing/embedded_channel.h"

namespace {

using namespace netcore;
using netcore::testing::EmbeddedChannel;

constexpr Duration kInterval = 5s;

bool is_ping(const std::optional<Frame>& f) { return f && f->kind == FrameKind::Ping; }

TEST(Heartbeat, RejectsNonPositiveInterval) {
  EXPECT_THROW(HeartbeatSender(Duration::zero()), std::invalid_argument);
  EXPECT_THROW(HeartbeatSender(-1s), std::invalid_argument);
}

TEST(Heartbeat, SenderPingsExactlyEveryInterval) {
  auto hb = std::make_shared<HeartbeatSender>(kInterval);
  EmbeddedChannel ch({{"hb", hb}});
  EXPECT_TRUE(hb->timer_scheduled());
  EXPECT_EQ(ch.loop().pending_timers(), 1u);

  ch.advance_time(kInterval - 1ns);
  EXPECT_EQ(ch.outbound_count(), 0u) << "no ping before the first interval";
  ch.advance_time(1ns);
  ASSERT_EQ(ch.outbound_count(), 1u);
  auto first = ch.read_outbound<Frame>();
  EXPECT_TRUE(is_ping(first));
  EXPECT_TRUE(first->payload.empty());
  EXPECT_EQ(hb->pings_sent(), 1u);

  ch.advance_time(kInterval - 1ns);
  EXPECT_EQ(ch.outbound_count(), 0u) << "no second ping before 2 * interval";
  ch.advance_time(1ns);
  ASSERT_EQ(ch.outbound_count(), 1u);
  EXPECT_TRUE(is_ping(ch.read_outbound<Frame>()));
  EXPECT_EQ(hb->pings_sent(), 2u);

  ch.advance_time(3 * kInterval);
  EXPECT_EQ(ch.outbound_count(), 3u);
  EXPECT_EQ(hb->pings_sent(), 5u);
  EXPECT_EQ(ch.loop().pending_timers(), 1u) << "exactly one timer at a time";
  EXPECT_TRUE(ch.is_active());
}

TEST(Heartbeat, SenderPingsGoThroughTheEncoder) {
  auto hb = std::make_shared<HeartbeatSender>(kInterval);
  EmbeddedChannel ch({{"decoder", std::make_shared<FrameDecoder>()},
                      {"encoder", std::make_shared<FrameEncoder>()},
                      {"hb", hb}});
  ch.advance_time(kInterval);
  EXPECT_EQ(ch.read_outbound<Bytes>(), encode_frame(Frame{FrameKind::Ping, {}}));
}

TEST(Heartbeat, SenderCountsAndSwallowsPongsPassesTheRest) {
  auto hb = std::make_shared<HeartbeatSender>(kInterval);
  EmbeddedChannel ch({{"decoder", std::make_shared<FrameDecoder>()},
                      {"encoder", std::make_shared<FrameEncoder>()},
                      {"hb", hb}});
  ch.write_inbound(encode_frame(Frame{FrameKind::Pong, {}}));
  ch.write_inbound(encode_frame(Frame{FrameKind::Pong, {1, 2}}));
  EXPECT_EQ(hb->pongs_received(), 2u);
  EXPECT_EQ(ch.inbound_count(), 0u) << "pongs are not passed on";

  const Frame data{FrameKind::Data, {42}};
  ch.write_inbound(encode_frame(data));
  auto got = ch.read_inbound<Frame>();
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got == data);
  ch.write_inbound(encode_frame(Frame{FrameKind::Ping, {}}));  // the sender does not answer pings
  EXPECT_TRUE(is_ping(ch.read_inbound<Frame>()));
  EXPECT_EQ(hb->pongs_received(), 2u);
  EXPECT_EQ(ch.outbound_count(), 0u);
}

TEST(Heartbeat, SenderLeavesNoTimerAfterClose) {
  auto hb = std::make_shared<HeartbeatSender>(kInterval);
  EmbeddedChannel ch({{"hb", hb}});
  ch.advance_time(kInterval);
  EXPECT_EQ(hb->pings_sent(), 1u);
  ch.channel().close();
  ch.run_pending();
  EXPECT_FALSE(ch.is_active());
  EXPECT_FALSE(hb->timer_scheduled());
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
  ch.advance_time(10 * kInterval);
  EXPECT_EQ(hb->pings_sent(), 1u);
}

TEST(Heartbeat, SenderLeavesNoTimerAfterRemove) {
  auto hb = std::make_shared<HeartbeatSender>(kInterval);
  EmbeddedChannel ch({{"hb", hb}});
  ASSERT_EQ(ch.loop().pending_timers(), 1u);
  EXPECT_TRUE(ch.pipeline().remove("hb"));
  EXPECT_FALSE(hb->timer_scheduled());
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
  ch.advance_time(10 * kInterval);
  EXPECT_EQ(hb->pings_sent(), 0u);
  EXPECT_EQ(ch.outbound_count(), 0u);
  EXPECT_TRUE(ch.is_active());
}

TEST(Heartbeat, SenderAddedToActiveChannelStartsAtOnce) {
  EmbeddedChannel ch;
  ch.advance_time(3s);  // the interval counts from when it joins
  auto hb = std::make_shared<HeartbeatSender>(kInterval);
  ch.pipeline().add_first("hb", hb);
  EXPECT_TRUE(hb->timer_scheduled());
  EXPECT_EQ(ch.loop().pending_timers(), 1u);
  ch.advance_time(kInterval - 1ns);
  EXPECT_EQ(ch.outbound_count(), 0u);
  ch.advance_time(1ns);
  EXPECT_TRUE(is_ping(ch.read_outbound<Frame>()));
  ch.channel().close();
  ch.run_pending();
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
}

TEST(Heartbeat, SenderStopsWhenTheWriteClosesTheChannel) {
  // A handler at the head that closes on the first write: the timer must not
  // reschedule on a dead channel.
  struct CloseOnWrite final : Handler {
    void write(Context& ctx, std::any, WriteCallback) override { ctx.close(CloseReason::WriteError); }
  };
  auto hb = std::make_shared<HeartbeatSender>(kInterval);
  EmbeddedChannel ch({{"closer", std::make_shared<CloseOnWrite>()}, {"hb", hb}});
  ch.advance_time(kInterval);
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::WriteError);
  EXPECT_EQ(hb->pings_sent(), 1u);
  EXPECT_FALSE(hb->timer_scheduled());
  EXPECT_EQ(ch.loop().pending_timers(), 0u);
}

TEST(Heartbeat, ResponderAnswersPingWithSamePayload) {
  auto resp = std::make_shared<HeartbeatResponder>();
  EmbeddedChannel ch({{"resp", resp}});
  ch.write_inbound(Frame{FrameKind::Ping, {1, 2, 3}});
  auto pong = ch.read_outbound<Frame>();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->kind, FrameKind::Pong);
  EXPECT_EQ(pong->payload, (Bytes{1, 2, 3}));
  EXPECT_EQ(resp->pings_answered(), 1u);
  EXPECT_EQ(ch.inbound_count(), 0u) << "the ping is not passed on";
}

TEST(Heartbeat, ResponderPassesDataFramesThrough) {
  auto resp = std::make_shared<HeartbeatResponder>();
  EmbeddedChannel ch({{"resp", resp}});
  const Frame data{FrameKind::Data, {9, 8}};
  ch.write_inbound(data);
  ch.write_inbound(Frame{FrameKind::Pong, {}});
  ch.write_inbound(std::string("other"));
  auto got = ch.read_inbound<Frame>();
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got == data);
  auto pong = ch.read_inbound<Frame>();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->kind, FrameKind::Pong);
  EXPECT_EQ(ch.read_inbound<std::string>(), std::string("other"));
  EXPECT_EQ(ch.outbound_count(), 0u);
  EXPECT_EQ(resp->pings_answered(), 0u);
}

TEST(Heartbeat, SenderAndResponderOverTheWire) {
  // Client and server pipelines joined by hand: bytes out of one go into the other.
  auto hb = std::make_shared<HeartbeatSender>(kInterval);
  auto resp = std::make_shared<HeartbeatResponder>();
  EmbeddedChannel client({{"decoder", std::make_shared<FrameDecoder>()},
                          {"encoder", std::make_shared<FrameEncoder>()},
                          {"hb", hb}},
                         {}, Side::Client);
  EmbeddedChannel server({{"decoder", std::make_shared<FrameDecoder>()},
                          {"encoder", std::make_shared<FrameEncoder>()},
                          {"resp", resp}});
  for (int i = 0; i < 3; ++i) {
    client.advance_time(kInterval);
    auto ping = client.read_outbound<Bytes>();
    ASSERT_TRUE(ping.has_value());
    server.write_inbound(*ping);
    auto pong = server.read_outbound<Bytes>();
    ASSERT_TRUE(pong.has_value());
    EXPECT_EQ(*pong, encode_frame(Frame{FrameKind::Pong, {}}));
    client.write_inbound(*pong);
  }
  EXPECT_EQ(hb->pings_sent(), 3u);
  EXPECT_EQ(resp->pings_answered(), 3u);
  EXPECT_EQ(hb->pongs_received(), 3u);
  EXPECT_EQ(client.inbound_count(), 0u);
  EXPECT_EQ(server.inbound_count(), 0u);
}

}  // namespace
