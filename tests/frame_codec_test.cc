// FrameEncoder / FrameDecoder on EmbeddedChannel.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "connfail/netcore/frame_codec.h"
#include "connfail/netcore/testing/embedded_channel.h"
#include "connfail/tests/test_handlers.h"

namespace {

using namespace netcore;
using connfail::testing::pattern;
using netcore::testing::EmbeddedChannel;

Bytes header(std::uint32_t len) {
  return Bytes{static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16),
               static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)};
}

Bytes concat(std::vector<Bytes> parts) {
  Bytes out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Keeps every exception, so the channel stays open after a decode error.
class Swallower final : public Handler {
 public:
  void channel_read(Context& ctx, std::any msg) override { ctx.fire_channel_read(std::move(msg)); }
  void exception_caught(Context&, std::exception_ptr e) override { errors.push_back(e); }
  std::vector<std::exception_ptr> errors;
};

std::string what(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "non-standard exception";
  }
}

std::shared_ptr<FrameDecoder> decoder(std::size_t max = 1 << 20) {
  return std::make_shared<FrameDecoder>(max);
}

TEST(FrameCodec, EncodeFrameWireFormat) {
  EXPECT_EQ(encode_frame(Frame{FrameKind::Ping, {}}), (Bytes{0, 0, 0, 1, 1}));
  EXPECT_EQ(encode_frame(Frame{FrameKind::Data, {0xaa, 0xbb}}), (Bytes{0, 0, 0, 3, 0, 0xaa, 0xbb}));
  const Bytes big = encode_frame(Frame{FrameKind::Pong, pattern(0x10203)});
  EXPECT_EQ(Bytes(big.begin(), big.begin() + 5), (Bytes{0, 0x01, 0x02, 0x04, 2}));
  EXPECT_EQ(big.size(), 4u + 1u + 0x10203u);
  EXPECT_STREQ(to_string(FrameKind::Data), "data");
  EXPECT_STREQ(to_string(FrameKind::Ping), "ping");
  EXPECT_STREQ(to_string(FrameKind::Pong), "pong");
}

TEST(FrameCodec, RoundTripEveryKindThroughEncoderAndDecoder) {
  EmbeddedChannel out({{"encoder", std::make_shared<FrameEncoder>()}});
  EmbeddedChannel in({{"decoder", decoder()}});
  const std::vector<Frame> frames = {
      {FrameKind::Data, {}},          {FrameKind::Data, pattern(300)}, {FrameKind::Ping, {}},
      {FrameKind::Ping, {1, 2, 3}},   {FrameKind::Pong, {}},           {FrameKind::Pong, {9}},
  };
  for (const Frame& f : frames) {
    out.write_outbound(f);
    auto wire = out.read_outbound<Bytes>();
    ASSERT_TRUE(wire.has_value()) << to_string(f.kind);
    EXPECT_EQ(*wire, encode_frame(f));
    in.write_inbound(*wire);
    auto back = in.read_inbound<Frame>();
    ASSERT_TRUE(back.has_value()) << to_string(f.kind);
    EXPECT_TRUE(*back == f) << to_string(f.kind) << " payload " << f.payload.size();
  }
  EXPECT_EQ(in.inbound_count(), 0u);
  EXPECT_TRUE(in.is_active());
}

TEST(FrameCodec, EncoderPassesWriteCallbackAndOtherMessages) {
  EmbeddedChannel ch({{"encoder", std::make_shared<FrameEncoder>()}});
  SocketError result = SocketError::Other;
  ch.write_outbound(Frame{FrameKind::Data, {7}}, [&](SocketError e) { result = e; });
  EXPECT_EQ(result, SocketError::None);
  EXPECT_EQ(ch.read_outbound<Bytes>(), encode_frame(Frame{FrameKind::Data, {7}}));

  ch.write_outbound(Bytes{1, 2});  // already bytes: not framed again
  EXPECT_EQ(ch.read_outbound<Bytes>(), (Bytes{1, 2}));
  ch.write_outbound(std::string("text"));
  EXPECT_EQ(ch.read_outbound<std::string>(), std::string("text"));
}

TEST(FrameCodec, FrameSplitByteByByte) {
  EmbeddedChannel ch({{"decoder", decoder()}});
  const Frame f{FrameKind::Data, pattern(64, 3)};
  const Bytes wire = encode_frame(f);
  for (std::size_t i = 0; i < wire.size(); ++i) {
    EXPECT_EQ(ch.inbound_count(), 0u) << "frame delivered early, after " << i << " bytes";
    ch.write_inbound(Bytes{wire[i]});
  }
  auto got = ch.read_inbound<Frame>();
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got == f);
  EXPECT_EQ(ch.inbound_count(), 0u);
  EXPECT_EQ(ch.pipeline().get_as<FrameDecoder>("decoder")->buffered_bytes(), 0u);
}

TEST(FrameCodec, ThreeFramesInOneRead) {
  EmbeddedChannel ch({{"decoder", decoder()}});
  const Frame a{FrameKind::Data, {1, 2, 3}}, b{FrameKind::Ping, {}}, c{FrameKind::Pong, {4}};
  ch.write_inbound(concat({encode_frame(a), encode_frame(b), encode_frame(c)}));
  ASSERT_EQ(ch.inbound_count(), 3u);
  EXPECT_TRUE(*ch.read_inbound<Frame>() == a);
  EXPECT_TRUE(*ch.read_inbound<Frame>() == b);
  EXPECT_TRUE(*ch.read_inbound<Frame>() == c);
}

TEST(FrameCodec, FramesStraddlingReads) {
  // One and a half frames, then the rest plus a whole one.
  EmbeddedChannel ch({{"decoder", decoder()}});
  const Frame a{FrameKind::Data, pattern(10)}, b{FrameKind::Data, pattern(20, 1)}, c{FrameKind::Ping, {}};
  const Bytes wire = concat({encode_frame(a), encode_frame(b), encode_frame(c)});
  const std::size_t cut = encode_frame(a).size() + 7;
  ch.write_inbound(Bytes(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(cut)));
  EXPECT_EQ(ch.inbound_count(), 1u);
  ch.write_inbound(Bytes(wire.begin() + static_cast<std::ptrdiff_t>(cut), wire.end()));
  ASSERT_EQ(ch.inbound_count(), 3u);
  EXPECT_TRUE(*ch.read_inbound<Frame>() == a);
  EXPECT_TRUE(*ch.read_inbound<Frame>() == b);
  EXPECT_TRUE(*ch.read_inbound<Frame>() == c);
}

TEST(FrameCodec, DecoderPassesOtherMessagesThrough) {
  EmbeddedChannel ch({{"decoder", decoder()}});
  ch.write_inbound(std::string("not bytes"));
  EXPECT_EQ(ch.read_inbound<std::string>(), std::string("not bytes"));
}

TEST(FrameCodec, OversizeLengthClosesChannelNamingTheLimit) {
  EmbeddedChannel ch({{"decoder", decoder(1024)}});
  ch.write_inbound(header(1025));  // rejected on the header alone, before any body
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
  EXPECT_THROW(ch.check_exception(), FrameError);
  ASSERT_EQ(ch.ledger().entries().size(), 1u);
  const std::string& detail = ch.ledger().entries()[0].detail;
  EXPECT_NE(detail.find("1025"), std::string::npos) << detail;
  EXPECT_NE(detail.find("max_frame_length 1024"), std::string::npos) << detail;
  EXPECT_EQ(ch.inbound_count(), 0u);
}

TEST(FrameCodec, HugeLengthFieldIsRejectedNotAllocated) {
  EmbeddedChannel ch({{"decoder", decoder()}});
  ch.write_inbound(concat({header(0xffffffffu), Bytes{0}}));
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
  EXPECT_NE(ch.ledger().entries()[0].detail.find("4294967295"), std::string::npos);
}

TEST(FrameCodec, ZeroLengthClosesChannel) {
  EmbeddedChannel ch({{"decoder", decoder()}});
  ch.write_inbound(header(0));
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
  const std::string& detail = ch.ledger().entries()[0].detail;
  EXPECT_NE(detail.find("frame length 0"), std::string::npos) << detail;
}

TEST(FrameCodec, UnknownKindClosesChannel) {
  EmbeddedChannel ch({{"decoder", decoder()}});
  ch.write_inbound(concat({header(3), Bytes{7, 1, 2}}));
  EXPECT_FALSE(ch.is_active());
  EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
  const std::string& detail = ch.ledger().entries()[0].detail;
  EXPECT_NE(detail.find("unknown frame kind byte 7"), std::string::npos) << detail;
  EXPECT_EQ(ch.inbound_count(), 0u);
}

TEST(FrameCodec, UnknownKindIsRejectedBeforeTheBodyArrives) {
  EmbeddedChannel ch({{"decoder", decoder()}});
  ch.write_inbound(concat({header(1000), Bytes{0xff}}));
  EXPECT_FALSE(ch.is_active());
  EXPECT_NE(ch.ledger().entries()[0].detail.find("255"), std::string::npos);
}

TEST(FrameCodec, MaxFrameLengthBoundary) {
  // The limit applies to L (kind byte + payload): L == max passes, max + 1 fails.
  constexpr std::size_t kMax = 64;
  {
    EmbeddedChannel ch({{"decoder", decoder(kMax)}});
    const Frame f{FrameKind::Data, pattern(kMax - 1)};
    ch.write_inbound(encode_frame(f));
    EXPECT_TRUE(ch.is_active());
    auto got = ch.read_inbound<Frame>();
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(*got == f);
  }
  {
    EmbeddedChannel ch({{"decoder", decoder(kMax)}});
    ch.write_inbound(encode_frame(Frame{FrameKind::Data, pattern(kMax)}));
    EXPECT_FALSE(ch.is_active());
    EXPECT_EQ(ch.channel().close_reason(), CloseReason::Exception);
    EXPECT_EQ(ch.inbound_count(), 0u);
  }
}

TEST(FrameCodec, FramesBeforeABadOneAreDelivered) {
  auto sw = std::make_shared<Swallower>();
  EmbeddedChannel ch({{"decoder", decoder()}, {"swallower", sw}});
  const Frame good{FrameKind::Data, {5}};
  ch.write_inbound(concat({encode_frame(good), header(0)}));
  ASSERT_EQ(ch.inbound_count(), 1u);
  EXPECT_TRUE(*ch.read_inbound<Frame>() == good);
  ASSERT_EQ(sw->errors.size(), 1u);
}

TEST(FrameCodec, AfterAnErrorFurtherInputIsDiscarded) {
  auto sw = std::make_shared<Swallower>();
  auto dec = decoder(16);
  EmbeddedChannel ch({{"decoder", dec}, {"swallower", sw}});
  ch.write_inbound(header(17));
  ASSERT_EQ(sw->errors.size(), 1u);
  EXPECT_NE(what(sw->errors[0]).find("exceeds max_frame_length 16"), std::string::npos);
  EXPECT_TRUE(ch.is_active()) << "the exception was consumed";
  EXPECT_TRUE(dec->failed());

  ch.write_inbound(encode_frame(Frame{FrameKind::Data, {1}}));  // would be valid on its own
  EXPECT_EQ(ch.inbound_count(), 0u);
  EXPECT_EQ(sw->errors.size(), 1u) << "no second error: input is dropped, not decoded";
  ch.write_inbound(std::string("still passes"));
  EXPECT_EQ(ch.read_inbound<std::string>(), std::string("still passes"));
}

TEST(FrameCodec, RemovingDecoderHandsOnBufferedBytes) {
  EmbeddedChannel ch({{"decoder", decoder()}});
  ch.write_inbound(Bytes{0, 0, 0});  // partial header
  EXPECT_EQ(ch.inbound_count(), 0u);
  EXPECT_TRUE(ch.pipeline().remove("decoder"));
  EXPECT_EQ(ch.read_inbound<Bytes>(), (Bytes{0, 0, 0}));
}

}  // namespace
