// FaultInjector: transport-agnostic faults inside the process.
//  * throw from a named handler on a named pipeline event, with a probability
//    (seeded RNG) or on the n-th occurrence;
//  * fail the allocation at child registration (std::bad_alloc), the OOM case
//    between accept() and register.
// Off by default: a pipeline or acceptor without an injector pays one null
// pointer test per event.
#pragma once

#include <cstdint>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "connfail/netcore/pipeline.h"

namespace netcore {

/// What an injected handler fault throws.
class InjectedFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thread-safe (the pipelines of several loops share one injector).
class FaultInjector {
 public:
  explicit FaultInjector(std::uint64_t seed = 1) : rng_(seed) {}

  /// Throw InjectedFault from `handler` on `event` with probability p in [0,1].
  void throw_with_probability(std::string handler, PipelineEvent event, double p);
  /// Throw InjectedFault from `handler` on the n-th occurrence (1-based) of
  /// `event` across all channels sharing this injector, and only then.
  void throw_on_nth(std::string handler, PipelineEvent event, std::uint64_t n);
  /// Fail every k-th child registration with std::bad_alloc, counting from
  /// this call (the k-th, 2k-th, ... registration after it). 0: off.
  void fail_registration_every(std::uint64_t k);
  /// Fail child registrations with probability p.
  void fail_registration_with_probability(double p);

  /// Called by the pipeline before a handler runs; may throw.
  void before_handler(const std::string& handler, PipelineEvent event);
  /// Called by the acceptor while registering a child; may throw std::bad_alloc.
  void before_child_registration();

  std::uint64_t handler_faults_injected() const;
  /// How often `handler` met `event` while a rule for it was set, and how
  /// often that threw (whatever rules came and went).
  struct RuleStats {
    std::uint64_t seen = 0;
    std::uint64_t fired = 0;
  };
  RuleStats rule_stats(const std::string& handler, PipelineEvent event) const;
  std::uint64_t registration_failures_injected() const;

 private:
  struct Rule {
    double probability = 0.0;
    std::uint64_t nth = 0;  // 0: use probability
    std::uint64_t seen = 0;
  };
  // The pipelines of every loop of an EventLoopGroup call in: one lock.
  mutable std::mutex mu_;
  std::atomic<bool> has_rules_{false};
  std::map<std::string, std::map<PipelineEvent, Rule>> rules_;  // handler -> event -> rule
  std::map<std::string, std::map<PipelineEvent, RuleStats>> stats_;
  std::uint64_t reg_every_ = 0;
  double reg_probability_ = 0.0;
  std::uint64_t registrations_ = 0;
  std::uint64_t reg_since_ = 0;  // registrations since fail_registration_every()
  std::uint64_t handler_faults_ = 0;
  std::uint64_t registration_failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace netcore
