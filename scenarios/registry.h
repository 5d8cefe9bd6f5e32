// The registry of what can run in a scenario: server kinds, client
// behaviours and known-bug variants. Each entry is a name, a one-line
// description, an options schema (scenarios/options.h) and a factory. The
// built-ins (echo, heartbeat and proxy servers; echo, heartbeat, silent and
// reconnecting clients; every known-bug variant) are registered through this
// same interface, in scenarios/kinds/; nothing in the runner knows an entry
// by name.
//
// A server kind, as a user registers one (see docs/your-server.md):
//
//   connfail::register_server({
//       "gateway", "session gateway: login frames, sessions keyed by id, an idle reaper",
//       {connfail::opt::duration("session_timeout", 30s, "reap a session idle this long").positive()},
//       [](const connfail::Options& o) {
//         connfail::ServerPlan plan;
//         plan.reader_idle = o.duration("session_timeout");
//         plan.start = [o](connfail::ServerContext& ctx) {
//           auto sessions = std::make_shared<SessionManager>(ctx.loop, ctx.scaled(o.duration("session_timeout")));
//           connfail::ServerInstance server;
//           server.child = [sessions](netcore::Channel& ch) { ... add the handlers ... };
//           server.stop = [sessions] { sessions->stop(); };
//           return server;
//         };
//         return plan;
//       }});
//
// Registration never throws: a bad entry (a duplicate name, a schema whose
// default is out of range) is recorded with the file and line of the
// registering call, and connfail::cli_main and the test helpers report every
// such error and run nothing.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/channel.h"
#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/fault_injector.h"
#include "connfail/scenarios/model.h"
#include "connfail/scenarios/options.h"

namespace connfail::scenarios {

// ------------------------------------------------------------------ servers

/// What one start of a server sees of its run.
struct ServerContext {
  netcore::EventLoop& loop;
  /// The server host's transport: for connections the server opens itself
  /// (a proxy's backend connections).
  netcore::Transport& transport;
  /// The server's ledger: record the channels the server opens itself here.
  netcore::ConnectionLedger& ledger;
  /// Scenario time to loop time (the real transport runs `time_scale` times
  /// faster or slower than the scenario says). Every duration read from the
  /// options is scenario time.
  std::function<Duration(Duration)> scaled;
  /// Where the backend listens (only for plans with a `backend`).
  netcore::Address backend;
  /// The run's seed (for anything random the server does).
  std::uint32_t seed = 1;
  /// 0 for the first start, n after the n-th restart (a server-restart fault).
  int generation = 0;
};

/// One server process's worth of state, built by ServerPlan::start at each
/// (re)start.
struct ServerInstance {
  /// The pipeline of every accepted connection (Netty's childHandler).
  /// Required.
  netcore::PipelineInit child;
  /// Optional: the server stops (a restart, or the end of the run). Cancel
  /// the timers the instance scheduled and drop its state; its channels are
  /// closed by the harness.
  std::function<void()> stop;
};

/// The accept loop around the child pipelines. The default is
/// netcore::Acceptor; a known-bug variant can replace it (a Netty 3 loop).
class AcceptLoop {
 public:
  virtual ~AcceptLoop() = default;
  virtual netcore::Address local_address() const = 0;
  /// The application stops taking connections (an accept-pause fault).
  virtual void pause() = 0;
  virtual void resume() = 0;
  /// Stops listening; open children are left alone.
  virtual void close() = 0;
};
using AcceptLoopFactory = std::function<std::unique_ptr<AcceptLoop>(
    netcore::Transport&, netcore::ConnectionLedger&, netcore::PipelineInit, const netcore::AcceptorOptions&)>;

/// A server connfail does not build but starts as a process (the `process`
/// server kind, real transport only): it is judged from outside, from the
/// kernel's socket table for its process group, its fd count and what its
/// clients see. `{port}` in argv and env values is replaced with the port.
struct ExternalServer {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string cwd;
  /// Where clients connect (the server must listen there).
  std::string host = "127.0.0.1";
  /// 0: connfail picks a free port (and substitutes it for {port}), unless
  /// `port_pattern` is set.
  int port = 0;
  /// A regular expression with one group that captures the port from a
  /// line of the server's stdout ("" = not read from stdout).
  std::string port_pattern;
  /// How long the server may take to accept a connection on its port.
  Duration ready_timeout = std::chrono::seconds(10);
  int stop_signal = 15;  // SIGTERM
  Duration stop_grace = std::chrono::seconds(5);
  /// File descriptors the server may hold at the verdict beyond what it held
  /// when it became ready (a JVM opens files lazily).
  int fd_slack = 0;
};

/// How to build a server for a run: what a server kind's factory returns.
struct ServerPlan {
  /// Builds one server instance on the run's loop. Required.
  std::function<ServerInstance(ServerContext&)> start;
  /// The reader idle time after which the server closes a silent peer
  /// (scenario time), if it has one: the half-open check's deadline is
  /// vanish + this + grace.
  std::optional<Duration> reader_idle;
  /// A server the harness starts first on the backend host (a proxy's
  /// upstream); its address is ServerContext::backend.
  std::shared_ptr<const ServerPlan> backend;
  /// Replaces netcore::Acceptor (known-bug variants). Empty: the Acceptor.
  AcceptLoopFactory accept_loop;
  /// Set for a server run as a process (then `start` is not used and may be
  /// empty; the plan has no backend or accept loop).
  std::shared_ptr<const ExternalServer> external;
};

using ServerFactory = std::function<ServerPlan(const Options&)>;

struct ServerKindEntry {
  std::string name;         // [a-z0-9-]+, as `server.kind` names it
  std::string description;  // one line, for `connfail list --servers`
  OptionSchema options;
  /// Builds the plan from validated options. Called when a scenario is
  /// validated (so OptionError and any other throw are reported as errors
  /// before anything runs) and again for each run. Must not touch a
  /// transport: `ServerPlan::start` does that.
  ServerFactory factory;
  /// Transports it can run on; empty: both.
  std::vector<TransportKind> transports;
  /// Its plans are ExternalServer processes (the `process` kind): faults
  /// aimed inside the server and variants for "*" do not apply, and the
  /// scenario's clock cannot be scaled.
  bool external = false;
};

// ------------------------------------------------------------------ clients

/// The harness's request stream: every `every` (scenario time) the client
/// writes `size` bytes (as one DATA frame when `framed`, after the frame
/// codec), and checks that what comes back is exactly what it sent, in order
/// (an echo-mismatch finding otherwise). Bytes a server answers with, up to
/// what was sent, count as echoed.
struct RequestSpec {
  Duration every{};  // zero: no requests
  std::uint32_t size = 64;
  bool framed = false;
};

/// What one connection of one client sees of its run.
struct ClientContext {
  netcore::EventLoop& loop;
  std::function<Duration(Duration)> scaled;
  std::string group;
  int index = 0;             // in its group
  std::uint64_t number = 0;  // 1-based across the scenario (e.g. to make a session id)
  int attempt = 0;           // 0: the first connection; n: the n-th reconnect
  std::uint32_t seed = 1;
  /// The server's reader idle time, when its plan states one.
  std::optional<Duration> server_reader_idle;
  /// Makes the request-stream handler for this client (add it last).
  std::function<std::shared_ptr<netcore::Handler>(const RequestSpec&)> requests;
};

/// Reconnect after an exponential back-off with jitter: the n-th wait is
/// min(max, initial * multiplier^(n-1)), each scaled by a random factor in
/// [1 - jitter, 1]. A wait starts when a connection ends (or a connect
/// fails); a successful connect resets n.
struct ReconnectPolicy {
  Duration initial = std::chrono::milliseconds(500);
  Duration max = std::chrono::seconds(10);
  double multiplier = 2.0;
  double jitter = 0.5;   // in [0, 1]
  int max_attempts = 0;  // failed attempts in a row before giving up; 0: never give up
};

/// The options of a reconnecting behaviour: a group "reconnect" with
/// initial, max, multiplier, jitter and max_attempts (the built-in
/// `reconnecting` behaviour's; use it in your own behaviour's schema), and
/// the policy they describe (throws OptionError if max < initial).
OptionSpec reconnect_options();
ReconnectPolicy reconnect_policy(const Options& reconnect_group);

struct ClientPlan {
  /// The pipeline of one connection (called again for each reconnect).
  /// Required.
  std::function<netcore::PipelineInit(ClientContext&)> connect;
  /// Reconnect when a connection ends or a connect fails (until the
  /// client's planned close, or the end of the workload). Empty: never.
  std::optional<ReconnectPolicy> reconnect;
};

using ClientFactory = std::function<ClientPlan(const Options&)>;

struct ClientBehaviourEntry {
  std::string name;         // [a-z0-9-]+, as a group's `behaviour` names it
  std::string description;  // one line
  OptionSchema options;
  ClientFactory factory;  // called at validation and for each run, like ServerKindEntry::factory
};

// ----------------------------------------------------------------- variants

/// What a client variant may need to know about the run's server.
struct VariantContext {
  std::optional<Duration> server_reader_idle;
};

/// A deliberately broken version of a server kind or a client behaviour
/// (`connfail run --variant NAME`): a scenario that must FAIL on it proves
/// its check can fail. Every hook is optional.
struct VariantEntry {
  std::string name;
  std::string description;
  /// The server kinds it changes ("*": every kind) and the client
  /// behaviours it changes. A variant that changes nothing in a scenario
  /// is reported as not applicable there.
  std::vector<std::string> server_kinds;
  std::vector<std::string> client_behaviours;
  /// Adjusts a server's options before its kind's factory runs.
  std::function<void(Options&)> server_options;
  /// Replaces or wraps the plan the kind's factory built.
  std::function<ServerPlan(const Options&, ServerPlan)> server_plan;
  /// Adjusts a client group's options before its behaviour's factory runs.
  std::function<void(Options&, const VariantContext&)> client_options;
  /// Optional: why the variant changes nothing in a scenario even though it
  /// names the scenario's kind or one of its behaviours ("" = it does), e.g.
  /// a variant that misplaces the idle check on a server without one.
  std::function<std::string(const Scenario&)> inapplicable;
};

// ----------------------------------------------------------------- registry

class Registry {
 public:
  /// The process's registry, with the built-ins registered.
  static Registry& global();

  bool add(ServerKindEntry e, const char* file, int line);
  bool add(ClientBehaviourEntry e, const char* file, int line);
  bool add(VariantEntry e, const char* file, int line);

  const ServerKindEntry* server(const std::string& name) const;
  const ClientBehaviourEntry* client(const std::string& name) const;
  const VariantEntry* variant(const std::string& name) const;
  /// Names in registration order (built-ins first).
  std::vector<std::string> server_names() const;
  std::vector<std::string> client_names() const;
  std::vector<std::string> variant_names() const;

  /// Every registration that was refused, as "file:line: message".
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  struct Where {
    std::string file;
    int line = 0;
  };
  bool check_name(const std::string& what, const std::string& name, const Where& w,
                  const std::vector<std::pair<std::string, Where>>& taken);
  std::vector<ServerKindEntry> servers_;
  std::vector<ClientBehaviourEntry> clients_;
  std::vector<VariantEntry> variants_;
  std::vector<std::pair<std::string, Where>> server_where_, client_where_, variant_where_;
  std::vector<std::string> errors_;
};

/// Registers into Registry::global(). False (and the reason recorded in
/// registration_errors(), naming the file and line of this call) when the
/// entry is refused: a duplicate or invalid name, no factory, a bad schema.
bool register_server(ServerKindEntry e, const char* file = __builtin_FILE(), int line = __builtin_LINE());
bool register_client(ClientBehaviourEntry e, const char* file = __builtin_FILE(), int line = __builtin_LINE());
bool register_variant(VariantEntry e, const char* file = __builtin_FILE(), int line = __builtin_LINE());
const std::vector<std::string>& registration_errors();

// --------------------------------------------------- resolving a scenario

/// The plan for `server` under `variant` ("" = none). Throws what the
/// factory throws (OptionError, ...), or std::invalid_argument for an
/// unknown kind or variant.
ServerPlan make_server_plan(const ServerSpec& server, const std::string& variant = "");
/// The plan for a client group under `variant`.
ClientPlan make_client_plan(const ClientGroup& group, const std::string& variant, const VariantContext& ctx);
/// The server's reader idle time, as its plan states it (nullopt: none, or
/// the kind is unknown).
std::optional<Duration> server_reader_idle(const ServerSpec& server);
/// What `variant` changes in `s`: "server kind 'proxy'", "client group
/// 'pingers' (heartbeat)"; empty when it changes nothing there.
std::vector<std::string> variant_targets(const std::string& variant, const Scenario& s);
/// Why running `s` under `variant` would test nothing ("" when it changes
/// something): the run is then not applicable (status n/a), not a pass.
std::string variant_not_applicable(const std::string& variant, const Scenario& s);

/// The names of the handlers in one child pipeline of `server` (a dry run
/// of its plan on a loop that never runs and a transport that refuses to be
/// used); nullopt when the plan cannot be built that way.
std::optional<std::vector<std::string>> server_handler_names(const ServerSpec& server);

/// The default accept loop: netcore::Acceptor.
std::unique_ptr<AcceptLoop> default_accept_loop(netcore::Transport& t, netcore::ConnectionLedger& ledger,
                                                netcore::PipelineInit init, const netcore::AcceptorOptions& o);

}  // namespace connfail::scenarios

namespace connfail {
// The names a user's code spells as connfail::...
using scenarios::AcceptLoop;
using scenarios::ClientBehaviourEntry;
using scenarios::ClientContext;
using scenarios::ClientPlan;
using scenarios::ExternalServer;
using scenarios::OptionError;
using scenarios::Options;
using scenarios::OptionSchema;
using scenarios::OptionSpec;
using scenarios::reconnect_options;
using scenarios::reconnect_policy;
using scenarios::ReconnectPolicy;
using scenarios::register_client;
using scenarios::register_server;
using scenarios::register_variant;
using scenarios::registration_errors;
using scenarios::RequestSpec;
using scenarios::ServerContext;
using scenarios::ServerInstance;
using scenarios::ServerKindEntry;
using scenarios::ServerPlan;
using scenarios::VariantContext;
using scenarios::VariantEntry;
namespace opt = scenarios::opt;
}  // namespace connfail
