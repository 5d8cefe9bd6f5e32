#include "connfail/scenarios/verdict.h"

#include <algorithm>
#include <cstdio>

namespace connfail::scenarios {

using netcore::Address;
using netcore::LedgerEntry;

namespace {

std::string secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", s);
  return buf;
}

double to_s(netcore::TimePoint t, double scale) {
  return std::chrono::duration<double>(t).count() / scale;
}

std::vector<std::string> entry_history(const LedgerEntry& e, double scale) {
  std::vector<std::string> h;
  h.push_back("t=" + secs(to_s(e.opened_at, scale)) + " channel #" + std::to_string(e.id) + " opened (" +
              netcore::to_string(e.side) + (e.label.empty() ? "" : ", " + e.label) + ")");
  if (e.closed_at)
    h.push_back("t=" + secs(to_s(*e.closed_at, scale)) + " closed: " + netcore::to_string(e.reason) +
                (e.detail.empty() ? "" : " (" + e.detail + ")"));
  return h;
}

/// How a client's own ledger says its channel ended, as "by whom, how".
std::string who_closed(const LedgerEntry& e) {
  switch (e.reason) {
    case netcore::CloseReason::Idle:
      return "by the client's own idle check (it read nothing from the server for its client idle time)";
    case netcore::CloseReason::PeerClosed: return "by the server (it sent FIN)";
    case netcore::CloseReason::Reset: return "by a reset (RST from the server or the network)";
    case netcore::CloseReason::TimedOut: return "by the client's TCP stack giving up (retransmissions unanswered)";
    case netcore::CloseReason::Exception: return "by an exception in the client's own pipeline";
    case netcore::CloseReason::Aborted: return "by the client itself (abort)";
    case netcore::CloseReason::Keepalive: return "by the client's TCP keepalive (its probes went unanswered)";
    case netcore::CloseReason::UserTimeout:
      return "by the client's TCP_USER_TIMEOUT (its data stayed unacknowledged too long)";
    default: return std::string("(") + netcore::to_string(e.reason) + ")";
  }
}

void add_states(std::vector<std::string>& h, const VerdictInput& in, const std::string& key) {
  auto it = in.histories.find(key);
  if (it == in.histories.end()) return;
  for (const auto& [t, st] : it->second.states) h.push_back("t=" + secs(t) + " socket " + st);
}

}  // namespace

std::string conn_key(const std::string& node, const Address& local, const Address& remote) {
  return node + " " + local.to_string() + " " + remote.to_string();
}

std::string conn_text(const Address& local, const Address& remote) {
  return local.to_string() + " -> " + remote.to_string();
}

std::vector<Finding> compute_findings(const VerdictInput& in) {
  const Scenario& s = *in.scenario;
  const Expectations& x = s.expect;
  std::vector<Finding> out;
  const double scale = in.time_scale;

  // Which group a server-side connection belongs to, by its ledger id.
  std::map<std::uint64_t, std::string> group_of_channel;
  for (const auto& sc : in.server_conns) group_of_channel[sc.entry->id] = sc.group;
  auto faults_for = [&](const std::string& group) {
    std::vector<std::string> f;
    auto all = in.faults_by_group.find("");
    if (all != in.faults_by_group.end()) f = all->second;
    auto g = in.faults_by_group.find(group);
    if (!group.empty() && g != in.faults_by_group.end()) f.insert(f.end(), g->second.begin(), g->second.end());
    return f;
  };

  // Sockets: orphans and old CLOSE_WAITs.
  for (const auto& os : in.sockets) {
    const auto& info = os.info;
    if (info.role == netcore::SocketRole::Listener) continue;
    const std::string key = conn_key(info.node, info.local, info.remote);
    double age = -1;
    if (info.in_state_for) {
      age = std::chrono::duration<double>(*info.in_state_for).count() / scale;
    } else if (auto it = in.state_since.find(key + " " + netcore::to_string(info.state)); it != in.state_since.end()) {
      age = in.end_seconds - it->second;
    }
    std::string group;
    if (os.channel_id) {
      auto g = group_of_channel.find(*os.channel_id);
      if (g != group_of_channel.end()) group = g->second;
    }
    if (group.empty() && in.group_of_remote) group = in.group_of_remote(info.remote);
    const bool external = !in.external_node.empty() && info.node == in.external_node;
    if (external) {
      // A socket of the server process: its own fd, still open at the
      // verdict, after every client closed and the quiesce passed. (Rows
      // without an fd are the kernel's: TIME_WAIT, an orphaned FIN_WAIT.)
      const bool judged_elsewhere =
          (x.close_wait_grace >= Duration::zero() && info.state == netcore::TcpState::CloseWait) ||
          (x.half_open_reaped_within_grace && in.vanished_at.count(group));
      if (info.held_by_app && !judged_elsewhere && info.state != netcore::TcpState::TimeWait &&
          info.state != netcore::TcpState::Closed) {
        Finding f;
        f.kind = "left-open";
        f.evidence = "inventory";
        f.connection = conn_text(info.local, info.remote);
        f.message = "the server process still holds " + f.connection + " (" + netcore::to_string(info.state) +
                    (group.empty() ? std::string() : ", group '" + group + "'") + ") at the verdict (" +
                    secs(in.end_seconds) + "): every client closed by " + format_duration(s.duration) +
                    " and the quiesce of " + format_duration(s.quiesce) + " passed; the server never closed it";
        add_states(f.history, in, key);
        f.faults_seen = faults_for(group);
        out.push_back(std::move(f));
      }
    }
    if (x.no_orphans && os.orphan && !external) {
      Finding f;
      f.kind = "orphan";
      f.evidence = "inventory";
      f.connection = conn_text(info.local, info.remote);
      f.message = "socket on " + info.node + " " + f.connection + " is " + netcore::to_string(info.state) +
                  (age >= 0 ? " for " + secs(age) : "") + " and no open channel owns it (leaked)";
      add_states(f.history, in, key);
      f.faults_seen = faults_for(group);
      out.push_back(std::move(f));
    }
    if (x.close_wait_grace >= Duration::zero() && info.state == netcore::TcpState::CloseWait) {
      const double grace = std::chrono::duration<double>(x.close_wait_grace).count();
      if (age < 0 || age > grace) {
        Finding f;
        f.kind = "close-wait";
        f.evidence = "inventory";
        f.connection = conn_text(info.local, info.remote);
        f.message = "socket on " + info.node + " " + f.connection + " in CLOSE_WAIT" +
                    (age >= 0 ? " for " + secs(age) : "") + ", longer than the grace of " +
                    format_duration(x.close_wait_grace) + ": the peer closed and the application never did";
        add_states(f.history, in, key);
        f.faults_seen = faults_for(group);
        out.push_back(std::move(f));
      }
    }
  }

  // Channels that stayed open although their peer is gone.
  for (const auto& st : in.stale_channels) {
    const LedgerEntry* e = st.entry;
    Finding f;
    f.kind = "stale-channel";
    f.evidence = "ledger";
    f.connection = conn_text(e->local, e->remote);
    f.message = st.owner + " channel #" + std::to_string(e->id) + " (" + netcore::to_string(e->side) + " side" +
                (e->label.empty() ? "" : ", " + e->label) + ") " + f.connection +
                " is still open after the run and the quiesce period although every client has gone" +
                (st.group.empty() ? "" : " (it served group '" + st.group + "')");
    f.history = entry_history(*e, scale);
    add_states(f.history, in, conn_key(st.node, e->local, e->remote));
    f.faults_seen = faults_for(st.group);
    out.push_back(std::move(f));
  }

  // Half-open peers must be reaped within the server's reader idle + grace.
  if (x.half_open_reaped_within_grace) {
    const Duration reader_idle = in.server_reader_idle.value_or(Duration::zero());
    const double idle = std::chrono::duration<double>(reader_idle).count();
    const double grace = std::chrono::duration<double>(*x.half_open_reaped_within_grace).count();
    for (const auto& sc : in.server_conns) {
      auto v = in.vanished_at.find(sc.group);
      if (v == in.vanished_at.end()) continue;
      const LedgerEntry& e = *sc.entry;
      const double opened = to_s(e.opened_at, scale);
      if (opened > v->second) continue;  // connected after the host vanished: not possible, skip
      const double deadline = v->second + idle + grace;
      const double closed = e.closed_at ? to_s(*e.closed_at, scale) : -1;
      if (e.closed_at && closed <= deadline) continue;
      Finding f;
      f.kind = "half-open-unreaped";
      f.evidence = "ledger";
      f.connection = conn_text(e.local, e.remote);
      f.message = "server channel #" + std::to_string(e.id) + " " + f.connection + " to a peer of group '" +
                  sc.group + "' that vanished at " + secs(v->second) + " was " +
                  (e.closed_at ? "closed only at " + secs(closed) : std::string("never closed")) +
                  "; the deadline was " + secs(deadline) +
                  (in.server_reader_idle ? " (reader idle " + format_duration(reader_idle) + " + grace "
                                         : std::string(" (no reader idle: keepalive's; grace ")) +
                  format_duration(*x.half_open_reaped_within_grace) + ")";
      f.history = entry_history(e, scale);
      f.faults_seen = faults_for(sc.group);
      out.push_back(std::move(f));
    }
  }

  // The same for a server process, from the kernel's rows as sampled: its
  // connection to a vanished peer must leave ESTABLISHED by the deadline.
  if (x.half_open_reaped_within_grace && !in.external_node.empty()) {
    const Duration reader_idle = in.server_reader_idle.value_or(Duration::zero());
    const double idle = std::chrono::duration<double>(reader_idle).count();
    const double grace = std::chrono::duration<double>(*x.half_open_reaped_within_grace).count();
    for (const auto& [key, h] : in.histories) {
      if (h.node != in.external_node || h.states.empty() || h.states.front().second == "LISTEN") continue;
      const std::string group = in.group_of_remote ? in.group_of_remote(h.remote) : "";
      auto v = in.vanished_at.find(group);
      if (v == in.vanished_at.end()) continue;
      // First seen after the host vanished (later than the sample after it):
      // not a connection of that host's.
      if (h.states.front().first > v->second + in.sample_every) continue;
      const double deadline = v->second + idle + grace;
      // When it left ESTABLISHED: the first sample that saw it otherwise, or
      // the sample after the last one that saw it at all.
      double left = -1;
      for (const auto& [t, st] : h.states)
        if (t > v->second && st != "ESTABLISHED") {
          left = t;
          break;
        }
      // Seen by the last sample: still there. (Not "within one interval of
      // the verdict": the samples drift late on a busy machine, and the last
      // one can fall more than an interval before the verdict.)
      const bool still_there = h.last_seen + 1e-9 >= in.last_sample;
      if (left < 0 && !still_there) left = h.last_seen + in.sample_every;
      // One sampling interval of tolerance: the samples are that coarse.
      if (left >= 0 && left <= deadline + in.sample_every) continue;
      Finding f;
      f.kind = "half-open-unreaped";
      f.evidence = "inventory";
      f.connection = conn_text(h.local, h.remote);
      f.message = "the server process's connection " + f.connection + " to a peer of group '" + group +
                  "' that vanished at " + secs(v->second) + " " +
                  (left >= 0 ? "left ESTABLISHED only at " + secs(left) : std::string("was never closed")) +
                  "; the deadline was " + secs(deadline) + " (the server's idle_timeout " +
                  format_duration(reader_idle) + " + grace " + format_duration(*x.half_open_reaped_within_grace) +
                  "; sampled every " + secs(in.sample_every) + ")";
      add_states(f.history, in, key);
      f.faults_seen = faults_for(group);
      out.push_back(std::move(f));
    }
  }

  // Healthy heartbeating clients are never closed early.
  if (x.healthy_clients_never_closed) {
    for (const auto& cc : in.client_conns) {
      const LedgerEntry& e = *cc.entry;
      if (!e.closed_at) continue;
      if (in.unhealthy_groups.count(cc.group)) continue;
      const double closed = to_s(*e.closed_at, scale);
      const double planned = cc.planned_close >= 0 ? cc.planned_close : std::chrono::duration<double>(s.duration).count();
      if (closed + 1e-9 >= planned) continue;
      Finding f;
      f.kind = "healthy-closed";
      f.evidence = "client";
      f.connection = conn_text(e.local, e.remote);
      f.message = "client channel #" + std::to_string(e.id) + " of healthy group '" + cc.group + "' was closed at " +
                  secs(closed) + " " + who_closed(e) + ", before its planned close at " + secs(planned);
      f.history = entry_history(e, scale);
      f.faults_seen = faults_for(cc.group);
      out.push_back(std::move(f));
    }
  }

  // Most server-side connections open at once, exact from the ledger.
  if (x.max_open_connections > 0) {
    std::vector<std::pair<netcore::TimePoint, int>> ev;
    for (const auto& sc : in.server_conns) {
      ev.emplace_back(sc.entry->opened_at, +1);
      if (sc.entry->closed_at) ev.emplace_back(*sc.entry->closed_at, -1);
    }
    std::sort(ev.begin(), ev.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second < b.second;  // closes first at equal times
    });
    int open = 0, peak = 0;
    double peak_at = 0;
    for (const auto& [t, d] : ev) {
      open += d;
      if (open > peak) {
        peak = open;
        peak_at = to_s(t, scale);
      }
    }
    if (peak > x.max_open_connections) {
      Finding f;
      f.kind = "max-open";
      f.evidence = "ledger";
      f.message = std::to_string(peak) + " server connections were open at once (at " + secs(peak_at) +
                  "), more than the expected maximum of " + std::to_string(x.max_open_connections);
      out.push_back(std::move(f));
    }
  }

  // Exact ledger counts by close reason, server side and client side.
  struct Side {
    const char* name;
    const std::map<std::string, std::uint64_t>* want;
    std::vector<std::pair<const LedgerEntry*, std::string>> entries;  // (entry, group)
  };
  Side sides[2] = {{"server", &x.ledger_counts, {}}, {"client", &x.client_ledger_counts, {}}};
  for (const auto& sc : in.server_conns) sides[0].entries.emplace_back(sc.entry, sc.group);
  for (const auto& cc : in.client_conns) sides[1].entries.emplace_back(cc.entry, cc.group);
  for (const auto& side : sides) {
    if (side.want->empty()) continue;
    std::map<std::string, std::uint64_t> counts;
    for (const auto& [e, g] : side.entries) ++counts[e->closed_at ? netcore::to_string(e->reason) : "open"];
    for (const auto& [reason, want] : *side.want) {
      const std::uint64_t got = counts.count(reason) ? counts.at(reason) : 0;
      if (got == want) continue;
      Finding f;
      f.kind = "ledger-count";
      f.evidence = side.name == std::string("server") ? "ledger" : "client";
      // The counts first, then the entries that explain the difference:
      // too few means some ended otherwise (those are listed); too many
      // lists the extra ones of this reason.
      std::string all;
      for (const auto& [other, n] : counts) all += (all.empty() ? "" : ", ") + std::to_string(n) + " " + other;
      f.message = std::string(side.name) + " ledger: " + (all.empty() ? std::string("no connections") : all) +
                  "; expected exactly " + std::to_string(want) + " " +
                  (reason == "open" ? std::string("still open") : "closed with reason '" + reason + "'") + ", got " +
                  std::to_string(got);
      std::size_t listed = 0, skipped = 0;
      for (const auto& [e, g] : side.entries) {
        const std::string r = e->closed_at ? netcore::to_string(e->reason) : "open";
        const bool expected_reason = side.want->count(r) != 0;
        const bool relevant = got < want ? !expected_reason : r == reason;
        if (!relevant) continue;
        if (listed >= 20) {
          ++skipped;
          continue;
        }
        ++listed;
        for (auto& line : entry_history(*e, scale)) f.history.push_back(line + (g.empty() ? "" : " [group " + g + "]"));
      }
      if (skipped > 0) f.history.push_back("... and " + std::to_string(skipped) + " more like these");
      out.push_back(std::move(f));
    }
  }

  if (x.fd_delta_zero && in.fd_delta && *in.fd_delta != 0) {
    Finding f;
    f.kind = "fd-delta";
    f.evidence = "fd-count";
    f.message = "the process holds " + std::to_string(*in.fd_delta) +
                " more file descriptor(s) after the run than before it";
    out.push_back(std::move(f));
  }

  if (x.fd_delta_zero && in.external_fd_delta && *in.external_fd_delta > in.external_fd_slack) {
    Finding f;
    f.kind = "fd-delta";
    f.evidence = "fd-count";
    f.message = "the server process holds " + std::to_string(*in.external_fd_delta) +
                " more file descriptor(s) at the verdict than when it became ready" +
                (in.external_fd_slack > 0 ? " (fd_slack allows " + std::to_string(in.external_fd_slack) + ")"
                                          : std::string());
    out.push_back(std::move(f));
  }

  if (x.no_pending_timers && in.pending_timers_after_teardown > 0) {
    Finding f;
    f.kind = "pending-timers";
    f.evidence = "timers";
    f.message = std::to_string(in.pending_timers_after_teardown) +
                " timer(s) still scheduled after every channel closed (a handler did not cancel its timer)";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace connfail::scenarios
