// The runner's view of a transport: where the server listens, how clients
// reach it, how network faults are applied, and what belongs to the run.
// One implementation per transport (runner_sim.cc, runner_asio.cc).
// Internal to the runner.
#pragma once

#include <memory>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "connfail/netcore/channel.h"
#include "connfail/netcore/connection_ledger.h"
#include "connfail/scenarios/runner.h"

namespace connfail::scenarios {

class RunnerEnv {
 public:
  virtual ~RunnerEnv() = default;
  virtual netcore::EventLoop& loop() = 0;
  /// Loop time of the run's start.
  virtual netcore::TimePoint epoch() const = 0;
  /// Loop seconds per scenario second (1 on sim).
  virtual double time_scale() const = 0;

  virtual netcore::Transport& server_transport() = 0;
  virtual netcore::Transport& backend_transport() = 0;
  virtual netcore::Address server_listen_address() = 0;
  virtual netcore::Address backend_listen_address() = 0;
  virtual netcore::Address backend_connect_address(const netcore::Address& listening) = 0;
  /// Called once the server listens (the real transport starts its fault
  /// proxies in front of it).
  virtual void server_started(const netcore::Address& listening) = 0;
  virtual netcore::Transport& client_transport(int group, int index) = 0;
  virtual netcore::Address client_connect_address(int group, const netcore::Address& server) = 0;

  /// The server process is down (a restart) or back: a transport whose
  /// clients reach the server through something else (the real transport's
  /// fault proxies) makes that refuse connects too.
  virtual void server_down(bool /*down*/) {}
  /// Starts (on = true) or ends a link fault for the given groups.
  virtual void apply_link_fault(const Fault& f, const std::vector<int>& groups, bool on) = 0;
  /// The group's hosts vanish: nothing reaches or leaves them any more.
  virtual void vanish_group(int group) = 0;
  /// A middlebox resets these connections of `group`.
  virtual void reset_connections(int group, const std::vector<std::shared_ptr<netcore::Channel>>& chans) = 0;

  virtual std::vector<netcore::SocketInfo> inventory() = 0;
  /// A server run as a process listens on `port`: from now on the inventory
  /// also holds the kernel's rows of its sockets (the inodes `inodes`
  /// returns, and the fd-less rows on its port: TIME_WAIT, orphaned
  /// FIN_WAIT), on node external_server_node(). Real transport only.
  virtual void watch_server_process(std::function<std::set<unsigned long>()> /*inodes*/, std::uint16_t /*port*/) {
    throw std::logic_error("this transport cannot run a server process");
  }
  static constexpr const char* external_server_node() { return "server-process"; }
  /// The run's clock (and the loop's) starts again at zero: a server process
  /// took wall time to get ready, before any client, fault or sample was
  /// scheduled. Only the real transport takes time to start a server.
  virtual void restart_clock() {}
  /// Sockets that do not belong to the verdict (vanished hosts, fault proxies).
  virtual bool excluded(const netcore::SocketInfo& s) = 0;
  /// The client group a server-side (or backend-side) channel serves, "" if unknown.
  std::string group_of_server_conn(const netcore::LedgerEntry& e) { return group_of_remote(e.remote); }
  /// The client group behind a server-side socket's remote address.
  virtual std::string group_of_remote(const netcore::Address& remote) = 0;
  /// The node names the inventory gives the server's and the backend's sockets.
  virtual std::string server_node() const = 0;
  virtual std::string backend_node() const = 0;

  /// After the verdict's snapshot: stop fault machinery.
  virtual void teardown() = 0;
  /// Lets closes complete (bounded).
  virtual void settle() = 0;
  virtual std::optional<long long> fd_delta() = 0;
  /// Timers pending on every loop of the run (worker loops included).
  virtual std::size_t pending_timers() { return loop().pending_timers(); }
  /// Stops the run's other loops (joins their threads) before its objects
  /// go: from then on everything runs on the harness's thread.
  virtual void stop_loops() {}
  virtual std::uint64_t trace_hash() = 0;
  /// Every socket's TCP state changes so far (sim; empty elsewhere).
  virtual std::vector<SocketStateChange> state_changes() { return {}; }
  /// RunResult::network.
  virtual std::string network() const { return ""; }
};

std::unique_ptr<RunnerEnv> make_sim_env(const Scenario& s, const RunOptions& opts);
std::unique_ptr<RunnerEnv> make_asio_env(const Scenario& s, const RunOptions& opts);
inline std::unique_ptr<RunnerEnv> make_env(const Scenario& s, const RunOptions& opts) {
  return opts.transport == TransportKind::Sim ? make_sim_env(s, opts) : make_asio_env(s, opts);
}

}  // namespace connfail::scenarios
