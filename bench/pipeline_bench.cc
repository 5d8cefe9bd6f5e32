// pipeline_bench: what a read costs through a netcore pipeline, and what the
// FaultInjector costs when it is off (issue: "zero cost when off").
//
// One DATA message (a 64-byte netcore::Bytes) written inbound through an
// EmbeddedChannel whose pipeline holds 8 pass-through handlers, then taken
// out at the tail. Four variants, run in the same process:
//
//   variant 0  no FaultInjector: netcore's default
//   variant 1  an injector attached with no rule (what the scenario runner
//              does for a scenario without handler faults)
//   variant 2  an injector whose only rule names a handler that is not in
//              this pipeline
//   variant 3  an injector with a rule on every handler of the pipeline,
//              probability 0 (never fires)
//
// Compare each variant with variant 0 (the baseline in the same run);
// bench/README.md has the figures and how to repeat them.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "connfail/netcore/fault_injector.h"
#include "connfail/netcore/handler.h"
#include "connfail/netcore/testing/embedded_channel.h"

namespace {

using netcore::Bytes;
using netcore::FaultInjector;
using netcore::PipelineEvent;
using netcore::testing::EmbeddedChannel;

constexpr int kHandlers = 8;

struct PassThrough final : netcore::Handler {};

std::vector<EmbeddedChannel::NamedHandler> handlers() {
  std::vector<EmbeddedChannel::NamedHandler> hs;
  for (int i = 0; i < kHandlers; ++i) hs.emplace_back("h" + std::to_string(i), std::make_shared<PassThrough>());
  return hs;
}

enum Variant : int { kNoInjector = 0, kInjectorEmpty = 1, kInjectorRuleElsewhere = 2, kInjectorRuleNever = 3 };

void BM_Read(benchmark::State& state) {
  const auto variant = static_cast<Variant>(state.range(0));
  FaultInjector faults(1);
  if (variant == kInjectorRuleElsewhere) faults.throw_with_probability("elsewhere", PipelineEvent::Read, 1.0);
  if (variant == kInjectorRuleNever)
    for (int i = 0; i < kHandlers; ++i) faults.throw_with_probability("h" + std::to_string(i), PipelineEvent::Read, 0.0);
  EmbeddedChannel ch(handlers());
  if (variant != kNoInjector) ch.pipeline().set_fault_injector(&faults);
  const Bytes msg(64, 0x5a);
  for (auto _ : state) {
    ch.write_inbound(msg);
    auto out = ch.read_inbound<Bytes>();
    benchmark::DoNotOptimize(out);
  }
  if (faults.handler_faults_injected() != 0) state.SkipWithError("a fault fired");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Read)->Arg(kNoInjector)->Arg(kInjectorEmpty)->Arg(kInjectorRuleElsewhere)->Arg(kInjectorRuleNever)->ArgName("variant");

}  // namespace

BENCHMARK_MAIN();
