#include "connfail/netcore/asio/netns.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "connfail/netcore/asio/process.h"

extern char** environ;

namespace netcore::asio {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDir = "/run/netns";
constexpr const char* kPrefix = "connfail-";

std::string in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";  // where iproute2 and nftables live
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty()) {
      const std::string candidate = dir + "/" + program;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Runs a command and throws NetnsError with its output when it fails.
void must(const std::vector<std::string>& argv, const std::string& input = "") {
  std::string out;
  const int status = run_command(argv, input, out);
  if (status == 0) return;
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  throw NetnsError("'" + cmd + "' failed (" + describe(status) + ")" + (out.empty() ? "" : ": " + out));
}

std::string table(const std::vector<std::string>& rules) {
  std::string t = "table inet connfail {\n  chain out {\n    type filter hook output priority 0; policy accept;\n";
  for (const auto& r : rules) t += "    " + r + "\n";
  t += "  }\n}\n";
  return t;
}

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

void delete_at(const std::string& path) {
  ::umount2(path.c_str(), MNT_DETACH);
  ::unlink(path.c_str());
}

}  // namespace

int run_command(const std::vector<std::string>& argv, const std::string& input, std::string& output) {
  output.clear();
  if (argv.empty()) return -1;
  const std::string exe = argv[0].find('/') == std::string::npos ? in_path(argv[0]) : argv[0];
  if (exe.empty()) {
    output = argv[0] + ": not found in PATH";
    return 127 << 8;
  }
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return -1;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    output = exe + ": " + std::strerror(rc);
    return 127 << 8;
  }
  // The inputs here are a few hundred bytes: well under a pipe's buffer.
  std::size_t off = 0;
  while (off < input.size()) {
    const ssize_t n = ::write(in[1], input.data() + off, input.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(in[1]);
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < 65536) output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string NetNamespace::unavailable_reason() {
  if (::geteuid() != 0) return "needs a network namespace of its own, which needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)";
  if (in_path("ip").empty()) return "needs `ip` (Debian package iproute2) to make a network namespace";
  if (in_path("nft").empty()) return "needs `nft` (Debian package nftables) for its packet filter";
  return "";
}

std::vector<std::string> NetNamespace::list_ours() {
  std::vector<std::string> v;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kDir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(kPrefix, 0) == 0) v.push_back(n);
  }
  return v;
}

int NetNamespace::remove_stale() {
  int removed = 0;
  for (const auto& n : list_ours()) {
    // connfail-<pid>-<k>
    const auto rest = n.substr(std::strlen(kPrefix));
    const auto dash = rest.find('-');
    if (dash == std::string::npos) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(rest.substr(0, dash)));
    } catch (...) {
      continue;
    }
    if (pid <= 0 || pid == ::getpid() || process_alive(pid)) continue;
    delete_at(std::string(kDir) + "/" + n);
    ++removed;
  }
  return removed;
}

std::unique_ptr<NetNamespace> NetNamespace::create_and_enter() {
  if (const std::string why = unavailable_reason(); !why.empty())
    throw NetnsError("packet-level faults on the real transport: " + why);
  remove_stale();
  static std::atomic<int> counter{0};
  std::unique_ptr<NetNamespace> ns(new NetNamespace());
  ns->name_ = std::string(kPrefix) + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  ns->path_ = std::string(kDir) + "/" + ns->name_;
  // Registered before it exists: a signal in between deletes what is there.
  register_namespace_path(ns->path_);
  try {
    must({"ip", "netns", "add", ns->name_});
    ns->home_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns->home_fd_ < 0) throw NetnsError(std::string("cannot open this thread's namespace: ") + std::strerror(errno));
    const int fd = ::open(ns->path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw NetnsError("cannot open " + ns->path_ + ": " + std::strerror(errno));
    const int rc = ::setns(fd, CLONE_NEWNET);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw NetnsError("cannot enter " + ns->name_ + ": " + std::strerror(err));
    ns->entered_ = true;
    // From here on, commands run inside it (a child inherits the namespace
    // of the thread that forks it).
    // An Ethernet-sized MTU: segments as on a real link (loopback's own is
    // 64 KiB, which would make per-packet loss a different thing).
    must({"ip", "link", "set", "lo", "mtu", "1500", "up"});
    must({"nft", "-f", "-"}, table({}));
  } catch (...) {
    ns->destroy();
    throw;
  }
  return ns;
}

namespace {
std::string sysctl_path(const std::string& name) {
  if (name.rfind("net.", 0) != 0 || name.find('/') != std::string::npos || name.find("..") != std::string::npos)
    throw NetnsError("sysctl '" + name + "': only net.* sysctls are per network namespace");
  std::string path = "/proc/sys/" + name;
  for (std::size_t i = 10; i < path.size(); ++i)
    if (path[i] == '.') path[i] = '/';
  return path;
}
}  // namespace

void NetNamespace::set_sysctl(const std::string& name, long long value) {
  const std::string path = sysctl_path(name);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    throw NetnsError("sysctl " + name + ": " +
                     (errno == ENOENT ? std::string("this kernel does not have it") : std::strerror(errno)));
  const std::string text = std::to_string(value) + "\n";
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    throw NetnsError("sysctl " + name + " = " + std::to_string(value) + ": " + std::strerror(err));
}

long long NetNamespace::get_sysctl(const std::string& name) {
  const std::string path = sysctl_path(name);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw NetnsError("sysctl " + name + ": " + std::strerror(errno));
  char buf[64] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) throw NetnsError("sysctl " + name + ": unreadable");
  return std::atoll(buf);
}

void NetNamespace::set_rules(const std::vector<std::string>& rules) {
  must({"nft", "-f", "-"}, "flush table inet connfail\n" + table(rules));
  ++changes_;
}

void NetNamespace::destroy() noexcept {
  if (entered_) {
    ::setns(home_fd_, CLONE_NEWNET);
    entered_ = false;
  }
  if (home_fd_ >= 0) ::close(home_fd_);
  home_fd_ = -1;
  if (!path_.empty()) {
    delete_at(path_);
    unregister_namespace_path(path_);
    path_.clear();
  }
}

NetNamespace::~NetNamespace() { destroy(); }

}  // namespace netcore::asio
