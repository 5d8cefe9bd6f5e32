// Known-bug variants: deliberately broken server code, kept out of netcore's
// production path. Each reproduces a leak seen in real Netty-style servers so
// that a scenario can prove its leak check FAILS on it (and passes on the
// correct code in netcore/).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "connfail/netcore/acceptor.h"
#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/fault_injector.h"
#include "connfail/netcore/proxy.h"

namespace connfail::scenarios::bugs {

/// The Netty 3 accept loop: accept(), then set up and register the child; an
/// allocation failure in between is caught, logged and swallowed. The child
/// socket is neither registered nor closed: its fd stays open, unowned, and
/// turns into CLOSE_WAIT when the client gives up.
class SwallowingAcceptor : public std::enable_shared_from_this<SwallowingAcceptor> {
 public:
  static std::shared_ptr<SwallowingAcceptor> start(netcore::Transport& transport, netcore::ConnectionLedger& ledger,
                                                   netcore::PipelineInit init, netcore::ListenOptions listen,
                                                   netcore::FaultInjector* faults);
  netcore::Listener& listener() { return *listener_; }
  netcore::Address local_address() const { return listener_->local_address(); }
  std::uint64_t swallowed() const {
    std::lock_guard<std::mutex> lock(leaked_mu_);
    return leaked_.size();
  }
  void close() { listener_->close(); }

 private:
  void on_accept(std::shared_ptr<netcore::Socket> socket);

  netcore::Transport* transport_ = nullptr;
  netcore::ConnectionLedger* ledger_ = nullptr;
  netcore::PipelineInit init_;
  netcore::FaultInjector* faults_ = nullptr;
  std::shared_ptr<netcore::Listener> listener_;
  /// The "leaked file descriptors": referenced so they stay open, never used.
  mutable std::mutex leaked_mu_;
  std::vector<std::shared_ptr<netcore::Socket>> leaked_;
};

/// A proxy that forwards bytes both ways but, when one side ends, does not
/// close the other: every finished client leaves a backend connection open.
netcore::PipelineInit leaky_proxy_initializer(netcore::Transport& transport, netcore::ConnectionLedger& ledger,
                                              netcore::Address backend, netcore::Duration connect_timeout);

/// A handler that schedules a far-future timer when its channel becomes
/// active and never cancels it: a timer leak that outlives the channel.
class TimerLeakHandler final : public netcore::Handler {
 public:
  void channel_active(netcore::Context& ctx) override;
};

}  // namespace connfail::scenarios::bugs
