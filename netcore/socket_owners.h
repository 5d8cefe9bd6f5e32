// Socket ownership: joins a transport's socket inventory with the connection
// ledgers of the code that runs on it, and names every socket that is alive,
// not on its way out by itself, and held by no open channel -- an orphan.
// Transport-agnostic (works on Asio and sim inventories alike).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/transport.h"

namespace netcore {

struct OwnedSocket {
  SocketInfo info;
  /// Ledger id of the open channel that owns the socket, if any.
  std::optional<std::uint64_t> channel_id;
  /// Alive, not a listener, not closing by itself, and no open channel owns it.
  bool orphan = false;
};

/// One entry per inventory row, in inventory order. A socket is owned by the
/// open ledger entry with the same socket_id (socket_id 0 is never owned).
/// Not orphans: listeners, sockets in a closing state (is_closing_state:
/// FIN_WAIT_*, CLOSING, LAST_ACK, TIME_WAIT, CLOSED) and handshakes in
/// progress (SYN_SENT, SYN_RCVD: no application could own them yet).
/// Everything else without an owner -- ESTABLISHED, CLOSE_WAIT -- is an orphan,
/// including a connection completed into a paused listener's accept queue.
/// When several ledgers hold an open entry for the socket, the first wins.
std::vector<OwnedSocket> attribute_owners(const std::vector<SocketInfo>& inventory,
                                          const std::vector<const ConnectionLedger*>& ledgers);

/// Only the orphans of attribute_owners().
std::vector<OwnedSocket> orphans(const std::vector<OwnedSocket>& owned);

/// One line, e.g.
///   "server 10.0.1.1:9 -> 10.0.1.2:49153 CLOSE_WAIT for 12.500s ORPHAN"
///   "client0 10.0.1.2:49153 -> 10.0.1.1:9 ESTABLISHED for 3.000s channel #1"
/// ("for ..." only when the transport knows the time in state; a socket that
/// is neither owned nor an orphan says why: "listener", "closing", "handshake").
std::string describe(const OwnedSocket& s);

}  // namespace netcore
