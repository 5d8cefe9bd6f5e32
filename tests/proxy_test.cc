// ProxyBackend and close_on_flush on EmbeddedChannels (no network): the
// frontend side is a second EmbeddedChannel.
#include <gtest/gtest.h>

#include <stdexcept>

#include "connfail/netcore/proxy.h"
#include "connfail/netcore/testing/embedded_channel.h"

namespace {

using namespace netcore;
using netcore::testing::EmbeddedChannel;

// Counts read requests passing towards the head.
class ReadCounter final : public Handler {
 public:
  void read(Context& ctx) override {
    ++reads;
    ctx.read();
  }
  int reads = 0;
};

TEST(Proxy, BackendForwardsToFrontendAndReadsNextOnlyAfterTheWriteCompleted) {
  ChannelOptions manual;
  manual.auto_read = false;
  EmbeddedChannel front({}, manual);
  front.set_auto_complete_writes(false);
  auto stats = std::make_shared<ProxyStats>();
  auto counter = std::make_shared<ReadCounter>();
  EmbeddedChannel back({{"reads", counter}, {"proxy-backend", std::make_shared<ProxyBackend>(front.channel_ptr(), stats)}},
                       manual);
  EXPECT_EQ(counter->reads, 1);  // the first read, on active

  back.write_inbound(Bytes{1, 2, 3});
  EXPECT_EQ(front.read_outbound<Bytes>(), (Bytes{1, 2, 3}));
  EXPECT_EQ(stats->bytes_down, 3u);
  EXPECT_EQ(stats->max_pending_outbound, 3u);  // the stalled write
  EXPECT_EQ(counter->reads, 1) << "read more before the write to the other side completed";
  front.complete_writes();
  back.run_pending();
  EXPECT_EQ(counter->reads, 2);
}

TEST(Proxy, BackendInactiveFlushesThenClosesTheFrontend) {
  EmbeddedChannel front;
  front.set_auto_complete_writes(false);
  auto stats = std::make_shared<ProxyStats>();
  EmbeddedChannel back({{"proxy-backend", std::make_shared<ProxyBackend>(front.channel_ptr(), stats)}});
  close_other_when_closed(back.channel(), front.channel_ptr());  // as ProxyFrontend does on connect
  back.write_inbound(Bytes{9});
  back.socket_error(SocketError::Reset);  // the backend dies
  back.run_pending();
  front.run_pending();
  EXPECT_TRUE(front.is_active()) << "closed before its pending write was flushed";
  front.complete_writes();
  front.run_pending();
  EXPECT_FALSE(front.is_active());
  EXPECT_EQ(front.channel().close_reason(), CloseReason::Normal);
}

// The other side is closed from the close future: a handler of the ended
// side that throws from inactive (its own code, and every handler after it,
// skipped) cannot keep the other side open.
TEST(Proxy, TheOtherSideClosesEvenWhenAHandlerThrowsFromInactive) {
  class ThrowsOnInactive final : public Handler {
   public:
    void channel_inactive(Context&) override { throw std::runtime_error("boom in inactive"); }
  };
  EmbeddedChannel front;
  auto stats = std::make_shared<ProxyStats>();
  EmbeddedChannel back({{"thrower", std::make_shared<ThrowsOnInactive>()},
                        {"proxy-backend", std::make_shared<ProxyBackend>(front.channel_ptr(), stats)}});
  close_other_when_closed(back.channel(), front.channel_ptr());
  back.peer_fin();
  back.run_pending();
  front.run_pending();
  EXPECT_FALSE(front.is_active()) << "the frontend stayed open after the backend ended";
}

TEST(Proxy, CloseOnFlushClosesAtOnceWhenNothingIsPending) {
  EmbeddedChannel ch;
  close_on_flush(ch.channel_ptr());
  ch.run_pending();
  EXPECT_FALSE(ch.is_active());
  close_on_flush(ch.channel_ptr());  // closed already: nothing happens
  close_on_flush(nullptr);
}

TEST(Proxy, BackendDropsDataWhenTheFrontendIsGone) {
  auto stats = std::make_shared<ProxyStats>();
  std::weak_ptr<Channel> gone;
  {
    EmbeddedChannel front;
    gone = front.channel_ptr();
  }
  EmbeddedChannel back({{"proxy-backend", std::make_shared<ProxyBackend>(gone, stats)}});
  back.write_inbound(Bytes{1});
  EXPECT_EQ(stats->bytes_down, 0u);
  EXPECT_TRUE(back.is_active());
}

}  // namespace
