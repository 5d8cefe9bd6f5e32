#include "connfail/netcore/socket_owners.h"

#include <cstdio>
#include <map>

namespace netcore {

namespace {

bool is_listener(const SocketInfo& s) { return s.role == SocketRole::Listener || s.state == TcpState::Listen; }
bool is_handshake(TcpState s) { return s == TcpState::SynSent || s == TcpState::SynRcvd; }

}  // namespace

std::vector<OwnedSocket> attribute_owners(const std::vector<SocketInfo>& inventory,
                                          const std::vector<const ConnectionLedger*>& ledgers) {
  // The open entries' socket ids, from one copy of each ledger (its
  // channels may be writing it from other loops); the first ledger wins.
  std::map<std::uint64_t, std::uint64_t> owner;  // socket id -> entry id
  for (const ConnectionLedger* ledger : ledgers) {
    if (ledger == nullptr) continue;
    for (const LedgerEntry& e : ledger->snapshot())
      if (e.is_open() && e.socket_id != 0) owner.emplace(e.socket_id, e.id);
  }
  std::vector<OwnedSocket> out;
  out.reserve(inventory.size());
  for (const SocketInfo& s : inventory) {
    OwnedSocket o;
    o.info = s;
    if (auto it = owner.find(s.socket_id); s.socket_id != 0 && it != owner.end()) o.channel_id = it->second;
    // is_closing_state covers TIME_WAIT and CLOSED as well.
    o.orphan = !o.channel_id && !is_listener(s) && !is_closing_state(s.state) && !is_handshake(s.state);
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<OwnedSocket> orphans(const std::vector<OwnedSocket>& owned) {
  std::vector<OwnedSocket> out;
  for (const auto& o : owned)
    if (o.orphan) out.push_back(o);
  return out;
}

std::string describe(const OwnedSocket& s) {
  const SocketInfo& i = s.info;
  std::string line = i.node.empty() ? std::string("?") : i.node;
  line += ' ';
  line += i.local.to_string();
  line += " -> ";
  line += i.remote.to_string();
  line += ' ';
  line += to_string(i.state);
  if (i.in_state_for) {
    // Milliseconds, printed as seconds with three decimals.
    const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(*i.in_state_for).count();
    char buf[48];
    std::snprintf(buf, sizeof buf, " for %lld.%03llds", ms / 1000, ms % 1000);
    line += buf;
  }
  line += ' ';
  if (s.channel_id) {
    line += "channel #" + std::to_string(*s.channel_id);
  } else if (s.orphan) {
    line += "ORPHAN";
  } else if (is_listener(i)) {
    line += "listener";
  } else if (is_handshake(i.state)) {
    line += "handshake";
  } else {
    line += "closing";
  }
  return line;
}

}  // namespace netcore
