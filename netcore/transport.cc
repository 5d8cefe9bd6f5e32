#include "connfail/netcore/transport.h"

namespace netcore {

const char* to_string(TcpState s) {
  switch (s) {
    case TcpState::Closed: return "CLOSED";
    case TcpState::Listen: return "LISTEN";
    case TcpState::SynSent: return "SYN_SENT";
    case TcpState::SynRcvd: return "SYN_RCVD";
    case TcpState::Established: return "ESTABLISHED";
    case TcpState::CloseWait: return "CLOSE_WAIT";
    case TcpState::LastAck: return "LAST_ACK";
    case TcpState::FinWait1: return "FIN_WAIT_1";
    case TcpState::FinWait2: return "FIN_WAIT_2";
    case TcpState::Closing: return "CLOSING";
    case TcpState::TimeWait: return "TIME_WAIT";
  }
  return "?";
}

bool is_closing_state(TcpState s) {
  switch (s) {
    case TcpState::Closed:
    case TcpState::LastAck:
    case TcpState::FinWait1:
    case TcpState::FinWait2:
    case TcpState::Closing:
    case TcpState::TimeWait:
      return true;
    default:
      return false;
  }
}

std::string Address::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

const char* to_string(SocketError e) {
  switch (e) {
    case SocketError::None: return "none";
    case SocketError::Reset: return "reset";
    case SocketError::Refused: return "refused";
    case SocketError::TimedOut: return "timed-out";
    case SocketError::Unreachable: return "unreachable";
    case SocketError::Other: return "other";
  }
  return "?";
}

const char* to_string(SocketRole r) {
  switch (r) {
    case SocketRole::Listener: return "listener";
    case SocketRole::Accepted: return "accepted";
    case SocketRole::Connected: return "connected";
    case SocketRole::KernelOnly: return "kernel-only";
  }
  return "?";
}

std::vector<SocketInfo> live_connections(const std::vector<SocketInfo>& inventory) {
  std::vector<SocketInfo> out;
  for (const auto& s : inventory) {
    if (s.role == SocketRole::Listener || s.state == TcpState::Listen) continue;
    if (s.state == TcpState::TimeWait || s.state == TcpState::Closed) continue;
    out.push_back(s);
  }
  return out;
}

}  // namespace netcore
