#include "connfail/sim/cf_tcp_socket.h"
#include "connfail/sim/raw_tcp.h"

#include <sstream>

#include <ns3/inet-socket-address.h>
#include <ns3/node.h>
#include <ns3/object-factory.h>
#include <ns3/rtt-estimator.h>
#include <ns3/packet.h>
#include <ns3/simulator.h>
#include <ns3/tcp-header.h>
#include <ns3/tcp-option-ts.h>
#include <ns3/tcp-congestion-ops.h>
#include <ns3/tcp-recovery-ops.h>
#include <ns3/tcp-rx-buffer.h>
#include <ns3/uinteger.h>

namespace connfail::sim {

NS_OBJECT_ENSURE_REGISTERED(CfTcpSocket);

namespace {
CfTcpSocket::StateObserver g_observer;
uint64_t g_next_serial = 1;

netcore::Address address_of(const ns3::Address& a) {
  if (!ns3::InetSocketAddress::IsMatchingType(a)) return {};
  const auto in = ns3::InetSocketAddress::ConvertFrom(a);
  std::ostringstream os;
  in.GetIpv4().Print(os);
  return netcore::Address{os.str(), in.GetPort()};
}
}  // namespace

void CfTcpSocket::SetStateObserver(StateObserver observer) { g_observer = std::move(observer); }
void CfTcpSocket::ResetSerials() { g_next_serial = 1; }

ns3::TypeId CfTcpSocket::GetTypeId() {
  static ns3::TypeId tid = ns3::TypeId("connfail::sim::CfTcpSocket")
                               .SetParent<ns3::TcpSocketBase>()
                               .SetGroupName("Internet")
                               .AddConstructor<CfTcpSocket>();
  return tid;
}

CfTcpSocket::CfTcpSocket() { HookState(); }

CfTcpSocket::CfTcpSocket(const CfTcpSocket& other) : ns3::TcpSocketBase(other), accept_gate(other.accept_gate) {
  // A forked child belongs to nobody until the listener adopts it.
  owner_id = 0;
  is_listener = false;
  HookState();
}

CfTcpSocket::~CfTcpSocket() {
  if (m_indexed && m_demux) m_demux->Unindex(m_indexKey, this);
  if (m_listenPort >= 0 && m_demux) m_demux->UnregisterListener(static_cast<uint16_t>(m_listenPort), this);
}

TcpDemux* CfTcpSocket::Demux() {
  if (!m_demuxLooked) {
    m_demuxLooked = true;
    if (m_node) m_demux = m_node->GetObject<TcpDemux>();
  }
  return ns3::PeekPointer(m_demux);
}

int CfTcpSocket::Listen() {
  const int r = ns3::TcpSocketBase::Listen();
  if (r == 0 && m_endPoint != nullptr && m_listenPort < 0 && Demux()) {
    m_listenPort = m_endPoint->GetLocalPort();
    m_demux->RegisterListener(static_cast<uint16_t>(m_listenPort), this);
  }
  return r;
}

int CfTcpSocket::Connect(const ns3::Address& address) {
  const int r = ns3::TcpSocketBase::Connect(address);
  KeepIndexed();
  return r;
}

void CfTcpSocket::KeepIndexed() {
  TcpDemux::Key k;
  if (m_endPoint == nullptr || !TcpDemux::KeyOf(*m_endPoint, k)) return;
  if (m_indexed && k == m_indexKey) return;
  if (!Demux()) return;
  if (m_indexed) m_demux->Unindex(m_indexKey, this);
  m_demux->Index(k, this);
  m_indexKey = k;
  m_indexed = true;
}

void CfTcpSocket::HookState() {
  m_serial = g_next_serial++;
  m_stateSince = ns3::Simulator::Now();
  m_state.ConnectWithoutContext(ns3::MakeCallback(&CfTcpSocket::OnState, this));
}

void CfTcpSocket::OnState(ns3::TcpSocket::TcpStates_t from, ns3::TcpSocket::TcpStates_t to) {
  m_stateSince = ns3::Simulator::Now();
  ns3::Address a;
  if (GetSockName(a) == 0) m_local = address_of(a);
  if (GetPeerName(a) == 0) m_peer = address_of(a);
  if (g_observer) g_observer(*this, from, to);
}

ns3::Ptr<CfTcpSocket> CfTcpSocket::Create(ns3::Ptr<ns3::Node> node) {
  ns3::Ptr<ns3::TcpL4Protocol> tcp = node->GetObject<ns3::TcpL4Protocol>();
  ns3::TypeIdValue socketType, recoveryType, rttType;
  tcp->GetAttribute("SocketType", socketType);
  tcp->GetAttribute("RecoveryType", recoveryType);
  tcp->GetAttribute("RttEstimatorType", rttType);
  ns3::ObjectFactory cc, rec, rtt;
  cc.SetTypeId(socketType.Get());
  rec.SetTypeId(recoveryType.Get());
  rtt.SetTypeId(rttType.Get());

  ns3::Ptr<CfTcpSocket> s = ns3::CreateObject<CfTcpSocket>();
  s->SetNode(node);
  s->SetTcp(tcp);
  s->SetRtt(rtt.Create<ns3::RttEstimator>());
  s->SetCongestionControlAlgorithm(cc.Create<ns3::TcpCongestionOps>());
  s->SetRecoveryAlgorithm(rec.Create<ns3::TcpRecoveryOps>());
  tcp->AddSocket(s);
  return s;
}

ns3::Ptr<ns3::Socket> CreateTcpSocket(ns3::Ptr<ns3::Node> node) { return CfTcpSocket::Create(node); }

ns3::Ptr<ns3::TcpSocketBase> CfTcpSocket::Fork() { return ns3::CopyObject<CfTcpSocket>(this); }

// The child's endpoint has its full 4-tuple once ns-3 allocated it here; an
// exact 4-tuple match is what ns-3's lookup would return for every segment
// of this connection, so indexing now changes nothing but speed (the
// DemuxEquivalence tests compare every scenario with the linear lookup).
void CfTcpSocket::CompleteFork(ns3::Ptr<ns3::Packet> p, const ns3::TcpHeader& tcpHeader,
                               const ns3::Address& fromAddress, const ns3::Address& toAddress) {
  ns3::TcpSocketBase::CompleteFork(p, tcpHeader, fromAddress, toAddress);
  KeepIndexed();
}

// ns-3 3.37 drops every segment without a timestamp option once timestamps
// were negotiated, RSTs included -- and the RST its own stack sends for a
// segment to a closed port carries none. So a SYN to a closed port was never
// refused and a reset from a rebooted host was never seen. Linux (and RFC
// 7323, section 3.2) accept a RST without timestamps: give it one echoing the
// peer's last value so the state machine below processes it.
void CfTcpSocket::DoForwardUp(ns3::Ptr<ns3::Packet> packet, const ns3::Address& from,
                              const ns3::Address& to) {
  KeepIndexed();
  ns3::TcpHeader h;
  packet->PeekHeader(h);
  const uint8_t flags = h.GetFlags();
  const bool ack_only = (flags & ns3::TcpHeader::ACK) && !(flags & (ns3::TcpHeader::SYN | ns3::TcpHeader::RST));
  // The accept queue is full: the ACK completing this handshake is dropped
  // (see accept_gate); the SYN-ACK retransmission timer keeps running.
  if (m_state.Get() == SYN_RCVD && ack_only && accept_gate && !accept_gate()) {
    ++gated_acks;
    return;
  }
  // A retransmitted SYN-ACK on an established connection (its first ACK was
  // dropped, e.g. by a full accept queue): Linux answers with an ACK, which
  // completes the handshake once the peer has room. ns-3 3.37 ignores it.
  if (m_state.Get() == ESTABLISHED && (flags & ns3::TcpHeader::SYN) && (flags & ns3::TcpHeader::ACK) &&
      !(flags & ns3::TcpHeader::RST)) {
    SendEmptyPacket(ns3::TcpHeader::ACK);
    return;
  }
  // An ACK-bearing segment for no connection, reaching a listener (e.g. the
  // client of a handshake the server gave up in SYN_RCVD, sending data):
  // RFC 793 and Linux answer <SEQ=SEG.ACK><CTL=RST>; ns-3 3.37 drops it and
  // the client would retransmit into silence until it times out.
  if (is_listener && m_state.Get() == LISTEN && ack_only && ns3::InetSocketAddress::IsMatchingType(from) &&
      ns3::InetSocketAddress::IsMatchingType(to)) {
    const auto src = ns3::InetSocketAddress::ConvertFrom(from);
    const auto dst = ns3::InetSocketAddress::ConvertFrom(to);
    ns3::TcpHeader rst;
    rst.SetFlags(ns3::TcpHeader::RST);
    rst.SetSequenceNumber(h.GetAckNumber());
    rst.SetAckNumber(ns3::SequenceNumber32(0));
    rst.SetSourcePort(dst.GetPort());
    rst.SetDestinationPort(src.GetPort());
    rst.SetWindowSize(0);
    m_tcp->SendPacket(ns3::Create<ns3::Packet>(), rst, dst.GetIpv4(), src.GetIpv4());
    return;
  }
  // A RST answering our SYN (with an acceptable ACK) is a refused connect, as
  // on Linux (ECONNREFUSED); ns-3 3.37 ignores it and retries the SYN.
  if (m_state.Get() == SYN_SENT && (flags & ns3::TcpHeader::RST) && (flags & ns3::TcpHeader::ACK) &&
      h.GetAckNumber() == m_tcb->m_nextTxSequence + ns3::SequenceNumber32(1)) {
    refused = true;
    NotifyConnectionFailed();
    return;
  }
  if (m_timestampEnabled) {
    if ((flags & ns3::TcpHeader::RST) && !h.HasOption(ns3::TcpOption::TS)) {
      packet->RemoveHeader(h);
      auto ts = ns3::CreateObject<ns3::TcpOptionTS>();
      ts->SetTimestamp(m_timestampToEcho);
      ts->SetEcho(0);
      h.AppendOption(ts);
      packet->AddHeader(h);
    }
  }
  // A FIN+ACK completing a handshake (the peer's last ACK was lost and it
  // closed at once): ns-3 3.37 announces the new connection and then
  // processes the FIN even when the application closed or aborted the
  // socket from that announcement (an acceptor aborts a child whose set-up
  // failed), taking a CLOSED socket to CLOSE_WAIT. Linux completes the
  // handshake and then processes the FIN of an established connection.
  // So: the segment as a plain ACK first (data included), then its FIN
  // alone, unless the application aborted the socket meanwhile (a close()
  // leaves it in FIN_WAIT_1, where the FIN is processed as Linux does).
  if (split_fin_in_syn_rcvd && m_state.Get() == SYN_RCVD && (flags & ns3::TcpHeader::FIN) &&
      (flags & ns3::TcpHeader::ACK) && !(flags & (ns3::TcpHeader::SYN | ns3::TcpHeader::RST))) {
    ns3::Ptr<ns3::Packet> ack = packet->Copy();
    ns3::TcpHeader ah;
    ack->RemoveHeader(ah);
    const uint32_t payload = ack->GetSize();
    ah.SetFlags(static_cast<uint8_t>(flags & ~ns3::TcpHeader::FIN));
    ack->AddHeader(ah);
    ns3::TcpSocketBase::DoForwardUp(ack, from, to);
    if (m_state.Get() == CLOSED) return;  // the application aborted it: nothing to close
    ns3::Ptr<ns3::Packet> fin = ns3::Create<ns3::Packet>();
    ns3::TcpHeader fh = h;
    fh.SetSequenceNumber(h.GetSequenceNumber() + ns3::SequenceNumber32(payload));
    fin->AddHeader(fh);
    ns3::TcpSocketBase::DoForwardUp(fin, from, to);
    return;
  }
  ns3::TcpSocketBase::DoForwardUp(packet, from, to);
}

bool CfTcpSocket::split_fin_in_syn_rcvd = true;

void CfTcpSocket::Detach() {
  owner_id = 0;
  SetRecvCallback(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>());
  SetSendCallback(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>, uint32_t>());
  SetCloseCallbacks(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>(),
                    ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>());
  SetConnectCallback(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>(),
                     ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>());
}

void CfTcpSocket::Abort() {
  Detach();
  if (m_endPoint == nullptr && m_endPoint6 == nullptr) return;
  switch (m_state.Get()) {
    case CLOSED:
    case LISTEN:
    case TIME_WAIT:
      // Nothing on the wire to reset: just release the endpoint.
      break;
    default:
      SendRST();  // also releases the endpoint (and leaves the socket list)
      m_state = CLOSED;
      return;
  }
  m_state = CLOSED;
  DeallocateEndPoint();
}

void CfTcpSocket::Discard() {
  Detach();
  m_state = CLOSED;
  if (m_endPoint != nullptr || m_endPoint6 != nullptr) DeallocateEndPoint();
}

// ns-3 3.37 advances m_highTxAck (RFC 7323's Last.ACK.sent) only when it
// sends a pure ACK, not when the ACK rides on a data segment. A peer whose
// every request is answered by data (a PING answered by a PONG) then never
// again has its timestamp echoed: TS.Recent is updated only for a segment
// with SEG.SEQ <= Last.ACK.sent. The peer measures RTT from the stale echo
// (seconds, growing with the connection's age), its RTO climbs to the 60 s
// cap, and one lost segment stalls the connection for a minute; Linux
// retransmits it after ~200 ms. Found as a healthy heartbeating client reaped
// by the idle check under 2% loss (tests/sim_faults_test.cc, SimTimestamps).
uint32_t CfTcpSocket::SendDataPacket(ns3::SequenceNumber32 seq, uint32_t maxSize, bool withAck) {
  const ns3::SequenceNumber32 ack = m_tcb->m_rxBuffer->NextRxSequence();
  const uint32_t sent = ns3::TcpSocketBase::SendDataPacket(seq, maxSize, withAck);
  if (withAck && m_highTxAck < ack) m_highTxAck = ack;
  return sent;
}

// ns-3 3.37's ReceivedData ends with DoPeerClose() when a segment without
// FIN completes the stream up to a FIN that arrived earlier, out of order.
// DoPeerClose() moves the socket to CLOSE_WAIT whatever its state. For a
// socket that already sent its own FIN (FIN_WAIT_1, FIN_WAIT_2) that is a
// step backwards: it then sent a second FIN from LAST_ACK and waited for
// its ACK, where Linux (and RFC 793) goes to CLOSING or TIME_WAIT. In those
// states every ReceivedData call comes from ProcessWait, which after it
// returns makes exactly that move once the stream is complete. Handing the
// base a copy of the header with FIN set skips only the DoPeerClose branch
// (the segment is still buffered, delivered and ACKed). Found by the
// tcp-state property; SimFinAfterGap in tests/sim_faults_test.cc guards it.
void CfTcpSocket::ReceivedData(ns3::Ptr<ns3::Packet> packet, const ns3::TcpHeader& tcpHeader) {
  const auto s = m_state.Get();
  if (s == ns3::TcpSocket::FIN_WAIT_1 || s == ns3::TcpSocket::FIN_WAIT_2) {
    ns3::TcpHeader h = tcpHeader;
    h.SetFlags(tcpHeader.GetFlags() | ns3::TcpHeader::FIN);
    ns3::TcpSocketBase::ReceivedData(packet, h);
    return;
  }
  ns3::TcpSocketBase::ReceivedData(packet, tcpHeader);
}

int CfTcpSocket::Close() {
  if (!m_appClosed) {
    m_appClosed = true;
    m_appClosedAt = ns3::Simulator::Now();
  }
  return ns3::TcpSocketBase::Close();
}

ns3::TcpSocket::TcpStates_t CfTcpSocket::LinuxState() const {
  const auto s = m_state.Get();
  if (m_appClosed && s == ns3::TcpSocket::ESTABLISHED) return ns3::TcpSocket::FIN_WAIT_1;
  if (m_appClosed && s == ns3::TcpSocket::CLOSE_WAIT) return ns3::TcpSocket::LAST_ACK;
  return s;
}

ns3::Time CfTcpSocket::LinuxStateSince() const {
  const auto s = m_state.Get();
  if (m_appClosed && (s == ns3::TcpSocket::ESTABLISHED || s == ns3::TcpSocket::CLOSE_WAIT))
    return std::max(m_appClosedAt, m_stateSince);
  return m_stateSince;
}

uint32_t CfTcpSocket::RxBufferedBytes() const { return m_tcb->m_rxBuffer->Size(); }

ns3::SequenceNumber32 CfTcpSocket::RcvNxt() const { return m_tcb->m_rxBuffer->NextRxSequence(); }

void CfTcpSocket::ReTxTimeout() {
  // ns-3 3.37's ReTxTimeout gives up when m_dataRetrCount is 0 (after
  // DataRetries retransmissions) with NotifyErrorClose() and no errno, which
  // is indistinguishable from a reset; the error close callback runs inside
  // this call, so the flag is set exactly while it can. Giving up can drop
  // the last reference to this socket (its endpoint is deallocated): hold
  // one until the flag is cleared.
  const ns3::Ptr<CfTcpSocket> self(this);
  m_givingUp = m_dataRetrCount == 0 && m_state != ns3::TcpSocket::SYN_SENT;
  TcpSocketBase::ReTxTimeout();
  m_givingUp = false;
}

}  // namespace connfail::sim
