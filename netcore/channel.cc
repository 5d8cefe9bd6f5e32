#include "connfail/netcore/channel.h"

#include <stdexcept>
#include <typeinfo>

namespace netcore {

namespace {
std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "non-standard exception";
  }
}
}  // namespace

std::shared_ptr<Channel> Channel::create(EventLoop& loop, std::shared_ptr<Socket> socket,
                                         ConnectionLedger& ledger, Side side,
                                         ChannelOptions options) {
  return std::shared_ptr<Channel>(
      new Channel(loop, std::move(socket), ledger, side, std::move(options)));
}

Channel::Channel(EventLoop& loop, std::shared_ptr<Socket> socket, ConnectionLedger& ledger,
                 Side side, ChannelOptions options)
    : loop_(loop),
      socket_(std::move(socket)),
      ledger_(ledger),
      side_(side),
      options_(std::move(options)),
      pipeline_(this) {}

Channel::~Channel() {
  if (socket_) socket_->set_handler(nullptr);
}

Address Channel::local_address() const { return socket_ ? socket_->local_address() : Address{}; }
Address Channel::remote_address() const { return socket_ ? socket_->remote_address() : Address{}; }

void Channel::activate() {
  if (state_ != ChannelState::Created) throw std::logic_error("channel activated twice");
  // First: a value the stack refuses throws before anything is registered.
  if (socket_ && options_.tcp.any()) socket_->set_tcp_options(options_.tcp);
  state_ = ChannelState::Active;
  self_ = shared_from_this();
  id_ = ledger_.open(side_, socket_ ? socket_->id() : 0, local_address(), remote_address(),
                     loop_.now(), options_.label);
  ledger_.attach(id_, weak_from_this());
  if (socket_) socket_->set_handler(this);
  pipeline_.fire_channel_active();
  if (state_ == ChannelState::Active && options_.auto_read && socket_) socket_->set_reading(true);
}

// Called from another thread (a channel on another loop of an
// EventLoopGroup, a harness thread), an operation is posted to the
// channel's own loop and runs there, as Netty's AbstractChannel does: the
// channel's state is only ever touched on its loop.
// `call` (void(Channel&)) is built from plain values, so the common case,
// on the loop, costs no allocation and no reference count.
template <typename Call>
bool Channel::post_if_off_loop(Call call) {
  if (loop_.in_loop()) return false;
  loop_.post([self = shared_from_this(), call = std::move(call)]() mutable { call(*self); });
  return true;
}

void Channel::set_auto_read(bool on) {
  if (post_if_off_loop([on](Channel& c) { c.set_auto_read(on); })) return;
  options_.auto_read = on;
  if (state_ != ChannelState::Active || !socket_) return;
  socket_->set_reading(on || read_pending_);
}

void Channel::set_tcp_options(const TcpOptions& options) {
  if (post_if_off_loop([options](Channel& c) { c.set_tcp_options(options); })) return;
  if (socket_ && state_ == ChannelState::Active) socket_->set_tcp_options(options);
  options_.tcp = options;
}

void Channel::write(std::any msg, WriteCallback done) {
  if (!loop_.in_loop()) {
    // Not through post_if_off_loop: the message would be moved into the
    // task before the check.
    loop_.post([self = shared_from_this(), msg = std::move(msg), done = std::move(done)]() mutable {
      self->write(std::move(msg), std::move(done));
    });
    return;
  }
  pipeline_.write(std::move(msg), std::move(done));
}
void Channel::flush() {
  if (post_if_off_loop([](Channel& c) { c.flush(); })) return;
  pipeline_.flush();
}
void Channel::write_and_flush(std::any msg, WriteCallback done) {
  if (!loop_.in_loop()) {
    loop_.post([self = shared_from_this(), msg = std::move(msg), done = std::move(done)]() mutable {
      self->write_and_flush(std::move(msg), std::move(done));
    });
    return;
  }
  pipeline_.write(std::move(msg), std::move(done));
  pipeline_.flush();
}
void Channel::read() {
  if (post_if_off_loop([](Channel& c) { c.read(); })) return;
  pipeline_.read();
}
void Channel::close(CloseReason reason) {
  if (post_if_off_loop([reason](Channel& c) { c.close(reason); })) return;
  pipeline_.close(reason);
}
void Channel::shutdown_output() {
  if (post_if_off_loop([](Channel& c) { c.shutdown_output(); })) return;
  if (state_ != ChannelState::Active || !socket_) return;
  head_flush();
  socket_->shutdown_output();
}

void Channel::abort(CloseReason reason) {
  if (post_if_off_loop([reason](Channel& c) { c.abort(reason); })) return;
  if (state_ == ChannelState::Closed) return;
  abort_on_close_ = true;
  pipeline_.close(reason);
}

std::size_t Channel::pending_outbound_bytes() const {
  return unflushed_bytes_ + (socket_ && state_ == ChannelState::Active ? socket_->pending_outbound() : 0);
}

// --- socket events -------------------------------------------------------

void Channel::on_data(Bytes data) {
  if (state_ != ChannelState::Active) return;
  if (!options_.auto_read) {
    // One read() request, one batch (Netty's read() with auto-read off).
    read_pending_ = false;
    if (socket_) socket_->set_reading(false);
  }
  pipeline_.fire_channel_read(std::move(data));
  if (state_ == ChannelState::Active) pipeline_.fire_channel_read_complete();
}

void Channel::on_peer_fin() {
  if (state_ != ChannelState::Active) return;
  if (options_.allow_half_closure) {
    pipeline_.fire_user_event(InputShutdownEvent{});
  } else {
    close(CloseReason::PeerClosed);
  }
}

void Channel::on_error(SocketError e) {
  if (state_ != ChannelState::Active) return;
  close(close_reason_for(e));
}

// --- head of the pipeline -----------------------------------------------

void Channel::head_write(std::any msg, WriteCallback done) {
  if (state_ != ChannelState::Active) {
    if (done) loop_.post([done] { done(SocketError::Other); });
    return;
  }
  if (sink_) {
    sink_(std::move(msg), std::move(done));
    return;
  }
  Bytes* bytes = std::any_cast<Bytes>(&msg);
  if (!bytes) {
    throw std::invalid_argument(std::string("channel: a message of type ") + msg.type().name() +
                                " reached the head; only netcore::Bytes can be written to a "
                                "socket (is an encoder missing?)");
  }
  unflushed_bytes_ += bytes->size();
  unflushed_.push_back(Unflushed{std::move(*bytes), std::move(done)});
}

void Channel::head_flush() {
  if (state_ != ChannelState::Active || !socket_) return;
  while (!unflushed_.empty()) {
    Unflushed u = std::move(unflushed_.front());
    unflushed_.pop_front();
    unflushed_bytes_ -= u.data.size();
    socket_->write(std::move(u.data), std::move(u.done));
  }
}

void Channel::head_read() {
  if (state_ != ChannelState::Active || !socket_) return;
  read_pending_ = true;
  socket_->set_reading(true);
}

void Channel::head_close(CloseReason reason) {
  if (state_ == ChannelState::Closed) return;  // close is idempotent
  const bool was_active = state_ == ChannelState::Active;
  state_ = ChannelState::Closed;
  close_reason_ = reason;
  // Writes never flushed fail, as in Netty.
  for (auto& u : unflushed_)
    if (u.done) loop_.post([cb = std::move(u.done)] { cb(SocketError::Other); });
  unflushed_.clear();
  unflushed_bytes_ = 0;
  if (socket_) {
    socket_->set_handler(nullptr);
    if (abort_on_close_ || reason == CloseReason::AcceptFailure) {
      socket_->abort();
    } else {
      socket_->close();
    }
  }
  if (!was_active) {  // never activated: no ledger entry, no events
    close_listeners_ran_ = true;
    for (auto& fn : close_listeners_) loop_.post(std::move(fn));
    close_listeners_.clear();
    return;
  }
  ledger_.close(id_, loop_.now(), reason, close_detail_);
  // Inactive is delivered later, never from inside the close() call
  // (a handler may be closing from within its own read).
  // From here on the channel is owned by these queued tasks (and whoever
  // else holds it): if the loop is torn down first, dropping the tasks frees
  // the channel instead of leaking it.
  loop_.post([self = std::move(self_)] {
    self->pipeline_.fire_channel_inactive();
    self->pipeline_.remove_all();
    self->close_listeners_ran_ = true;
    auto listeners = std::move(self->close_listeners_);
    self->close_listeners_.clear();
    for (auto& fn : listeners) fn();
    self->loop_.post([self] {});  // destroy later, never mid-callback
  });
}

void Channel::on_close(std::function<void()> fn) {
  if (!fn) return;
  if (!loop_.in_loop()) {
    loop_.post([self = shared_from_this(), fn = std::move(fn)]() mutable { self->on_close(std::move(fn)); });
    return;
  }
  if (close_listeners_ran_) {
    loop_.post(std::move(fn));
    return;
  }
  close_listeners_.push_back(std::move(fn));
}

// --- tail of the pipeline -----------------------------------------------

void Channel::record_unhandled(std::exception_ptr error) {
  unhandled_.push_back(error);
  if (state_ != ChannelState::Closed && close_detail_.empty()) close_detail_ = describe(error);
}

void Channel::tail_exception(std::exception_ptr error) {
  record_unhandled(error);
  if (state_ == ChannelState::Closed || exception_close_started_) return;
  exception_close_started_ = true;
  close(CloseReason::Exception);
}

}  // namespace netcore
