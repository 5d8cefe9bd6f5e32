// ProxyFrontend / ProxyBackend: a TCP proxy in the style of Netty's
// HexDumpProxy example, with its two known races handled.
//  * Both channels run with auto-read off. The frontend opens the backend
//    connection when it becomes active and reads only once the backend is up.
//  * Each side reads its next chunk only after the write of the previous one
//    to the other side completed: at most one chunk per direction is pending,
//    so memory stays bounded whatever the peers' speeds.
//  * When either side ends (FIN, RST, error, idle, exception) the other is
//    flushed, then closed. This runs from each channel's close future
//    (Channel::on_close), as Netty applications register it on the close
//    future, not from a handler's channel_inactive: a handler that throws
//    from inactive or close (its own code skipped) cannot leave the other
//    side open. A failed backend connect closes the frontend; a frontend
//    that closed while the backend was still connecting makes the backend
//    close as soon as it is up (through close_peer, if set, like any other
//    end).
// The two halves reference each other through weak_ptr only: no cycle.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/channel.h"

namespace netcore {

/// Called when one side of a proxied connection ended, instead of
/// close_on_flush(other): `ended` is the channel that became inactive, `other`
/// the opposite side (null if it never came up or is gone; may be closed).
using ClosePeerFn = std::function<void(Channel& ended, const std::shared_ptr<Channel>& other)>;

struct ProxyOptions {
  Address backend;
  Duration connect_timeout = std::chrono::seconds(5);
  /// The backend connections' source address ("" = the transport's choice;
  /// Transport::connect_from).
  std::string backend_source;
  /// Optional: runs on every backend channel's pipeline before ProxyBackend
  /// is added (e.g. to add handlers that shape the writes towards the
  /// backend). `frontend` is the client side (null if it is already gone).
  std::function<void(Channel& backend, const std::shared_ptr<Channel>& frontend)> backend_init = {};
  /// Optional: replaces close_on_flush(other) when either side ends (e.g. to
  /// delay or withhold the close, or carry a reset as a reset), also when the
  /// client ended before its backend was up. Empty: close_on_flush.
  ClosePeerFn close_peer = {};
  /// Optional: cancelling it ends every backend connect still pending (the
  /// owner of the proxy shutting it down; ConnectCanceller). A client that
  /// leaves does not cancel its own backend's connect: its end reaches the
  /// backend once that is up, as a transparent path would carry it.
  std::shared_ptr<ConnectCanceller> connect_canceller = nullptr;
};

/// Shared by every connection of one proxy: counters for tests and reports.
/// Atomic: the connections of one proxy may run on several loops.
struct ProxyStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> backend_connect_failures{0};
  std::atomic<std::uint64_t> bytes_up{0};    // client -> backend
  std::atomic<std::uint64_t> bytes_down{0};  // backend -> client
  std::atomic<std::size_t> max_pending_outbound{0};  // largest pending_outbound_bytes() seen on either side
};

/// Flushes what `ch` has queued, then closes it (Netty's closeOnFlush).
void close_on_flush(const std::shared_ptr<Channel>& ch, CloseReason reason = CloseReason::Normal);

/// From `ended`'s close future: when it has closed, end `other` the proxy's
/// way -- through `close_peer` if set, else close_on_flush. Registered on the
/// channel, not in a handler, so no handler of `ended` can prevent it.
void close_other_when_closed(Channel& ended, std::weak_ptr<Channel> other, ClosePeerFn close_peer = {});

class ProxyFrontend final : public Handler {
 public:
  ProxyFrontend(Transport& transport, ConnectionLedger& ledger, ProxyOptions options,
                std::shared_ptr<ProxyStats> stats);
  void handler_added(Context& ctx) override;
  void channel_active(Context& ctx) override;
  void channel_read(Context& ctx, std::any msg) override;

 private:
  // What the connect callback and the close futures share with the
  // handler; held by shared_ptr, so none of them holds a pointer to the
  // handler itself.
  struct Link {
    std::weak_ptr<Channel> backend;
  };
  Transport& transport_;
  ConnectionLedger& ledger_;
  ProxyOptions options_;
  std::shared_ptr<ProxyStats> stats_;
  std::shared_ptr<Link> link_ = std::make_shared<Link>();
};

/// The backend half: reads the next chunk once the previous write to the
/// client completed. Its end reaches the client through the close future
/// the frontend registers on the backend channel.
class ProxyBackend final : public Handler {
 public:
  ProxyBackend(std::weak_ptr<Channel> frontend, std::shared_ptr<ProxyStats> stats);
  void channel_active(Context& ctx) override;
  void channel_read(Context& ctx, std::any msg) override;

 private:
  std::weak_ptr<Channel> frontend_;
  std::shared_ptr<ProxyStats> stats_;
};

/// The child pipeline of a proxy server: one ProxyFrontend per accepted
/// connection, connecting to `options.backend` through `transport`.
PipelineInit proxy_initializer(Transport& transport, ConnectionLedger& ledger, ProxyOptions options,
                               std::shared_ptr<ProxyStats> stats);

}  // namespace netcore
