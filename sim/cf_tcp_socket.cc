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
#include <ns3/tcp-tx-buffer.h>
#include <ns3/uinteger.h>

namespace connfail::sim {

NS_OBJECT_ENSURE_REGISTERED(CfTcpSocket);

namespace {
CfTcpSocket::StateObserver g_observer;
uint64_t g_next_serial = 1;
TcpProfile g_profile;

bool linux_profile() { return g_profile.kind == TcpProfileKind::Linux; }

netcore::Address address_of(const ns3::Address& a) {
  if (!ns3::InetSocketAddress::IsMatchingType(a)) return {};
  const auto in = ns3::InetSocketAddress::ConvertFrom(a);
  std::ostringstream os;
  in.GetIpv4().Print(os);
  return netcore::Address{os.str(), in.GetPort()};
}
}  // namespace

void CfTcpSocket::SetStateObserver(StateObserver observer) { g_observer = std::move(observer); }
void CfTcpSocket::SetProfile(const TcpProfile& profile) { g_profile = profile; }
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
  // Linux: a half-made connection sends its SYN-ACK 1 + tcp_synack_retries
  // times (the listener's ConnCount is for SYNs: tcp_syn_retries).
  if (linux_profile()) m_synRetries = static_cast<uint32_t>(g_profile.get("net.ipv4.tcp_synack_retries")) + 1;
  HookState();
}

CfTcpSocket::~CfTcpSocket() {
  m_keepaliveEvent.Cancel();
  m_finWait2Event.Cancel();
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
  if (to == FIN_WAIT_2 && m_appClosed) ArmFinWait2();
  if (to == CLOSED || to == TIME_WAIT) {
    m_keepaliveEvent.Cancel();
    m_finWait2Event.Cancel();
  }
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
  // A keepalive probe (an ACK one below RCV.NXT, no data): Linux answers it
  // with an ACK, as it does any out-of-window segment, and discards it
  // (it is no sign of life for our own keepalive). ns-3 3.37 takes it for
  // a plain ACK and sends nothing, so the prober would give up on a live
  // peer.
  if (flags == ns3::TcpHeader::ACK && packet->GetSize() == h.GetSerializedSize() &&
      h.GetSequenceNumber() + ns3::SequenceNumber32(1) == RcvNxt()) {
    const auto st = m_state.Get();
    if (st == ESTABLISHED || st == CLOSE_WAIT || st == FIN_WAIT_1 || st == FIN_WAIT_2 || st == CLOSING ||
        st == LAST_ACK) {
      SendEmptyPacket(ns3::TcpHeader::ACK);
      return;
    }
  }
  // Any other segment from the peer answers our probes (Linux: tcp_ack
  // clears icsk_probes_out; keepalive idles from the last segment received).
  m_lastRcv = ns3::Simulator::Now();
  m_probesOut = 0;
  if ((flags & ns3::TcpHeader::ACK) && !(flags & ns3::TcpHeader::RST) &&
      (!m_sawPeerAck || h.GetAckNumber() > m_peerAck)) {
    m_peerAck = h.GetAckNumber();
    m_sawPeerAck = true;
  }
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
    if (m_state.Get() == FIN_WAIT_2) ArmFinWait2();  // shut down first, closed now
  }
  return ns3::TcpSocketBase::Close();
}

// Linux (tcp_close, tcp_rcv_state_process): a FIN_WAIT_2 socket nobody
// holds any more lives tcp_fin_timeout, counted from the later of the
// close and entering FIN_WAIT_2, then disappears without a segment sent.
// ns-3 3.37 keeps it until the peer's FIN, forever if the peer vanished.
void CfTcpSocket::ArmFinWait2() {
  if (!linux_profile() || m_finWait2Event.IsRunning()) return;
  const ns3::Time t = ns3::Seconds(static_cast<double>(g_profile.get("net.ipv4.tcp_fin_timeout")));
  m_finWait2Event = ns3::Simulator::Schedule(t, [this] {
    const ns3::Ptr<CfTcpSocket> self(this);  // leaving the socket list may drop the last reference
    if (m_state.Get() == FIN_WAIT_2) CloseAndNotify();
  });
}

void CfTcpSocket::SetTcpOptions(const netcore::TcpOptions& o) {
  // ns-3 3.37 has neither keepalive nor a user timeout: the ns3 profile
  // keeps it so (the differential tests show what that misses).
  if (!linux_profile()) return;
  auto secs = [](std::int64_t s) { return ns3::Seconds(static_cast<double>(s)); };
  auto ns = [](netcore::Duration d) { return ns3::NanoSeconds(d.count()); };
  m_keepalive = o.keepalive;
  m_keepIdle = o.keep_idle ? ns(*o.keep_idle) : secs(g_profile.get("net.ipv4.tcp_keepalive_time"));
  m_keepIntvl = o.keep_interval ? ns(*o.keep_interval) : secs(g_profile.get("net.ipv4.tcp_keepalive_intvl"));
  m_keepCnt = o.keep_count ? static_cast<uint32_t>(*o.keep_count)
                           : static_cast<uint32_t>(g_profile.get("net.ipv4.tcp_keepalive_probes"));
  // The user timeout replaces the retry count (tcp_write_timeout): under
  // the linux profile ReTxTimeout gives up by time only.
  m_userTimeout = ns(o.user_timeout);
  m_keepaliveEvent.Cancel();
  // setsockopt(SO_KEEPALIVE) arms the timer a full idle time from now
  // (inet_csk_reset_keepalive_timer(sk, keepalive_time_when(tp))).
  if (m_keepalive) {
    if (m_lastRcv.IsZero()) m_lastRcv = ns3::Simulator::Now();
    ArmKeepalive(m_keepIdle);
  }
}

void CfTcpSocket::ArmKeepalive(ns3::Time in) {
  m_keepaliveEvent.Cancel();
  m_keepaliveEvent = ns3::Simulator::Schedule(in, &CfTcpSocket::KeepaliveTimer, this);
}

// tcp_keepalive_timer (net/ipv4/tcp_timer.c), Linux 6.x.
void CfTcpSocket::KeepaliveTimer() {
  if (!m_keepalive || m_endPoint == nullptr) return;
  const auto st = m_state.Get();
  if (st == CLOSED || st == LISTEN || st == TIME_WAIT) return;
  if (st == SYN_SENT || st == SYN_RCVD) {
    ArmKeepalive(m_keepIdle);
    return;
  }
  // An orphaned FIN_WAIT_2 socket is not probed: tcp_fin_timeout ends it
  // (tcp_keepalive_timer's FIN_WAIT2 + SOCK_DEAD branch).
  if (st == FIN_WAIT_2 && m_appClosed) return;
  // Data in flight or waiting: that is the retransmission timer's business.
  if (m_tcb->m_highTxMark > m_txBuffer->HeadSequence() ||
      m_txBuffer->SizeFromSequence(m_tcb->m_nextTxSequence) > 0) {
    ArmKeepalive(m_keepIdle);
    return;
  }
  const ns3::Time elapsed = ns3::Simulator::Now() - m_lastRcv;
  if (elapsed < m_keepIdle) {
    ArmKeepalive(m_keepIdle - elapsed);
    return;
  }
  const bool ut = m_userTimeout.IsStrictlyPositive();
  if ((ut && elapsed >= m_userTimeout && m_probesOut > 0) || (!ut && m_probesOut >= m_keepCnt)) {
    GiveUpNow(GiveUp::Keepalive);
    return;
  }
  // tcp_xmit_probe_skb: an ACK carrying SND.UNA - 1, which the peer must
  // answer (it is below its RCV.NXT). With nothing in flight SND.UNA is the
  // peer's last ACK, which counts our FIN once it was sent (ns-3's
  // m_highTxMark does not).
  const ns3::SequenceNumber32 una = m_sawPeerAck ? m_peerAck : m_tcb->m_highTxMark.Get();
  ns3::TcpHeader h;
  h.SetFlags(ns3::TcpHeader::ACK);
  h.SetSequenceNumber(ns3::SequenceNumber32(una.GetValue() - 1));
  h.SetAckNumber(RcvNxt());
  h.SetSourcePort(m_endPoint->GetLocalPort());
  h.SetDestinationPort(m_endPoint->GetPeerPort());
  h.SetWindowSize(AdvertisedWindowSize());
  AddOptions(h);
  m_tcp->SendPacket(ns3::Create<ns3::Packet>(), h, m_endPoint->GetLocalAddress(), m_endPoint->GetPeerAddress(),
                    m_boundnetdevice);
  ++m_probesOut;
  ArmKeepalive(m_keepIntvl);
}

// tcp_keepalive_timer giving up: tcp_send_active_reset, then tcp_write_err
// (the error reported, the socket CLOSED).
void CfTcpSocket::GiveUpNow(GiveUp why) {
  const ns3::Ptr<CfTcpSocket> self(this);
  m_keepaliveEvent.Cancel();
  m_finWait2Event.Cancel();
  SendEmptyPacket(ns3::TcpHeader::RST);
  m_givingUp = why;
  NotifyErrorClose();
  m_givingUp = GiveUp::None;
  m_state = CLOSED;
  DeallocateEndPoint();
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
  const auto st = m_state.Get();
  const bool data = st != SYN_SENT && st != CLOSED && st != TIME_WAIT && m_txBuffer->Size() > 0;
  const bool ut = m_userTimeout.IsStrictlyPositive();
  const bool by_time = data && (linux_profile() || ut);
  const ns3::Time rto = m_rto.Get();
  GiveUp why = GiveUp::None;
  if (by_time) {
    // Linux (tcp_write_timeout, retransmits_timed_out): the first expiry
    // of a flight is never checked; later ones give up once the time since
    // the flight's retransmission stamp reaches the budget: TCP_USER_TIMEOUT
    // if set, else what tcp_retries2 back-offs from 200 ms take. NewAck
    // resets m_dataRetrCount, so a full count marks a flight's first RTO;
    // its timer was armed one RTO ago, when the flight's head was sent.
    if (m_dataRetrCount == m_dataRetries) {
      m_flightStart = ns3::Simulator::Now() - rto;
    } else {
      const ns3::Time budget =
          ut ? m_userTimeout
             : ns3::MicroSeconds(linux_retransmit_budget_us(static_cast<int>(g_profile.get("net.ipv4.tcp_retries2")),
                                                            200000, g_profile.get("net.ipv4.tcp_rto_max_ms") * 1000));
      if (ns3::Simulator::Now() - m_flightStart >= budget) why = ut ? GiveUp::UserTimeout : GiveUp::Retransmit;
    }
    if (why != GiveUp::None) m_dataRetrCount = 0;
    else if (m_dataRetrCount == 0) m_dataRetrCount = 1;  // the count is only a backstop
  } else if (data && m_dataRetrCount == 0) {
    why = GiveUp::Retransmit;
  }
  m_givingUp = why;
  TcpSocketBase::ReTxTimeout();
  m_givingUp = GiveUp::None;
  if (why != GiveUp::None || !by_time || !m_retxEvent.IsRunning()) return;
  // ns-3 doubles up to 60 s; Linux up to tcp_rto_max_ms (120 s), and with
  // a user timeout no later than it (tcp_clamp_rto_to_user_timeout).
  ns3::Time next = linux_profile() ? ns3::Min(rto + rto, ns3::MilliSeconds(g_profile.get("net.ipv4.tcp_rto_max_ms")))
                                   : m_rto.Get();
  if (ut) {
    const ns3::Time left = m_flightStart + m_userTimeout - ns3::Simulator::Now();
    next = ns3::Min(next, left.IsStrictlyPositive() ? left : ns3::MilliSeconds(1));
  }
  if (next != m_rto.Get() || ut) {
    m_retxEvent.Cancel();
    m_rto = next;
    m_retxEvent = ns3::Simulator::Schedule(next, &CfTcpSocket::ReTxTimeout, this);
  }
}

}  // namespace connfail::sim
