// The transport seam on ns-3 TCP sockets, for one node. Internal to sim/:
// users reach it through SimWorld::transport().
#pragma once

#include <ns3/node.h>
#include <ns3/ptr.h>

#include <map>
#include <memory>
#include <string>

#include "connfail/netcore/transport.h"
#include "connfail/sim/cf_tcp_socket.h"
#include "connfail/sim/ns3_loop.h"

namespace connfail::sim {

class SimSocket;
class SimListener;
struct TraceSink;

/// ns-3's TCP state as netcore names it.
netcore::TcpState to_state(ns3::TcpSocket::TcpStates_t s);

class SimTransport final : public netcore::Transport {
 public:
  SimTransport(Ns3Loop& loop, ns3::Ptr<ns3::Node> node, std::string name, TraceSink& trace);
  ~SimTransport() override;
  netcore::EventLoop& loop() override { return loop_; }
  Ns3Loop& ns3_loop() { return loop_; }
  std::string name() const override { return "sim"; }
  std::shared_ptr<netcore::Listener> listen(const netcore::ListenOptions& opts,
                                            netcore::Listener::AcceptFn on_accept) override;
  void connect(const netcore::Address& to, netcore::Duration timeout, ConnectFn done) override;
  /// No source addresses on the sim: `source_host` is ignored.
  void connect_from(const std::string& source_host, const netcore::Address& to, netcore::Duration timeout,
                    ConnectFn done, std::shared_ptr<netcore::ConnectCanceller> cancel = nullptr) override;
  std::vector<netcore::SocketInfo> inventory() const override;

  const std::string& node_name() const { return name_; }
  ns3::Ptr<ns3::Node> node() const { return node_; }
  TraceSink& trace() { return trace_; }
  /// Ids are unique across the world's transports (deterministic).
  std::uint64_t next_socket_id();

 private:
  Ns3Loop& loop_;
  ns3::Ptr<ns3::Node> node_;
  std::string name_;
  TraceSink& trace_;
  std::map<std::uint64_t, std::weak_ptr<SimListener>> listeners_;
};

/// Hash of everything that happened in a world (see SimWorld::trace_hash).
struct TraceSink {
  std::uint64_t hash = 1469598103934665603ull;
  std::uint64_t packets = 0;
  std::uint64_t next_socket_id = 1;
  void mix(const void* data, std::size_t n) {
    auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      hash ^= p[i];
      hash *= 1099511628211ull;
    }
  }
  void event(std::int64_t time_ns, std::uint64_t socket, const char* what);
};

}  // namespace connfail::sim
