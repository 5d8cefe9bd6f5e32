#include "connfail/scenarios/model.h"

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

const char* to_string(FaultKind k) {
  switch (k) {
    case FaultKind::Loss: return "loss";
    case FaultKind::BurstLoss: return "burst-loss";
    case FaultKind::GilbertElliott: return "gilbert-elliott";
    case FaultKind::Jitter: return "jitter";
    case FaultKind::Latency: return "latency";
    case FaultKind::Bandwidth: return "bandwidth";
    case FaultKind::HalfOpen: return "half-open";
    case FaultKind::Partition: return "partition";
    case FaultKind::AcceptPause: return "accept-pause";
    case FaultKind::Rst: return "rst";
    case FaultKind::HandlerException: return "handler-exception";
    case FaultKind::AcceptFailure: return "accept-failure";
    case FaultKind::ServerVanish: return "server-vanish";
    case FaultKind::ServerRestart: return "server-restart";
  }
  return "?";
}

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
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (end == nullptr || *end != '\0' || !std::isfinite(v) || v < 0) return std::nullopt;
  const double ns = v * static_cast<double>(u->ns);
  if (ns > 9.0e18) return std::nullopt;
  return Duration(static_cast<std::int64_t>(std::llround(ns)));
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

}  // namespace connfail::scenarios
