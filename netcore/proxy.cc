#include "connfail/netcore/proxy.h"

#include <algorithm>

namespace netcore {

namespace {
std::size_t byte_size(const std::any& msg) {
  if (const Bytes* b = std::any_cast<Bytes>(&msg)) return b->size();
  return 0;
}
void note_pending(ProxyStats& s, const Channel& ch) {
  const std::size_t now = ch.pending_outbound_bytes();
  std::size_t seen = s.max_pending_outbound.load(std::memory_order_relaxed);
  while (now > seen && !s.max_pending_outbound.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}
}  // namespace

void close_on_flush(const std::shared_ptr<Channel>& ch, CloseReason reason) {
  if (!ch || !ch->is_active()) return;
  ch->flush();
  if (ch->pending_outbound_bytes() == 0) {
    ch->close(reason);
    return;
  }
  // An empty write completes after everything queued before it.
  std::weak_ptr<Channel> weak = ch;
  ch->write_and_flush(Bytes{}, [weak, reason](SocketError) {
    if (auto c = weak.lock()) c->close(reason);
  });
}

void close_other_when_closed(Channel& ended, std::weak_ptr<Channel> other, ClosePeerFn close_peer) {
  std::weak_ptr<Channel> self = ended.shared_from_this();
  ended.on_close([self, other, close_peer] {
    auto me = self.lock();
    if (!me) return;
    if (close_peer)
      close_peer(*me, other.lock());
    else
      close_on_flush(other.lock());
  });
}

ProxyFrontend::ProxyFrontend(Transport& transport, ConnectionLedger& ledger, ProxyOptions options,
                             std::shared_ptr<ProxyStats> stats)
    : transport_(transport), ledger_(ledger), options_(std::move(options)), stats_(std::move(stats)) {}

void ProxyFrontend::handler_added(Context& ctx) {
  // Nothing is read from the client before the backend is up.
  ctx.channel().set_auto_read(false);
}

void ProxyFrontend::channel_active(Context& ctx) {
  ++stats_->connections;
  const std::shared_ptr<Channel> front_ch = ctx.channel().shared_from_this();
  std::weak_ptr<Channel> frontend = front_ch;
  auto stats = stats_;
  auto link = link_;
  const ClosePeerFn close_peer = options_.close_peer;
  // The client's end reaches the backend through the frontend's close
  // future: no handler of the frontend (this one included) can stop it by
  // throwing from, or swallowing, its inactive event.
  front_ch->on_close([frontend, link, close_peer] {
    auto front = frontend.lock();
    auto backend = link->backend.lock();
    if (!front || !backend) return;  // not up yet: the connect callback ends it
    if (close_peer)
      close_peer(*front, backend);
    else
      close_on_flush(backend);
  });
  ChannelOptions backend_opts;
  backend_opts.auto_read = false;
  backend_opts.label = "proxy-backend";
  connect_channel(
      transport_, ledger_, options_.backend, options_.connect_timeout,
      [frontend, stats, init = options_.backend_init](Channel& ch) {
        if (init) init(ch, frontend.lock());
        ch.pipeline().add_last("proxy-backend", std::make_shared<ProxyBackend>(frontend, stats));
      },
      backend_opts,
      [frontend, stats, link, close_peer](std::shared_ptr<Channel> backend, SocketError e) {
        auto front = frontend.lock();
        if (!backend) {
          if (e != SocketError::Cancelled) ++stats->backend_connect_failures;
          if (front) front->close(CloseReason::Error);
          return;
        }
        // The backend's end reaches the client the same way, whatever the
        // backend's handlers do.
        close_other_when_closed(*backend, frontend, close_peer);
        if (!front || !front->is_active()) {
          // The client left while we were connecting: its end reaches the
          // backend as any other end does (through close_peer if set, which
          // may carry a reset as a reset).
          if (front && close_peer)
            close_peer(*front, backend);
          else
            backend->close();
          return;
        }
        link->backend = backend;
        front->read();  // first chunk from the client
      },
      options_.backend_source, options_.connect_canceller);
  ctx.fire_channel_active();
}

void ProxyFrontend::channel_read(Context& ctx, std::any msg) {
  auto backend = link_->backend.lock();
  if (!backend || !backend->is_active()) return;  // the backend's end closes us
  stats_->bytes_up += byte_size(msg);
  std::weak_ptr<Channel> frontend = ctx.channel().shared_from_this();
  backend->write_and_flush(std::move(msg), [frontend](SocketError e) {
    if (e != SocketError::None) return;  // the failing side closes, and so this one
    if (auto f = frontend.lock()) f->read();
  });
  note_pending(*stats_, *backend);
}

ProxyBackend::ProxyBackend(std::weak_ptr<Channel> frontend, std::shared_ptr<ProxyStats> stats)
    : frontend_(std::move(frontend)), stats_(std::move(stats)) {}

void ProxyBackend::channel_active(Context& ctx) {
  ctx.channel().read();
  ctx.fire_channel_active();
}

void ProxyBackend::channel_read(Context& ctx, std::any msg) {
  auto frontend = frontend_.lock();
  if (!frontend || !frontend->is_active()) return;
  stats_->bytes_down += byte_size(msg);
  std::weak_ptr<Channel> backend = ctx.channel().shared_from_this();
  frontend->write_and_flush(std::move(msg), [backend](SocketError e) {
    if (e != SocketError::None) return;
    if (auto b = backend.lock()) b->read();
  });
  note_pending(*stats_, *frontend);
}

PipelineInit proxy_initializer(Transport& transport, ConnectionLedger& ledger, ProxyOptions options,
                               std::shared_ptr<ProxyStats> stats) {
  return [&transport, &ledger, options, stats](Channel& ch) {
    ch.pipeline().add_last("proxy-frontend", std::make_shared<ProxyFrontend>(transport, ledger, options, stats));
  };
}

}  // namespace netcore
