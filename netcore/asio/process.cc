#include "connfail/netcore/asio/process.h"

#include "connfail/netcore/asio/asio_transport.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace netcore::asio {

namespace {

// ---- the process groups a signal to connfail must take down with it.

constexpr int kMaxGroups = 64;
std::atomic<pid_t> g_groups[kMaxGroups];

// ---- and the network namespaces (netns.h): their bind-mount paths.
constexpr int kMaxPaths = 8;
constexpr std::size_t kPathLen = 96;
char g_ns_paths[kMaxPaths][kPathLen];
std::atomic<bool> g_ns_used[kMaxPaths];

void on_fatal_signal(int sig) {
  for (auto& g : g_groups) {
    const pid_t p = g.load();
    if (p > 0) ::kill(-p, SIGKILL);
  }
  // What `ip netns delete` does, with async-signal-safe calls only; the
  // namespace (and its firewall rules) goes once its processes are gone.
  for (int i = 0; i < kMaxPaths; ++i) {
    if (!g_ns_used[i].load()) continue;
    ::umount2(g_ns_paths[i], MNT_DETACH);
    ::unlink(g_ns_paths[i]);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_cleanup_once() {
  static bool done = false;
  if (done) return;
  done = true;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    ::sigaction(sig, nullptr, &old);
    if (old.sa_handler != SIG_DFL) continue;  // the program has its own: leave it
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

}  // namespace

void register_namespace_path(const std::string& path) {
  install_cleanup_once();
  if (path.size() >= kPathLen) return;
  for (int i = 0; i < kMaxPaths; ++i) {
    if (g_ns_used[i].load()) continue;
    std::memcpy(g_ns_paths[i], path.c_str(), path.size() + 1);
    g_ns_used[i].store(true);
    return;
  }
}

void unregister_namespace_path(const std::string& path) {
  for (int i = 0; i < kMaxPaths; ++i)
    if (g_ns_used[i].load() && path == g_ns_paths[i]) g_ns_used[i].store(false);
}

namespace {

void remember_group(pid_t p) {
  for (auto& g : g_groups) {
    pid_t zero = 0;
    if (g.compare_exchange_strong(zero, p)) return;
  }
}

void forget_group(pid_t p) {
  for (auto& g : g_groups) {
    pid_t expected = p;
    g.compare_exchange_strong(expected, 0);
  }
}

struct StatLine {
  char state = '?';
  pid_t pgrp = 0;
};

/// /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces
/// and parentheses, so read after the last ')'.
std::optional<StatLine> read_stat(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  StatLine s;
  long ppid = 0, pgrp = 0;
  if (!(rest >> s.state >> ppid >> pgrp)) return std::nullopt;
  s.pgrp = static_cast<pid_t>(pgrp);
  return s;
}

std::vector<pid_t> pids_of_group(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    auto st = read_stat(e->d_name);
    if (st && st->pgrp == pgid && st->state != 'Z' && st->state != 'X')
      out.push_back(static_cast<pid_t>(std::atol(e->d_name)));
  }
  ::closedir(d);
  return out;
}

int open_output(const std::string& path) {
  if (path.empty()) return ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::start(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty()) throw ProcessError("no command given");
  install_cleanup_once();

  // Everything the child needs is made before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> argv_s = spec.argv;
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv(*e);
    const std::string key = kv.substr(0, kv.find('='));
    if (spec.env.count(key) == 0) env_s.push_back(kv);
  }
  for (const auto& [k, v] : spec.env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& kv : env_s) envp.push_back(kv.data());
  envp.push_back(nullptr);

  const int out_fd = open_output(spec.stdout_path);
  if (out_fd < 0) throw ProcessError("cannot create " + spec.stdout_path + ": " + std::strerror(errno));
  const int err_fd = open_output(spec.stderr_path);
  if (err_fd < 0) {
    const int e = errno;
    ::close(out_fd);
    throw ProcessError("cannot create " + spec.stderr_path + ": " + std::strerror(e));
  }
  const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    const int e = errno;
    for (int fd : {out_fd, err_fd, in_fd}) ::close(fd);
    throw ProcessError(std::string("pipe: ") + std::strerror(e));
  }
  const pid_t parent = ::getpid();
  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();

  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    for (int fd : {out_fd, err_fd, in_fd, report[0], report[1]}) ::close(fd);
    throw ProcessError(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // The child. Tell the parent what failed as {stage, errno}.
    auto fail = [&](int stage) {
      const int msg[2] = {stage, errno};
      (void)!::write(report[1], msg, sizeof msg);
      ::_exit(127);
    };
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // connfail is already gone
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) fail(1);
    // Nothing else of connfail's reaches the server (a listening socket it
    // inherited would be taken for its own): every other fd closes at exec.
    // A kernel without CLOSE_RANGE_CLOEXEC (before 5.11) leaves them as set.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (cwd != nullptr && ::chdir(cwd) != 0) fail(2);
    ::execvpe(argv[0], argv.data(), envp.data());
    fail(3);
  }
  ::setpgid(pid, pid);  // also here: no window in which a signal to the group misses it
  remember_group(pid);
  for (int fd : {out_fd, err_fd, in_fd, report[1]}) ::close(fd);
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(report[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  std::unique_ptr<ChildProcess> child(new ChildProcess(pid));
  if (n == static_cast<ssize_t>(sizeof msg)) {
    child->stop(SIGKILL, std::chrono::milliseconds(0));
    const std::string why = std::strerror(msg[1]);
    if (msg[0] == 2) throw ProcessError("cannot change to the directory " + spec.cwd + ": " + why);
    if (msg[0] == 3) throw ProcessError("cannot run '" + spec.argv.front() + "': " + why);
    throw ProcessError("cannot set up the process's standard streams: " + why);
  }
  return child;
}

ChildProcess::~ChildProcess() { stop(SIGKILL, std::chrono::milliseconds(0)); }

std::optional<int> ChildProcess::poll() {
  if (status_) return status_;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) status_ = st;
  if (r < 0 && errno == ECHILD) status_ = 0;  // reaped elsewhere: gone
  return status_;
}

int ChildProcess::stop(int sig, std::chrono::milliseconds grace) {
  if (stopped_) return *status_;
  if (!poll()) {
    ::kill(-pid_, sig);
    const auto until = std::chrono::steady_clock::now() + grace;
    while (!poll() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!poll()) {
      ::kill(-pid_, SIGKILL);
      int st = 0;
      pid_t r;
      do {
        r = ::waitpid(pid_, &st, 0);
      } while (r < 0 && errno == EINTR);
      status_ = r == pid_ ? st : 0;
    }
  }
  // What the child spawned into its group and left behind.
  ::kill(-pid_, SIGKILL);
  forget_group(pid_);
  stopped_ = true;
  return *status_;
}

std::vector<pid_t> ChildProcess::group_pids() const { return pids_of_group(pid_); }

std::set<unsigned long> ChildProcess::socket_inodes() const {
  std::set<unsigned long> out;
  for (pid_t p : group_pids()) {
    const std::string dir = "/proc/" + std::to_string(p) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char buf[64];
      const ssize_t n = ::readlinkat(::dirfd(d), e->d_name, buf, sizeof buf - 1);
      if (n <= 0) continue;
      buf[n] = '\0';
      unsigned long inode = 0;
      if (std::sscanf(buf, "socket:[%lu]", &inode) == 1) out.insert(inode);
    }
    ::closedir(d);
  }
  return out;
}

std::size_t ChildProcess::fd_count() const {
  std::size_t n = 0;
  for (pid_t p : group_pids()) {
    const std::string dir = "/proc/" + std::to_string(p) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

bool ChildProcess::listens_on(std::uint16_t port) const {
  const std::set<unsigned long> inodes = socket_inodes();
  if (inodes.empty()) return false;
  const auto rows = read_kernel_tcp_table([&](std::uint16_t local, std::uint16_t, unsigned long inode) {
    return local == port && inode != 0 && inodes.count(inode) != 0;
  });
  for (const auto& r : rows)
    if (r.state == TcpState::Listen) return true;
  return false;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "ended (wait status " + std::to_string(status) + ")";
}

std::string tail_lines(const std::string& path, int n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  // Only the end of a large file matters.
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = size > 65536 ? size - 65536 : 0;
  in.seekg(from);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > 300) line = line.substr(0, 300) + "...";
    lines.push_back(line);
    if (static_cast<int>(lines.size()) > n) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

namespace {

/// A numeric address as a sockaddr; false if `host` is not one.
bool to_sockaddr(const std::string& host, int port, sockaddr_storage& ss, socklen_t& len) {
  ss = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

bool port_accepts(const std::string& host, int port, std::chrono::milliseconds timeout) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!to_sockaddr(host, port, ss, len)) return false;
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    ok = true;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t el = sizeof err;
      ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0;
    }
  }
  ::close(fd);
  return ok;
}

namespace {
// Binds host:port (0: the kernel's pick) and returns the port bound, or 0.
int bind_probe(const std::string& host, int port) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!to_sockaddr(host, port, ss, len)) return 0;
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int got = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    got = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                  : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  ::close(fd);
  return got;
}
}  // namespace

// The port is handed to a server that binds it later. A port from the
// ephemeral range (ip_local_port_range) can be taken meanwhile as the local
// port of any outgoing connection on the machine -- with many tests
// connecting at once, it was, and the server failed to listen. So: a
// random free port below that range, which only a bind can take; the
// kernel's pick only if there is no room below it.
int free_tcp_port(const std::string& host) {
  int low = 32768;
  {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    int lo = 0, hi = 0;
    if (in >> lo >> hi && lo > 0) low = lo;
  }
  constexpr int kFloor = 10000;
  if (low - kFloor >= 1000) {
    std::random_device rd;
    std::uniform_int_distribution<int> pick(kFloor, low - 1);
    for (int i = 0; i < 64; ++i) {
      const int port = pick(rd);
      if (bind_probe(host, port) == port) return port;
    }
  }
  return bind_probe(host, 0);
}

bool process_group_alive(pid_t pgid) { return !pids_of_group(pgid).empty(); }

}  // namespace netcore::asio
