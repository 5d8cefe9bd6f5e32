#include "connfail/netcore/testing/embedded_channel.h"

namespace netcore::testing {

// The socket under an EmbeddedChannel: reports stalled bytes as pending
// outbound and lets the test deliver transport events.
class EmbeddedSocket final : public Socket {
 public:
  explicit EmbeddedSocket(EmbeddedChannel* owner) : owner_(owner) {}
  std::uint64_t id() const override { return 1; }
  void set_handler(SocketHandler* h) override { handler_ = h; }
  void set_reading(bool on) override { reading_ = on; }
  void write(Bytes, WriteCallback done) override {
    // Not used: the channel's outbound sink takes every message.
    if (done) done(SocketError::Other);
  }
  std::size_t pending_outbound() const override { return owner_->stalled_bytes_; }
  void shutdown_output() override { output_shutdown_ = true; }
  void close() override { open_ = false; }
  void abort() override {
    open_ = false;
    aborted_ = true;
  }
  bool is_open() const override { return open_; }
  Address local_address() const override { return {"embedded", 1}; }
  Address remote_address() const override { return {"embedded", 2}; }
  void set_tcp_options(const TcpOptions& o) override {
    const std::string bad = tcp_options_error(o);
    if (!bad.empty()) throw std::invalid_argument(bad);
  }

  SocketHandler* handler_ = nullptr;
  bool reading_ = false;
  bool open_ = true;
  bool aborted_ = false;
  bool output_shutdown_ = false;

 private:
  EmbeddedChannel* owner_;
};

// Last handler of an embedded pipeline: keeps what reaches the end.
class CaptureHandler final : public Handler {
 public:
  explicit CaptureHandler(EmbeddedChannel* owner) : owner_(owner) {}
  void channel_read(Context&, std::any msg) override { owner_->inbound_.push_back(std::move(msg)); }
  void user_event(Context& ctx, std::any event) override {
    owner_->user_events_.push_back(event);
    ctx.fire_user_event(std::move(event));
  }

 private:
  EmbeddedChannel* owner_;
};

namespace {
std::size_t byte_size(const std::any& msg) {
  if (const Bytes* b = std::any_cast<Bytes>(&msg)) return b->size();
  return 0;
}
}  // namespace

EmbeddedChannel::EmbeddedChannel(std::vector<NamedHandler> handlers, ChannelOptions options,
                                 Side side) {
  socket_ = std::make_shared<EmbeddedSocket>(this);
  channel_ = Channel::create(loop_, socket_, ledger_, side, std::move(options));
  channel_->set_outbound_sink([this](std::any msg, WriteCallback done) {
    const std::size_t n = byte_size(msg);
    outbound_.push_back(std::move(msg));
    if (auto_complete_) {
      if (done) loop_.post([done] { done(SocketError::None); });
    } else {
      stalled_bytes_ += n;
      stalled_.push_back(Stalled{n, std::move(done)});
    }
  });
  for (auto& [name, h] : handlers) channel_->pipeline().add_last(name, h);
  channel_->pipeline().add_last("embedded-capture", std::make_shared<CaptureHandler>(this));
  channel_->activate();
  loop_.run_pending();
}

EmbeddedChannel::~EmbeddedChannel() {
  if (channel_->is_active()) channel_->close();
  loop_.run_pending();
}

void EmbeddedChannel::write_inbound(std::any msg) {
  channel_->pipeline().fire_channel_read(std::move(msg));
  channel_->pipeline().fire_channel_read_complete();
  loop_.run_pending();
}

void EmbeddedChannel::write_outbound(std::any msg, WriteCallback done) {
  channel_->write_and_flush(std::move(msg), std::move(done));
  loop_.run_pending();
}

void EmbeddedChannel::complete_writes(std::size_t n, SocketError result) {
  if (n == 0) n = stalled_.size();
  while (n-- > 0 && !stalled_.empty()) {
    Stalled s = std::move(stalled_.front());
    stalled_.pop_front();
    stalled_bytes_ -= s.bytes;
    if (s.done) s.done(result);
  }
  loop_.run_pending();
}

void EmbeddedChannel::peer_fin() {
  if (socket_->handler_) socket_->handler_->on_peer_fin();
  loop_.run_pending();
}

void EmbeddedChannel::socket_error(SocketError e) {
  if (socket_->handler_) socket_->handler_->on_error(e);
  loop_.run_pending();
}

bool EmbeddedChannel::finish() {
  channel_->close();
  loop_.run_pending();
  return !inbound_.empty() || !outbound_.empty();
}

void EmbeddedChannel::check_exception() const {
  const auto& ex = channel_->unhandled_exceptions();
  if (!ex.empty()) std::rethrow_exception(ex.front());
}

}  // namespace netcore::testing
