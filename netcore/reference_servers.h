// Reference servers and clients assembled from netcore's handlers. Later
// scenarios run them; their pipeline order is the correct one, and says why.
#pragma once

#include <memory>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/heartbeat.h"
#include "connfail/netcore/idle_state_handler.h"
#include "connfail/netcore/proxy.h"

namespace netcore {

/// Writes back every byte it reads.
class EchoHandler final : public Handler {
 public:
  void channel_read(Context& ctx, std::any msg) override { ctx.write(std::move(msg)); }
  void channel_read_complete(Context& ctx) override { ctx.flush(); }
};

/// Writes back every DATA frame it reads (after the frame codec).
class FrameEcho final : public Handler {
 public:
  void channel_read(Context& ctx, std::any msg) override;
};

/// Echo server: raw bytes back.
PipelineInit echo_server();

/// Heartbeat server: the idle check comes FIRST so it sees every read before
/// any other handler can consume it (an idle handler placed last never sees
/// reads that the decoder turned into frames and the responder swallowed),
/// then the closer, the frame codec, the PING responder and a DATA echo.
/// A client silent for `reader_idle` is closed with reason idle.
PipelineInit heartbeat_server(Duration reader_idle);

/// Heartbeat client: PING every `interval`; closes (reason idle) a connection
/// whose server stayed silent for `reader_idle`. Stats via the returned
/// sender when `sender_out` is given.
PipelineInit heartbeat_client(Duration interval, Duration reader_idle,
                              std::shared_ptr<HeartbeatSender>* sender_out = nullptr);

/// Proxy server: see netcore/proxy.h.
inline PipelineInit proxy_server(Transport& transport, ConnectionLedger& ledger, ProxyOptions options,
                                 std::shared_ptr<ProxyStats> stats) {
  return proxy_initializer(transport, ledger, std::move(options), std::move(stats));
}

}  // namespace netcore
