// TcpDemux: a constant-time front for ns-3 3.37's TCP receive path.
//
// ns-3's TcpL4Protocol finds the socket for an incoming segment with
// Ipv4EndPointDemux::Lookup, which walks every endpoint on the node. A server
// holding 10,000 connections walks 10,000 endpoints per packet: at that size
// the walk is 83-87% of the simulation's CPU (bench/README.md). The list is
// private and Allocate/DeAllocate are not virtual, so the walk cannot be
// replaced in TcpL4Protocol itself.
//
// TcpDemux takes TCP's place (protocol 6) in the node's Ipv4L3Protocol table
// and keeps a hash index from a connection's 4-tuple to its CfTcpSocket. A
// segment whose 4-tuple is indexed, whose socket still holds an endpoint with
// exactly that 4-tuple, able to receive and not bound to another device, goes
// straight to that endpoint: the socket ns-3's Lookup would pick, since an
// exact 4-tuple match always wins there and two exact matches abort ns-3.
// A connection request (SYN alone) with no indexed 4-tuple goes straight to
// the one listener ns-3's Lookup would pick: the listening CfTcpSocket on the
// segment's port whose endpoint names the destination address exactly, else
// the one bound to any address (when two would tie, ns-3 aborts: the segment
// is left to it). Everything else (unindexed sockets, segments to no
// socket, checksums on, IPv6, ICMP) goes to TcpL4Protocol unchanged. Sockets
// index themselves as soon as their endpoint is fully specified (connect,
// fork, or a segment reaching them), listeners register when they listen,
// and both leave when destroyed; an entry whose socket's endpoint changed or
// went away is dropped on sight. This relies on every TCP socket of a sim
// node being a CfTcpSocket (SimWorld and sim/raw_tcp.h make no other). The results are the same as without it, byte for byte
// (docs/sim.md, "Finding a segment's socket"). Internal to sim/: never
// include from outside it.
#pragma once

#include <ns3/ip-l4-protocol.h>
#include <ns3/ipv4-address.h>
#include <ns3/ipv4-end-point.h>
#include <ns3/node.h>
#include <ns3/tcp-l4-protocol.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace connfail::sim {

class CfTcpSocket;

class TcpDemux : public ns3::IpL4Protocol {
 public:
  static ns3::TypeId GetTypeId();
  ns3::TypeId GetInstanceTypeId() const override { return GetTypeId(); }

  /// Puts a TcpDemux in front of `node`'s TcpL4Protocol (installed by
  /// InternetStackHelper) and aggregates it to the node.
  static void Install(ns3::Ptr<ns3::Node> node);

  /// A connection's 4-tuple, as seen from its own node.
  struct Key {
    uint32_t local_ip = 0, peer_ip = 0;
    uint16_t local_port = 0, peer_port = 0;
    bool operator==(const Key& o) const {
      return local_ip == o.local_ip && peer_ip == o.peer_ip && local_port == o.local_port &&
             peer_port == o.peer_port;
    }
    bool operator!=(const Key& o) const { return !(*this == o); }
  };
  /// The 4-tuple of `ep`; false if any part of it is a wildcard (a listener,
  /// or a socket bound but not connected).
  static bool KeyOf(ns3::Ipv4EndPoint& ep, Key& out);

  /// Maps `k` to `s` (a later socket with the same 4-tuple replaces it).
  void Index(const Key& k, CfTcpSocket* s);
  /// Removes `k`'s entry if it still maps to `s`.
  void Unindex(const Key& k, const CfTcpSocket* s);

  /// A listening socket on `port` (the SYN shortcut, above).
  void RegisterListener(uint16_t port, CfTcpSocket* s);
  void UnregisterListener(uint16_t port, const CfTcpSocket* s);

  /// Segments delivered through the index or to a listener / handed to
  /// TcpL4Protocol.
  std::uint64_t indexed_deliveries() const { return m_fast; }
  std::uint64_t fallback_deliveries() const { return m_slow; }
  /// Entries dropped because their socket's endpoint went away or changed.
  std::uint64_t stale_entries() const { return m_stale; }

  int GetProtocolNumber() const override;
  RxStatus Receive(ns3::Ptr<ns3::Packet> p, const ns3::Ipv4Header& header,
                   ns3::Ptr<ns3::Ipv4Interface> incomingInterface) override;
  RxStatus Receive(ns3::Ptr<ns3::Packet> p, const ns3::Ipv6Header& header,
                   ns3::Ptr<ns3::Ipv6Interface> incomingInterface) override;
  void ReceiveIcmp(ns3::Ipv4Address icmpSource, uint8_t icmpTtl, uint8_t icmpType, uint8_t icmpCode,
                   uint32_t icmpInfo, ns3::Ipv4Address payloadSource, ns3::Ipv4Address payloadDestination,
                   const uint8_t payload[8]) override;
  void ReceiveIcmp(ns3::Ipv6Address icmpSource, uint8_t icmpTtl, uint8_t icmpType, uint8_t icmpCode,
                   uint32_t icmpInfo, ns3::Ipv6Address payloadSource, ns3::Ipv6Address payloadDestination,
                   const uint8_t payload[8]) override;
  void SetDownTarget(DownTargetCallback cb) override;
  void SetDownTarget6(DownTargetCallback6 cb) override;
  DownTargetCallback GetDownTarget() const override;
  DownTargetCallback6 GetDownTarget6() const override;

 protected:
  void DoDispose() override;

 private:
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      const uint64_t a = (uint64_t{k.local_ip} << 32) | k.peer_ip;
      const uint64_t b = (uint64_t{k.local_port} << 16) | k.peer_port;
      return std::hash<uint64_t>{}(a * 0x9E3779B97F4A7C15ull ^ b);
    }
  };
  /// The endpoint of the listener ns-3's Lookup would pick for a SYN to
  /// `dst`:`port` arriving on `in`; null when not exactly one.
  ns3::Ipv4EndPoint* ListenerFor(ns3::Ipv4Address dst, uint16_t port, ns3::Ptr<ns3::Ipv4Interface> in);
  ns3::Ptr<ns3::TcpL4Protocol> m_tcp;
  std::unordered_map<Key, CfTcpSocket*, KeyHash> m_index;
  std::unordered_map<uint16_t, std::vector<CfTcpSocket*>> m_listeners;
  std::uint64_t m_fast = 0, m_slow = 0, m_stale = 0;
};

}  // namespace connfail::sim
