// ConnectionLedger: every channel ever opened, with open/close time, side and
// close reason. It is the single source of truth about what netcore holds
// open; the leak check joins it with a transport's socket inventory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "connfail/netcore/transport.h"

namespace netcore {

class Channel;

enum class Side { Server, Client };
const char* to_string(Side s);

enum class CloseReason {
  Normal,         // closed by the application
  PeerClosed,     // the peer sent FIN
  Reset,          // the peer (or the network) sent RST
  Idle,           // an idle check closed it
  Exception,      // an exception no handler consumed
  AcceptFailure,  // setting up an accepted child failed; force-closed
  WriteError,     // a write failed
  TimedOut,       // the TCP stack gave up (retransmissions exhausted)
  Error,          // any other transport error
  Aborted,        // closed by its own side with RST (Channel::abort)
  Keepalive,      // SO_KEEPALIVE's probes went unanswered (TcpOptions)
  UserTimeout,    // TCP_USER_TIMEOUT expired on unacknowledged data (TcpOptions)
};
const char* to_string(CloseReason r);
CloseReason close_reason_for(SocketError e);

struct LedgerEntry {
  std::uint64_t id = 0;
  Side side = Side::Server;
  std::string label;  // free text set by whoever opened it ("echo", "proxy-backend"...)
  std::uint64_t socket_id = 0;
  Address local;
  Address remote;
  TimePoint opened_at{};
  std::optional<TimePoint> closed_at;
  CloseReason reason = CloseReason::Normal;
  std::string detail;  // e.g. the unhandled exception's what()
  bool is_open() const { return !closed_at.has_value(); }
};

/// Thread-safe: the channels of several loops (an EventLoopGroup) write one
/// ledger. entries() and find() hand out references into it: use them where
/// no other loop writes (one loop, or after the loops stopped); snapshot()
/// from anywhere.
class ConnectionLedger {
 public:
  std::uint64_t open(Side side, std::uint64_t socket_id, Address local, Address remote,
                     TimePoint now, std::string label = {});
  /// Records a connection that never became a channel (its set-up failed and
  /// it was force-closed): opened and closed at `now` with `reason`.
  std::uint64_t record_failed(Side side, std::uint64_t socket_id, Address local, Address remote,
                              TimePoint now, CloseReason reason, std::string detail);
  /// Records the close. Closing an id twice keeps the first record.
  void close(std::uint64_t id, TimePoint now, CloseReason reason, std::string detail = {});

  const LedgerEntry* find(std::uint64_t id) const;
  const std::vector<LedgerEntry>& entries() const { return entries_; }
  /// A copy of every entry, taken under the ledger's lock.
  std::vector<LedgerEntry> snapshot() const;
  std::size_t open_count() const;
  std::size_t count(CloseReason r) const;
  std::vector<LedgerEntry> open_entries() const;

  /// The channel behind open entry `id` (Channel::activate attaches it), so
  /// that whoever shuts a world down can close what is still open, like
  /// Netty's ChannelGroup. Held weakly; dropped at close.
  void attach(std::uint64_t id, std::weak_ptr<Channel> channel);
  /// Every attached channel still open, in id order.
  std::vector<std::shared_ptr<Channel>> open_channels() const;

 private:
  std::uint64_t open_locked(Side side, std::uint64_t socket_id, Address local, Address remote, TimePoint now,
                            std::string label);
  void close_locked(std::uint64_t id, TimePoint now, CloseReason reason, std::string detail);

  mutable std::mutex mu_;
  std::vector<LedgerEntry> entries_;  // index = id - 1
  std::size_t open_ = 0;
  std::map<std::uint64_t, std::weak_ptr<Channel>> channels_;
};

}  // namespace netcore
