#include "connfail/sim/sim_transport.h"

#include <ns3/inet-socket-address.h>
#include <ns3/ipv4.h>
#include <ns3/object-vector.h>
#include <ns3/packet.h>
#include <ns3/simulator.h>
#include <ns3/tcp-l4-protocol.h>

#include <cstring>
#include <sstream>
#include <deque>
#include <stdexcept>

namespace connfail::sim {

using netcore::Address;
using netcore::Bytes;
using netcore::SocketError;
using netcore::TcpState;

constexpr uint32_t kMaxReadChunk = 64 * 1024;

void TraceSink::event(std::int64_t time_ns, std::uint64_t socket, const char* what) {
  mix(&time_ns, sizeof time_ns);
  mix(&socket, sizeof socket);
  mix(what, std::strlen(what));
}

TcpState to_state(ns3::TcpSocket::TcpStates_t s) {
  switch (s) {
    case ns3::TcpSocket::CLOSED: return TcpState::Closed;
    case ns3::TcpSocket::LISTEN: return TcpState::Listen;
    case ns3::TcpSocket::SYN_SENT: return TcpState::SynSent;
    case ns3::TcpSocket::SYN_RCVD: return TcpState::SynRcvd;
    case ns3::TcpSocket::ESTABLISHED: return TcpState::Established;
    case ns3::TcpSocket::CLOSE_WAIT: return TcpState::CloseWait;
    case ns3::TcpSocket::LAST_ACK: return TcpState::LastAck;
    case ns3::TcpSocket::FIN_WAIT_1: return TcpState::FinWait1;
    case ns3::TcpSocket::FIN_WAIT_2: return TcpState::FinWait2;
    case ns3::TcpSocket::CLOSING: return TcpState::Closing;
    case ns3::TcpSocket::TIME_WAIT: return TcpState::TimeWait;
    default: return TcpState::Closed;
  }
}

namespace {

Address to_address(const ns3::Address& a) {
  if (ns3::InetSocketAddress::IsMatchingType(a)) {
    auto in = ns3::InetSocketAddress::ConvertFrom(a);
    std::ostringstream os;
    in.GetIpv4().Print(os);
    return Address{os.str(), in.GetPort()};
  }
  return Address{};
}

}  // namespace

// ------------------------------------------------------------------ SimSocket

class SimSocket final : public netcore::Socket, public std::enable_shared_from_this<SimSocket> {
 public:
  SimSocket(SimTransport& t, ns3::Ptr<CfTcpSocket> s, netcore::SocketRole role)
      : t_(t), sock_(std::move(s)), id_(t.next_socket_id()) {
    sock_->owner_id = id_;
    sock_->owner_role = role;
    ns3::Address a;
    if (sock_->GetSockName(a) == 0) local_ = to_address(a);
    if (sock_->GetPeerName(a) == 0) remote_ = to_address(a);
    sock_->SetRecvCallback(ns3::MakeCallback(&SimSocket::OnRecv, this));
    sock_->SetSendCallback(ns3::MakeCallback(&SimSocket::OnSend, this));
    sock_->SetCloseCallbacks(ns3::MakeCallback(&SimSocket::OnNormalClose, this),
                             ns3::MakeCallback(&SimSocket::OnErrorClose, this));
    trace("open");
  }
  ~SimSocket() override {
    // Like an fd closed on destruction: never leave an ns-3 socket behind
    // calling into freed memory.
    if (open_) close();
  }

  std::uint64_t id() const override { return id_; }
  void set_handler(netcore::SocketHandler* h) override {
    handler_ = h;
    if (h) schedule_deliver();
  }
  void set_reading(bool on) override {
    reading_ = on;
    if (on) schedule_deliver();
  }
  void write(Bytes data, netcore::WriteCallback done) override {
    if (!open_ || shutdown_requested_ || failed_) {
      if (done) t_.loop().post([done] { done(SocketError::Other); });
      return;
    }
    pending_ += data.size();
    writes_.push_back(Pending{std::move(data), 0, std::move(done)});
    pump();
  }
  std::size_t pending_outbound() const override { return pending_; }
  void shutdown_output() override {
    if (!open_ || shutdown_requested_) return;
    shutdown_requested_ = true;
    if (writes_.empty()) sock_->ShutdownSend();
  }
  void close() override {
    if (!open_) return;
    trace("close");
    release();
    sock_->Close();  // FIN once the stack's buffer drains; RST if unread data (as Linux)
  }
  void abort() override {
    if (!open_) return;
    trace("abort");
    release();
    sock_->Abort();
  }
  bool is_open() const override { return open_; }
  Address local_address() const override { return local_; }
  Address remote_address() const override { return remote_; }
  void set_tcp_options(const netcore::TcpOptions& o) override {
    const std::string bad = netcore::tcp_options_error(o);
    if (!bad.empty()) throw std::invalid_argument(bad);
    if (open_) sock_->SetTcpOptions(o);
  }

 private:
  struct Pending {
    Bytes data;
    std::size_t offset;
    netcore::WriteCallback done;
  };

  void trace(const char* what) {
    t_.trace().event(ns3::Simulator::Now().GetNanoSeconds(), id_, what);
  }

  // Stops every callback from ns-3 and fails queued writes.
  void release() {
    open_ = false;
    handler_ = nullptr;
    sock_->owner_id = 0;
    sock_->SetRecvCallback(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>());
    sock_->SetSendCallback(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>, uint32_t>());
    sock_->SetCloseCallbacks(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>(),
                             ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>());
    for (auto& p : writes_)
      if (p.done) t_.loop().post([cb = std::move(p.done)] { cb(SocketError::Other); });
    writes_.clear();
    pending_ = 0;
  }

  void OnRecv(ns3::Ptr<ns3::Socket>) {
    t_.ns3_loop().dispatch([&] { deliver(); });
  }
  void OnSend(ns3::Ptr<ns3::Socket>, uint32_t) {
    t_.ns3_loop().dispatch([&] { pump(); });
  }
  void OnNormalClose(ns3::Ptr<ns3::Socket>) {
    // ns-3 reports a peer FIN and a received RST through the same callback;
    // the state tells them apart (CLOSE_WAIT and later after a FIN).
    const auto st = sock_->GetTcpState();
    t_.ns3_loop().dispatch([&] {
      if (st == ns3::TcpSocket::CLOSE_WAIT || st == ns3::TcpSocket::LAST_ACK ||
          st == ns3::TcpSocket::TIME_WAIT || st == ns3::TcpSocket::CLOSING) {
        trace("peer-fin");
        peer_fin_ = true;
        deliver();
      } else {
        trace("reset");
        fail(SocketError::Reset);
      }
    });
  }
  void OnErrorClose(ns3::Ptr<ns3::Socket>) {
    // Retransmissions exhausted (a dark peer, a long partition, 100% loss)
    // are a time-out; otherwise a reset. ns-3 sets no errno on a give-up,
    // so ask the socket while the give-up is under way.
    SocketError e = sock_->GetErrno() != ns3::Socket::ERROR_NOTERROR ? SocketError::TimedOut : SocketError::Reset;
    switch (sock_->GivingUp()) {
      case CfTcpSocket::GiveUp::None: break;
      case CfTcpSocket::GiveUp::Retransmit: e = SocketError::TimedOut; break;
      case CfTcpSocket::GiveUp::UserTimeout: e = SocketError::UserTimedOut; break;
      case CfTcpSocket::GiveUp::Keepalive: e = SocketError::KeepaliveTimedOut; break;
    }
    t_.ns3_loop().dispatch([&, e] {
      trace("error");
      fail(e);
    });
  }

  void fail(SocketError e) {
    if (failed_) return;
    failed_ = true;
    error_ = e;
    for (auto& p : writes_)
      if (p.done) t_.loop().post([cb = std::move(p.done)] { cb(SocketError::Reset); });
    writes_.clear();
    pending_ = 0;
    schedule_deliver();
  }

  void schedule_deliver() {
    if (deliver_scheduled_ || !open_) return;
    deliver_scheduled_ = true;
    auto weak = weak_from_this();
    t_.loop().post([weak] {
      if (auto self = weak.lock()) {
        self->deliver_scheduled_ = false;
        self->deliver();
      }
    });
  }

  // Hands the handler what the stack holds, in order: data, then end of
  // stream or the error. Stops as soon as reading is switched off.
  void deliver() {
    auto keep = shared_from_this();
    while (open_ && handler_) {
      if (failed_) {
        if (error_delivered_) return;
        error_delivered_ = true;
        handler_->on_error(error_);
        return;
      }
      if (!reading_) return;
      // At most 64 KiB per delivery, like the Asio transport's read buffer.
      ns3::Ptr<ns3::Packet> p = sock_->Recv(kMaxReadChunk, 0);
      if (p && p->GetSize() > 0) {
        Bytes data(p->GetSize());
        p->CopyData(data.data(), static_cast<uint32_t>(data.size()));
        handler_->on_data(std::move(data));
        continue;
      }
      if (peer_fin_ && !fin_delivered_ && sock_->RxBufferedBytes() == 0) {
        fin_delivered_ = true;
        handler_->on_peer_fin();
      }
      return;
    }
  }

  // Moves queued writes into the stack's send buffer as space allows
  // (ns-3's Send() takes all or nothing, so send what fits).
  void pump() {
    while (open_ && !writes_.empty()) {
      Pending& w = writes_.front();
      if (w.offset == w.data.size()) {  // an empty write: a marker after what precedes it
        auto done = std::move(w.done);
        writes_.pop_front();
        if (done) t_.loop().post([done] { done(SocketError::None); });
        continue;
      }
      const uint32_t avail = sock_->GetTxAvailable();
      if (avail == 0) return;  // resume in OnSend
      const std::size_t n = std::min<std::size_t>(avail, w.data.size() - w.offset);
      auto pkt = ns3::Create<ns3::Packet>(w.data.data() + w.offset, static_cast<uint32_t>(n));
      if (sock_->Send(pkt, 0) < 0) return;
      w.offset += n;
      pending_ -= n;
      if (w.offset == w.data.size()) {
        auto done = std::move(w.done);
        writes_.pop_front();
        if (done) t_.loop().post([done] { done(SocketError::None); });
      }
    }
    if (open_ && writes_.empty() && shutdown_requested_) sock_->ShutdownSend();
  }

  SimTransport& t_;
  ns3::Ptr<CfTcpSocket> sock_;
  std::uint64_t id_;
  netcore::SocketHandler* handler_ = nullptr;
  Address local_, remote_;
  bool open_ = true;
  bool reading_ = false;
  bool peer_fin_ = false;
  bool fin_delivered_ = false;
  bool failed_ = false;
  bool error_delivered_ = false;
  SocketError error_ = SocketError::None;
  bool shutdown_requested_ = false;
  bool deliver_scheduled_ = false;
  std::deque<Pending> writes_;
  std::size_t pending_ = 0;
};

// ---------------------------------------------------------------- SimListener

// A listener with a bounded accept queue: ns-3 pushes every completed
// handshake to the application at once; while paused we keep them (up to
// backlog + 1, Linux's sk_acceptq_is_full) and refuse new SYNs silently once
// the queue is full, as Linux does with tcp_abort_on_overflow = 0.
class SimListener final : public netcore::Listener, public std::enable_shared_from_this<SimListener> {
 public:
  SimListener(SimTransport& t, AcceptFn fn, int backlog)
      : t_(t), on_accept_(std::move(fn)), backlog_(backlog < 0 ? 0 : backlog) {}
  ~SimListener() override { close(); }

  void open(const netcore::ListenOptions& opts) {
    sock_ = CfTcpSocket::Create(t_.node());
    sock_->is_listener = true;
    sock_->owner_id = t_.next_socket_id();
    if (sock_->Bind(ns3::InetSocketAddress(ns3::Ipv4Address::GetAny(), opts.address.port)) != 0) {
      sock_->Discard();
      throw std::runtime_error("cannot listen on " + t_.node_name() + ":" +
                               std::to_string(opts.address.port) + ": address in use");
    }
    sock_->Listen();
    // Linux checks the accept queue at the SYN and again at the ACK that
    // completes the handshake (see CfTcpSocket::accept_gate).
    std::weak_ptr<SimListener> weak = weak_from_this();
    sock_->accept_gate = [weak] {
      auto self = weak.lock();
      return self && self->can_queue();
    };
    sock_->SetAcceptCallback(ns3::MakeCallback(&SimListener::OnRequest, this),
                             ns3::MakeCallback(&SimListener::OnAccepted, this));
    ns3::Address a;
    sock_->GetSockName(a);
    auto in = ns3::InetSocketAddress::ConvertFrom(a);
    local_ = Address{t_.node_name(), in.GetPort()};
  }

  Address local_address() const override { return local_; }
  void pause() override { paused_ = true; }
  void resume() override {
    if (!paused_) return;
    paused_ = false;
    auto weak = weak_from_this();
    t_.loop().post([weak] {
      if (auto self = weak.lock()) self->drain();
    });
  }
  bool paused() const override { return paused_; }
  void close() override {
    if (!open_) return;
    open_ = false;
    sock_->SetAcceptCallback(
        ns3::MakeNullCallback<bool, ns3::Ptr<ns3::Socket>, const ns3::Address&>(),
        ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>, const ns3::Address&>());
    sock_->owner_id = 0;
    sock_->Discard();
    // Queued, never-accepted children: the application closes its listening
    // socket, the kernel resets them.
    for (auto& s : queue_) s->abort();
    queue_.clear();
  }

 private:
  /// Room for one more completed connection: accepting, or the queue holds
  /// at most backlog (Linux's sk_acceptq_is_full is queued > backlog).
  bool can_queue() const { return open_ && !(paused_ && queue_.size() > static_cast<std::size_t>(backlog_)); }
  bool OnRequest(ns3::Ptr<ns3::Socket>, const ns3::Address&) { return can_queue(); }
  void OnAccepted(ns3::Ptr<ns3::Socket> s, const ns3::Address&) {
    auto child = ns3::DynamicCast<CfTcpSocket>(s);
    t_.ns3_loop().dispatch([&] {
      auto sock = std::make_shared<SimSocket>(t_, child, netcore::SocketRole::Accepted);
      if (!open_) {
        sock->abort();
        return;
      }
      queue_.push_back(std::move(sock));
      if (!paused_) drain();
    });
  }
  void drain() {
    while (open_ && !paused_ && !queue_.empty()) {
      auto s = std::move(queue_.front());
      queue_.pop_front();
      on_accept_(std::move(s));
    }
  }

  SimTransport& t_;
  AcceptFn on_accept_;
  int backlog_;
  ns3::Ptr<CfTcpSocket> sock_;
  Address local_;
  bool open_ = true;
  bool paused_ = false;
  std::deque<std::shared_ptr<SimSocket>> queue_;
};

// --------------------------------------------------------------- SimTransport

SimTransport::SimTransport(Ns3Loop& loop, ns3::Ptr<ns3::Node> node, std::string name, TraceSink& trace)
    : loop_(loop), node_(std::move(node)), name_(std::move(name)), trace_(trace) {}

SimTransport::~SimTransport() = default;

std::uint64_t SimTransport::next_socket_id() { return trace_.next_socket_id++; }

std::shared_ptr<netcore::Listener> SimTransport::listen(const netcore::ListenOptions& opts,
                                                        netcore::Listener::AcceptFn on_accept) {
  auto l = std::make_shared<SimListener>(*this, std::move(on_accept), opts.backlog);
  l->open(opts);
  return l;
}

namespace {
// One connect attempt: owns the ns-3 socket until it succeeds, fails or
// times out, whichever comes first.
struct ConnectAttempt : std::enable_shared_from_this<ConnectAttempt> {
  SimTransport* t = nullptr;
  ns3::Ptr<CfTcpSocket> sock;
  netcore::Transport::ConnectFn done;
  netcore::TimerId timer = 0;
  bool finished = false;
  std::shared_ptr<ConnectAttempt> self;  // alive until finished
  std::weak_ptr<netcore::ConnectCanceller> canceller;
  std::uint64_t cancel_id = 0;

  void OnConnected(ns3::Ptr<ns3::Socket>) {
    t->ns3_loop().dispatch([&] {
      if (finished) return;
      finish_common();
      auto s = std::make_shared<SimSocket>(*t, sock, netcore::SocketRole::Connected);
      auto cb = std::move(done);
      auto keep = std::move(self);
      cb(std::move(s), SocketError::None);
    });
  }
  void OnFailed(ns3::Ptr<ns3::Socket>) {
    t->ns3_loop().dispatch([&] {
      if (finished) return;
      finish_common();
      // A RST in answer to our SYN: refused. Retries exhausted: timed out.
      const auto e = sock->refused ? SocketError::Refused
                     : sock->GetErrno() == ns3::Socket::ERROR_NOROUTETOHOST ? SocketError::Unreachable
                                                                            : SocketError::TimedOut;
      sock->Discard();
      auto cb = std::move(done);
      auto keep = std::move(self);
      cb(nullptr, e);
    });
  }
  // ns-3 reports a RST in answer to the SYN through the normal close
  // callback, not the connect-failed one.
  void OnClosedWhileConnecting(ns3::Ptr<ns3::Socket>) {
    t->ns3_loop().dispatch([&] {
      if (finished) return;
      finish_common();
      sock->Discard();
      auto cb = std::move(done);
      auto keep = std::move(self);
      cb(nullptr, SocketError::Refused);
    });
  }
  void OnTimeout() {
    if (finished) return;
    finish_common();
    sock->Discard();  // as Linux: a connecting socket closed by the app sends nothing
    auto cb = std::move(done);
    auto keep = std::move(self);
    cb(nullptr, SocketError::TimedOut);
  }
  void OnCancel() {
    if (finished) return;
    finish_common();
    sock->Discard();  // as Linux: a connecting socket closed by the app sends nothing
    // Later, on the loop: the canceller's caller is in the middle of
    // something.
    auto keep = std::move(self);
    t->loop().post([keep] { keep->done(nullptr, SocketError::Cancelled); });
  }
  void finish_common() {
    finished = true;
    t->loop().cancel(timer);
    if (auto c = canceller.lock()) c->remove(cancel_id);
    sock->SetConnectCallback(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>(),
                             ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>());
    sock->SetCloseCallbacks(ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>(),
                            ns3::MakeNullCallback<void, ns3::Ptr<ns3::Socket>>());
  }
};
}  // namespace

void SimTransport::connect(const Address& to, netcore::Duration timeout, ConnectFn done) {
  connect_from("", to, timeout, std::move(done), nullptr);
}

void SimTransport::connect_from(const std::string&, const Address& to, netcore::Duration timeout, ConnectFn done,
                                std::shared_ptr<netcore::ConnectCanceller> cancel) {
  auto a = std::make_shared<ConnectAttempt>();
  a->t = this;
  a->done = std::move(done);
  a->self = a;
  a->sock = CfTcpSocket::Create(node_);
  ns3::Ipv4Address ip(to.host.c_str());
  a->sock->Bind();
  a->sock->SetConnectCallback(ns3::MakeCallback(&ConnectAttempt::OnConnected, a.get()),
                              ns3::MakeCallback(&ConnectAttempt::OnFailed, a.get()));
  a->sock->SetCloseCallbacks(ns3::MakeCallback(&ConnectAttempt::OnClosedWhileConnecting, a.get()),
                             ns3::MakeCallback(&ConnectAttempt::OnFailed, a.get()));
  std::weak_ptr<ConnectAttempt> weak = a;
  a->timer = loop_.schedule(timeout, [weak] {
    if (auto s = weak.lock()) s->OnTimeout();
  });
  a->sock->Connect(ns3::InetSocketAddress(ip, to.port));
  if (cancel) {
    a->canceller = cancel;
    a->cancel_id = cancel->add([weak] {
      if (auto s = weak.lock()) s->OnCancel();
    });
  }
}

std::vector<netcore::SocketInfo> SimTransport::inventory() const {
  std::vector<netcore::SocketInfo> out;
  ns3::ObjectVectorValue list;
  node_->GetObject<ns3::TcpL4Protocol>()->GetAttribute("SocketList", list);
  const ns3::Time now = ns3::Simulator::Now();
  for (auto it = list.Begin(); it != list.End(); ++it) {
    auto s = ns3::DynamicCast<CfTcpSocket>(it->second);
    if (!s) continue;
    netcore::SocketInfo si;
    si.state = to_state(s->LinuxState());
    si.socket_id = s->owner_id;
    si.held_by_app = s->owner_id != 0;
    si.role = s->is_listener ? netcore::SocketRole::Listener
              : s->owner_id != 0 ? s->owner_role
                                 : netcore::SocketRole::KernelOnly;
    ns3::Address a;
    if (s->GetSockName(a) == 0) si.local = to_address(a);
    if (s->GetPeerName(a) == 0) si.remote = to_address(a);
    si.in_state_for = netcore::Duration((now - s->LinuxStateSince()).GetNanoSeconds());
    si.node = name_;
    out.push_back(std::move(si));
  }
  return out;
}

}  // namespace connfail::sim
