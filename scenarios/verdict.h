// The leak verdict: joins what the ledgers say netcore holds with what the
// transport's inventory says the TCP stack holds, after a run and its quiesce
// period, and turns every disagreement into a Finding. Internal to the runner.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/socket_owners.h"
#include "connfail/scenarios/model.h"
#include "connfail/scenarios/result.h"

namespace connfail::scenarios {

/// One connection's observed states, from the runner's periodic samples.
struct ConnHistory {
  std::vector<std::pair<double, std::string>> states;  // (scenario seconds, state) on change
  double last_seen = -1;  // the last sample that saw the socket (scenario seconds)
  std::string node;
  netcore::Address local, remote;
};

/// What the runner hands to the verdict.
struct VerdictInput {
  const Scenario* scenario = nullptr;
  double end_seconds = 0;  // scenario time of the verdict (duration + quiesce)
  /// Inventory at the verdict, restricted to sockets that belong to the run
  /// (vanished hosts and fault-proxy sockets already removed).
  std::vector<netcore::OwnedSocket> sockets;
  /// First time each (node, local, remote, state) was seen in this state
  /// (scenario seconds), for transports that do not report time in state.
  std::map<std::string, double> state_since;
  std::map<std::string, ConnHistory> histories;  // key: conn_key()
  /// Server-side channels (the acceptor's children), with their client group
  /// ("" when unknown) and scenario-time open/close.
  struct ServerConn {
    const netcore::LedgerEntry* entry = nullptr;
    std::string group;
    int group_client = -1;
  };
  std::vector<ServerConn> server_conns;
  /// Client-side channels with their group and the time they were meant to
  /// close (scenario seconds; < 0: at the end of the run).
  struct ClientConn {
    const netcore::LedgerEntry* entry = nullptr;
    std::string group;
    double planned_close = -1;
  };
  std::vector<ClientConn> client_conns;
  /// Groups whose hosts vanished (half-open) and when (scenario seconds).
  std::map<std::string, double> vanished_at;
  /// Groups hit by a fault aimed at them (or at all groups), per fault.
  std::vector<FaultEvent> fault_events;
  std::map<std::string, std::vector<std::string>> faults_by_group;  // "" = aimed at every group
  /// Groups cut off by a disruptive fault (half-open, partition, RST, vanish,
  /// server vanish): not "healthy" for healthy_clients_never_closed.
  std::set<std::string> unhealthy_groups;
  /// Channels open anywhere (ledgers other than clients') at the verdict that
  /// should have closed: their peer is gone. `owner` is whose ledger holds it
  /// ("server" or "backend"); `node` where its socket lives.
  struct Stale {
    const netcore::LedgerEntry* entry = nullptr;
    std::string owner;
    std::string node;
    std::string group;  // the client group it serves, "" when unknown
  };
  std::vector<Stale> stale_channels;
  /// The client group a server-side socket serves, by its remote address
  /// ("" when unknown): for sockets no channel owns any more.
  std::function<std::string(const netcore::Address&)> group_of_remote;
  std::optional<long long> fd_delta;  // asio only
  std::size_t pending_timers_after_teardown = 0;
  /// Converts loop time to scenario seconds.
  double time_scale = 1.0;
  /// The server's reader idle time as its plan states it (the half-open
  /// check's deadline is vanish + this + grace).
  std::optional<Duration> server_reader_idle;

  /// A server run as a process (the `process` kind): the node its sockets
  /// have in the inventory ("" = the server is netcore's), its fd count at
  /// the verdict minus at readiness, the slack allowed, and the sampling
  /// interval (scenario seconds) that bounds when a closed socket was last seen.
  std::string external_node;
  std::optional<long long> external_fd_delta;
  long long external_fd_slack = 0;
  double sample_every = 1;
  /// When the last inventory sample was taken (scenario seconds). A row that
  /// sample saw is still there at the verdict.
  double last_sample = -1;
};

std::string conn_key(const std::string& node, const netcore::Address& local, const netcore::Address& remote);
std::string conn_text(const netcore::Address& local, const netcore::Address& remote);

/// Every finding the scenario's expectations turn up.
std::vector<Finding> compute_findings(const VerdictInput& in);

}  // namespace connfail::scenarios
