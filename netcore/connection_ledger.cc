#include "connfail/netcore/connection_ledger.h"

namespace netcore {

const char* to_string(Side s) { return s == Side::Server ? "server" : "client"; }

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::Normal: return "normal";
    case CloseReason::PeerClosed: return "peer-closed";
    case CloseReason::Reset: return "reset";
    case CloseReason::Idle: return "idle";
    case CloseReason::Exception: return "exception";
    case CloseReason::AcceptFailure: return "accept-failure";
    case CloseReason::WriteError: return "write-error";
    case CloseReason::TimedOut: return "timed-out";
    case CloseReason::Error: return "error";
    case CloseReason::Aborted: return "aborted";
    case CloseReason::Keepalive: return "keepalive";
    case CloseReason::UserTimeout: return "user-timeout";
  }
  return "?";
}

CloseReason close_reason_for(SocketError e) {
  switch (e) {
    case SocketError::Reset: return CloseReason::Reset;
    case SocketError::TimedOut: return CloseReason::TimedOut;
    case SocketError::KeepaliveTimedOut: return CloseReason::Keepalive;
    case SocketError::UserTimedOut: return CloseReason::UserTimeout;
    default: return CloseReason::Error;
  }
}

std::uint64_t ConnectionLedger::open(Side side, std::uint64_t socket_id, Address local,
                                     Address remote, TimePoint now, std::string label) {
  std::lock_guard<std::mutex> lock(mu_);
  return open_locked(side, socket_id, std::move(local), std::move(remote), now, std::move(label));
}

std::uint64_t ConnectionLedger::open_locked(Side side, std::uint64_t socket_id, Address local, Address remote,
                                            TimePoint now, std::string label) {
  LedgerEntry e;
  e.id = entries_.size() + 1;
  e.side = side;
  e.label = std::move(label);
  e.socket_id = socket_id;
  e.local = std::move(local);
  e.remote = std::move(remote);
  e.opened_at = now;
  entries_.push_back(std::move(e));
  ++open_;
  return entries_.back().id;
}

std::uint64_t ConnectionLedger::record_failed(Side side, std::uint64_t socket_id, Address local,
                                              Address remote, TimePoint now, CloseReason reason,
                                              std::string detail) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::uint64_t id = open_locked(side, socket_id, std::move(local), std::move(remote), now, {});
  close_locked(id, now, reason, std::move(detail));
  return id;
}

void ConnectionLedger::close(std::uint64_t id, TimePoint now, CloseReason reason,
                             std::string detail) {
  std::lock_guard<std::mutex> lock(mu_);
  close_locked(id, now, reason, std::move(detail));
}

void ConnectionLedger::close_locked(std::uint64_t id, TimePoint now, CloseReason reason, std::string detail) {
  if (id == 0 || id > entries_.size()) return;
  LedgerEntry& e = entries_[id - 1];
  if (e.closed_at) return;
  e.closed_at = now;
  e.reason = reason;
  e.detail = std::move(detail);
  --open_;
  channels_.erase(id);
}

void ConnectionLedger::attach(std::uint64_t id, std::weak_ptr<Channel> channel) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id == 0 || id > entries_.size() || entries_[id - 1].closed_at) return;
  channels_[id] = std::move(channel);
}

std::vector<std::shared_ptr<Channel>> ConnectionLedger::open_channels() const {
  std::vector<std::weak_ptr<Channel>> weak_copies;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, weak] : channels_) weak_copies.push_back(weak);
  }
  // Locked outside the ledger's lock: the last owner of a channel may be
  // its loop, and a channel's destructor may write the ledger.
  std::vector<std::shared_ptr<Channel>> out;
  for (const auto& weak : weak_copies)
    if (auto ch = weak.lock()) out.push_back(std::move(ch));
  return out;
}

std::vector<LedgerEntry> ConnectionLedger::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_;
}

std::size_t ConnectionLedger::open_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

const LedgerEntry* ConnectionLedger::find(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (id == 0 || id > entries_.size()) return nullptr;
  return &entries_[id - 1];
}

std::size_t ConnectionLedger::count(CloseReason r) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& e : entries_)
    if (e.closed_at && e.reason == r) ++n;
  return n;
}

std::vector<LedgerEntry> ConnectionLedger::open_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LedgerEntry> out;
  for (const auto& e : entries_)
    if (e.is_open()) out.push_back(e);
  return out;
}

}  // namespace netcore
