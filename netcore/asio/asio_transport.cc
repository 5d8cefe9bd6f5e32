#include "connfail/netcore/asio/asio_transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <map>
#include <set>
#include <stdexcept>

#include "connfail/netcore/asio/asio_listener.h"
#include "connfail/netcore/asio/asio_socket.h"

namespace netcore::asio {

namespace ba = boost::asio;
using tcp = ba::ip::tcp;
using boost::system::error_code;

AsioTransport::AsioTransport(AsioTransportOptions options)
    : boss_(std::make_shared<AsioLoop>()),
      next_worker_(std::make_shared<std::atomic<std::size_t>>(0)),
      registry_(std::make_shared<SocketRegistry>()) {
  connects_on_workers_ = options.connects_on_workers;
  if (options.worker_loops < 0) throw std::invalid_argument("worker_loops must be >= 0");
  boss_->set_other_threads_matter(options.worker_loops > 0);
  for (int i = 0; i < options.worker_loops; ++i) {
    workers_.push_back(std::make_shared<AsioLoop>(*boss_));
    workers_.back()->start_thread();
  }
}

AsioTransport::~AsioTransport() {
  stop_workers();
  for (auto& l : registry_->listeners()) l->close();
  for (auto& s : registry_->sockets()) s->close();
  // The handlers still pending (a connect in progress, a closed socket's
  // aborted wait) go without running, and with them what they hold.
  for (auto& w : workers_) w->shutdown();
  boss_->shutdown();
}

void AsioTransport::stop_workers() {
  for (auto& w : workers_) w->stop_thread();
}

void AsioTransport::run_all_for(Duration d) {
  const auto end = std::chrono::steady_clock::now() + d;
  for (;;) {
    for (auto& w : workers_) w->poll();
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    boss_->run_for(std::min<Duration>(std::chrono::milliseconds(5), end - now));
  }
}

EventLoop& AsioTransport::loop_of(const Socket& socket) {
  // Every Socket this transport hands out is an AsioSocket.
  return static_cast<const AsioSocket&>(socket).loop();
}

std::size_t AsioTransport::pending_timers() {
  std::size_t n = boss_->pending_timers();
  for (const auto& w : workers_) n += w->pending_timers();
  return n;
}

std::shared_ptr<AsioLoop> AsioTransport::loop_for_connect() {
  AsioLoop* here = AsioLoop::current();
  for (const auto& w : workers_)
    if (w.get() == here) return w;
  if (connects_on_workers_ && !workers_.empty())
    return workers_[next_connect_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
  return boss_;
}

std::shared_ptr<Listener> AsioTransport::listen(const ListenOptions& opts, Listener::AcceptFn on_accept) {
  // The group's pick, not the transport: the listener may outlive it.
  auto workers = workers_;
  auto next = next_worker_;
  AsioListener::PickLoop pick;
  if (opts.use_worker_loops && !workers.empty())
    pick = [workers, next]() -> std::shared_ptr<AsioLoop> {
      return workers[next->fetch_add(1, std::memory_order_relaxed) % workers.size()];
    };
  auto l = std::make_shared<AsioListener>(boss_, registry_, std::move(pick), std::move(on_accept));
  l->open(opts);
  registry_->track_listener(l, l->local_address().port);
  l->start();
  return l;
}

void AsioTransport::connect(const Address& to, Duration timeout, ConnectFn done) {
  connect_from("", to, timeout, std::move(done));
}

namespace {

// One connect attempt, started on `loop`'s own thread (its socket, timer
// and callbacks are that loop's).
void start_connect(const std::shared_ptr<AsioLoop>& loop, const std::shared_ptr<SocketRegistry>& registry,
                   const std::string& source_host, const Address& to, Duration timeout, Transport::ConnectFn done,
                   const std::shared_ptr<ConnectCanceller>& cancel) {
  error_code ec;
  auto addr = ba::ip::make_address(to.host, ec);
  if (ec) {
    loop->post([done] { done(nullptr, SocketError::Unreachable); });
    return;
  }
  ba::ip::address source;
  if (!source_host.empty()) {
    source = ba::ip::make_address(source_host, ec);
    if (ec) {
      loop->post([done] { done(nullptr, SocketError::Unreachable); });
      return;
    }
  }
  struct Attempt {
    tcp::socket sock;
    bool finished = false;
    SocketError ended_by = SocketError::None;  // TimedOut or Cancelled: the socket was closed for it
    TimerId timer = 0;
    Transport::ConnectFn done;
    std::weak_ptr<ConnectCanceller> canceller;
    std::uint64_t cancel_id = 0;
  };
  auto a = std::make_shared<Attempt>(Attempt{tcp::socket(loop->io()), false, SocketError::None, 0, std::move(done), {}, 0});
  // Closing the socket completes the connect with operation_aborted; the
  // handler below then reports why it was closed.
  auto end_early = [a](SocketError why) {
    if (a->finished || a->ended_by != SocketError::None) return;
    a->ended_by = why;
    error_code ignored;
    a->sock.close(ignored);
  };
  a->timer = loop->schedule(timeout, [end_early] { end_early(SocketError::TimedOut); });
  if (!source_host.empty()) {
    error_code bec;
    a->sock.open(addr.is_v4() ? tcp::v4() : tcp::v6(), bec);
    if (!bec) {
      // The port is chosen at connect(), against the whole 4-tuple, and not
      // by bind(port 0), which may hand out a port another socket listens on
      // at another address (the server's own, in a namespace).
      const int one = 1;
      ::setsockopt(a->sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      a->sock.bind(tcp::endpoint(source, 0), bec);
    }
    if (bec) {
      loop->cancel(a->timer);
      a->finished = true;
      loop->post([a] { a->done(nullptr, SocketError::Other); });
      return;
    }
  }
  a->sock.async_connect(tcp::endpoint(addr, to.port), [loop, registry, a](const error_code& cec) {
    if (a->finished) return;
    a->finished = true;
    loop->cancel(a->timer);
    if (auto c = a->canceller.lock()) c->remove(a->cancel_id);
    if (a->ended_by != SocketError::None) {
      a->done(nullptr, a->ended_by);
      return;
    }
    if (cec) {
      SocketError e = SocketError::Other;
      if (cec == ba::error::connection_refused) e = SocketError::Refused;
      else if (cec == ba::error::timed_out) e = SocketError::TimedOut;
      else if (cec == ba::error::network_unreachable || cec == ba::error::host_unreachable)
        e = SocketError::Unreachable;
      a->done(nullptr, e);
      return;
    }
    auto sock = std::make_shared<AsioSocket>(loop, registry, std::move(a->sock), SocketRole::Connected);
    registry->track(sock);
    a->done(sock, SocketError::None);
    sock->start();
  });
  if (cancel) {
    a->canceller = cancel;
    // The timer goes at once with the socket: a cancelled connect holds
    // neither an fd nor a timer from here on.
    // The attempt is its loop's: a cancel from elsewhere runs there.
    a->cancel_id = cancel->add([loop, a, end_early] {
      loop->execute([loop, a, end_early] {
        loop->cancel(a->timer);
        end_early(SocketError::Cancelled);
      });
    });
  }
}

}  // namespace

void AsioTransport::connect_from(const std::string& source_host, const Address& to, Duration timeout,
                                 ConnectFn done, std::shared_ptr<ConnectCanceller> cancel) {
  std::shared_ptr<AsioLoop> loop = loop_for_connect();
  if (loop->in_loop()) {
    start_connect(loop, registry_, source_host, to, timeout, std::move(done), cancel);
    return;
  }
  // Another thread's connect onto a worker loop: it starts there. If that
  // loop stops first, the attempt goes with it, unstarted.
  loop->post([loop, registry = registry_, source_host, to, timeout, done = std::move(done), cancel]() mutable {
    start_connect(loop, registry, source_host, to, timeout, std::move(done), cancel);
  });
}

// ----------------------------------------------------------- inventory

std::vector<SocketInfo> AsioTransport::inventory() const {
  // Our own open sockets and listeners, by fd.
  struct Mine {
    std::uint64_t id;
    SocketRole role;
  };
  std::map<int, Mine> by_fd;
  for (const auto& s : registry_->sockets())
    if (const int fd = s->inventory_fd(); fd >= 0) by_fd[fd] = Mine{s->id(), s->role()};
  for (const auto& l : registry_->listeners())
    if (const int fd = l->inventory_fd(); fd >= 0) by_fd[fd] = Mine{0, SocketRole::Listener};
  const std::set<std::uint16_t> listener_ports = registry_->listener_ports();

  std::map<unsigned long, int> fd_of_inode;
  for (const auto& [fd, inode] : process_socket_inodes()) fd_of_inode[inode] = fd;

  // Rows that can be ours (the rules below decide): this process's sockets,
  // rows on our listening ports, rows on the port pair of a connection we
  // made. The rest (other processes' thousands of TIME_WAITs) is dropped
  // before any string is made for it.
  const RowKeep keep = [&](std::uint16_t lport, std::uint16_t rport, unsigned long inode) {
    return (inode != 0 && fd_of_inode.count(inode) > 0) || listener_ports.count(lport) > 0 ||
           registry_->has_client_pair(lport, rport);
  };
  std::vector<SocketInfo> out;
  for (const auto& e : read_kernel_tcp_table(keep)) {
    auto fd_it = e.inode != 0 ? fd_of_inode.find(e.inode) : fd_of_inode.end();
    const bool in_process = fd_it != fd_of_inode.end();
    const bool tracked = in_process && by_fd.count(fd_it->second) > 0;
    // Rows the kernel keeps without an fd (accept queue, TIME_WAIT, orphaned
    // FIN_WAIT) are ours when they sit on one of our listening ports or on
    // the exact port pair of a connection we made.
    const bool on_our_listener = listener_ports.count(e.local.port) > 0;
    const bool our_client_pair = registry_->has_client_pair(e.local.port, e.remote.port);
    if (!tracked) {
      if (in_process && !on_our_listener) continue;  // another transport's socket
      if (!in_process && (e.inode != 0 || !(on_our_listener || our_client_pair))) continue;
    }
    SocketInfo si;
    si.state = e.state;
    si.local = e.local;
    si.remote = e.remote;
    si.node = "local";
    if (in_process) {
      auto m = by_fd.find(fd_it->second);
      if (m != by_fd.end()) {
        si.socket_id = m->second.id;
        si.role = m->second.role;
        si.held_by_app = true;
      } else {
        si.role = e.state == TcpState::Listen ? SocketRole::Listener : SocketRole::KernelOnly;
      }
    } else {
      si.role = SocketRole::KernelOnly;  // accept queue, TIME_WAIT, orphaned FIN_WAIT
    }
    out.push_back(si);
  }
  return out;
}

}  // namespace netcore::asio
