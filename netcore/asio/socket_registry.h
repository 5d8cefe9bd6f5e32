// SocketRegistry: what an Asio transport knows about its sockets, for the
// inventory: every socket and listener it made (held weakly), the ports it
// listens on, and the (local, remote) port pairs of the connections it made
// (kept while the kernel shows a row for them, TIME_WAIT included). Shared
// (shared_ptr) by the transport and every socket and listener, so that none
// of them holds a reference to a transport it can outlive; locked, so that
// the loops of an EventLoopGroup can all register at once.
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

namespace netcore::asio {

class AsioSocket;
class AsioListener;

/// A set of (local port, remote port) pairs, one bit each: a bitmap of the
/// 65536 local ports per remote port seen (8 KiB each). The registry keeps
/// the pairs of its connections in one, for as long as the kernel shows a
/// row for them (TIME_WAIT included): up to the kernel's cap on TIME_WAIT
/// sockets (net.ipv4.tcp_max_tw_buckets), which a std::set would hold at
/// 48 bytes a pair.
class PortPairSet {
 public:
  /// False when the pair was already there.
  bool insert(std::uint16_t local, std::uint16_t remote);
  bool contains(std::uint16_t local, std::uint16_t remote) const;
  std::size_t size() const { return size_; }
  void swap(PortPairSet& o) noexcept {
    by_remote_.swap(o.by_remote_);
    std::swap(size_, o.size_);
  }

 private:
  std::map<std::uint16_t, std::unique_ptr<std::bitset<65536>>> by_remote_;
  std::size_t size_ = 0;
};

class SocketRegistry {
 public:
  std::uint64_t next_socket_id();
  void track(const std::shared_ptr<AsioSocket>& s);
  void track_listener(const std::shared_ptr<AsioListener>& l, std::uint16_t port);
  void note_client_pair(std::uint16_t local, std::uint16_t remote);
  void count_accept_error();
  std::uint64_t accept_errors() const;

  /// Every socket and listener still alive (locked, then released).
  std::vector<std::shared_ptr<AsioSocket>> sockets() const;
  std::vector<std::shared_ptr<AsioListener>> listeners() const;
  /// Copies, under the lock.
  std::set<std::uint16_t> listener_ports() const;
  bool has_client_pair(std::uint16_t local, std::uint16_t remote) const;

  /// Bookkeeping entries held: pruned as they grow, so a long run stays
  /// bounded (tests).
  std::size_t tracked_sockets() const;
  std::size_t tracked_client_pairs() const;

 private:
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  std::uint64_t accept_errors_ = 0;
  std::map<std::uint64_t, std::weak_ptr<AsioSocket>> sockets_;
  std::vector<std::weak_ptr<AsioListener>> listeners_;
  std::set<std::uint16_t> listener_ports_;  // every port we listened on
  PortPairSet client_pairs_;                // (local, remote) of our connects
  // Pruned when they reach these sizes (then twice what is left): an
  // expired weak_ptr still pins its make_shared block (the socket object),
  // and a pair is kept only while the kernel shows it.
  std::size_t prune_sockets_at_ = 1024;
  std::size_t prune_pairs_at_ = 4096;
};

}  // namespace netcore::asio
