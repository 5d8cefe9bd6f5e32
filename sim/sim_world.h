// SimWorld: a small ns-3 network (a server node and client hosts joined by
// point-to-point links) with one netcore Transport per node, all driven by
// the ns-3 scheduler in simulated time. No ns-3 type appears in this header.
//
// ns-3's simulator is a process-wide singleton: at most one SimWorld may exist
// at a time (constructing a second throws).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "netcore/transport.h"

namespace connfail::sim {

struct LinkSpec {
  std::string rate = "100Mbps";  // ns-3 DataRate string
  netcore::Duration delay = std::chrono::milliseconds(1);
};

struct WorldConfig {
  std::uint32_t seed = 1;
  std::uint64_t run = 1;
  /// Client hosts, named "client0" .. "client<N-1>", each on its own link to
  /// the server node "server".
  int clients = 1;
  LinkSpec link;
  /// TCP maximum segment size in bytes.
  std::uint32_t segment_size = 1448;
};

/// Packet loss on one direction of a link.
struct LossSpec {
  enum class Kind { None, Uniform, Burst, GilbertElliott };
  Kind kind = Kind::None;
  /// Uniform: probability that a packet is lost.
  double rate = 0.0;
  /// Burst (ns-3 BurstErrorModel): probability that a packet starts a burst,
  /// and the burst's size in packets, uniform in [burst_min, burst_max].
  double burst_start = 0.0;
  int burst_min = 1;
  int burst_max = 1;
  /// Gilbert-Elliott: per-packet transition probabilities and per-state loss.
  double p_good_to_bad = 0.0;
  double p_bad_to_good = 1.0;
  double loss_good = 0.0;
  double loss_bad = 1.0;
};

/// Random extra delay per packet on a link (both directions).
struct JitterSpec {
  enum class Kind { None, Uniform, Normal };
  Kind kind = Kind::None;
  netcore::Duration max{};    // Uniform: extra delay in [0, max]
  netcore::Duration mean{};   // Normal: N(mean, sd) clamped to [0, bound]
  netcore::Duration sd{};
  netcore::Duration bound{};
  /// false: a packet never overtakes one sent before it (FIFO kept).
  bool allow_reorder = true;
};

class SimWorld {
 public:
  explicit SimWorld(WorldConfig cfg = {});
  ~SimWorld();
  SimWorld(const SimWorld&) = delete;
  SimWorld& operator=(const SimWorld&) = delete;

  netcore::EventLoop& loop();
  /// The transport of node `name` ("server", "client0", ...). Throws
  /// std::out_of_range for an unknown node.
  netcore::Transport& transport(const std::string& node);
  /// The address other nodes use to reach `node`.
  std::string address_of(const std::string& node) const;
  std::vector<std::string> nodes() const;
  /// Every node's sockets.
  std::vector<netcore::SocketInfo> inventory() const;

  /// Sets the loss of packets travelling from node `from` to node `to`
  /// (directly linked: one of them is "server"), replacing any earlier model.
  /// Throws std::invalid_argument for unlinked nodes or out-of-range values.
  void set_loss(const std::string& from, const std::string& to, const LossSpec& spec);
  /// Cuts (up = false) or restores the link of client host `client` in both
  /// directions: every packet on it is dropped in silence while it is down.
  /// A client whose link goes down and never comes back is a half-open peer
  /// as its server sees it; down then up is a partition that heals.
  void set_link_up(const std::string& client, bool up);
  bool link_up(const std::string& client) const;
  /// Sets the jitter of client host `client`'s link (both directions).
  void set_jitter(const std::string& client, const JitterSpec& spec);
  /// Packets delivered after one sent later in the same direction, all links.
  std::uint64_t packets_reordered() const;
  /// Packets dropped by loss models and dark links so far.
  std::uint64_t packets_dropped() const;

  /// FNV-1a hash over every packet put on a link (time, device, bytes) and
  /// every transport event: equal for equal worlds, seeds and workloads.
  std::uint64_t trace_hash() const;
  std::uint64_t packets_sent() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace connfail::sim
