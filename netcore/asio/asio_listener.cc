#include "connfail/netcore/asio/asio_listener.h"

#include <stdexcept>

#include "connfail/netcore/asio/asio_socket.h"

namespace netcore::asio {

namespace ba = boost::asio;
using tcp = ba::ip::tcp;
using boost::system::error_code;

AsioListener::AsioListener(std::shared_ptr<AsioLoop> boss, std::shared_ptr<SocketRegistry> registry, PickLoop pick,
                           AcceptFn on_accept)
    : boss_(std::move(boss)),
      registry_(std::move(registry)),
      pick_(std::move(pick)),
      acceptor_(boss_->io()),
      on_accept_(std::move(on_accept)) {}

void AsioListener::open(const ListenOptions& opts) {
  error_code ec;
  auto addr = ba::ip::make_address(opts.address.host, ec);
  if (ec) throw std::runtime_error("listen: bad address '" + opts.address.host + "': " + ec.message());
  tcp::endpoint ep(addr, opts.address.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(opts.backlog, ec);
  if (ec) throw std::runtime_error("cannot listen on " + opts.address.to_string() + ": " + ec.message());
  auto l = acceptor_.local_endpoint();
  local_ = {l.address().to_string(), l.port()};
  fd_.store(acceptor_.native_handle(), std::memory_order_release);
}

void AsioListener::pause() {
  if (state_ != State::Accepting) return;
  state_ = State::Paused;
  error_code ec;
  acceptor_.cancel(ec);
}

void AsioListener::resume() {
  if (state_ != State::Paused) return;
  state_ = State::Accepting;
  start();
}

void AsioListener::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  error_code ec;
  fd_.store(-1, std::memory_order_release);
  acceptor_.close(ec);
  held_.clear();  // their destructors close the fds
}

void AsioListener::hand_over(const std::shared_ptr<AsioSocket>& s) {
  AsioLoop& child_loop = s->loop();
  if (&child_loop == boss_.get()) {
    on_accept_(s);
    s->start();
    return;
  }
  // To the child's own loop. If that loop stops before it runs this (the
  // group shutting down), the handler is destroyed with the loop, and with
  // it the last owner of the socket, which closes it: nothing leaks.
  // The closure holds a copy of the callback, not the listener: the
  // listener is the boss loop's, and is never touched (or destroyed) on a
  // worker's thread.
  child_loop.post([on_accept = on_accept_, s] {
    on_accept(s);
    s->start();
  });
}

void AsioListener::start() {
  if (state_ != State::Accepting) return;
  while (!held_.empty() && state_ == State::Accepting) {
    auto s = held_.front();
    held_.pop_front();
    hand_over(s);
  }
  if (state_ == State::Accepting) accept_next();
}

void AsioListener::accept_next() {
  if (accept_outstanding_ || state_ != State::Accepting) return;
  accept_outstanding_ = true;
  std::shared_ptr<AsioLoop> child_loop = pick_ ? pick_() : boss_;
  acceptor_.async_accept(child_loop->io(), [self = shared_from_this(), child_loop](const error_code& ec,
                                                                                     tcp::socket s) {
    self->accept_outstanding_ = false;
    if (self->state_ == State::Closed) return;
    if (ec == ba::error::operation_aborted) {
      self->start();
      return;
    }
    if (ec) {
      self->registry_->count_accept_error();
      // EMFILE/ENFILE leave the connection in the kernel's queue and fail
      // again at once: back off (Netty pauses accepting for 1 s) instead of
      // spinning; the queued connection is accepted when fds are back.
      std::weak_ptr<AsioListener> weak = self;
      self->boss_->schedule(std::chrono::milliseconds(100), [weak] {
        if (auto l = weak.lock()) l->start();
      });
      return;
    }
    auto sock = std::make_shared<AsioSocket>(child_loop, self->registry_, std::move(s), SocketRole::Accepted);
    self->registry_->track(sock);
    if (self->state_ == State::Paused) {
      // Accepted just as we paused: keep it for resume() (it was already
      // out of the kernel's queue).
      self->held_.push_back(sock);
    } else {
      self->hand_over(sock);
    }
    self->start();
  });
}

}  // namespace netcore::asio
