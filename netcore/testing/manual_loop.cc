#include "connfail/netcore/testing/manual_loop.h"

namespace netcore::testing {

TimerId ManualLoop::schedule(Duration delay, std::function<void()> fn) {
  if (delay < Duration::zero()) delay = Duration::zero();
  TimerId id = next_id_++;
  timers_.emplace(std::make_pair(now_ + delay, id), std::move(fn));
  deadline_of_[id] = now_ + delay;
  return id;
}

bool ManualLoop::cancel(TimerId id) {
  auto it = deadline_of_.find(id);
  if (it == deadline_of_.end()) return false;
  timers_.erase({it->second, id});
  deadline_of_.erase(it);
  return true;
}

void ManualLoop::run_pending() {
  while (!posted_.empty()) {
    auto fn = std::move(posted_.front());
    posted_.pop_front();
    fn();
  }
}

std::optional<TimePoint> ManualLoop::next_deadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

void ManualLoop::advance(Duration d) {
  const TimePoint end = now_ + d;
  run_pending();
  while (!timers_.empty() && timers_.begin()->first.first <= end) {
    auto it = timers_.begin();
    now_ = it->first.first;
    auto fn = std::move(it->second);
    deadline_of_.erase(it->first.second);
    timers_.erase(it);
    fn();
    run_pending();
  }
  now_ = end;
}

bool ManualLoop::run_until(const std::function<bool()>& done, Duration limit) {
  const TimePoint end = now_ + limit;
  run_pending();
  while (!done()) {
    auto next = next_deadline();
    if (!next || *next > end) {
      now_ = end;
      break;
    }
    advance(*next - now_);
  }
  return done();
}

}  // namespace netcore::testing
