#include "connfail/scenarios/model.h"

#include "connfail/scenarios/fault_kinds.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iterator>

namespace connfail::scenarios {

const char* to_string(TransportKind t) {
  switch (t) {
    case TransportKind::Sim: return "sim";
    case TransportKind::Asio: return "asio";
  }
  return "?";
}

const char* to_string(CloseStyle c) {
  switch (c) {
    case CloseStyle::None: return "none";
    case CloseStyle::Fin: return "fin";
    case CloseStyle::Rst: return "rst";
    case CloseStyle::Vanish: return "vanish";
  }
  return "?";
}

const char* to_string(FaultKind k) { return fault_kind_info(k).name; }

const char* to_string(Direction d) {
  switch (d) {
    case Direction::Both: return "both";
    case Direction::ToServer: return "to-server";
    case Direction::FromServer: return "from-server";
  }
  return "?";
}

namespace {
struct Unit {
  const char* suffix;
  std::int64_t ns;
};
// Longest suffixes first so "ms" is not read as "m" + "s".
constexpr Unit kUnits[] = {{"us", 1000}, {"ms", 1000000}, {"s", 1000000000LL},
                           {"m", 60LL * 1000000000LL}, {"h", 3600LL * 1000000000LL}};
}  // namespace

std::optional<Duration> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number = text.substr(0, i);
  const std::string unit = text.substr(i);
  if (number.empty() || number == "." || number.find('.') != number.rfind('.')) return std::nullopt;
  const Unit* u = nullptr;
  for (const auto& cand : kUnits)
    if (unit == cand.suffix) u = &cand;
  if (u == nullptr) return std::nullopt;
  // Exact decimal arithmetic (a double is off by a few nanoseconds past
  // 2^53 ns, and format_duration's spelling must read back to the same
  // value): digits * unit / 10^decimals, rounded to the nearest nanosecond.
  // More than 24 digits is never a meaningful duration.
  const std::size_t point = number.find('.');
  const std::string digits =
      point == std::string::npos ? number : number.substr(0, point) + number.substr(point + 1);
  const std::size_t decimals = point == std::string::npos ? 0 : number.size() - point - 1;
  if (digits.size() > 24) return std::nullopt;
  __extension__ typedef unsigned __int128 u128;  // GCC and clang
  u128 mantissa = 0, scale = 1;
  for (char ch : digits) mantissa = mantissa * 10 + static_cast<unsigned>(ch - '0');
  for (std::size_t k = 0; k < decimals; ++k) scale *= 10;
  const u128 ns = (mantissa * static_cast<u128>(u->ns) + scale / 2) / scale;
  if (ns > static_cast<u128>(9000000000000000000ULL)) return std::nullopt;
  return Duration(static_cast<std::int64_t>(ns));
}

std::string format_duration(Duration d) {
  // The largest unit that spells `d` as an integer ("2m", "1500ms"); below a
  // microsecond, a decimal number of microseconds ("1.5us", "0.001us"), which
  // parse_duration reads back exactly. Negative values get a leading '-'
  // (parse_duration does not accept them).
  const std::int64_t v = d.count();
  if (v == 0) return "0s";
  // Magnitude in unsigned arithmetic so that the most negative value works.
  const std::uint64_t ns = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  const std::string sign = v < 0 ? "-" : "";
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    const auto unit = static_cast<std::uint64_t>(it->ns);
    if (ns % unit == 0) return sign + std::to_string(ns / unit) + it->suffix;
  }
  std::string frac = std::to_string(ns % 1000);
  frac.insert(0, 3 - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return sign + std::to_string(ns / 1000) + "." + frac + "us";
}

std::optional<double> parse_data_rate(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  const std::string number = s.substr(0, i);
  const std::string unit = s.substr(i);
  if (number.empty() || number.size() > 32 || number.find('.') != number.rfind('.') || number == ".")
    return std::nullopt;
  // Exactly the units ns-3 3.37's DataRate parser knows (data-rate.cc):
  // anything else aborts the simulator at run time.
  struct Unit {
    const char* name;
    double bits;
  };
  static const Unit units[] = {
      {"bps", 1},       {"b/s", 1},        {"Bps", 8},        {"B/s", 8},          {"kbps", 1e3},     {"kb/s", 1e3},
      {"Kbps", 1e3},    {"Kb/s", 1e3},     {"kBps", 8e3},     {"kB/s", 8e3},       {"KBps", 8e3},     {"KB/s", 8e3},
      {"Kib/s", 1024.0}, {"KiB/s", 8192.0}, {"Mbps", 1e6},     {"Mb/s", 1e6},       {"MBps", 8e6},     {"MB/s", 8e6},
      {"Mib/s", 1048576.0}, {"MiB/s", 8388608.0}, {"Gbps", 1e9}, {"Gb/s", 1e9},     {"GBps", 8e9},     {"GB/s", 8e9},
      {"Gib/s", 1073741824.0}, {"GiB/s", 8589934592.0}};
  for (const auto& u : units) {
    if (unit != u.name) continue;
    const double bits = std::strtod(number.c_str(), nullptr) * u.bits;
    // ns-3 keeps the rate in a 64-bit integer of bits per second: nothing
    // below one bit per second, nothing absurd above.
    if (!(bits >= 1.0) || bits > 1e12) return std::nullopt;
    return bits;
  }
  return std::nullopt;
}

}  // namespace connfail::scenarios
