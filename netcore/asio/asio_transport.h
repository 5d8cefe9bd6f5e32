// The transport seam on Boost.Asio: real TCP sockets. One loop of its own
// (the boss: it accepts, and runs whatever the harness drives), plus
// optional worker loops, each on a thread of its own, over which accepted
// children are spread round-robin (Netty's EventLoopGroup; `loops: N` in a
// scenario). The inventory is read from the OS: the process's socket fds
// joined with the kernel's TCP table (kernel_tcp_table.h), so CLOSE_WAIT
// and orphaned sockets are seen by the kernel's own account.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "connfail/netcore/asio/asio_loop.h"
#include "connfail/netcore/asio/kernel_tcp_table.h"
#include "connfail/netcore/asio/socket_registry.h"
#include "connfail/netcore/transport.h"

namespace netcore::asio {

class AsioSocket;
class AsioListener;

struct AsioTransportOptions {
  /// Worker loops for accepted children, each on its own thread. 0: every
  /// socket on the transport's own loop, on the harness's thread.
  int worker_loops = 0;
  /// Connects made from outside the worker loops go to them too,
  /// round-robin (Netty's Bootstrap.group(workers): each client channel on
  /// the group's next loop), and their `done` runs there. False: such a
  /// connect runs on the transport's own loop. A connect made on a worker
  /// loop stays on it either way.
  bool connects_on_workers = false;
};

class AsioTransport final : public Transport {
 public:
  explicit AsioTransport(AsioTransportOptions options = {});
  /// Stops the worker loops (joins their threads), then closes every
  /// listener and socket still open.
  ~AsioTransport() override;
  AsioTransport(const AsioTransport&) = delete;
  AsioTransport& operator=(const AsioTransport&) = delete;

  EventLoop& loop() override { return *boss_; }
  AsioLoop& asio_loop() { return *boss_; }
  EventLoop& loop_of(const Socket& socket) override;
  std::size_t pending_timers() override;
  std::string name() const override { return "asio"; }
  /// Listens on the transport's own loop; call it there.
  std::shared_ptr<Listener> listen(const ListenOptions& opts, Listener::AcceptFn on_accept) override;
  /// The connect runs on the loop it is made on (a worker's, for a proxy's
  /// backend connect from a child); made from outside the workers, on the
  /// next worker (AsioTransportOptions::connects_on_workers) or on the
  /// transport's own loop. `done` runs there. Any thread.
  void connect(const Address& to, Duration timeout, ConnectFn done) override;
  void connect_from(const std::string& source_host, const Address& to, Duration timeout, ConnectFn done,
                    std::shared_ptr<ConnectCanceller> cancel = nullptr) override;
  /// Any thread.
  std::vector<SocketInfo> inventory() const override;

  /// The worker loops (empty without).
  const std::vector<std::shared_ptr<AsioLoop>>& worker_loops() const { return workers_; }
  /// Stops the worker loops and joins their threads: from then on every
  /// socket belongs to the calling thread (teardown). Idempotent. Call it
  /// before destroying anything the workers' channels use (a ledger, a
  /// handler's shared state), as a Netty server shuts its event loop group
  /// down before freeing what its handlers hold; the destructor calls it
  /// too, but only once the transport itself goes.
  void stop_workers();
  /// Runs the transport's own loop for `d`, and with it every stopped
  /// worker loop (after stop_workers(): what their channels still had
  /// queued, a close's inactive event, runs on the calling thread).
  void run_all_for(Duration d);

  /// accept() failures (EMFILE, ENFILE, ...): each one backs off 100 ms.
  std::uint64_t accept_errors() const { return registry_->accept_errors(); }
  /// Bookkeeping entries held (sockets, client port pairs): they are pruned
  /// as they grow, so a long run stays bounded (tests).
  std::size_t tracked_sockets() const { return registry_->tracked_sockets(); }
  std::size_t tracked_client_pairs() const { return registry_->tracked_client_pairs(); }

 private:
  /// The loop a connect made here runs on: the calling thread's worker
  /// loop, else the next worker (connects_on_workers), else the boss.
  std::shared_ptr<AsioLoop> loop_for_connect();

  std::shared_ptr<AsioLoop> boss_;
  std::vector<std::shared_ptr<AsioLoop>> workers_;
  bool connects_on_workers_ = false;
  std::shared_ptr<std::atomic<std::size_t>> next_worker_;  // accepted children
  std::atomic<std::size_t> next_connect_{0};                // connects
  std::shared_ptr<SocketRegistry> registry_;
};

}  // namespace netcore::asio
