// The EventLoop seam on the ns-3 scheduler: time is simulated time.
// Internal to sim/.
#pragma once

#include <ns3/event-id.h>

#include <functional>
#include <map>

#include "connfail/netcore/transport.h"

namespace connfail::sim {

class Ns3Loop final : public netcore::EventLoop {
 public:
  ~Ns3Loop() override;
  netcore::TimePoint now() const override;
  netcore::TimerId schedule(netcore::Duration delay, std::function<void()> fn) override;
  bool cancel(netcore::TimerId id) override;
  void post(std::function<void()> fn) override;
  std::size_t pending_timers() const override { return timers_.size(); }
  /// `limit` is simulated time.
  bool run_until(const std::function<bool()>& done, netcore::Duration limit) override;

  /// Every ns-3 callback into netcore goes through here, so run_until can
  /// stop the simulator as soon as its condition holds.
  template <class F>
  void dispatch(F&& f) {
    f();
    check_stop();
  }
  void check_stop();

 private:
  void fire(netcore::TimerId id);
  struct Timer {
    ns3::EventId event;
    std::function<void()> fn;
  };
  netcore::TimerId next_id_ = 1;
  std::map<netcore::TimerId, Timer> timers_;
  const std::function<bool()>* stop_when_ = nullptr;
};

}  // namespace connfail::sim
