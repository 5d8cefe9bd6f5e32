// ProxyFrontend / ProxyBackend: a TCP proxy in the style of Netty's
// HexDumpProxy example, with its two known races handled.
//  * Both channels run with auto-read off. The frontend opens the backend
//    connection when it becomes active and reads only once the backend is up.
//  * Each side reads its next chunk only after the write of the previous one
//    to the other side completed: at most one chunk per direction is pending,
//    so memory stays bounded whatever the peers' speeds.
//  * When either side ends (FIN, RST, error, idle, exception) the other is
//    flushed, then closed. A failed backend connect closes the frontend; a
//    frontend that closed while the backend was still connecting makes the
//    backend close as soon as it is up.
// The two halves reference each other through weak_ptr only: no cycle.
#pragma once

#include <memory>

#include "netcore/acceptor.h"
#include "netcore/channel.h"

namespace netcore {

struct ProxyOptions {
  Address backend;
  Duration connect_timeout = std::chrono::seconds(5);
};

/// Shared by every connection of one proxy: counters for tests and reports.
struct ProxyStats {
  std::uint64_t connections = 0;
  std::uint64_t backend_connect_failures = 0;
  std::uint64_t bytes_up = 0;    // client -> backend
  std::uint64_t bytes_down = 0;  // backend -> client
  std::size_t max_pending_outbound = 0;  // largest pending_outbound_bytes() seen on either side
};

/// Flushes what `ch` has queued, then closes it (Netty's closeOnFlush).
void close_on_flush(const std::shared_ptr<Channel>& ch, CloseReason reason = CloseReason::Normal);

class ProxyFrontend final : public Handler {
 public:
  ProxyFrontend(Transport& transport, ConnectionLedger& ledger, ProxyOptions options,
                std::shared_ptr<ProxyStats> stats);
  void handler_added(Context& ctx) override;
  void channel_active(Context& ctx) override;
  void channel_read(Context& ctx, std::any msg) override;
  void channel_inactive(Context& ctx) override;

 private:
  Transport& transport_;
  ConnectionLedger& ledger_;
  ProxyOptions options_;
  std::shared_ptr<ProxyStats> stats_;
  std::weak_ptr<Channel> backend_;
};

class ProxyBackend final : public Handler {
 public:
  ProxyBackend(std::weak_ptr<Channel> frontend, std::shared_ptr<ProxyStats> stats);
  void channel_active(Context& ctx) override;
  void channel_read(Context& ctx, std::any msg) override;
  void channel_inactive(Context& ctx) override;

 private:
  std::weak_ptr<Channel> frontend_;
  std::shared_ptr<ProxyStats> stats_;
};

/// The child pipeline of a proxy server: one ProxyFrontend per accepted
/// connection, connecting to `options.backend` through `transport`.
PipelineInit proxy_initializer(Transport& transport, ConnectionLedger& ledger, ProxyOptions options,
                               std::shared_ptr<ProxyStats> stats);

}  // namespace netcore
