// CfTcpSocket: ns-3's TcpSocketBase with the operations a real kernel offers
// and ns-3 keeps protected: an abortive close that puts RST on the wire
// (SO_LINGER 0), a silent discard, and read access to the TCP state and how
// long the socket has been in it. Forked (accepted) children are CfTcpSockets
// too. Internal to sim/: never include from outside it.
#pragma once

#include <ns3/tcp-l4-protocol.h>
#include <ns3/tcp-socket-base.h>

#include <cstdint>
#include <functional>

#include "connfail/netcore/transport.h"
#include "connfail/sim/tcp_demux.h"
#include "connfail/sim/tcp_profile.h"

namespace connfail::sim {

class CfTcpSocket : public ns3::TcpSocketBase {
 public:
  static ns3::TypeId GetTypeId();
  ns3::TypeId GetInstanceTypeId() const override { return GetTypeId(); }
  CfTcpSocket();
  CfTcpSocket(const CfTcpSocket& other);
  ~CfTcpSocket() override;

  /// Creates a socket on `node` set up like TcpL4Protocol::CreateSocket does
  /// (the node's congestion, recovery and RTT types) and registers it.
  static ns3::Ptr<CfTcpSocket> Create(ns3::Ptr<ns3::Node> node);

  /// RST on the wire, endpoint released; no callback fires.
  void Abort();
  /// Endpoint released with nothing sent (a socket that never existed for the
  /// network, e.g. a connect attempt given up by the application).
  void Discard();

  ns3::TcpSocket::TcpStates_t GetTcpState() const { return m_state.Get(); }
  ns3::Time StateSince() const { return m_stateSince; }
  /// The state Linux would show, and since when. After the application's
  /// close() with data still to send, ns-3 3.37 stays in ESTABLISHED (or
  /// CLOSE_WAIT) until the FIN can go out (m_closeOnEmpty); Linux moves to
  /// FIN_WAIT_1 (LAST_ACK) at close() and sends the FIN after the data. A
  /// closed socket must not look like one the application still holds open.
  ns3::TcpSocket::TcpStates_t LinuxState() const;
  ns3::Time LinuxStateSince() const;
  /// Records the application's close, then closes (see LinuxState()).
  int Close() override;
  uint32_t RxBufferedBytes() const;
  /// RCV.NXT: the next sequence number expected from the peer (what an RST
  /// must carry to be accepted, RFC 5961).
  ns3::SequenceNumber32 RcvNxt() const;

  /// Called on every state change of every CfTcpSocket, after it happened
  /// (the SimWorld installs one; empty: none). `local`/`peer` are the last
  /// addresses the socket had (empty host before it had an endpoint).
  using StateObserver = std::function<void(const CfTcpSocket& s, ns3::TcpSocket::TcpStates_t from,
                                           ns3::TcpSocket::TcpStates_t to)>;
  static void SetStateObserver(StateObserver observer);
  /// Serial numbers start again from 1 (a new world).
  static void ResetSerials();
  /// This socket's serial number: 1, 2, ... in creation order (forks included).
  uint64_t Serial() const { return m_serial; }
  const netcore::Address& LastLocal() const { return m_local; }
  const netcore::Address& LastPeer() const { return m_peer; }
  /// The endpoint ns-3 delivers this socket's segments to (null: none).
  ns3::Ipv4EndPoint* Endpoint() const { return m_endPoint; }

  /// Id of the connfail Socket/Listener that owns this socket (0: none).
  uint64_t owner_id = 0;
  /// Accepted or Connected, while owned.
  netcore::SocketRole owner_role = netcore::SocketRole::Connected;
  bool is_listener = false;
  /// Set when a connect was answered with RST.
  bool refused = false;
  /// Why this socket is giving up on its connection, set exactly while the
  /// error close it reports runs: its data (or FIN) retransmissions ran out
  /// (Retransmit; Linux: ETIMEDOUT), TCP_USER_TIMEOUT expired (UserTimeout)
  /// or keepalive probes went unanswered (Keepalive). ns-3 sets no errno
  /// for any of them, which would read as a reset.
  enum class GiveUp { None, Retransmit, UserTimeout, Keepalive };
  GiveUp GivingUp() const { return m_givingUp; }

  /// The profile every CfTcpSocket created from now on follows (SimWorld
  /// sets it with the ns-3 attribute defaults that go with it).
  static void SetProfile(const TcpProfile& profile);
  /// SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT and TCP_USER_TIMEOUT, as
  /// Linux implements them (net/ipv4/tcp_timer.c): a probe (an ACK one
  /// below SND.UNA) after `idle` without a segment from the peer, then every
  /// `interval`; `count` unanswered probes (or, with a user timeout, that
  /// long without an answer) end the connection. Unset values: the
  /// profile's keepalive sysctls. The ns3 profile ignores it: ns-3 3.37
  /// has neither.
  void SetTcpOptions(const netcore::TcpOptions& options);
  /// Listener: may one more connection join its accept queue now? Forked
  /// children inherit it. While it says no, a SYN_RCVD child drops the ACK
  /// that would complete its handshake (Linux: tcp_v4_syn_recv_sock fails
  /// on sk_acceptq_is_full): the client believes it is connected, the child
  /// retransmits its SYN-ACK, and the first ACK after the queue has room
  /// completes it. Empty: always yes.
  std::function<bool()> accept_gate;
  /// A FIN+ACK that completes a handshake is taken as its ACK, then its FIN
  /// (see DoForwardUp). Tests turn it off to show what it prevents.
  static bool split_fin_in_syn_rcvd;
  /// Handshake-completing ACKs dropped by accept_gate (this socket).
  uint64_t gated_acks = 0;

 protected:
  ns3::Ptr<ns3::TcpSocketBase> Fork() override;
 public:
  /// ns-3's listen, then registers with the node's TcpDemux, which hands
  /// this socket the SYNs for its port without walking every endpoint.
  int Listen() override;
  /// ns-3's connect, then joins the demux index: its endpoint now has a
  /// full 4-tuple (what lets the demux skip the walk for SYNs).
  int Connect(const ns3::Address& address) override;

 protected:
  /// ns-3's fork, then the child joins the demux index at once: the ACK
  /// completing its handshake is found without walking every endpoint.
  void CompleteFork(ns3::Ptr<ns3::Packet> p, const ns3::TcpHeader& tcpHeader, const ns3::Address& fromAddress,
                    const ns3::Address& toAddress) override;
  void DoForwardUp(ns3::Ptr<ns3::Packet> packet, const ns3::Address& from,
                   const ns3::Address& to) override;
  uint32_t SendDataPacket(ns3::SequenceNumber32 seq, uint32_t maxSize, bool withAck) override;
  /// In FIN_WAIT_1/FIN_WAIT_2, a segment that fills the last gap before an
  /// out-of-order FIN must not move the socket to CLOSE_WAIT (see the .cc).
  void ReceivedData(ns3::Ptr<ns3::Packet> packet, const ns3::TcpHeader& tcpHeader) override;
  /// Marks a give-up (see GivingUp()), then lets ns-3 retransmit or give up;
  /// under the Linux profile the give-up is decided by time (tcp_retries2's
  /// budget or TCP_USER_TIMEOUT) and the back-off is capped at the RTO max.
  void ReTxTimeout() override;

 private:
  GiveUp m_givingUp = GiveUp::None;
  /// Ends the connection with an error close, as a stack giving up does.
  void GiveUpNow(GiveUp why);
  // Linux profile: when the unacknowledged flight began (tcp_sock's
  // retrans_stamp: the give-up budget counts from it).
  ns3::Time m_flightStart;
  // Keepalive and user timeout (SetTcpOptions).
  bool m_keepalive = false;
  ns3::Time m_keepIdle, m_keepIntvl, m_userTimeout;
  uint32_t m_keepCnt = 0;
  uint32_t m_probesOut = 0;
  ns3::Time m_lastRcv;
  // The highest ACK the peer sent (SND.UNA, our FIN counted, once nothing
  // is in flight): a probe carries one below it.
  ns3::SequenceNumber32 m_peerAck;
  bool m_sawPeerAck = false;
  ns3::EventId m_keepaliveEvent;
  void ArmKeepalive(ns3::Time in);
  void KeepaliveTimer();
  // tcp_fin_timeout for a FIN_WAIT_2 socket the application closed.
  ns3::EventId m_finWait2Event;
  void ArmFinWait2();
  void HookState();
  void Detach();  // no owner, no callbacks
  void OnState(ns3::TcpSocket::TcpStates_t from, ns3::TcpSocket::TcpStates_t to);
  /// Keeps this socket in its node's TcpDemux index under its current
  /// 4-tuple (see tcp_demux.h).
  void KeepIndexed();
  ns3::Ptr<TcpDemux> m_demux;  // null: not looked up yet, or the node has none
  bool m_demuxLooked = false;
  /// The node's TcpDemux (looked up once), or null.
  TcpDemux* Demux();
  int m_listenPort = -1;  // registered as a listener on this port
  bool m_indexed = false;
  TcpDemux::Key m_indexKey;
  ns3::Time m_stateSince;
  bool m_appClosed = false;
  ns3::Time m_appClosedAt;
  uint64_t m_serial = 0;
  netcore::Address m_local, m_peer;
};

}  // namespace connfail::sim
