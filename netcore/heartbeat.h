// Application-level keep-alive on top of the frame codec: the client's
// HeartbeatSender pings on a fixed interval, the server's HeartbeatResponder
// answers. Both sit after FrameDecoder/FrameEncoder in the pipeline.
#pragma once

#include <any>
#include <cstdint>

#include "connfail/netcore/frame_codec.h"
#include "connfail/netcore/handler.h"
#include "connfail/netcore/pipeline.h"
#include "connfail/netcore/transport.h"

namespace netcore {

/// Client side: sends Frame{Ping} every `interval` while the channel is active
/// (the first one `interval` after it became active), stops on inactive and on
/// removal; swallows Pong frames (counting them) and passes everything else
/// on. Writes go through ctx.write_and_flush, so the encoder sees Frames.
/// Detecting a dead peer is left to an idle handler on the read side.
class HeartbeatSender : public Handler {
 public:
  /// Throws std::invalid_argument if `interval` is not positive.
  explicit HeartbeatSender(Duration interval);

  std::uint64_t pings_sent() const { return pings_sent_; }
  std::uint64_t pongs_received() const { return pongs_received_; }
  bool timer_scheduled() const { return timer_ != 0; }
  Duration interval() const { return interval_; }

  void handler_added(Context& ctx) override;
  void handler_removed(Context& ctx) override;
  void channel_active(Context& ctx) override;
  void channel_inactive(Context& ctx) override;
  void channel_read(Context& ctx, std::any msg) override;

 private:
  void start(Context& ctx);
  void stop(Context& ctx);
  void on_timer(Context& ctx);

  Duration interval_;
  TimerId timer_ = 0;
  std::uint64_t pings_sent_ = 0;
  std::uint64_t pongs_received_ = 0;
};

/// Server side: answers every Ping with a Pong carrying the same payload and
/// does not pass the Ping on; passes every other message on.
class HeartbeatResponder : public Handler {
 public:
  std::uint64_t pings_answered() const { return pings_answered_; }

  void channel_read(Context& ctx, std::any msg) override;

 private:
  std::uint64_t pings_answered_ = 0;
};

}  // namespace netcore
