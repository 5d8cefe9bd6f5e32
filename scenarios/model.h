// The scenario model: what a scenario YAML file says, after validation.
//
// The parser (scenarios/parser.h) turns a file into a Scenario or a list of
// errors naming file:line:column and field; the runner (scenarios/runner.h)
// runs a valid Scenario on a transport; property tests generate Scenarios and
// the writer (scenarios/writer.h) turns one back into YAML for replay.
//
// All times are durations from the start of the run, in scenario time (on the
// real transport they are multiplied by `time_scale`).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "connfail/netcore/transport.h"
#include "connfail/scenarios/options.h"
#include "connfail/sim/tcp_profile.h"

namespace connfail::scenarios {

using netcore::Duration;

enum class TransportKind { Sim, Asio };

/// The most worker loops a scenario's server may ask for.
constexpr int kMaxServerLoops = 64;
const char* to_string(TransportKind t);

/// The server under test: a registered server kind (scenarios/registry.h)
/// with its options, behind a listener.
struct ServerSpec {
  std::string kind = "echo";  // a registered server kind
  /// Validated against the kind's schema; every field present (defaults
  /// filled in).
  Options options;
  int backlog = 128;
  Duration accept_error_backoff{};  // netcore::AcceptorOptions::error_backoff
  /// Loops the children run on. 1: the one loop that also accepts. N > 1
  /// on asio: N worker loops, each on its own thread, children assigned
  /// round-robin (Netty's EventLoopGroup); on sim the one scheduler.
  int loops = 1;
  /// server.keepalive / server.user_timeout: set on every accepted child
  /// (Netty's childOption SO_KEEPALIVE, TCP_KEEPIDLE..., TCP_USER_TIMEOUT).
  netcore::TcpOptions tcp;
  SourcePos pos;                    // of `kind` in its file

  /// A spec of `kind` with its default options (the kind must be
  /// registered; throws std::invalid_argument otherwise).
  static ServerSpec of(const std::string& kind);
};

enum class CloseStyle {
  None,    // stays open until the end of the run (then closed with FIN)
  Fin,     // orderly close at `close_at`
  Rst,     // SO_LINGER 0 close at `close_at`
  Vanish,  // the client host vanishes at `close_at` (no FIN, no RST, packets dropped)
};
const char* to_string(CloseStyle c);

/// A group of identical clients. Every group has its own client host(s):
/// on sim each host is a node with its own link to the server; on the real
/// transport each host is its own FaultProxy.
struct ClientGroup {
  std::string name;  // unique in the scenario; fault targets name groups
  int count = 1;
  int hosts = 1;     // clients are spread round-robin over this many hosts
  Duration start{};  // first connect
  Duration spacing{};  // connect i happens at start + i * spacing
  std::string behaviour = "echo";  // a registered client behaviour
  Options options;                 // validated against the behaviour's schema
  CloseStyle close = CloseStyle::None;
  Duration close_at{};
  Duration connect_timeout = std::chrono::seconds(10);
  /// keepalive / user_timeout of the group's client sockets.
  netcore::TcpOptions tcp;
  SourcePos pos;  // of the group in its file

  /// A group of `behaviour` with its default options (throws
  /// std::invalid_argument for an unregistered behaviour).
  static ClientGroup of(const std::string& name, const std::string& behaviour);
};

enum class FaultKind {
  Loss,            // uniform packet loss (sim only)
  BurstLoss,       // bursts of lost packets (sim only)
  GilbertElliott,  // two-state loss (sim only)
  Jitter,          // random extra delay per packet (sim: per packet; asio: per chunk)
  Latency,         // asio: fixed extra delay per chunk (sim: use link delay)
  Bandwidth,       // asio: rate limit per direction
  HalfOpen,        // target hosts vanish at `at` (never come back)
  Partition,       // target hosts cut off at `at` for `duration`, then healed
  AcceptPause,     // the server stops accepting at `at` for `duration`
  Rst,             // a middlebox resets the target's connections at `at`
  HandlerException,  // a server handler throws (probability or nth)
  AcceptFailure,   // child registration fails with bad_alloc (every k-th or probability)
  ServerVanish,    // the server host vanishes at `at` (sim only)
  ServerRestart,   // the server process exits at `at` and starts again after `duration`
};
const char* to_string(FaultKind k);

enum class Direction { Both, ToServer, FromServer };
const char* to_string(Direction d);

enum class JitterDistribution { Uniform, Normal };

struct Fault {
  FaultKind kind = FaultKind::Loss;
  Duration at{};
  /// Partition, AcceptPause: how long. Loss kinds: zero = until the end.
  Duration duration{};
  /// Client group names; empty = every group (link faults, Rst, HalfOpen).
  std::vector<std::string> targets;
  Direction direction = Direction::Both;
  // Loss / BurstLoss
  double rate = 0.0;          // Loss: per-packet; BurstLoss: burst start probability
  int burst_min = 1, burst_max = 1;
  // GilbertElliott
  double p_good_to_bad = 0.0, p_bad_to_good = 1.0, loss_good = 0.0, loss_bad = 1.0;
  // Jitter / Latency
  JitterDistribution distribution = JitterDistribution::Uniform;
  Duration max{}, mean{}, sd{}, bound{};
  bool reorder = false;
  Duration latency{};
  // Bandwidth (bytes per second)
  std::uint64_t bytes_per_second = 0;
  // HandlerException: handler name in the server pipeline ("echo", "idle",
  // "frame-decoder", "heartbeat", "proxy-frontend", ...; a name no handler has
  // never throws) and event ("read", "active", ...)
  std::string handler;
  std::string event = "read";
  double probability = 0.0;
  std::uint64_t nth = 0;  // 0: use probability
  // AcceptFailure
  std::uint64_t every = 0;  // 0: use probability
  SourcePos pos;
};

/// What must hold after the run and the quiesce period.
struct Expectations {
  bool no_orphans = true;
  /// A CLOSE_WAIT socket older than this is a leak. Negative: not checked.
  Duration close_wait_grace = std::chrono::seconds(5);
  /// Every half-open peer's server-side connection is closed within
  /// server reader idle + this grace after the peer vanished. Checked when
  /// the scenario has a HalfOpen fault or a Vanish client.
  std::optional<Duration> half_open_reaped_within_grace;
  /// Heartbeat clients untouched by faults aimed at their hosts are never
  /// closed before their own close time.
  bool healthy_clients_never_closed = false;
  /// Never more than this many open server-side connections (0: unchecked).
  int max_open_connections = 0;
  /// Exact ledger counts per close reason ("idle", "accept-failure", ...),
  /// server side.
  std::map<std::string, std::uint64_t> ledger_counts;
  /// The same for the clients' own channels (every connection they made):
  /// how they saw their connections end.
  std::map<std::string, std::uint64_t> client_ledger_counts;
  /// (Asio) process fd count back where it started after quiesce.
  bool fd_delta_zero = true;
  /// No timers still scheduled for closed channels after quiesce.
  bool no_pending_timers = true;
  /// Reconnecting clients: every client whose connection ended (not by its
  /// own plan) is back within `within`, "back" meaning a connection that
  /// then stayed open for `stable` (or until the workload ended).
  struct Reconnect {
    Duration within{};
    Duration stable = std::chrono::seconds(5);
  };
  std::optional<Reconnect> reconnect;
};

struct Scenario {
  std::string name;
  std::string description;
  std::string file;  // path it was loaded from ("" if generated)
  std::vector<TransportKind> transports{TransportKind::Sim};
  std::vector<std::uint32_t> seeds{1};
  Duration duration = std::chrono::seconds(60);
  /// Extra time after `duration` for closes to complete before the verdict.
  Duration quiesce = std::chrono::seconds(30);
  /// Real transport: wall seconds per scenario second (0.02 runs 60 s in 1.2 s).
  double time_scale = 1.0;
  /// Sim link parameters (every client link, and the backend link).
  std::string link_rate = "100Mbps";
  Duration link_delay = std::chrono::milliseconds(1);
  /// tcp.profile and tcp.sysctl: which TCP the sim imitates and the Linux
  /// sysctls it (and, in its network namespace, the real transport) uses.
  connfail::sim::TcpProfile tcp;
  ServerSpec server;
  std::vector<ClientGroup> clients;
  std::vector<Fault> faults;
  Expectations expect;
};

/// Parses "250us", "100ms", "5s", "2m", "1.5s", "1h". Returns nullopt on
/// anything else (no space, known unit required, non-negative).
std::optional<Duration> parse_duration(const std::string& text);
/// The shortest exact spelling of `d` in the units above ("1500ms", "5s").
std::string format_duration(Duration d);

/// A link rate as ns-3's DataRate spells it ("100Mbps", "1.5Gb/s",
/// "64KiB/s"), in bits per second; nullopt for any other spelling or a rate
/// outside [1 bit/s, 1 Tbit/s].
std::optional<double> parse_data_rate(const std::string& text);

}  // namespace connfail::scenarios
