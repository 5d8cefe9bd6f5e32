// libFuzzer target: the scenario parser and validator on any bytes. A
// valid scenario must also survive the writer and read back the same.
// Crashes, sanitizer reports, more than 1 s per input or 256 MiB of memory
// fail (the flags ctest passes; tests/fuzz/README.md).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "connfail/scenarios/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The YAML reader's CPU budget, well inside the 1 s per input: a file
  // yaml-cpp never returns from (a seed is one) must end as an error here,
  // not as a libFuzzer timeout. The default budget (2 s plus 6 s per MiB)
  // is for files people write; fuzz inputs are at most 64 KiB.
  connfail::scenarios::ParseLimits limits;
  limits.yaml_cpu = std::chrono::milliseconds(300);
  const auto r = connfail::scenarios::parse_scenario_text(text, "fuzz.yaml", limits);
  if (r.ok()) {
    const std::string y = connfail::scenarios::to_yaml(*r.scenario);
    const auto back = connfail::scenarios::parse_scenario_text(y, "fuzz-written.yaml", limits);
    if (!back.ok() || connfail::scenarios::to_yaml(*back.scenario) != y) __builtin_trap();
  } else {
    for (const auto& e : r.errors) (void)e.to_string();
  }
  return 0;
}
