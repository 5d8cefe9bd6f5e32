// RapidCheck generators for the scenario model (scenarios/model.h).
//
// A generated scenario is built from plain integer "genes" picked with
// rc::gen::exec, then turned into a Scenario by a pure function that always
// yields a scenario the parser accepts. Shrinking therefore works on the
// genes: fewer client groups and faults (RapidCheck drops vector elements,
// earlier ones first), smaller counts, earlier and shorter faults, simpler
// parameters (every gene shrinks towards its simplest value) -- and every
// shrunk candidate is still a valid, replayable scenario.
//
// Size scaling: RapidCheck's size (0..100 over a run) bounds the number of
// groups, clients per group and faults, so the first cases are tiny.
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <string>
#include <vector>

#include "connfail/scenarios/model.h"

namespace connfail::props {

/// What the generated scenarios run: the built-ins (the default), or a
/// registered server kind and client behaviour -- a user's own.
struct Target {
  /// A registered server kind; "" = the family's built-in choice (echo,
  /// heartbeat or proxy with a reader idle check).
  std::string server_kind;
  /// Its options; a value left unset here keeps the kind's default.
  scenarios::Options server_options;
  /// The behaviour every generated client group uses ("" = built-in).
  std::string client_behaviour;
  scenarios::Options client_options;
  /// Handlers of the server pipeline a handler-exception fault may name
  /// (empty: none is generated for this target).
  std::vector<std::string> handlers;
  /// The program that replays a counterexample ("connfail", or the user's
  /// own executable that calls connfail::cli_main).
  std::string cli = "connfail";

  bool builtin() const { return server_kind.empty(); }
  /// The target for server kind `kind` (its default options) with clients of
  /// `behaviour` (its default options). Throws for an unregistered name.
  static Target of(const std::string& kind, const std::string& behaviour);
};

/// Which part of the scenario space a property draws from.
enum class Family {
  /// Any server (echo, heartbeat, proxy) with a reader idle check first in
  /// the pipeline, any clients, any fault: what "no connection leaks" must
  /// survive.
  Any,
  /// A heartbeat server with a reader idle check; healthy heartbeating
  /// clients (interval <= idle / 3, loss <= kHealthyLossBound, small jitter)
  /// next to groups whose hosts vanish (half-open peers).
  HalfOpen,
  /// A proxy in front of an echo backend; echo clients that close with FIN
  /// or RST or stay; faults only on some groups' paths.
  Proxy,
  /// An echo server whose child registration fails (every k-th, or with a
  /// probability), with clients arriving and leaving.
  AcceptFailure,
  /// A heartbeat server and reconnecting clients, hit by connection resets,
  /// short partitions and server restarts: every client must come back
  /// (expect.reconnect, within kReconnectBound).
  Reconnect,
};
const char* to_string(Family f);

/// How soon a reconnecting client must be back in the Reconnect family: room
/// for a partition, the client's idle check, a connect that times out and
/// its longest back-off.
constexpr int kReconnectBoundSeconds = 40;

/// The loss bound under which a healthy heartbeating client must never be
/// closed (per packet, each direction, uniform): the property's stated bound.
constexpr double kHealthyLossBound = 0.01;

struct GroupGene {
  int count = 1;          // clients
  int hosts = 1;          // 1..count
  int start_pct = 0;      // first connect, in percent of the duration (0..59)
  int spacing_ms = 0;     // between connects
  int behaviour = 0;      // family-specific choice
  int rate = 0;           // heartbeat interval / request period choice
  int request_size = 1;   // bytes
  int close_style = 0;    // 0 none, 1 fin, 2 rst, 3 vanish (family-specific subset)
  int close_at_pct = 50;  // of the duration
};

struct FaultGene {
  int kind = 0;     // family-specific choice
  int at_pct = 10;  // of the duration
  int len_pct = 10;  // of the duration (partition, accept-pause, loss windows)
  int target = 0;   // group index, modulo the number of groups
  int p1 = 0;       // kind-specific parameter genes (shrink towards 0)
  int p2 = 0;
  bool flag = false;
};

struct Genes {
  Family family = Family::Any;
  std::uint32_t seed = 1;
  int duration_s = 30;
  int idle_s = 10;      // server reader idle
  int server_kind = 0;  // Any: 0 echo, 1 heartbeat, 2 proxy
  int backlog = 128;
  std::vector<GroupGene> groups;
  std::vector<FaultGene> faults;
};

/// Genes -> a scenario the parser accepts (name "prop-<family>-<seed>", sim
/// only, one seed), running `target`. Pure: equal genes give equal
/// scenarios.
scenarios::Scenario build(const Genes& g, const Target& target = {});

rc::Gen<Genes> gen_genes(Family f);
/// gen_genes mapped through build.
rc::Gen<scenarios::Scenario> gen_scenario(Family f, const Target& target = {});

/// "3 group(s), 7 client(s), 2 fault(s)": the size of a counterexample.
struct Size {
  int groups = 0;
  int clients = 0;
  int faults = 0;
};
Size size_of(const scenarios::Scenario& s);

/// How RapidCheck prints a counterexample: as the scenario's YAML.
void showValue(const Genes& g, std::ostream& os);

}  // namespace connfail::props

namespace connfail::scenarios {
void showValue(const Scenario& s, std::ostream& os);
}  // namespace connfail::scenarios
