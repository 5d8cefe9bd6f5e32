// ns-3 TCP sockets on a SimWorld node, for code written directly against
// ns-3's socket API instead of netcore (bench/sim_scale_bench's baseline).
// They are the sim's TCP: ns-3 3.37's TcpSocketBase with the fixes described
// in docs/sim.md, indexed by the node's TcpDemux, so such code and netcore on
// SimTransport run on the same TCP and differ only in what sits above it.
// Unlike sim_world.h this header exposes ns-3 types: include it only from
// code that is ns-3 code already.
#pragma once

#include <ns3/node.h>
#include <ns3/socket.h>

#include <string>

namespace connfail::sim {

class SimWorld;

/// The ns-3 node of `world`'s node `name` ("server", "client0", ...).
/// Throws std::out_of_range for an unknown name.
ns3::Ptr<ns3::Node> NodeOf(SimWorld& world, const std::string& name);

/// A new, unbound TCP socket on `node`, as ns3::Socket::CreateSocket(node,
/// TcpSocketFactory) would make, but of the sim's socket type.
ns3::Ptr<ns3::Socket> CreateTcpSocket(ns3::Ptr<ns3::Node> node);

}  // namespace connfail::sim
