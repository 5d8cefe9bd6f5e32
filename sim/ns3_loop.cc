#include "connfail/sim/ns3_loop.h"

#include <ns3/nstime.h>
#include <ns3/simulator.h>

namespace connfail::sim {

Ns3Loop::~Ns3Loop() {
  for (auto& [id, t] : timers_) ns3::Simulator::Cancel(t.event);
}

netcore::TimePoint Ns3Loop::now() const {
  return netcore::TimePoint(ns3::Simulator::Now().GetNanoSeconds());
}

netcore::TimerId Ns3Loop::schedule(netcore::Duration delay, std::function<void()> fn) {
  if (delay < netcore::Duration::zero()) delay = netcore::Duration::zero();
  const netcore::TimerId id = next_id_++;
  Timer t;
  t.fn = std::move(fn);
  t.event = ns3::Simulator::Schedule(ns3::NanoSeconds(delay.count()), &Ns3Loop::fire, this, id);
  timers_.emplace(id, std::move(t));
  return id;
}

void Ns3Loop::fire(netcore::TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto fn = std::move(it->second.fn);
  timers_.erase(it);
  dispatch(fn);
}

bool Ns3Loop::cancel(netcore::TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return false;
  ns3::Simulator::Cancel(it->second.event);
  timers_.erase(it);
  return true;
}

void Ns3Loop::post(std::function<void()> fn) {
  ns3::Simulator::ScheduleNow([this, fn = std::move(fn)] { dispatch(fn); });
}

void Ns3Loop::check_stop() {
  if (stop_when_ && (*stop_when_)()) ns3::Simulator::Stop();
}

bool Ns3Loop::run_until(const std::function<bool()>& done, netcore::Duration limit) {
  if (done()) return true;
  const std::function<bool()>* outer = stop_when_;
  stop_when_ = &done;
  ns3::EventId stop = ns3::Simulator::Schedule(ns3::NanoSeconds(limit.count()), [] { ns3::Simulator::Stop(); });
  ns3::Simulator::Run();
  ns3::Simulator::Cancel(stop);
  stop_when_ = outer;
  return done();
}

}  // namespace connfail::sim
