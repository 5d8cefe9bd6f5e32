// The server under test during one run: its plan (the registered kind's
// factory, with the run's variant applied), the backend it may need, its
// accept loop, and what faults do to it (pause accepting, restart).
// Internal to the runner.
#pragma once

#include <memory>
#include <optional>

#include "connfail/netcore/asio/process.h"
#include "connfail/scenarios/registry.h"
#include "connfail/scenarios/run_context.h"

namespace connfail::scenarios {

class ServerUnderTest {
 public:
  explicit ServerUnderTest(RunContext& rc) : rc_(rc) {}
  ~ServerUnderTest();

  /// Builds the plan, starts the backend (if the plan has one) and the
  /// server. Throws what the factory or the transport throws (a port in use).
  void start();
  /// Where clients reach the server (its listening address).
  const netcore::Address& address() const { return address_; }
  /// The reader idle time the plan states.
  std::optional<Duration> reader_idle() const { return plan_.reader_idle; }

  /// The application stops / resumes taking connections (accept-pause).
  void pause_accepting();
  void resume_accepting();
  /// The server process exits now: it stops listening and the kernel
  /// closes every connection it held (FIN, or RST with unread data), no
  /// application code running; it starts again, with fresh state, on the
  /// same port after `down` (scenario time).
  void restart(Duration down);
  /// How many times the server was restarted.
  int restarts() const { return generation_; }

  /// End of the run: stops listening, stops the instance (its own timers)
  /// and cancels a restart still to come.
  void stop();
  /// Destroys the accept loops (before the transport goes); stops a server
  /// process for good.
  void release();

  /// A server run as a process (the `process` kind): its plan, or nullptr.
  const ExternalServer* external() const { return plan_.external.get(); }
  /// The process's fd count now minus at readiness (nullopt: no process, or
  /// it is gone).
  std::optional<long long> process_fd_delta() const;

 private:
  void start_instance();
  void start_process();
  void watch_process();

  RunContext& rc_;
  ServerPlan plan_;
  ServerInstance instance_, backend_instance_;
  std::unique_ptr<AcceptLoop> accept_, backend_accept_;
  netcore::Address listen_at_, address_, backend_address_;
  bool paused_ = false;
  bool down_ = false;
  bool stopped_ = false;
  int generation_ = 0;
  netcore::TimerId restart_timer_ = 0;
  std::unique_ptr<netcore::asio::ChildProcess> process_;
  std::string process_dir_;  // where its stdout/stderr go
  bool process_dir_is_temp_ = false;
  long long process_fds_at_ready_ = 0;
  bool process_exit_reported_ = false;
};

}  // namespace connfail::scenarios
