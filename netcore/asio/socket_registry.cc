#include "connfail/netcore/asio/socket_registry.h"

#include <algorithm>

#include "connfail/netcore/asio/asio_listener.h"
#include "connfail/netcore/asio/asio_socket.h"
#include "connfail/netcore/asio/kernel_tcp_table.h"

namespace netcore::asio {

bool PortPairSet::insert(std::uint16_t local, std::uint16_t remote) {
  auto& bits = by_remote_[remote];
  if (!bits) bits = std::make_unique<std::bitset<65536>>();
  if (bits->test(local)) return false;
  bits->set(local);
  ++size_;
  return true;
}

bool PortPairSet::contains(std::uint16_t local, std::uint16_t remote) const {
  auto it = by_remote_.find(remote);
  return it != by_remote_.end() && it->second->test(local);
}

std::uint64_t SocketRegistry::next_socket_id() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_id_++;
}

void SocketRegistry::track(const std::shared_ptr<AsioSocket>& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sockets_.size() >= prune_sockets_at_) {
    for (auto it = sockets_.begin(); it != sockets_.end();) it = it->second.expired() ? sockets_.erase(it) : std::next(it);
    prune_sockets_at_ = std::max<std::size_t>(1024, 2 * sockets_.size());
  }
  sockets_[s->id()] = s;
}

void SocketRegistry::track_listener(const std::shared_ptr<AsioListener>& l, std::uint16_t port) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(), [](const auto& w) { return w.expired(); }),
                   listeners_.end());
  listeners_.push_back(l);
  listener_ports_.insert(port);
}

void SocketRegistry::note_client_pair(std::uint16_t local, std::uint16_t remote) {
  std::lock_guard<std::mutex> lock(mu_);
  if (client_pairs_.size() >= prune_pairs_at_) {
    // Keep the pairs the kernel still has a row for (open, or TIME_WAIT and
    // the like, which the inventory reports as ours); the rest are gone. The
    // filter collects them and keeps no row: nothing is built per row.
    PortPairSet seen;
    (void)read_kernel_tcp_table([&](std::uint16_t l, std::uint16_t r, unsigned long) {
      if (client_pairs_.contains(l, r)) seen.insert(l, r);
      return false;
    });
    client_pairs_.swap(seen);
    prune_pairs_at_ = std::max<std::size_t>(4096, 2 * client_pairs_.size());
  }
  client_pairs_.insert(local, remote);
}

void SocketRegistry::count_accept_error() {
  std::lock_guard<std::mutex> lock(mu_);
  ++accept_errors_;
}

std::uint64_t SocketRegistry::accept_errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accept_errors_;
}

std::vector<std::shared_ptr<AsioSocket>> SocketRegistry::sockets() const {
  std::vector<std::weak_ptr<AsioSocket>> weak;
  {
    std::lock_guard<std::mutex> lock(mu_);
    weak.reserve(sockets_.size());
    for (const auto& [id, w] : sockets_) weak.push_back(w);
  }
  std::vector<std::shared_ptr<AsioSocket>> out;
  for (auto& w : weak)
    if (auto s = w.lock()) out.push_back(std::move(s));
  return out;
}

std::vector<std::shared_ptr<AsioListener>> SocketRegistry::listeners() const {
  std::vector<std::weak_ptr<AsioListener>> weak;
  {
    std::lock_guard<std::mutex> lock(mu_);
    weak = listeners_;
  }
  std::vector<std::shared_ptr<AsioListener>> out;
  for (auto& w : weak)
    if (auto l = w.lock()) out.push_back(std::move(l));
  return out;
}

std::set<std::uint16_t> SocketRegistry::listener_ports() const {
  std::lock_guard<std::mutex> lock(mu_);
  return listener_ports_;
}

bool SocketRegistry::has_client_pair(std::uint16_t local, std::uint16_t remote) const {
  std::lock_guard<std::mutex> lock(mu_);
  return client_pairs_.contains(local, remote);
}

std::size_t SocketRegistry::tracked_sockets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sockets_.size();
}

std::size_t SocketRegistry::tracked_client_pairs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return client_pairs_.size();
}

}  // namespace netcore::asio
