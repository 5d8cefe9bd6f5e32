// The sim's TCP profile: which stack the simulated TCP imitates, and the
// Linux sysctls (net.ipv4.*) a scenario may override. No ns-3 type here:
// the scenario validator and the docs use the same table.
//
//   linux (the default): Linux's timers and give-up rules, from the sysctl
//          values below (defaults: Linux's own). See docs/sim.md.
//   ns3:   ns-3 3.37's TcpSocketBase as it comes (minimum RTO 1 s, RTO cap
//          60 s, 6 data retries, 6 SYNs, TIME_WAIT 240 s, no FIN_WAIT_2
//          timeout, no keepalive, no user timeout), to show what the Linux
//          profile changes. It takes no sysctl.
//
// Keepalive and TCP_USER_TIMEOUT are per socket (netcore::TcpOptions);
// under the linux profile only, with the keepalive sysctls as defaults.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace connfail::sim {

enum class TcpProfileKind { Linux, Ns3 };
const char* to_string(TcpProfileKind k);
std::optional<TcpProfileKind> tcp_profile_from_string(const std::string& s);

/// One sysctl the Linux profile models: its name as `sysctl` spells it, its
/// Linux default, the range accepted and what it sets.
struct TcpSysctl {
  const char* name;
  std::int64_t def;
  std::int64_t min;
  std::int64_t max;
  const char* unit;  // "s", "ms", "us" or "count"
  const char* what;
};
/// Every sysctl a scenario may set (tcp.sysctl), in documentation order.
const std::vector<TcpSysctl>& tcp_sysctls();
/// nullptr for a name not in tcp_sysctls().
const TcpSysctl* find_tcp_sysctl(const std::string& name);

struct TcpProfile {
  TcpProfileKind kind = TcpProfileKind::Linux;
  /// Overrides by sysctl name (validated: known names, values in range).
  std::map<std::string, std::int64_t> sysctl;
  /// The value in effect: the override, else Linux's default.
  std::int64_t get(const std::string& name) const;
  bool operator==(const TcpProfile& o) const { return kind == o.kind && sysctl == o.sysctl; }
};

/// Linux's give-up budget for data retransmissions (tcp_model_timeout in
/// net/ipv4/tcp_timer.c): the time `boundary` (tcp_retries2) back-offs take
/// from `rto_base` doubling up to `rto_max`, in microseconds. 15 retries,
/// 200 ms, 120 s: 924.6 s.
std::int64_t linux_retransmit_budget_us(int boundary, std::int64_t rto_base_us, std::int64_t rto_max_us);

}  // namespace connfail::sim
