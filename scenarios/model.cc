#include "scenarios/model.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace connfail::scenarios {

const char* to_string(TransportKind t) {
  switch (t) {
    case TransportKind::Sim: return "sim";
    case TransportKind::Asio: return "asio";
  }
  return "?";
}

const char* to_string(ServerKind k) {
  switch (k) {
    case ServerKind::Echo: return "echo";
    case ServerKind::Heartbeat: return "heartbeat";
    case ServerKind::Proxy: return "proxy";
  }
  return "?";
}

const char* to_string(PipelineOrder p) {
  switch (p) {
    case PipelineOrder::IdleFirst: return "idle-first";
    case PipelineOrder::IdleLast: return "idle-last";
  }
  return "?";
}

const char* to_string(ClientBehaviour b) {
  switch (b) {
    case ClientBehaviour::Echo: return "echo";
    case ClientBehaviour::Heartbeat: return "heartbeat";
    case ClientBehaviour::Silent: return "silent";
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
  const std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 1000000000LL == 0) return std::to_string(ns / 1000000000LL) + "s";
  if (ns % 1000000LL == 0) return std::to_string(ns / 1000000LL) + "ms";
  if (ns % 1000LL == 0) return std::to_string(ns / 1000LL) + "us";
  // Sub-microsecond: not expressible in the format; round to microseconds.
  return std::to_string((ns + 500) / 1000) + "us";
}

}  // namespace connfail::scenarios
