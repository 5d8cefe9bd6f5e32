#include "connfail/sim/tcp_demux.h"

#include <ns3/ipv4-end-point.h>
#include <ns3/ipv4-header.h>
#include <ns3/ipv4-interface.h>
#include <ns3/ipv4.h>
#include <ns3/ipv6-header.h>
#include <ns3/ipv6-interface.h>
#include <ns3/net-device.h>
#include <ns3/packet.h>
#include <ns3/tcp-header.h>

#include <algorithm>
#include <stdexcept>

#include "connfail/sim/cf_tcp_socket.h"

namespace connfail::sim {

NS_OBJECT_ENSURE_REGISTERED(TcpDemux);

ns3::TypeId TcpDemux::GetTypeId() {
  static ns3::TypeId tid = ns3::TypeId("connfail::sim::TcpDemux")
                               .SetParent<ns3::IpL4Protocol>()
                               .SetGroupName("Internet")
                               .AddConstructor<TcpDemux>();
  return tid;
}

void TcpDemux::Install(ns3::Ptr<ns3::Node> node) {
  ns3::Ptr<ns3::TcpL4Protocol> tcp = node->GetObject<ns3::TcpL4Protocol>();
  ns3::Ptr<ns3::Ipv4> ipv4 = node->GetObject<ns3::Ipv4>();
  if (!tcp || !ipv4) throw std::logic_error("TcpDemux::Install: the node has no IPv4 TCP stack");
  if (node->GetObject<TcpDemux>()) return;
  ns3::Ptr<TcpDemux> d = ns3::CreateObject<TcpDemux>();
  d->m_tcp = tcp;
  ipv4->Remove(tcp);
  ipv4->Insert(d);
  node->AggregateObject(d);
}

bool TcpDemux::KeyOf(ns3::Ipv4EndPoint& ep, Key& out) {
  const ns3::Ipv4Address local = ep.GetLocalAddress(), peer = ep.GetPeerAddress();
  if (local == ns3::Ipv4Address::GetAny() || peer == ns3::Ipv4Address::GetAny() || ep.GetPeerPort() == 0)
    return false;
  out.local_ip = local.Get();
  out.peer_ip = peer.Get();
  out.local_port = ep.GetLocalPort();
  out.peer_port = ep.GetPeerPort();
  return true;
}

void TcpDemux::Index(const Key& k, CfTcpSocket* s) { m_index[k] = s; }

void TcpDemux::Unindex(const Key& k, const CfTcpSocket* s) {
  auto it = m_index.find(k);
  if (it != m_index.end() && it->second == s) m_index.erase(it);
}

void TcpDemux::RegisterListener(uint16_t port, CfTcpSocket* s) {
  auto& v = m_listeners[port];
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

void TcpDemux::UnregisterListener(uint16_t port, const CfTcpSocket* s) {
  auto it = m_listeners.find(port);
  if (it == m_listeners.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), s), v.end());
  if (v.empty()) m_listeners.erase(it);
}

ns3::Ipv4EndPoint* TcpDemux::ListenerFor(ns3::Ipv4Address dst, uint16_t port, ns3::Ptr<ns3::Ipv4Interface> in) {
  auto it = m_listeners.find(port);
  if (it == m_listeners.end() || !in) return nullptr;
  // Lookup treats a broadcast destination (limited, or directed at the
  // incoming interface's subnet) differently: leave those to it.
  if (dst.IsBroadcast() || dst.IsMulticast()) return nullptr;
  for (uint32_t i = 0; i < in->GetNAddresses(); ++i)
    if (dst.IsSubnetDirectedBroadcast(in->GetAddress(i).GetMask())) return nullptr;
  ns3::Ipv4EndPoint* exact = nullptr;
  ns3::Ipv4EndPoint* any = nullptr;
  int n_exact = 0, n_any = 0;
  for (CfTcpSocket* s : it->second) {
    ns3::Ipv4EndPoint* ep = s->Endpoint();
    // The checks Lookup makes of an endpoint, for one with a wildcard peer.
    if (ep == nullptr || ep->GetLocalPort() != port || ep->GetPeerPort() != 0 ||
        ep->GetPeerAddress() != ns3::Ipv4Address::GetAny() || !ep->IsRxEnabled())
      continue;
    if (ep->GetBoundNetDevice() && ep->GetBoundNetDevice() != in->GetDevice()) continue;
    if (ep->GetLocalAddress() == dst) {
      exact = ep;
      ++n_exact;
    } else if (ep->GetLocalAddress() == ns3::Ipv4Address::GetAny()) {
      any = ep;
      ++n_any;
    }
  }
  if (n_exact > 0) return n_exact == 1 ? exact : nullptr;
  return n_any == 1 ? any : nullptr;
}

int TcpDemux::GetProtocolNumber() const { return ns3::TcpL4Protocol::PROT_NUMBER; }

ns3::IpL4Protocol::RxStatus TcpDemux::Receive(ns3::Ptr<ns3::Packet> p, const ns3::Ipv4Header& header,
                                              ns3::Ptr<ns3::Ipv4Interface> incomingInterface) {
  // With checksums on, TcpL4Protocol verifies them first: leave it all to it.
  if (!ns3::Node::ChecksumEnabled()) {
    ns3::TcpHeader tcp;
    p->PeekHeader(tcp);
    const Key k{header.GetDestination().Get(), header.GetSource().Get(), tcp.GetDestinationPort(),
                tcp.GetSourcePort()};
    auto it = m_index.find(k);
    if (it == m_index.end()) {
      // A connection request to a listener. Its 4-tuple names no socket
      // here (every socket with a full 4-tuple is indexed), so Lookup would
      // return the listener.
      const uint8_t flags = tcp.GetFlags();
      if ((flags & ns3::TcpHeader::SYN) &&
          !(flags & (ns3::TcpHeader::ACK | ns3::TcpHeader::RST | ns3::TcpHeader::FIN)))
        if (ns3::Ipv4EndPoint* ep = ListenerFor(header.GetDestination(), k.local_port, incomingInterface)) {
          ++m_fast;
          ep->ForwardUp(p, header, tcp.GetSourcePort(), incomingInterface);
          return RX_OK;
        }
    } else {
      ns3::Ipv4EndPoint* ep = it->second->Endpoint();
      Key now;
      if (ep == nullptr || !KeyOf(*ep, now) || now != k) {
        m_index.erase(it);  // the socket's endpoint changed or went away
        ++m_stale;
      } else if (ep->IsRxEnabled() &&
                 (!ep->GetBoundNetDevice() || ep->GetBoundNetDevice() == incomingInterface->GetDevice())) {
        // What TcpL4Protocol::Receive does once Lookup found this endpoint.
        ++m_fast;
        ep->ForwardUp(p, header, tcp.GetSourcePort(), incomingInterface);
        return RX_OK;
      }
    }
  }
  ++m_slow;
  return m_tcp->Receive(p, header, incomingInterface);
}

ns3::IpL4Protocol::RxStatus TcpDemux::Receive(ns3::Ptr<ns3::Packet> p, const ns3::Ipv6Header& header,
                                              ns3::Ptr<ns3::Ipv6Interface> incomingInterface) {
  ++m_slow;
  return m_tcp->Receive(p, header, incomingInterface);
}

void TcpDemux::ReceiveIcmp(ns3::Ipv4Address icmpSource, uint8_t icmpTtl, uint8_t icmpType, uint8_t icmpCode,
                           uint32_t icmpInfo, ns3::Ipv4Address payloadSource, ns3::Ipv4Address payloadDestination,
                           const uint8_t payload[8]) {
  m_tcp->ReceiveIcmp(icmpSource, icmpTtl, icmpType, icmpCode, icmpInfo, payloadSource, payloadDestination, payload);
}

void TcpDemux::ReceiveIcmp(ns3::Ipv6Address icmpSource, uint8_t icmpTtl, uint8_t icmpType, uint8_t icmpCode,
                           uint32_t icmpInfo, ns3::Ipv6Address payloadSource, ns3::Ipv6Address payloadDestination,
                           const uint8_t payload[8]) {
  m_tcp->ReceiveIcmp(icmpSource, icmpTtl, icmpType, icmpCode, icmpInfo, payloadSource, payloadDestination, payload);
}

void TcpDemux::SetDownTarget(DownTargetCallback cb) { m_tcp->SetDownTarget(cb); }
void TcpDemux::SetDownTarget6(DownTargetCallback6 cb) { m_tcp->SetDownTarget6(cb); }
ns3::IpL4Protocol::DownTargetCallback TcpDemux::GetDownTarget() const { return m_tcp->GetDownTarget(); }
ns3::IpL4Protocol::DownTargetCallback6 TcpDemux::GetDownTarget6() const { return m_tcp->GetDownTarget6(); }

void TcpDemux::DoDispose() {
  m_index.clear();
  m_listeners.clear();
  m_tcp = nullptr;
  ns3::IpL4Protocol::DoDispose();
}

}  // namespace connfail::sim
