#include "connfail/netcore/fault_injector.h"

#include <new>

namespace netcore {

void FaultInjector::throw_with_probability(std::string handler, PipelineEvent event, double p) {
  Rule r;
  r.probability = p;
  std::lock_guard<std::mutex> lock(mu_);
  rules_[std::move(handler)][event] = r;
  has_rules_ = true;
}

void FaultInjector::throw_on_nth(std::string handler, PipelineEvent event, std::uint64_t n) {
  Rule r;
  r.nth = n;
  std::lock_guard<std::mutex> lock(mu_);
  rules_[std::move(handler)][event] = r;
  has_rules_ = true;
}

void FaultInjector::fail_registration_every(std::uint64_t k) {
  std::lock_guard<std::mutex> lock(mu_);
  reg_every_ = k;
  reg_since_ = 0;
}
void FaultInjector::fail_registration_with_probability(double p) {
  std::lock_guard<std::mutex> lock(mu_);
  reg_probability_ = p;
}

void FaultInjector::before_handler(const std::string& handler, PipelineEvent event) {
  // Without a rule (the common case) no lock is taken.
  if (!has_rules_.load(std::memory_order_acquire)) return;
  std::unique_lock<std::mutex> lock(mu_);
  // By name first: no (name, event) key is built, so a lookup copies no
  // string (bench/pipeline_bench.cc measures it).
  auto by_name = rules_.find(handler);
  if (by_name == rules_.end()) return;
  auto it = by_name->second.find(event);
  if (it == by_name->second.end()) return;
  Rule& r = it->second;
  ++r.seen;
  RuleStats& st = stats_[handler][event];
  ++st.seen;
  bool fire = false;
  if (r.nth != 0) {
    fire = r.seen == r.nth;
  } else if (r.probability > 0.0) {
    fire = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < r.probability;
  }
  if (fire) {
    ++handler_faults_;
    ++st.fired;
    lock.unlock();
    throw InjectedFault("injected fault in handler '" + handler + "' on " + to_string(event));
  }
}

FaultInjector::RuleStats FaultInjector::rule_stats(const std::string& handler, PipelineEvent event) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto h = stats_.find(handler);
  if (h == stats_.end()) return {};
  auto e = h->second.find(event);
  return e == h->second.end() ? RuleStats{} : e->second;
}

void FaultInjector::before_child_registration() {
  std::unique_lock<std::mutex> lock(mu_);
  ++registrations_;
  ++reg_since_;
  bool fire = false;
  if (reg_every_ != 0 && reg_since_ % reg_every_ == 0) fire = true;
  if (!fire && reg_probability_ > 0.0)
    fire = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < reg_probability_;
  if (fire) {
    ++registration_failures_;
    lock.unlock();
    throw std::bad_alloc();
  }
}

std::uint64_t FaultInjector::handler_faults_injected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handler_faults_;
}

std::uint64_t FaultInjector::registration_failures_injected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return registration_failures_;
}

}  // namespace netcore
