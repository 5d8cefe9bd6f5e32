#include "connfail/sim/tcp_profile.h"

namespace connfail::sim {

const char* to_string(TcpProfileKind k) { return k == TcpProfileKind::Linux ? "linux" : "ns3"; }

std::optional<TcpProfileKind> tcp_profile_from_string(const std::string& s) {
  if (s == "linux") return TcpProfileKind::Linux;
  if (s == "ns3") return TcpProfileKind::Ns3;
  return std::nullopt;
}

const std::vector<TcpSysctl>& tcp_sysctls() {
  // Ranges: Linux's own where it has one (keepalive: MAX_TCP_KEEPIDLE,
  // MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT; tcp_rto_max_ms: 1 s to 120 s);
  // elsewhere bounded so that every back-off stays a finite simulated time.
  static const std::vector<TcpSysctl> table = {
      {"net.ipv4.tcp_retries2", 15, 1, 30, "count",
       "give-up on unacknowledged data: the time 15 back-offs from 200 ms take (924.6 s), not a count"},
      // At most 6: a 7th back-off (128 s) would pass Linux's 120 s cap,
      // which the sim's SYN timer (ns-3's) does not apply.
      {"net.ipv4.tcp_syn_retries", 6, 1, 6, "count", "SYN retransmissions before a connect fails (6: after 127 s)"},
      {"net.ipv4.tcp_synack_retries", 5, 1, 6, "count",
       "SYN-ACK retransmissions before a half-made connection is dropped (5: after 63 s)"},
      {"net.ipv4.tcp_fin_timeout", 60, 1, 86400, "s",
       "how long a FIN_WAIT_2 socket the application closed waits for the peer's FIN"},
      {"net.ipv4.tcp_keepalive_time", 7200, 1, 32767, "s", "keepalive: idle time before the first probe"},
      {"net.ipv4.tcp_keepalive_intvl", 75, 1, 32767, "s", "keepalive: time between probes"},
      {"net.ipv4.tcp_keepalive_probes", 9, 1, 127, "count", "keepalive: unanswered probes before the connection is dropped"},
      {"net.ipv4.tcp_rto_min_us", 200000, 1000, 5000000, "us", "minimum retransmission timeout (added to the RTT, as Linux does)"},
      {"net.ipv4.tcp_rto_max_ms", 120000, 1000, 120000, "ms", "maximum retransmission timeout"},
  };
  return table;
}

const TcpSysctl* find_tcp_sysctl(const std::string& name) {
  for (const auto& s : tcp_sysctls())
    if (name == s.name) return &s;
  return nullptr;
}

std::int64_t TcpProfile::get(const std::string& name) const {
  auto it = sysctl.find(name);
  if (it != sysctl.end()) return it->second;
  const TcpSysctl* s = find_tcp_sysctl(name);
  return s ? s->def : 0;
}

std::int64_t linux_retransmit_budget_us(int boundary, std::int64_t rto_base_us, std::int64_t rto_max_us) {
  int thresh = 0;  // ilog2(rto_max / rto_base)
  for (std::int64_t q = rto_max_us / rto_base_us; q > 1; q >>= 1) ++thresh;
  if (boundary <= thresh) return ((std::int64_t{2} << boundary) - 1) * rto_base_us;
  return ((std::int64_t{2} << thresh) - 1) * rto_base_us + (boundary - thresh) * rto_max_us;
}

}  // namespace connfail::sim
