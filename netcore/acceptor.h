// Acceptor: takes accepted sockets from a Listener and turns each into a
// registered child channel. Building the channel, running the user's pipeline
// initializer and registering it happen inside ONE try: on any exception,
// std::bad_alloc included, the child socket is force-closed with RST (so no
// CLOSE_WAIT can remain), the failure is recorded in the ledger with reason
// accept-failure and counted, and accepting goes on.
//
// This is the fix for the Netty 3 accept loop (an OOM between accept() and
// register leaked the socket) and goes beyond Netty 4.1, whose
// pipeline().addLast(childHandler) sits outside the try.
#pragma once

#include <functional>
#include <memory>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "connfail/netcore/channel.h"
#include "connfail/netcore/transport.h"

namespace netcore {

class FaultInjector;

using PipelineInit = std::function<void(Channel&)>;

struct AcceptorOptions {
  ListenOptions listen;
  ChannelOptions child;
  /// After a failed child set-up, stop accepting for `error_backoff`, as
  /// Netty turns auto-read off for 1 s after an accept error (Netty does it
  /// for errors of accept() itself; here it is the set-up after it). Errors
  /// of accept() itself (EMFILE) are the transport's: the Asio listener
  /// retries after 100 ms. Zero: keep accepting.
  Duration error_backoff = Duration::zero();
  /// Optional fault injection for the children's pipelines and registration.
  FaultInjector* faults = nullptr;
};

/// Listens on the transport's loop (the boss loop); each child is set up on
/// the loop its socket belongs to (Transport::loop_of: a worker loop of an
/// EventLoopGroup, round-robin), as Netty's ServerBootstrapAcceptor
/// registers a child with the child group. pause/resume/close: the
/// transport's loop.
class Acceptor : public std::enable_shared_from_this<Acceptor> {
 public:
  /// Listens and starts accepting. Throws if the address cannot be bound.
  static std::shared_ptr<Acceptor> start(Transport& transport, ConnectionLedger& ledger,
                                         PipelineInit init, AcceptorOptions options = {});
  ~Acceptor();

  Listener& listener() { return *listener_; }
  /// Stops taking connections from the accept queue until resume_accepting()
  /// (the kernel keeps completing handshakes into it up to the backlog). The
  /// error back-off never resumes a listener paused here.
  void pause_accepting();
  void resume_accepting();
  bool accepting_paused() const { return user_paused_; }
  Address local_address() const { return listener_->local_address(); }
  std::uint64_t accepted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  std::uint64_t accept_failures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  /// Failures that could not be written to the ledger (allocation failed again).
  std::uint64_t unrecorded_failures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return unrecorded_failures_;
  }
  /// Children still open.
  std::vector<std::shared_ptr<Channel>> children();
  /// Closes the listener; open children are left alone.
  void close();

 private:
  Acceptor(Transport& t, ConnectionLedger& ledger, PipelineInit init, AcceptorOptions options);
  void on_accept(std::shared_ptr<Socket> socket);
  void start_backoff();  // on the transport's loop
  bool user_paused_ = false;
  std::atomic<bool> closed_{false};
  std::shared_mutex setup_mu_;  // shared: a child's set-up; exclusive: close()

  Transport& transport_;
  ConnectionLedger& ledger_;
  PipelineInit init_;
  AcceptorOptions options_;
  std::shared_ptr<Listener> listener_;
  // The children's loops (an EventLoopGroup's workers) update these.
  mutable std::mutex mu_;
  std::vector<std::weak_ptr<Channel>> children_;
  std::uint64_t accepted_ = 0;
  std::uint64_t failures_ = 0;
  std::uint64_t unrecorded_failures_ = 0;
  TimerId backoff_timer_ = 0;
};

/// Connects and, on success, builds, initialises and activates a client
/// channel. `done` runs once with the channel or with the connect error.
/// `source_host` and `cancel`: see Transport::connect_from.
void connect_channel(Transport& transport, ConnectionLedger& ledger, const Address& to,
                     Duration timeout, PipelineInit init, ChannelOptions options,
                     std::function<void(std::shared_ptr<Channel>, SocketError)> done,
                     const std::string& source_host = "", std::shared_ptr<ConnectCanceller> cancel = nullptr);

}  // namespace netcore
