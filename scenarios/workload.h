// The clients of one run: each group's registered behaviour builds every
// connection's pipeline; the workload schedules connects (start + i *
// spacing), planned closes (FIN, RST, vanish), reconnects after a back-off
// for behaviours that reconnect, the harness's request stream and its echo
// check, and the end of the workload at `duration`. Internal to the runner.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "connfail/netcore/channel.h"
#include "connfail/scenarios/registry.h"
#include "connfail/scenarios/run_context.h"

namespace connfail::scenarios {

struct EchoStats;

/// One client and every connection it made.
struct ClientRt {
  int group = 0;
  int index = 0;
  std::uint64_t number = 0;  // 1-based across the scenario
  std::weak_ptr<netcore::Channel> channel;  // the current connection
  std::vector<std::uint64_t> ledger_ids;    // every connection it made, in order (client ledger ids)
  std::vector<std::shared_ptr<EchoStats>> streams;  // one request stream per connection
  double planned_close = -1;  // scenario seconds; -1: at the end of the workload
  // The planned FIN or RST came due before the connect completed (a slow
  // handshake, or a real-time run whose loop was held up): it happens as
  // soon as the connect completes, not at the end of the workload.
  bool close_due = false;
  bool close_rst = false;
  bool finished = false;  // closed as planned, vanished or gave up: no reconnect
  int attempts = 0;       // connects started
  int failed_in_row = 0;  // connects failed (or connections lost) since the last success
  int reconnects = 0;     // connects started after the first
  std::vector<double> connect_failures;  // scenario seconds
  bool gave_up = false;
  std::mt19937_64 rng;  // back-off jitter
};

class Workload {
 public:
  explicit Workload(RunContext& rc) : rc_(rc) {}
  ~Workload();

  /// Builds each group's plan (the run's variant applied) and schedules
  /// every client's connects and planned closes. Throws what a factory
  /// throws.
  void schedule(const netcore::Address& server, const VariantContext& vctx);
  /// The group's hosts vanish: the client application is gone with them.
  void vanish_group(int g);
  /// The channels of group `g` that are open now.
  std::vector<std::shared_ptr<netcore::Channel>> open_channels(int g) const;
  /// End of the workload (at `duration`): every client still open closes
  /// with FIN; nothing reconnects after this.
  void end();
  /// Aborts every client channel (teardown).
  void abort_all();
  /// Fills the run's client outcomes and adds the client-observed findings
  /// (echo-mismatch, not-reconnected).
  void collect(const std::vector<netcore::LedgerEntry>& client_entries);
  /// Drops every client (before the transport goes).
  void release() { clients_.clear(); }

  const std::vector<ClientRt>& clients() const { return clients_; }
  /// Reconnect windows collect() could not judge (their bound ends after
  /// the client's own end), one line each.
  const std::vector<std::string>& unjudged() const { return unjudged_; }

 private:
  void connect(ClientRt& c);
  void lost(ClientRt& c);  // a connect failed or a connection ended
  Duration backoff(ClientRt& c, const ReconnectPolicy& p);
  void reconnect_findings(const ClientRt& c, const std::vector<netcore::LedgerEntry>& entries);

  RunContext& rc_;
  netcore::Address server_;
  std::vector<ClientPlan> plans_;  // per group
  // Every client connect: abort_all() ends those still pending (a SYN the
  // network drops holds a socket and a timer until the connect timeout).
  std::shared_ptr<netcore::ConnectCanceller> connects_ = std::make_shared<netcore::ConnectCanceller>();
  std::vector<ClientRt> clients_;
  std::vector<std::string> unjudged_;
};

}  // namespace connfail::scenarios
