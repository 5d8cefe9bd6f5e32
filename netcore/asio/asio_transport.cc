#include "connfail/netcore/asio/asio_transport.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <optional>
#include <string_view>
#include <stdexcept>
#include <thread>
#include <tuple>

namespace netcore::asio {

namespace ba = boost::asio;
using tcp = ba::ip::tcp;
using boost::system::error_code;

// ---------------------------------------------------------------- AsioLoop

AsioLoop::AsioLoop() : epoch_(Clock::now()) {
  // Asio creates its reactor (epoll fd, eventfd, timerfd) lazily, with the
  // first timer or socket; wakeup_ (constructed with the loop) creates them
  // now, so that the process's fd count taken after constructing a loop
  // does not grow by those three later and the fd-delta leak check counts
  // only sockets.
}
AsioLoop::~AsioLoop() = default;

TimePoint AsioLoop::now() const {
  return std::chrono::duration_cast<Duration>(Clock::now() - epoch_);
}

TimerId AsioLoop::schedule(Duration delay, std::function<void()> fn) {
  const TimerId id = next_id_++;
  const Clock::time_point at = Clock::now() + (delay < Duration::zero() ? Duration::zero() : delay);
  queue_.emplace(std::make_pair(at, id), std::move(fn));
  deadline_of_.emplace(id, at);
  if (!armed_for_ || at < *armed_for_) arm();
  return id;
}

bool AsioLoop::cancel(TimerId id) {
  auto it = deadline_of_.find(id);
  if (it == deadline_of_.end()) return false;
  queue_.erase({it->second, id});
  deadline_of_.erase(it);
  // wakeup_ stays set: if it was for this timer, it finds nothing due and
  // sets itself for the next one.
  return true;
}

void AsioLoop::arm() {
  if (queue_.empty()) {
    armed_for_.reset();
    return;
  }
  const Clock::time_point at = queue_.begin()->first.first;
  armed_for_ = at;
  const std::uint64_t gen = ++generation_;
  // Cancels the wait before (its handler runs aborted; one already queued
  // as expired runs, and is ignored by its generation).
  wakeup_.expires_at(at);
  wakeup_.async_wait([this, gen](const error_code& ec) {
    if (ec) return;
    run_due(gen);
  });
}

void AsioLoop::run_due(std::uint64_t generation) {
  if (generation != generation_) return;
  armed_for_.reset();
  // The timers due now, in (deadline, id) order; one that a callback
  // schedules for now runs with the next wake-up, after the I/O ready by
  // then (a zero delay cannot starve the sockets).
  const Clock::time_point now = Clock::now();
  const TimerId last = next_id_;
  while (!queue_.empty()) {
    auto it = queue_.begin();
    if (it->first.first > now) break;
    if (it->first.second >= last) break;
    auto fn = std::move(it->second);
    deadline_of_.erase(it->first.second);
    queue_.erase(it);
    fn();
  }
  if (!armed_for_) arm();
}

void AsioLoop::post(std::function<void()> fn) { ba::post(io_, std::move(fn)); }

bool AsioLoop::run_until(const std::function<bool()>& done, Duration limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (io_.stopped()) io_.restart();
    if (io_.run_one_until(deadline) > 0) {
      // Run what else is ready before looking at done() again: done() may
      // read the kernel's table (milliseconds), and a close that takes a
      // dozen handlers must not take a dozen table reads. Bounded, so a
      // handler that keeps posting work cannot starve the check.
      for (int more = 0; more < 64 && io_.poll_one() > 0; ++more) {
      }
    } else {
      // Nothing ran: the loop has no work (or the deadline passed). done()
      // can still change without any work of ours: it may read the kernel's
      // view (the inventory: a FIN handshake finishing, a socket reaching
      // TIME_WAIT) or wall time. Look again shortly, up to the deadline;
      // run_for() must last its whole duration even with nothing to do.
      const auto nap = std::min<std::chrono::steady_clock::duration>(deadline - std::chrono::steady_clock::now(),
                                                                      std::chrono::milliseconds(1));
      if (nap > std::chrono::steady_clock::duration::zero()) std::this_thread::sleep_for(nap);
    }
  }
  return done();
}

// -------------------------------------------------------------- AsioSocket

class AsioSocket final : public Socket, public std::enable_shared_from_this<AsioSocket> {
 public:
  AsioSocket(AsioTransport& t, tcp::socket s, SocketRole role)
      : t_(t), sock_(std::move(s)), id_(t.next_socket_id()), role_(role) {
    error_code ec;
    sock_.non_blocking(true, ec);  // read_some after a wait never blocks the loop
    refresh_addresses();
  }

  std::uint64_t id() const override { return id_; }
  SocketRole role() const { return role_; }
  int native_fd() { return sock_.is_open() ? sock_.native_handle() : -1; }
  tcp::socket& raw() { return sock_; }

  void refresh_addresses() {
    error_code ec;
    auto l = sock_.local_endpoint(ec);
    if (!ec) local_ = {l.address().to_string(), l.port()};
    auto r = sock_.remote_endpoint(ec);
    if (!ec) remote_ = {r.address().to_string(), r.port()};
    if (role_ == SocketRole::Connected) t_.note_client_pair(local_.port, remote_.port);
  }

  void set_handler(SocketHandler* h) override { handler_ = h; }

  void set_reading(bool on) override {
    reading_ = on;
    if (!on || !open_) return;
    // Deliver what arrived while reading was off, later (never re-entrantly).
    auto self = shared_from_this();
    ba::post(sock_.get_executor(), [self] { self->deliver(); });
  }

  void write(Bytes data, WriteCallback done) override {
    if (!open_ || shutdown_requested_) {
      if (done) ba::post(sock_.get_executor(), [done] { done(SocketError::Other); });
      return;
    }
    pending_bytes_ += data.size();
    writes_.push_back(Pending{std::move(data), std::move(done)});
    if (!write_in_flight_) start_write();
  }

  std::size_t pending_outbound() const override { return pending_bytes_; }

  void shutdown_output() override {
    if (!open_ || shutdown_requested_) return;
    shutdown_requested_ = true;
    if (!write_in_flight_) do_shutdown();
  }

  void close() override { do_close(false); }
  void abort() override { do_close(true); }
  bool is_open() const override { return open_; }
  Address local_address() const override { return local_; }
  Address remote_address() const override { return remote_; }

  void start() { maybe_start_read(); }

 private:
  struct Pending {
    Bytes data;
    WriteCallback done;
  };

  void do_close(bool rst) {
    if (!open_) return;
    open_ = false;
    handler_ = nullptr;
    for (auto& p : writes_)
      if (p.done) ba::post(sock_.get_executor(), [cb = std::move(p.done)] { cb(SocketError::Other); });
    writes_.clear();
    pending_bytes_ = 0;
    error_code ec;
    if (rst) sock_.set_option(tcp::socket::linger(true, 0), ec);
    sock_.close(ec);
  }

  void maybe_start_read() {
    if (!open_ || read_in_flight_ || eof_ || failed_) return;
    // Keep one wait outstanding even while reading is off: data lands in
    // the stash only up to one buffer, after which TCP's window does the
    // rest. The socket waits for readability and then reads into the
    // transport's one buffer (every socket of a transport runs on its one
    // loop thread), so an idle connection holds no read buffer of its own
    // (Netty reads into a buffer it allocates per read, for the same reason).
    if (!reading_ && !stash_.empty()) return;
    read_in_flight_ = true;
    auto self = shared_from_this();
    sock_.async_wait(tcp::socket::wait_read, [self](const error_code& wec) {
      self->read_in_flight_ = false;
      if (!self->open_) return;
      if (wec) {
        self->failed_ = true;
        self->fail(wec);
        return;
      }
      std::vector<std::uint8_t>& buf = self->t_.read_buffer();
      error_code ec;
      const std::size_t n = self->sock_.read_some(ba::buffer(buf), ec);
      if (ec == ba::error::would_block || ec == ba::error::try_again) {
        self->maybe_start_read();  // woken without data: wait again
        return;
      }
      if (ec == ba::error::eof) {
        self->eof_ = true;
      } else if (ec) {
        self->failed_ = true;
        self->fail(ec);
        return;
      } else {
        self->stash_.insert(self->stash_.end(), buf.begin(), buf.begin() + static_cast<long>(n));
      }
      self->deliver();
    });
  }

  void deliver() {
    auto self = shared_from_this();  // a handler may drop the last owner
    while (open_ && reading_ && handler_) {
      if (!stash_.empty()) {
        Bytes data;
        data.swap(stash_);
        handler_->on_data(std::move(data));
      } else if (eof_ && !eof_delivered_) {
        eof_delivered_ = true;
        handler_->on_peer_fin();
      } else {
        break;
      }
    }
    maybe_start_read();
  }

  void fail(const error_code& ec) {
    SocketError e = SocketError::Other;
    if (ec == ba::error::connection_reset || ec == ba::error::broken_pipe) e = SocketError::Reset;
    else if (ec == ba::error::timed_out) e = SocketError::TimedOut;
    if (handler_) handler_->on_error(e);
  }

  void start_write() {
    if (writes_.empty() || !open_) return;
    write_in_flight_ = true;
    auto self = shared_from_this();
    ba::async_write(sock_, ba::buffer(writes_.front().data),
                    [self](const error_code& ec, std::size_t) {
                      self->write_in_flight_ = false;
                      if (!self->open_) return;  // close() already failed the queue
                      Pending p = std::move(self->writes_.front());
                      self->writes_.pop_front();
                      self->pending_bytes_ -= p.data.size();
                      if (ec) {
                        if (p.done) p.done(SocketError::Reset);
                        if (!self->failed_) {
                          self->failed_ = true;
                          self->fail(ec);
                        }
                        return;
                      }
                      if (p.done) p.done(SocketError::None);
                      // The callback may have written (and so started the
                      // next write) or closed.
                      if (!self->open_ || self->write_in_flight_) return;
                      if (!self->writes_.empty()) self->start_write();
                      else if (self->shutdown_requested_) self->do_shutdown();
                    });
  }

  void do_shutdown() {
    error_code ec;
    sock_.shutdown(tcp::socket::shutdown_send, ec);
  }

  AsioTransport& t_;
  tcp::socket sock_;
  std::uint64_t id_;
  SocketRole role_;
  SocketHandler* handler_ = nullptr;
  Address local_, remote_;
  bool open_ = true;
  bool reading_ = false;
  bool read_in_flight_ = false;
  bool eof_ = false;
  bool eof_delivered_ = false;
  bool failed_ = false;
  bool write_in_flight_ = false;
  bool shutdown_requested_ = false;
  Bytes stash_;
  // A list: an empty std::deque holds about 600 bytes (see Channel).
  std::list<Pending> writes_;
  std::size_t pending_bytes_ = 0;
};

// ------------------------------------------------------------ AsioListener

class AsioListener final : public Listener, public std::enable_shared_from_this<AsioListener> {
 public:
  AsioListener(AsioTransport& t, AcceptFn fn) : t_(t), acceptor_(t.asio_loop().io()), on_accept_(std::move(fn)) {}

  void open(const ListenOptions& opts) {
    error_code ec;
    auto addr = ba::ip::make_address(opts.address.host, ec);
    if (ec) throw std::runtime_error("listen: bad address '" + opts.address.host + "': " + ec.message());
    tcp::endpoint ep(addr, opts.address.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(opts.backlog, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + opts.address.to_string() + ": " + ec.message());
    auto l = acceptor_.local_endpoint();
    local_ = {l.address().to_string(), l.port()};
  }



  Address local_address() const override { return local_; }
  int native_fd() { return acceptor_.is_open() ? acceptor_.native_handle() : -1; }

  void pause() override {
    if (paused_) return;
    paused_ = true;
    error_code ec;
    acceptor_.cancel(ec);
  }
  void resume() override {
    if (!paused_) return;
    paused_ = false;
    start();
  }
  bool paused() const override { return paused_; }
  void close() override {
    if (!open_) return;
    open_ = false;
    error_code ec;
    acceptor_.close(ec);
    held_.clear();  // their destructors close the fds
  }

  void start() {
    if (!open_ || paused_) return;
    while (!held_.empty() && !paused_ && open_) {
      auto s = held_.front();
      held_.pop_front();
      on_accept_(s);
      s->start();
    }
    if (accepting_ || paused_ || !open_) return;
    accepting_ = true;
    auto self = shared_from_this();
    acceptor_.async_accept([self](const error_code& ec, tcp::socket s) {
      self->accepting_ = false;
      if (!self->open_) return;
      if (ec == ba::error::operation_aborted) {
        self->start();
        return;
      }
      if (ec) {
        self->t_.count_accept_error();
        // EMFILE/ENFILE leave the connection in the kernel's queue and fail
        // again at once: back off (Netty pauses accepting for 1 s) instead of
        // spinning; the queued connection is accepted when fds are back.
        self->t_.loop().schedule(std::chrono::milliseconds(100), [self] { self->start(); });
        return;
      }
      auto sock = std::make_shared<AsioSocket>(self->t_, std::move(s), SocketRole::Accepted);
      self->t_.track(sock);
      if (self->paused_) {
        // Accepted just as we paused: keep it for resume() (it was already
        // out of the kernel's queue).
        self->held_.push_back(sock);
      } else {
        self->on_accept_(sock);
        sock->start();
      }
      self->start();
    });
  }

 private:
  AsioTransport& t_;
  tcp::acceptor acceptor_;
  AcceptFn on_accept_;
  Address local_;
  bool open_ = true;
  bool paused_ = false;
  bool accepting_ = false;
  std::deque<std::shared_ptr<AsioSocket>> held_;
};

// ----------------------------------------------------------- AsioTransport

AsioTransport::AsioTransport() = default;
AsioTransport::~AsioTransport() {
  for (auto& w : listeners_)
    if (auto l = w.lock()) l->close();
  for (auto& [id, w] : sockets_)
    if (auto s = w.lock()) s->close();
}

void AsioTransport::track(const std::shared_ptr<AsioSocket>& s) {
  if (sockets_.size() >= prune_sockets_at_) {
    for (auto it = sockets_.begin(); it != sockets_.end();) it = it->second.expired() ? sockets_.erase(it) : std::next(it);
    prune_sockets_at_ = std::max<std::size_t>(1024, 2 * sockets_.size());
  }
  sockets_[s->id()] = s;
}

bool PortPairSet::insert(std::uint16_t local, std::uint16_t remote) {
  auto& bits = by_remote_[remote];
  if (!bits) bits = std::make_unique<std::bitset<65536>>();
  if (bits->test(local)) return false;
  bits->set(local);
  ++size_;
  return true;
}

bool PortPairSet::contains(std::uint16_t local, std::uint16_t remote) const {
  auto it = by_remote_.find(remote);
  return it != by_remote_.end() && it->second->test(local);
}

void AsioTransport::note_client_pair(std::uint16_t local, std::uint16_t remote) {
  if (client_pairs_.size() >= prune_pairs_at_) {
    // Keep the pairs the kernel still has a row for (open, or TIME_WAIT and
    // the like, which inventory() reports as ours); the rest are gone. The
    // filter collects them and keeps no row: nothing is built per row.
    PortPairSet seen;
    (void)read_kernel_tcp_table([&](std::uint16_t l, std::uint16_t r, unsigned long) {
      if (client_pairs_.contains(l, r)) seen.insert(l, r);
      return false;
    });
    client_pairs_.swap(seen);
    prune_pairs_at_ = std::max<std::size_t>(4096, 2 * client_pairs_.size());
  }
  client_pairs_.insert(local, remote);
}

void AsioTransport::track_listener(const std::shared_ptr<AsioListener>& l, std::uint16_t port) {
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(), [](const auto& w) { return w.expired(); }),
                   listeners_.end());
  listeners_.push_back(l);
  listener_ports_.insert(port);
}

std::shared_ptr<Listener> AsioTransport::listen(const ListenOptions& opts, Listener::AcceptFn on_accept) {
  auto l = std::make_shared<AsioListener>(*this, std::move(on_accept));
  l->open(opts);
  track_listener(l, l->local_address().port);
  l->start();
  return l;
}

void AsioTransport::connect(const Address& to, Duration timeout, ConnectFn done) {
  connect_from("", to, timeout, std::move(done));
}

void AsioTransport::connect_from(const std::string& source_host, const Address& to, Duration timeout,
                                 ConnectFn done, std::shared_ptr<ConnectCanceller> cancel) {
  error_code ec;
  auto addr = ba::ip::make_address(to.host, ec);
  if (ec) {
    loop_.post([done] { done(nullptr, SocketError::Unreachable); });
    return;
  }
  ba::ip::address source;
  if (!source_host.empty()) {
    source = ba::ip::make_address(source_host, ec);
    if (ec) {
      loop_.post([done] { done(nullptr, SocketError::Unreachable); });
      return;
    }
  }
  struct Attempt {
    tcp::socket sock;
    bool finished = false;
    SocketError ended_by = SocketError::None;  // TimedOut or Cancelled: the socket was closed for it
    TimerId timer = 0;
    ConnectFn done;
    std::weak_ptr<ConnectCanceller> canceller;
    std::uint64_t cancel_id = 0;
  };
  auto a = std::make_shared<Attempt>(Attempt{tcp::socket(loop_.io()), false, SocketError::None, 0, std::move(done), {}, 0});
  // Closing the socket completes the connect with operation_aborted; the
  // handler below then reports why it was closed.
  auto end_early = [a](SocketError why) {
    if (a->finished || a->ended_by != SocketError::None) return;
    a->ended_by = why;
    error_code ignored;
    a->sock.close(ignored);
  };
  a->timer = loop_.schedule(timeout, [end_early] { end_early(SocketError::TimedOut); });
  if (!source_host.empty()) {
    error_code bec;
    a->sock.open(addr.is_v4() ? tcp::v4() : tcp::v6(), bec);
    if (!bec) a->sock.bind(tcp::endpoint(source, 0), bec);
    if (bec) {
      loop_.cancel(a->timer);
      a->finished = true;
      loop_.post([a] { a->done(nullptr, SocketError::Other); });
      return;
    }
  }
  a->sock.async_connect(tcp::endpoint(addr, to.port), [this, a](const error_code& cec) {
    if (a->finished) return;
    a->finished = true;
    loop_.cancel(a->timer);
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
    auto sock = std::make_shared<AsioSocket>(*this, std::move(a->sock), SocketRole::Connected);
    track(sock);
    a->done(sock, SocketError::None);
    sock->start();
  });
  if (cancel) {
    a->canceller = cancel;
    // The timer goes at once with the socket: a cancelled connect holds
    // neither an fd nor a timer from here on.
    a->cancel_id = cancel->add([this, a, end_early] {
      loop_.cancel(a->timer);
      end_early(SocketError::Cancelled);
    });
  }
}

// ----------------------------------------------------------- inventory

namespace {

TcpState linux_state(unsigned st) {
  switch (st) {
    case 0x01: return TcpState::Established;
    case 0x02: return TcpState::SynSent;
    case 0x03: return TcpState::SynRcvd;
    case 0x04: return TcpState::FinWait1;
    case 0x05: return TcpState::FinWait2;
    case 0x06: return TcpState::TimeWait;
    case 0x07: return TcpState::Closed;
    case 0x08: return TcpState::CloseWait;
    case 0x09: return TcpState::LastAck;
    case 0x0A: return TcpState::Listen;
    case 0x0B: return TcpState::Closing;
    default: return TcpState::Closed;
  }
}

// Hex digits to a number; false on anything else or an empty field.
template <typename T>
bool parse_hex(std::string_view s, T& out) {
  if (s.empty() || s.size() > 2 * sizeof(T)) return false;
  T v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else return false;
    v = static_cast<T>((v << 4) | d);
  }
  out = v;
  return true;
}

// An address as the kernel stores it (network byte order, 4 or 16 bytes).
std::string host_of(const void* raw, bool ipv6) {
  if (!ipv6) {
    ba::ip::address_v4::bytes_type b{};
    std::memcpy(b.data(), raw, b.size());
    return ba::ip::address_v4(b).to_string();
  }
  ba::ip::address_v6::bytes_type b{};
  std::memcpy(b.data(), raw, b.size());
  return ba::ip::address_v6(b).to_string();
}

// The address half of "0100007F:1F90" (IPv4) or of 32 hex digits (IPv6):
// /proc prints the raw bytes as host-order 32-bit words.
bool parse_hex_host(std::string_view ip, bool ipv6, std::string& host) {
  const std::size_t words = ipv6 ? 4 : 1;
  if (ip.size() != words * 8) return false;
  unsigned char raw[16];
  for (std::size_t w = 0; w < words; ++w) {
    std::uint32_t v = 0;
    if (!parse_hex(ip.substr(w * 8, 8), v)) return false;
    for (std::size_t k = 0; k < 4; ++k) raw[w * 4 + k] = static_cast<unsigned char>((v >> (8 * k)) & 0xff);
  }
  host = host_of(raw, ipv6);
  return true;
}

// "ADDR:PORT" split in two, the port parsed.
bool split_hex_endpoint(std::string_view s, std::string_view& ip, std::uint16_t& port) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || !parse_hex(s.substr(colon + 1), port)) return false;
  ip = s.substr(0, colon);
  return true;
}

// The whole file. The kernel writes a /proc table one page per read().
std::string read_whole(const char* path) {
  std::string out;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

std::vector<KernelTcpEntry> parse_proc_net_tcp(const std::string& text, bool ipv6, const RowKeep& keep) {
  // Plain string_view scanning: the table can hold thousands of rows and is
  // read on every inventory, also under the sanitizers. Ports and inode come
  // first, so that rows `keep` turns down cost no strings.
  std::vector<KernelTcpEntry> out;
  std::string_view rest(text);
  bool header = true;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (header) {
      header = false;
      continue;
    }
    // Fields: sl local rem st queues timer retr uid timeout inode ...
    std::string_view field[10];
    std::size_t n = 0, i = 0;
    while (n < 10) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i >= line.size()) break;
      const std::size_t start = i;
      while (i < line.size() && line[i] != ' ') ++i;
      field[n++] = line.substr(start, i - start);
    }
    if (n < 10) continue;
    unsigned long inode = 0;
    bool digits = !field[9].empty();
    for (char c : field[9]) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      inode = inode * 10 + static_cast<unsigned long>(c - '0');
    }
    if (!digits) continue;
    KernelTcpEntry e;
    std::string_view lip, rip;
    if (!split_hex_endpoint(field[1], lip, e.local.port) || !split_hex_endpoint(field[2], rip, e.remote.port))
      continue;
    if (keep && !keep(e.local.port, e.remote.port, inode)) continue;
    unsigned st = 0;
    if (!parse_hex_host(lip, ipv6, e.local.host) || !parse_hex_host(rip, ipv6, e.remote.host) ||
        !parse_hex(field[3], st))
      continue;
    e.state = linux_state(st);
    e.inode = inode;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<KernelTcpEntry> dedupe_kernel_rows(const std::vector<KernelTcpEntry>& rows) {
  using Key = std::tuple<std::string, std::uint16_t, std::string, std::uint16_t, unsigned long>;
  std::map<Key, std::size_t> last;  // key -> index of its last copy
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    last[Key{r.local.host, r.local.port, r.remote.host, r.remote.port, r.inode}] = i;
  }
  std::vector<KernelTcpEntry> out;
  out.reserve(last.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (last.at(Key{r.local.host, r.local.port, r.remote.host, r.remote.port, r.inode}) == i) out.push_back(r);
  }
  return out;
}

std::vector<KernelTcpEntry> read_proc_tcp_table(const RowKeep& keep) {
  auto v4 = parse_proc_net_tcp(read_whole("/proc/thread-self/net/tcp"), false, keep);
  auto v6 = parse_proc_net_tcp(read_whole("/proc/thread-self/net/tcp6"), true, keep);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return dedupe_kernel_rows(v4);
}

namespace {

// One NETLINK_SOCK_DIAG dump of every TCP socket of one address family.
// false when the kernel does not answer (no sock_diag, or it is not allowed
// here).
bool diag_dump(int family, std::vector<KernelTcpEntry>& out, const RowKeep& keep) {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return false;
  struct Request {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } rq{};
  rq.nlh.nlmsg_len = sizeof rq;
  rq.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  rq.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  rq.nlh.nlmsg_seq = 1;
  rq.req.sdiag_family = static_cast<std::uint8_t>(family);
  rq.req.sdiag_protocol = IPPROTO_TCP;
  rq.req.idiag_states = ~0u;  // every state, TIME_WAIT and SYN_RECV included
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &rq, sizeof rq, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) !=
      static_cast<ssize_t>(sizeof rq)) {
    ::close(fd);
    return false;
  }
  // 32 KiB is the most the kernel puts in one batch of a dump.
  alignas(nlmsghdr) char buf[32768];
  bool ok = false, done = false;
  while (!done) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        ok = done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        done = true;
        break;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (keep && !keep(ntohs(m->id.idiag_sport), ntohs(m->id.idiag_dport), m->idiag_inode)) continue;
      KernelTcpEntry e;
      const bool v6 = m->idiag_family == AF_INET6;
      auto endpoint = [&](const __be32* addr, __be16 port) { return Address{host_of(addr, v6), ntohs(port)}; };
      e.local = endpoint(m->id.idiag_src, m->id.idiag_sport);
      e.remote = endpoint(m->id.idiag_dst, m->id.idiag_dport);
      e.state = linux_state(m->idiag_state);
      e.inode = m->idiag_inode;
      out.push_back(std::move(e));
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

std::optional<std::vector<KernelTcpEntry>> read_diag_tcp_table(const RowKeep& keep) {
  std::vector<KernelTcpEntry> rows;
  if (!diag_dump(AF_INET, rows, keep) || !diag_dump(AF_INET6, rows, keep)) return std::nullopt;
  return dedupe_kernel_rows(rows);
}

namespace {
std::atomic<KernelTableSource> table_source{KernelTableSource::Auto};
std::atomic<bool> diag_refused{false};  // the kernel did not answer once: use /proc from then on
}  // namespace

void set_kernel_table_source(KernelTableSource s) { table_source = s; }

std::vector<KernelTcpEntry> read_kernel_tcp_table(const RowKeep& keep) {
  // sock_diag when the kernel offers it: binary, about 300 rows per batch
  // instead of 27 per page, no text to format or parse.
  const KernelTableSource source = table_source.load();
  if (source != KernelTableSource::ProcFiles && (source == KernelTableSource::SockDiag || !diag_refused)) {
    if (auto rows = read_diag_tcp_table(keep)) return std::move(*rows);
    diag_refused = true;
    if (source == KernelTableSource::SockDiag)
      throw std::runtime_error("inventory: the kernel does not answer NETLINK_SOCK_DIAG");
  }
  return read_proc_tcp_table(keep);
}

std::map<int, unsigned long> process_socket_inodes() {
  std::map<int, unsigned long> out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char target[128];
    const ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1) out[fd] = inode;
  }
  closedir(d);
  return out;
}

std::size_t process_fd_count() {
  std::size_t n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n > 0 ? n - 1 : 0;  // minus the fd opendir itself holds
}

std::vector<SocketInfo> AsioTransport::inventory() const {
  // Our own open sockets and listeners, by fd.
  struct Mine {
    std::uint64_t id;
    SocketRole role;
  };
  std::map<int, Mine> by_fd;
  for (const auto& [id, w] : sockets_)
    if (auto s = w.lock(); s && s->is_open()) by_fd[s->native_fd()] = Mine{id, s->role()};
  for (const auto& w : listeners_)
    if (auto l = w.lock(); l && l->native_fd() >= 0) by_fd[l->native_fd()] = Mine{0, SocketRole::Listener};

  std::map<unsigned long, int> fd_of_inode;
  for (const auto& [fd, inode] : process_socket_inodes()) fd_of_inode[inode] = fd;

  // Rows that can be ours (the rules below decide): this process's sockets,
  // rows on our listening ports, rows on the port pair of a connection we
  // made. The rest (other processes' thousands of TIME_WAITs) is dropped
  // before any string is made for it.
  const RowKeep keep = [&](std::uint16_t lport, std::uint16_t rport, unsigned long inode) {
    return (inode != 0 && fd_of_inode.count(inode) > 0) || listener_ports_.count(lport) > 0 ||
           client_pairs_.contains(lport, rport);
  };
  std::vector<SocketInfo> out;
  for (const auto& e : read_kernel_tcp_table(keep)) {
    auto fd_it = e.inode != 0 ? fd_of_inode.find(e.inode) : fd_of_inode.end();
    const bool in_process = fd_it != fd_of_inode.end();
    const bool tracked = in_process && by_fd.count(fd_it->second) > 0;
    // Rows the kernel keeps without an fd (accept queue, TIME_WAIT, orphaned
    // FIN_WAIT) are ours when they sit on one of our listening ports or on
    // the exact port pair of a connection we made.
    const bool on_our_listener = listener_ports_.count(e.local.port) > 0;
    const bool our_client_pair = client_pairs_.contains(e.local.port, e.remote.port);
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
