// A deliberately broken libFuzzer target: it crashes on any input that
// starts with "boom", and its seed corpus (selftest/) holds one. The ctest
// `fuzz_harness_catches_a_crash` runs it through run_fuzz.cmake and expects
// the run to FAIL, showing that a crash in a real target fails the suite.
#include <cstddef>
#include <cstdint>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size >= 4 && std::memcmp(data, "boom", 4) == 0) __builtin_trap();
  return 0;
}
