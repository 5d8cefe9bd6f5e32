// A server process connfail did not build: started in its own process
// group, watched, and always stopped with everything it spawned.
//
//   ProcessSpec spec;
//   spec.argv = {"java", "-cp", "...", "EchoServer", "9000"};
//   spec.stdout_path = "out/server.stdout";
//   auto p = ChildProcess::start(spec);        // throws ProcessError
//   ... p->poll() (exited?), p->socket_inodes(), p->fd_count() ...
//   p->stop(SIGTERM, 5s);                       // then SIGKILL to the group
//
// Nothing is left running: stop() (and the destructor) signal the whole
// process group and reap the child; the child is killed if connfail dies
// (PR_SET_PDEATHSIG); and a SIGINT/SIGTERM/SIGHUP to connfail kills every
// live child group before connfail itself ends (install_child_cleanup()).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace netcore::asio {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH; no shell
  /// Set in the child's environment (on top of connfail's own).
  std::map<std::string, std::string> env;
  std::string cwd;  // "" = connfail's
  /// Where the child's stdout and stderr go ("" = /dev/null). Created or
  /// truncated.
  std::string stdout_path, stderr_path;
};

/// A network namespace's bind-mount path (netns.h) that a SIGINT, SIGTERM
/// or SIGHUP to connfail must delete (umount + unlink) before connfail
/// ends; installs the handler if the program has none of its own.
void register_namespace_path(const std::string& path);
void unregister_namespace_path(const std::string& path);

class ProcessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ChildProcess {
 public:
  /// Starts the process in a new process group. Throws ProcessError when it
  /// cannot be started (no such command, not executable, a bad cwd, an
  /// output file that cannot be created), with the reason.
  static std::unique_ptr<ChildProcess> start(const ProcessSpec& spec);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// The child's wait status once it has exited (reaped here), else nullopt.
  std::optional<int> poll();
  /// Sends `sig` to the process group, waits up to `grace` for the child
  /// to exit, then SIGKILLs the group. Returns the child's wait status.
  /// Whatever else of the group is still alive after the child exits is
  /// SIGKILLed too.
  int stop(int sig, std::chrono::milliseconds grace);

  /// The processes of the group (the child and what it spawned and did not
  /// move to another group), from /proc.
  std::vector<pid_t> group_pids() const;
  /// Socket inodes of the group's open fds.
  std::set<unsigned long> socket_inodes() const;
  /// Open fds across the group.
  std::size_t fd_count() const;
  /// Whether a process of the group holds a listening TCP socket on `port`
  /// (IPv4 or IPv6), from the kernel's table.
  bool listens_on(std::uint16_t port) const;

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> status_;
  bool stopped_ = false;
};

/// "exited with status 3", "killed by signal 9 (SIGKILL)".
std::string describe_wait_status(int status);
/// The last `n` lines of a text file ("" if it cannot be read), each
/// at most 300 characters.
std::string tail_lines(const std::string& path, int n);
/// Whether any process of group `pgid` is still alive (zombies count as gone).
bool process_group_alive(pid_t pgid);
/// Whether a TCP connect to host:port (numeric IPv4 or IPv6) succeeds within
/// `timeout` (the connection is closed at once).
bool port_accepts(const std::string& host, int port, std::chrono::milliseconds timeout);
/// A port no socket is bound to on `host` right now, or 0 when none could
/// be had: a random one below the ephemeral range (so no outgoing
/// connection takes it before the server binds it), else the kernel's pick.
int free_tcp_port(const std::string& host);

}  // namespace netcore::asio
