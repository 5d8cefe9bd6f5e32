#include "connfail/netcore/heartbeat.h"

#include <stdexcept>
#include <utility>

#include "connfail/netcore/channel.h"

namespace netcore {

HeartbeatSender::HeartbeatSender(Duration interval) : interval_(interval) {
  // A zero interval would reschedule itself forever at the same instant.
  if (interval_ <= Duration::zero())
    throw std::invalid_argument("HeartbeatSender: interval must be positive");
}

void HeartbeatSender::handler_added(Context& ctx) {
  if (ctx.channel().is_active()) start(ctx);
}

void HeartbeatSender::handler_removed(Context& ctx) { stop(ctx); }

void HeartbeatSender::channel_active(Context& ctx) {
  start(ctx);
  ctx.fire_channel_active();
}

void HeartbeatSender::channel_inactive(Context& ctx) {
  stop(ctx);
  ctx.fire_channel_inactive();
}

void HeartbeatSender::channel_read(Context& ctx, std::any msg) {
  if (const Frame* f = std::any_cast<Frame>(&msg); f && f->kind == FrameKind::Pong) {
    ++pongs_received_;
    return;
  }
  ctx.fire_channel_read(std::move(msg));
}

void HeartbeatSender::start(Context& ctx) {
  if (timer_ != 0 || ctx.removed()) return;  // added to an active channel, then active fired
  // The context outlives the timer: stop() cancels it on inactive and on
  // removal, and the channel lives until both have run.
  Context* c = &ctx;
  timer_ = ctx.loop().schedule(interval_, [this, c] { on_timer(*c); });
}

void HeartbeatSender::stop(Context& ctx) {
  if (timer_ == 0) return;
  ctx.loop().cancel(timer_);
  timer_ = 0;
}

void HeartbeatSender::on_timer(Context& ctx) {
  timer_ = 0;
  if (!ctx.channel().is_active() || ctx.removed()) return;
  ++pings_sent_;
  ctx.write_and_flush(Frame{FrameKind::Ping, {}});
  // The write may have closed the channel (or removed us) synchronously.
  if (ctx.channel().is_active()) start(ctx);
}

void HeartbeatResponder::channel_read(Context& ctx, std::any msg) {
  if (Frame* f = std::any_cast<Frame>(&msg); f && f->kind == FrameKind::Ping) {
    ++pings_answered_;
    ctx.write_and_flush(Frame{FrameKind::Pong, std::move(f->payload)});
    return;
  }
  ctx.fire_channel_read(std::move(msg));
}

}  // namespace netcore
