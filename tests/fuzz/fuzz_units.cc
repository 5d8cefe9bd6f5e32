// libFuzzer target: the duration and data-rate parsers. A duration that
// parses must format back to a spelling that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "connfail/scenarios/model.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (const auto d = connfail::scenarios::parse_duration(text)) {
    const auto again = connfail::scenarios::parse_duration(connfail::scenarios::format_duration(*d));
    if (!again || *again != *d) __builtin_trap();
  }
  if (const auto r = connfail::scenarios::parse_data_rate(text))
    if (!(*r >= 1.0 && *r <= 1e12)) __builtin_trap();
  return 0;
}
