// libFuzzer target: the report reader `connfail diff` uses, on any bytes
// (a report.json from anywhere). A report it reads must write back to JSON
// it reads again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "connfail/reports/report_reader.h"
#include "connfail/reports/report_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // What `connfail diff` reads: the streamed reader...
  connfail::scenarios::Report runs;
  if (connfail::reports::read_report_runs(text, runs, nullptr)) (void)connfail::reports::diff_reports(runs, runs);
  // ...and the full one.
  connfail::scenarios::Report r;
  if (!connfail::reports::parse_report_text(text, r, nullptr)) return 0;
  connfail::scenarios::Report again;
  std::string err;
  if (!connfail::reports::parse_report_text(connfail::reports::to_json(r).dump(), again, &err)) __builtin_trap();
  (void)connfail::reports::diff_reports(r, again);
  (void)connfail::reports::to_markdown(r);
  (void)connfail::reports::to_junit(r);
  return 0;
}
