#include "connfail/netcore/transport.h"

#include <cctype>
#include <string_view>

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

namespace {
// "::ffff:a.b.c.d" -> "a.b.c.d"; anything else as it is. No allocation: the
// verdict compares every row with every proxy connection of the same port.
std::string_view unmapped_host(std::string_view h) {
  constexpr std::string_view kMapped = "::ffff:";
  if (h.size() <= kMapped.size() || h.find('.') == std::string_view::npos) return h;
  for (std::size_t i = 0; i < kMapped.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != kMapped[i]) return h;
  return h.substr(kMapped.size());
}
}  // namespace

bool same_endpoint(const Address& a, const Address& b) {
  if (a.port != b.port) return false;
  if (a.host.empty() || b.host.empty()) return true;
  return unmapped_host(a.host) == unmapped_host(b.host);
}

void ConnectCanceller::cancel() {
  std::map<std::uint64_t, std::function<void()>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    // Each fn may call remove(): take the map first, run them unlocked.
    pending.swap(pending_);
  }
  for (auto& [id, fn] : pending) fn();
}

bool ConnectCanceller::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

std::size_t ConnectCanceller::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

std::uint64_t ConnectCanceller::add(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_) {
      const std::uint64_t id = next_++;
      pending_.emplace(id, std::move(fn));
      return id;
    }
  }
  fn();
  return 0;
}

void ConnectCanceller::remove(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.erase(id);
}

void Transport::connect_from(const std::string& source_host, const Address& to, Duration timeout, ConnectFn done,
                             std::shared_ptr<ConnectCanceller> cancel) {
  (void)source_host;
  if (!cancel) {
    connect(to, timeout, std::move(done));
    return;
  }
  // Generic: the connect runs to its end; a cancel reports at once and the
  // socket, if one comes, is aborted.
  struct State {
    bool finished = false;
    std::uint64_t id = 0;
    ConnectFn done;
  };
  auto st = std::make_shared<State>();
  st->done = std::move(done);
  EventLoop& lp = loop();
  st->id = cancel->add([st, &lp] {
    if (st->finished) return;
    st->finished = true;
    lp.post([st] { st->done(nullptr, SocketError::Cancelled); });
  });
  std::weak_ptr<ConnectCanceller> wc = cancel;
  connect(to, timeout, [st, wc](std::shared_ptr<Socket> s, SocketError e) {
    if (st->finished) {
      if (s) s->abort();
      return;
    }
    st->finished = true;
    if (auto c = wc.lock()) c->remove(st->id);
    st->done(std::move(s), e);
  });
}

std::string tcp_options_error(const TcpOptions& o) {
  using std::chrono::seconds;
  auto whole_seconds = [](Duration d, const char* what) -> std::string {
    if (d % seconds(1) != Duration::zero()) return std::string(what) + " must be whole seconds (the socket option is in seconds)";
    if (d < seconds(1) || d > seconds(32767)) return std::string(what) + " must be 1 s to 32767 s";
    return {};
  };
  if (o.keep_idle) {
    auto e = whole_seconds(*o.keep_idle, "keepalive idle (TCP_KEEPIDLE)");
    if (!e.empty()) return e;
  }
  if (o.keep_interval) {
    auto e = whole_seconds(*o.keep_interval, "keepalive interval (TCP_KEEPINTVL)");
    if (!e.empty()) return e;
  }
  if (o.keep_count && (*o.keep_count < 1 || *o.keep_count > 127)) return "keepalive count (TCP_KEEPCNT) must be 1 to 127";
  if (o.user_timeout < Duration::zero()) return "user timeout (TCP_USER_TIMEOUT) must not be negative";
  if (o.user_timeout % std::chrono::milliseconds(1) != Duration::zero())
    return "user timeout (TCP_USER_TIMEOUT) must be whole milliseconds";
  if (o.user_timeout > std::chrono::milliseconds(INT32_MAX)) return "user timeout (TCP_USER_TIMEOUT) is too large";
  return {};
}

const char* to_string(SocketError e) {
  switch (e) {
    case SocketError::None: return "none";
    case SocketError::Reset: return "reset";
    case SocketError::Refused: return "refused";
    case SocketError::TimedOut: return "timed-out";
    case SocketError::Unreachable: return "unreachable";
    case SocketError::Other: return "other";
    case SocketError::Cancelled: return "cancelled";
    case SocketError::KeepaliveTimedOut: return "keepalive-timed-out";
    case SocketError::UserTimedOut: return "user-timed-out";
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
