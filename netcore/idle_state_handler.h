// IdleStateHandler: Netty 4.1's idle detection (handler/timeout), with time
// taken from the channel's EventLoop so it runs the same on Asio, ns-3 and
// the manual test clock.
//
// Reads and writes only stamp times; at most one timer per enabled kind
// re-arms itself lazily for the remaining idle time (no timer work per
// message). On idle it fires an IdleStateEvent as a user event: `first` is
// true for the first event of an idle stretch, false for the repeats every
// period while the channel stays idle.
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "connfail/netcore/handler.h"
#include "connfail/netcore/pipeline.h"

namespace netcore {

enum class IdleState { ReaderIdle, WriterIdle, AllIdle };
const char* to_string(IdleState s);

struct IdleStateEvent {
  IdleState state;
  bool first;
};

struct IdleConfig {
  Duration reader = Duration::zero();
  Duration writer = Duration::zero();
  Duration all = Duration::zero();
  /// Writer/all idle: after the first event of a stretch, suppress further
  /// events while the outbound buffer shows progress (slow consumers).
  bool observe_output = false;
};

/// Not sharable: one instance per channel (adding it a second time throws).
class IdleStateHandler : public Handler {
 public:
  /// Values <= 0 disable that kind; positive values below 1 ms become 1 ms.
  explicit IdleStateHandler(IdleConfig cfg);
  ~IdleStateHandler() override = default;

  const IdleConfig& config() const { return cfg_; }
  /// Timers this handler currently has scheduled (0..3).
  std::size_t scheduled_timers() const;

  void handler_added(Context& ctx) override;
  void handler_removed(Context& ctx) override;
  void channel_active(Context& ctx) override;
  void channel_inactive(Context& ctx) override;
  void channel_read(Context& ctx, std::any msg) override;
  void channel_read_complete(Context& ctx) override;
  void write(Context& ctx, std::any msg, WriteCallback done) override;

 private:
  enum class Phase { Fresh, Running, Destroyed };

  // Write completions can arrive after the handler is gone (the transport
  // holds the callback); they stamp through this block only while it lives.
  // first_all lives here because both reads and writes reset it.
  struct WriteStamp {
    TimePoint last_write{0};
    std::uint64_t completions = 0;  // detects completions at an equal time
    bool first_writer = true;
    bool first_all = true;
  };

  bool mine(const Context& ctx) const { return ctx_ == &ctx; }
  void initialize(Context& ctx);
  void destroy();
  void arm(TimerId& slot, Duration delay, void (IdleStateHandler::*task)());
  void reader_task();
  void writer_task();
  void all_task();
  bool output_changed(bool first);
  void fire(IdleState s, bool first);

  IdleConfig cfg_;
  Context* ctx_ = nullptr;
  Phase phase_ = Phase::Fresh;
  TimerId reader_timer_ = 0;
  TimerId writer_timer_ = 0;
  TimerId all_timer_ = 0;
  TimePoint last_read_{0};
  bool reading_ = false;
  bool first_reader_ = true;
  std::shared_ptr<WriteStamp> writes_ = std::make_shared<WriteStamp>();
  // observe_output state (Netty's hasOutputChanged).
  std::size_t last_pending_bytes_ = 0;
  std::uint64_t last_checked_completions_ = 0;
};

/// Closes the channel with CloseReason::Idle on an IdleStateEvent of a
/// selected kind (default: every kind), and passes the event on.
class IdleCloser : public Handler {
 public:
  IdleCloser();
  explicit IdleCloser(std::vector<IdleState> kinds);
  void user_event(Context& ctx, std::any event) override;

 private:
  std::vector<IdleState> kinds_;
};

}  // namespace netcore
