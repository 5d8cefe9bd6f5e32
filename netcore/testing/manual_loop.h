// ManualLoop: an EventLoop whose clock moves only when told to (Netty's
// EmbeddedEventLoop with a frozen clock). Used by EmbeddedChannel and the
// handler unit tests.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <utility>

#include "connfail/netcore/transport.h"

namespace netcore::testing {

class ManualLoop final : public EventLoop {
 public:
  TimePoint now() const override { return now_; }
  TimerId schedule(Duration delay, std::function<void()> fn) override;
  bool cancel(TimerId id) override;
  void post(std::function<void()> fn) override { posted_.push_back(std::move(fn)); }
  std::size_t pending_timers() const override { return timers_.size(); }
  bool run_until(const std::function<bool()>& done, Duration limit) override;

  /// Runs posted tasks (and tasks they post) until none is left.
  void run_pending();
  /// Moves the clock forward by `d`, running every timer that falls due (in
  /// deadline order, each at its own time) and the tasks they post.
  void advance(Duration d);
  /// Deadline of the earliest pending timer, if any.
  std::optional<TimePoint> next_deadline() const;

 private:
  TimePoint now_{0};
  TimerId next_id_ = 1;
  std::deque<std::function<void()>> posted_;
  // (deadline, id) -> task; ids grow, so equal deadlines run in order.
  std::map<std::pair<TimePoint, TimerId>, std::function<void()>> timers_;
  std::map<TimerId, TimePoint> deadline_of_;
};

}  // namespace netcore::testing
