// A network namespace of connfail's own, for packet-level faults on the
// real transport.
//
//   auto ns = NetNamespace::create_and_enter();   // throws NetnsError
//   ... listen, connect, start a server process: all inside it ...
//   ns->set_rules({"ip saddr 127.1.0.1 drop"});   // nftables, atomically
//   ns.reset();                                    // back out; it is gone
//
// The namespace is named "connfail-<pid>-<n>" (visible to `ip netns list`),
// has only a loopback interface (so no packet of a run can leave the
// machine) and one nftables table, `inet connfail`, with a filter chain on
// the output hook: on loopback every packet passes it once, so a rule that
// drops by source or destination address drops a packet on its way. The
// rules live in the namespace: deleting it deletes them, so no firewall
// rule of the host is ever touched.
//
// Nothing is left behind: the destructor deletes the namespace; a SIGINT,
// SIGTERM or SIGHUP to connfail deletes it from the signal handler (the
// same one that stops server processes, install_child_cleanup()); and
// remove_stale() deletes those of connfail processes that died otherwise
// (SIGKILL), which every run calls before it creates its own.
//
// Entering switches the calling thread only (setns); connfail's transport
// runs on that thread, and a server process it forks inherits it.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace netcore::asio {

class NetnsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class NetNamespace {
 public:
  /// "" when namespaces can be used here; else why not, as "needs ..."
  /// (root, `ip`, `nft`), in words a user can act on.
  static std::string unavailable_reason();
  /// Creates a namespace, brings its loopback up, installs the empty
  /// nftables table and enters it on this thread. Throws NetnsError (with
  /// the failing command's own message); nothing is left behind then.
  static std::unique_ptr<NetNamespace> create_and_enter();
  /// Deletes the namespaces named "connfail-<pid>-*" whose process is gone.
  /// Returns how many.
  static int remove_stale();
  /// The namespaces of this naming scheme that exist now (tests).
  static std::vector<std::string> list_ours();

  /// Returns this thread to the namespace it came from, then deletes the
  /// namespace (and with it every rule).
  ~NetNamespace();
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  const std::string& name() const { return name_; }
  /// Replaces every rule of the output chain with `rules` (nft rule
  /// statements, one per entry), in one transaction. Throws NetnsError.
  void set_rules(const std::vector<std::string>& rules);
  /// Writes a sysctl of this namespace ("net.ipv4.tcp_retries2", 5) from
  /// the calling thread, which must be in it (the one that entered). The
  /// TCP sysctls are per namespace: the host's stay as they are. Throws
  /// NetnsError naming the sysctl (e.g. one this kernel does not have).
  void set_sysctl(const std::string& name, long long value);
  /// Reads one (tests; same rules).
  static long long get_sysctl(const std::string& name);
  /// How many times set_rules() changed the table (tests, reports).
  int rule_changes() const { return changes_; }

 private:
  NetNamespace() = default;
  void destroy() noexcept;

  std::string name_;
  std::string path_;  // /run/netns/<name>
  int home_fd_ = -1;  // the namespace this thread came from
  bool entered_ = false;
  int changes_ = 0;
};

/// Runs `argv` (argv[0] looked up in PATH, no shell) with `input` on its
/// stdin; returns its wait status, and its stdout and stderr in `output`.
int run_command(const std::vector<std::string>& argv, const std::string& input, std::string& output);

}  // namespace netcore::asio
