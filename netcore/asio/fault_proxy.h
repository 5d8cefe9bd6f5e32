// FaultProxy: a userspace TCP proxy that puts real-transport faults between a
// client and a server, with the knobs of the well-known "toxics": latency and
// jitter per chunk, a bandwidth limit, a slicer, a blackhole (a half-open peer
// as the server sees it), reset_peer (RST both ways) and slow_close.
//
// It is netcore's own proxy (ProxyFrontend/ProxyBackend) with one extra
// handler per side, placed nearest the socket: every chunk written towards a
// peer passes through it, so a toxic can delay, pace, slice or discard it,
// and the proxy's write-completion callback (which requests the next read)
// only runs once the toxic has really handed the chunk to the socket. The
// proxy's guarantees therefore hold with or without toxics: at most one chunk
// per direction is held (bounded memory, the peer's TCP window does the
// rest), nothing is reordered or duplicated, and without a blackhole nothing
// is lost. A close travels as an empty write behind the data in the same
// queue, so latency never lets a close overtake data either. An ending keeps
// its kind across the proxy: a FIN from one side reaches the other as a FIN,
// a reset (RST) as a reset, as it would through a plain network path.
//
// Directions: Upstream = client -> server, Downstream = server -> client.
//
// Everything runs on the transport's loop (single-threaded): create it, call
// the setters (at any time, also while chunks are in flight; a change applies
// from the next chunk or slice on) and read the counters there. It needs no
// Asio API and runs on any netcore::Transport; it lives here because the real
// transport is where a userspace proxy is the way to inject these faults.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/transport.h"

namespace netcore::asio {

enum class Direction { Upstream, Downstream };
const char* to_string(Direction d);

/// The toxics of one direction. All off by default (zero).
struct Toxics {
  /// Every chunk is held for latency + a uniform extra delay in [0, jitter]
  /// (seeded). A chunk never overtakes an earlier one of the same direction.
  Duration latency = Duration::zero();
  Duration jitter = Duration::zero();
  /// Bytes per second, paced in slices of about 10 ms of data: a slice is
  /// written only once its transmission time at this rate has passed.
  /// 0: unlimited.
  std::uint64_t bandwidth = 0;
  /// Split each chunk into pieces of slice_average +- slice_variation bytes
  /// (at least 1), with slice_delay between pieces. 0: no slicing.
  std::size_t slice_average = 0;
  std::size_t slice_variation = 0;
  Duration slice_delay = Duration::zero();
  /// A close (FIN, reset or error) of the side this direction starts from
  /// reaches the other side only after this delay (Upstream: the client's
  /// close reaches the server late).
  Duration slow_close = Duration::zero();

  bool any() const;
};

struct DirectionCounters {
  std::uint64_t chunks = 0;           // non-empty chunks read from the source side
  std::uint64_t bytes = 0;            // bytes handed to the destination socket
  std::uint64_t writes = 0;           // non-empty writes to the destination (slices count one each)
  std::uint64_t chunks_delayed = 0;   // chunks held back by latency, jitter, bandwidth or slicing
  std::uint64_t bytes_discarded = 0;  // dropped by the blackhole
  std::size_t max_held_bytes = 0;     // most bytes the toxic stage held at once (bounded memory)
};

struct FaultProxyCounters {
  std::uint64_t connections = 0;               // client connections accepted
  std::uint64_t backend_connect_failures = 0;  // upstream connects that failed
  std::uint64_t resets = 0;                    // connections reset (RST to both sides)
  std::uint64_t closes_delayed = 0;            // close propagations delayed by slow_close
  std::uint64_t closes_held = 0;               // close propagations held by the blackhole
  std::uint64_t connects_cancelled = 0;        // upstream connects still pending at close()
  DirectionCounters up;                        // client -> server
  DirectionCounters down;                      // server -> client
};

class FaultProxy {
 public:
  /// Listens on `listen` (port 0: any free port) and proxies every accepted
  /// connection to `upstream`. `seed` drives jitter and slice sizes (one
  /// generator per connection and direction, derived from it). Throws if the
  /// address cannot be bound.
  /// `source_host`: the upstream connections' source address ("" = any),
  /// so that packet filters can tell this proxy's traffic apart.
  /// `connect_timeout`: how long an upstream connect may take before the
  /// proxy gives up and closes the client's side (a client's connect to
  /// the proxy succeeds at once, so this is the client's real connect
  /// timeout: give it the client's own).
  static std::shared_ptr<FaultProxy> start(Transport& transport, Address listen, Address upstream,
                                           std::uint64_t seed, const std::string& source_host = "",
                                           Duration connect_timeout = std::chrono::seconds(5));
  /// Closes everything (see close()).
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  Address local_address() const { return local_; }
  Address upstream() const { return upstream_; }

  /// The proxy's own ledger: both channels of every proxied connection
  /// (client side: Side::Server, label "fault-proxy"; server side:
  /// Side::Client, label "proxy-backend").
  const ConnectionLedger& ledger() const;
  /// True for the socket of an open proxy channel: tells the proxy's sockets
  /// from the server's and the clients' in a shared transport's inventory.
  bool owns_socket(std::uint64_t socket_id) const;
  /// The rows of the transport's inventory that belong to the proxy: its
  /// listening port (listener, accepted sockets, accept queue, TIME_WAIT) and
  /// the exact port pairs of its upstream connections.
  std::vector<SocketInfo> inventory() const;
  /// True if `s` (a row of the transport's inventory) is one of the proxy's:
  /// the test inventory() applies, without reading the inventory again.
  bool owns(const SocketInfo& s) const;
  /// Open proxied connections (client side still open).
  std::size_t open_connections() const;

  // -- toxics (any time, on the loop) --
  void set_toxics(Direction d, const Toxics& t);
  const Toxics& toxics(Direction d) const;
  void set_latency(Direction d, Duration latency, Duration jitter = Duration::zero());
  void set_bandwidth(Direction d, std::uint64_t bytes_per_second);
  void set_slicer(Direction d, std::size_t average, std::size_t variation, Duration delay);
  void set_slow_close(Direction d, Duration delay);
  /// On: stop forwarding both ways, discard whatever arrives (the senders'
  /// writes succeed), hold any close, keep every socket open; new connections
  /// are still accepted and connected upstream (as the toxic's model does),
  /// only their data vanishes. Off: forwarding resumes with new data, and a
  /// close held meanwhile is propagated (with slow_close if set).
  void set_blackhole(bool on);
  bool blackholed() const;
  /// Aborts both sides of every current connection now (RST to the client
  /// and to the server). Returns how many connections were reset. A
  /// connection whose upstream connect is still pending is reset on the
  /// client side; its upstream side is closed as soon as it connects.
  std::size_t reset_peer();
  /// Resets every connection `after` it was accepted (connections already
  /// open: `after` from now). Zero: off (pending resets are cancelled).
  void set_reset_after(Duration after);
  /// Turns every toxic off (both directions, blackhole, reset_after). A
  /// close held by the blackhole is propagated.
  void clear_toxics();

  FaultProxyCounters counters() const;

  /// Off: the proxy stops listening (a connect to its port is refused, as
  /// one to a server that is down); the connections it holds are left
  /// alone. On: it listens again on the same port. A server restart behind
  /// the proxy looks, to the clients, as the restart itself would.
  void set_listening(bool on);

  /// Closes the listener and every proxied connection (both sides, FIN),
  /// dropping anything the toxics still hold, and cancels every upstream
  /// connect still pending (its socket and timer go at once). Idempotent.
  void close();
  /// Upstream connects started and not yet finished.
  std::size_t pending_backend_connects() const;
  bool closed() const;

  struct Core;  // shared with the per-connection handlers (outlives the proxy if needed)

 private:
  FaultProxy(Transport& t, std::shared_ptr<Core> core, Address upstream);

  Transport& transport_;
  std::shared_ptr<Core> core_;
  std::shared_ptr<Acceptor> acceptor_;
  PipelineInit child_init_;
  AcceptorOptions acceptor_options_;
  Address local_;
  Address upstream_;
};

}  // namespace netcore::asio
