// SimWorld: a small ns-3 network (a server node, client hosts and an optional
// backend, each joined to the server by its own point-to-point link) with one
// netcore Transport per node, all driven by the ns-3 scheduler in simulated
// time, plus the faults a test needs: loss, jitter, dark links and vanished
// nodes, middlebox resets, scheduled changes, pcap. See docs/sim.md.
// No ns-3 type appears in this header.
//
// ns-3's simulator is a process-wide singleton: at most one SimWorld may exist
// at a time (constructing a second throws).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "connfail/netcore/transport.h"
#include "connfail/sim/tcp_profile.h"

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
  /// Every client link's rate and delay, unless overridden below.
  LinkSpec link;
  /// Per-client-host link overrides, keyed by host name ("client3"). An
  /// unknown name makes the constructor throw std::invalid_argument.
  std::map<std::string, LinkSpec> client_links;
  /// Adds a node "backend" linked to "server" only (e.g. a proxy's upstream),
  /// on its own link `backend_link`. Its presence changes nothing on the
  /// client links (other nodes, streams, addresses and traces stay the same).
  bool backend = false;
  LinkSpec backend_link;
  /// TCP maximum segment size in bytes.
  std::uint32_t segment_size = 1448;
  /// Which TCP the sim imitates (Linux by default; sim/tcp_profile.h).
  TcpProfile tcp;
  /// Find each incoming segment's socket with ns-3's own endpoint lookup,
  /// which walks every endpoint on the node, instead of the hash index in
  /// front of it (sim/tcp_demux.h). The results are the same byte for byte
  /// (a test compares them); only the speed differs, by a factor that grows
  /// with the connections per node. For that test and for measuring.
  bool linear_demux = false;
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
  /// Which directions get the extra delay (host -> server, server -> host).
  bool to_server = true;
  bool from_server = true;
};

/// One TCP state change of one simulated socket.
struct StateChange {
  netcore::Duration t{};   // simulated time
  std::uint64_t socket = 0;  // serial number, unique in the world (1, 2, ... in creation order)
  std::string node;
  netcore::TcpState from = netcore::TcpState::Closed;
  netcore::TcpState to = netcore::TcpState::Closed;
  netcore::Address local, remote;  // the socket's addresses at that moment (empty before it had any)
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
  /// The address other nodes use to reach `node` (the server: its interface
  /// on client0's link; every node is reachable from every other one).
  std::string address_of(const std::string& node) const;
  std::vector<std::string> nodes() const;
  /// Every node's sockets.
  std::vector<netcore::SocketInfo> inventory() const;

  // ---- Links. A link is named by its host: "client<i>" or "backend" (the
  // other end is always "server").

  /// Sets the loss of packets travelling from node `from` to node `to`
  /// (directly linked: one of them is "server"), replacing any earlier model.
  /// Throws std::invalid_argument for unlinked nodes or out-of-range values.
  /// Each call starts the model's random draws afresh (fixed stream per link
  /// and direction).
  void set_loss(const std::string& from, const std::string& to, const LossSpec& spec);
  /// Cuts (up = false) or restores the link of host `host` ("client<i>" or
  /// "backend") in both directions: every packet on it is dropped in silence
  /// while it is down. A client whose link goes down and never comes back is
  /// a half-open peer as its server sees it; down then up is a partition that
  /// heals.
  void set_link_up(const std::string& host, bool up);
  /// False while the link is cut or either of its nodes is down.
  bool link_up(const std::string& host) const;
  /// Takes node `node` off the network (up = false) or back: every link of
  /// the node goes dark (for "server": every client link and the backend
  /// link). Nothing is sent, no socket changes state: the node's peers see
  /// silence, as when a host vanishes. Independent of set_link_up: a link
  /// carries packets only while it is not cut and both its nodes are up.
  void set_node_up(const std::string& node, bool up);
  bool node_up(const std::string& node) const;
  /// Sets the jitter of host `host`'s link (both directions).
  void set_jitter(const std::string& host, const JitterSpec& spec);
  /// Packets delivered after one sent later in the same direction, all links.
  std::uint64_t packets_reordered() const;
  /// Packets dropped by loss models and dark links so far.
  std::uint64_t packets_dropped() const;

  // ---- Scheduled faults (simulated time).

  /// Runs `fn` at absolute simulated time `t` (loop time since the world was
  /// built), after everything already scheduled for `t`. Not a loop timer:
  /// not counted in loop().pending_timers(). Throws std::invalid_argument if
  /// `t` is in the past.
  void at(netcore::Duration t, std::function<void()> fn);
  /// set_loss(from, to, spec) at time `t`; nodes and spec are checked now.
  void schedule_loss(netcore::Duration t, const std::string& from, const std::string& to, const LossSpec& spec);

  // ---- Middlebox reset.

  /// A middlebox on the path resets the connection between `a` and `b`
  /// (either order; addresses as the sockets see them, e.g. a channel's
  /// local and remote address): for each endpoint of it still in a
  /// synchronized state, a real RST segment (IPv4 + TCP, flag RST only,
  /// sequence number = that endpoint's RCV.NXT now) is put on the wire of the
  /// endpoint's own link at the far end, addressed to it as if from its peer.
  /// It is captured by pcap, can be lost (loss, dark link) and is hashed like
  /// any packet. The endpoint reports SocketError::Reset. Returns how many
  /// RSTs were sent (0: no such connection).
  std::size_t inject_rst(const netcore::Address& a, const netcore::Address& b);

  // ---- Packet capture.

  /// Starts writing standard pcap files (link type PPP, microsecond
  /// timestamps in simulated time) on both devices of one link (`host` =
  /// "client<i>" or "backend") or of every link (`host` empty). One file per
  /// device: "<path_prefix>-<node>-<peer>.pcap", e.g. "run-server-client0.pcap"
  /// is the server's interface towards client0. A device's file holds what it
  /// sent and what it received; packets its receive side dropped (loss, dark
  /// link) are only in the sender's file. Returns the file names. Files are
  /// complete once disable_pcap() ran or the world is destroyed.
  std::vector<std::string> enable_pcap(const std::string& path_prefix, const std::string& host = {});
  /// Stops every capture and closes its file.
  void disable_pcap();

  /// Every TCP state change of every socket so far, in time order.
  const std::vector<StateChange>& state_changes() const;

  /// FNV-1a hash over every packet put on a link (time, device, bytes) and
  /// every transport event: equal for equal worlds, seeds and workloads.
  std::uint64_t trace_hash() const;
  /// Segments delivered to a socket through the hash index, and those left
  /// to ns-3's linear lookup (SYNs to listeners, a connection's first
  /// segment), summed over all nodes. `stale`: index entries found to name
  /// a socket whose endpoint went away or changed (dropped, the segment left
  /// to the lookup). All 0 with linear_demux: no index.
  struct DemuxCounts {
    std::uint64_t indexed = 0, linear = 0, stale = 0;
  };
  DemuxCounts demux_counts() const;
  /// Packets put on any link (both directions), injected RSTs included.
  std::uint64_t packets_sent() const;
  /// Packets put on host `host`'s link, both directions.
  std::uint64_t packets_sent(const std::string& host) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace connfail::sim
