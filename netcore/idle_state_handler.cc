#include "connfail/netcore/idle_state_handler.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "connfail/netcore/channel.h"

namespace netcore {

const char* to_string(IdleState s) {
  switch (s) {
    case IdleState::ReaderIdle: return "reader-idle";
    case IdleState::WriterIdle: return "writer-idle";
    case IdleState::AllIdle: return "all-idle";
  }
  return "unknown";
}

namespace {
Duration normalize(Duration d) {
  if (d <= Duration::zero()) return Duration::zero();
  return std::max<Duration>(d, 1ms);
}
}  // namespace

// ---------------------------------------------------------------------------
// IdleStateHandler

IdleStateHandler::IdleStateHandler(IdleConfig cfg) : cfg_(cfg) {
  cfg_.reader = normalize(cfg_.reader);
  cfg_.writer = normalize(cfg_.writer);
  cfg_.all = normalize(cfg_.all);
}

std::size_t IdleStateHandler::scheduled_timers() const {
  return (reader_timer_ != 0 ? 1u : 0u) + (writer_timer_ != 0 ? 1u : 0u) +
         (all_timer_ != 0 ? 1u : 0u);
}

void IdleStateHandler::handler_added(Context& ctx) {
  // Netty rejects a second add of a non-@Sharable handler: its timestamps
  // belong to one channel, and sharing them is a known user mistake.
  if (ctx_ != nullptr)
    throw std::logic_error("IdleStateHandler '" + ctx.name() +
                           "' is not sharable: it is already (or was) in a pipeline");
  ctx_ = &ctx;
  if (ctx.channel().is_active()) initialize(ctx);
}

void IdleStateHandler::handler_removed(Context& ctx) {
  if (mine(ctx)) destroy();
}

void IdleStateHandler::channel_active(Context& ctx) {
  if (mine(ctx)) initialize(ctx);
  ctx.fire_channel_active();
}

void IdleStateHandler::channel_inactive(Context& ctx) {
  if (mine(ctx)) destroy();
  ctx.fire_channel_inactive();
}

void IdleStateHandler::channel_read(Context& ctx, std::any msg) {
  if (mine(ctx) && (cfg_.reader > Duration::zero() || cfg_.all > Duration::zero())) {
    reading_ = true;
    first_reader_ = true;
    writes_->first_all = true;
  }
  ctx.fire_channel_read(std::move(msg));
}

void IdleStateHandler::channel_read_complete(Context& ctx) {
  if (mine(ctx) && reading_) {
    last_read_ = ctx.loop().now();
    reading_ = false;
  }
  ctx.fire_channel_read_complete();
}

void IdleStateHandler::write(Context& ctx, std::any msg, WriteCallback done) {
  if (!mine(ctx) || (cfg_.writer <= Duration::zero() && cfg_.all <= Duration::zero())) {
    ctx.write(std::move(msg), std::move(done));
    return;
  }
  // Stamp on completion, success or failure: a write that never completes
  // (slow consumer) is what writer-idle is meant to notice.
  ctx.write(std::move(msg), [stamp = std::weak_ptr<WriteStamp>(writes_), loop = &ctx.loop(),
                             done = std::move(done)](SocketError e) {
    if (auto s = stamp.lock()) {
      s->last_write = loop->now();
      ++s->completions;
      s->first_writer = true;
      s->first_all = true;
    }
    if (done) done(e);
  });
}

void IdleStateHandler::initialize(Context& ctx) {
  if (phase_ != Phase::Fresh) return;  // once; a destroyed handler stays destroyed
  phase_ = Phase::Running;
  const TimePoint now = ctx.loop().now();
  last_read_ = now;
  writes_->last_write = now;
  last_pending_bytes_ = ctx.channel().pending_outbound_bytes();
  last_checked_completions_ = writes_->completions;
  if (cfg_.reader > Duration::zero()) arm(reader_timer_, cfg_.reader, &IdleStateHandler::reader_task);
  if (cfg_.writer > Duration::zero()) arm(writer_timer_, cfg_.writer, &IdleStateHandler::writer_task);
  if (cfg_.all > Duration::zero()) arm(all_timer_, cfg_.all, &IdleStateHandler::all_task);
}

void IdleStateHandler::destroy() {
  if (phase_ == Phase::Running) {
    EventLoop& loop = ctx_->loop();
    for (TimerId* t : {&reader_timer_, &writer_timer_, &all_timer_}) {
      if (*t != 0) loop.cancel(*t);
      *t = 0;
    }
  }
  phase_ = Phase::Destroyed;
}

void IdleStateHandler::arm(TimerId& slot, Duration delay, void (IdleStateHandler::*task)()) {
  // Cancelled in destroy(), which runs before the pipeline lets go of us.
  slot = ctx_->loop().schedule(delay, [this, task] { (this->*task)(); });
}

void IdleStateHandler::reader_task() {
  reader_timer_ = 0;  // this timer has run
  if (phase_ != Phase::Running || !ctx_->channel().is_active()) return;
  Duration next = cfg_.reader;
  // A read without its read-complete yet counts as not idle.
  if (!reading_) next -= ctx_->loop().now() - last_read_;
  if (next > Duration::zero()) {
    arm(reader_timer_, next, &IdleStateHandler::reader_task);
    return;
  }
  arm(reader_timer_, cfg_.reader, &IdleStateHandler::reader_task);
  const bool first = first_reader_;
  first_reader_ = false;
  fire(IdleState::ReaderIdle, first);
}

void IdleStateHandler::writer_task() {
  writer_timer_ = 0;
  if (phase_ != Phase::Running || !ctx_->channel().is_active()) return;
  const Duration next = cfg_.writer - (ctx_->loop().now() - writes_->last_write);
  if (next > Duration::zero()) {
    arm(writer_timer_, next, &IdleStateHandler::writer_task);
    return;
  }
  arm(writer_timer_, cfg_.writer, &IdleStateHandler::writer_task);
  const bool first = writes_->first_writer;
  writes_->first_writer = false;
  if (output_changed(first)) return;
  fire(IdleState::WriterIdle, first);
}

void IdleStateHandler::all_task() {
  all_timer_ = 0;
  if (phase_ != Phase::Running || !ctx_->channel().is_active()) return;
  Duration next = cfg_.all;
  if (!reading_) next -= ctx_->loop().now() - std::max(last_read_, writes_->last_write);
  if (next > Duration::zero()) {
    arm(all_timer_, next, &IdleStateHandler::all_task);
    return;
  }
  arm(all_timer_, cfg_.all, &IdleStateHandler::all_task);
  const bool first = writes_->first_all;
  writes_->first_all = false;
  if (output_changed(first)) return;
  fire(IdleState::AllIdle, first);
}

// Netty's hasOutputChanged: records what it observes even on the first event
// (which always fires), so later checks compare against the latest state.
bool IdleStateHandler::output_changed(bool first) {
  if (!cfg_.observe_output) return false;
  bool changed = false;
  if (writes_->completions != last_checked_completions_) {
    last_checked_completions_ = writes_->completions;
    changed = true;
  }
  const std::size_t pending = ctx_->channel().pending_outbound_bytes();
  if (pending != last_pending_bytes_) {
    last_pending_bytes_ = pending;
    changed = true;
  }
  return changed && !first;
}

void IdleStateHandler::fire(IdleState s, bool first) {
  ctx_->fire_user_event(IdleStateEvent{s, first});
}

// ---------------------------------------------------------------------------
// IdleCloser

IdleCloser::IdleCloser()
    : kinds_{IdleState::ReaderIdle, IdleState::WriterIdle, IdleState::AllIdle} {}

IdleCloser::IdleCloser(std::vector<IdleState> kinds) : kinds_(std::move(kinds)) {}

void IdleCloser::user_event(Context& ctx, std::any event) {
  if (const auto* e = std::any_cast<IdleStateEvent>(&event)) {
    // Close first so the reason is Idle even if a later handler closes too;
    // inactive is posted, so handlers downstream still see the event.
    if (std::find(kinds_.begin(), kinds_.end(), e->state) != kinds_.end())
      ctx.close(CloseReason::Idle);
  }
  ctx.fire_user_event(std::move(event));
}

}  // namespace netcore
