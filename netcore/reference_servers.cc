#include "connfail/netcore/reference_servers.h"

#include "connfail/netcore/frame_codec.h"

namespace netcore {

void FrameEcho::channel_read(Context& ctx, std::any msg) {
  if (const Frame* f = std::any_cast<Frame>(&msg); f && f->kind == FrameKind::Data) {
    ctx.write_and_flush(std::move(msg));
    return;
  }
  ctx.fire_channel_read(std::move(msg));
}

PipelineInit echo_server() {
  return [](Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<EchoHandler>()); };
}

PipelineInit heartbeat_server(Duration reader_idle) {
  return [reader_idle](Channel& ch) {
    IdleConfig idle;
    idle.reader = reader_idle;
    ch.pipeline()
        .add_last("idle", std::make_shared<IdleStateHandler>(idle))
        .add_last("idle-closer", std::make_shared<IdleCloser>())
        .add_last("frame-decoder", std::make_shared<FrameDecoder>())
        .add_last("frame-encoder", std::make_shared<FrameEncoder>())
        .add_last("heartbeat", std::make_shared<HeartbeatResponder>())
        .add_last("echo", std::make_shared<FrameEcho>());
  };
}

PipelineInit heartbeat_client(Duration interval, Duration reader_idle,
                              std::shared_ptr<HeartbeatSender>* sender_out) {
  return [interval, reader_idle, sender_out](Channel& ch) {
    IdleConfig idle;
    idle.reader = reader_idle;
    auto sender = std::make_shared<HeartbeatSender>(interval);
    if (sender_out) *sender_out = sender;
    ch.pipeline()
        .add_last("idle", std::make_shared<IdleStateHandler>(idle))
        .add_last("idle-closer", std::make_shared<IdleCloser>())
        .add_last("frame-decoder", std::make_shared<FrameDecoder>())
        .add_last("frame-encoder", std::make_shared<FrameEncoder>())
        .add_last("heartbeat", sender);
  };
}

}  // namespace netcore
