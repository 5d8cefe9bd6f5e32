#include "connfail/netcore/asio/asio_socket.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace netcore::asio {

namespace ba = boost::asio;
using tcp = ba::ip::tcp;
using boost::system::error_code;

AsioSocket::AsioSocket(std::shared_ptr<AsioLoop> loop, std::shared_ptr<SocketRegistry> registry, tcp::socket s,
                       SocketRole role)
    : loop_(std::move(loop)),
      registry_(std::move(registry)),
      sock_(std::move(s)),
      id_(registry_->next_socket_id()),
      role_(role) {
  error_code ec;
  sock_.non_blocking(true, ec);  // read_some after a wait never blocks the loop
  fd_.store(sock_.is_open() ? sock_.native_handle() : -1, std::memory_order_release);
  refresh_addresses();
}

void AsioSocket::refresh_addresses() {
  error_code ec;
  auto l = sock_.local_endpoint(ec);
  if (!ec) local_ = {l.address().to_string(), l.port()};
  auto r = sock_.remote_endpoint(ec);
  if (!ec) remote_ = {r.address().to_string(), r.port()};
  if (role_ == SocketRole::Connected) registry_->note_client_pair(local_.port, remote_.port);
}

void AsioSocket::set_reading(bool on) {
  reading_ = on;
  if (!on || life_ == Life::Closed) return;
  // Deliver what arrived while reading was off, later (never re-entrantly).
  ba::post(sock_.get_executor(), [self = shared_from_this()] { self->deliver(); });
}

void AsioSocket::write(Bytes data, WriteCallback done) {
  if (life_ == Life::Closed || output_ != Output::Open) {
    if (done) ba::post(sock_.get_executor(), [done] { done(SocketError::Other); });
    return;
  }
  pending_bytes_ += data.size();
  writes_.push_back(Pending{std::move(data), std::move(done)});
  if (write_ == WriteSide::Idle) start_write();
}

void AsioSocket::shutdown_output() {
  if (life_ == Life::Closed || output_ != Output::Open) return;
  output_ = Output::ShutdownRequested;
  if (write_ == WriteSide::Idle) do_shutdown();
}

void AsioSocket::do_close(bool rst) {
  if (life_ == Life::Closed) return;
  life_ = Life::Closed;
  handler_ = nullptr;
  for (auto& p : writes_)
    if (p.done) ba::post(sock_.get_executor(), [cb = std::move(p.done)] { cb(SocketError::Other); });
  writes_.clear();
  pending_bytes_ = 0;
  error_code ec;
  if (rst) sock_.set_option(tcp::socket::linger(true, 0), ec);
  fd_.store(-1, std::memory_order_release);
  sock_.close(ec);
}

void AsioSocket::maybe_start_read() {
  if (life_ != Life::Open || read_ != ReadSide::Idle) return;
  // Keep one wait outstanding even while reading is off: data lands in the
  // stash only up to one buffer, after which TCP's window does the rest.
  // The socket waits for readability and then reads into its loop's one
  // buffer (every socket of a loop runs on that loop's thread), so an idle
  // connection holds no read buffer of its own (Netty reads into a buffer
  // it allocates per read, for the same reason).
  if (!reading_ && !stash_.empty()) return;
  read_ = ReadSide::Waiting;
  sock_.async_wait(tcp::socket::wait_read,
                   [self = shared_from_this()](const error_code& wec) { self->on_readable(wec); });
}

void AsioSocket::on_readable(const error_code& wec) {
  read_ = ReadSide::Idle;
  if (life_ == Life::Closed) return;
  if (wec) {
    fail(wec);
    return;
  }
  std::vector<std::uint8_t>& buf = loop_->read_buffer();
  error_code ec;
  const std::size_t n = sock_.read_some(ba::buffer(buf), ec);
  if (ec == ba::error::would_block || ec == ba::error::try_again) {
    maybe_start_read();  // woken without data: wait again
    return;
  }
  if (ec == ba::error::eof) {
    read_ = ReadSide::AtEof;
  } else if (ec) {
    fail(ec);
    return;
  } else {
    stash_.insert(stash_.end(), buf.begin(), buf.begin() + static_cast<long>(n));
  }
  deliver();
}

void AsioSocket::deliver() {
  auto self = shared_from_this();  // a handler may drop the last owner
  while (life_ != Life::Closed && reading_ && handler_) {
    if (!stash_.empty()) {
      Bytes data;
      data.swap(stash_);
      handler_->on_data(std::move(data));
    } else if (read_ == ReadSide::AtEof) {
      read_ = ReadSide::EofDelivered;
      handler_->on_peer_fin();
    } else {
      break;
    }
  }
  maybe_start_read();
}

void AsioSocket::fail(const error_code& ec) {
  // Reported once: a failed read and a failed write of the same
  // connection are one error to the handler.
  if (life_ != Life::Open) return;
  life_ = Life::Failed;
  SocketError e = SocketError::Other;
  if (ec == ba::error::connection_reset || ec == ba::error::broken_pipe) e = SocketError::Reset;
  else if (ec == ba::error::timed_out) e = timed_out_cause();
  if (handler_) handler_->on_error(e);
}

// Linux reports every give-up as ETIMEDOUT: retransmissions out of
// tcp_retries2's budget, TCP_USER_TIMEOUT, unanswered keepalive probes.
// TCP_INFO tells them apart: a keepalive give-up leaves tcpi_probes (the
// probes out) above zero and no retransmission counted; a retransmission
// give-up counts retransmissions. (Zero-window probes share tcpi_probes.)
SocketError AsioSocket::timed_out_cause() const {
  struct tcp_info info {};
  socklen_t len = sizeof info;
  const bool have =
      ::getsockopt(const_cast<tcp::socket&>(sock_).native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0;
  if (tcp_options_.keepalive && have && info.tcpi_probes > 0 && info.tcpi_retransmits == 0)
    return SocketError::KeepaliveTimedOut;
  if (tcp_options_.user_timeout > Duration::zero()) return SocketError::UserTimedOut;
  return SocketError::TimedOut;
}

void AsioSocket::set_tcp_options(const TcpOptions& o) {
  const std::string bad = tcp_options_error(o);
  if (!bad.empty()) throw std::invalid_argument(bad);
  if (life_ == Life::Closed) return;
  const int fd = sock_.native_handle();
  auto set = [fd](int level, int name, int value, const char* what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0)
      throw std::system_error(errno, std::generic_category(), std::string("setsockopt ") + what);
  };
  using std::chrono::duration_cast;
  set(SOL_SOCKET, SO_KEEPALIVE, o.keepalive ? 1 : 0, "SO_KEEPALIVE");
  if (o.keep_idle)
    set(IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(duration_cast<std::chrono::seconds>(*o.keep_idle).count()),
        "TCP_KEEPIDLE");
  if (o.keep_interval)
    set(IPPROTO_TCP, TCP_KEEPINTVL,
        static_cast<int>(duration_cast<std::chrono::seconds>(*o.keep_interval).count()), "TCP_KEEPINTVL");
  if (o.keep_count) set(IPPROTO_TCP, TCP_KEEPCNT, *o.keep_count, "TCP_KEEPCNT");
  set(IPPROTO_TCP, TCP_USER_TIMEOUT,
      static_cast<int>(duration_cast<std::chrono::milliseconds>(o.user_timeout).count()), "TCP_USER_TIMEOUT");
  tcp_options_ = o;
}

void AsioSocket::start_write() {
  if (writes_.empty() || life_ == Life::Closed) return;
  write_ = WriteSide::Writing;
  ba::async_write(sock_, ba::buffer(writes_.front().data),
                  [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_written(ec); });
}

void AsioSocket::on_written(const error_code& ec) {
  write_ = WriteSide::Idle;
  if (life_ == Life::Closed) return;  // close() already failed the queue
  Pending p = std::move(writes_.front());
  writes_.pop_front();
  pending_bytes_ -= p.data.size();
  if (ec) {
    if (p.done) p.done(SocketError::Reset);
    fail(ec);
    return;
  }
  if (p.done) p.done(SocketError::None);
  // The callback may have written (and so started the next write) or
  // closed.
  if (life_ == Life::Closed || write_ == WriteSide::Writing) return;
  if (!writes_.empty()) start_write();
  else if (output_ == Output::ShutdownRequested) do_shutdown();
}

void AsioSocket::do_shutdown() {
  output_ = Output::ShutDown;
  error_code ec;
  sock_.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace netcore::asio
