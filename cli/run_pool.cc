#include "connfail/cli/run_pool.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "connfail/reports/report_writer.h"

namespace connfail::cli {

namespace {

using scenarios::RunResult;

constexpr std::uint32_t kNoMoreJobs = 0xffffffffu;

bool send_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool recv_all(int fd, void* data, std::size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::recv(fd, p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

/// The worker: run what the parent sends until it sends no more (or goes
/// away). Never returns.
[[noreturn]] void worker_main(int fd, pid_t parent, const std::vector<PoolJob>& jobs, const std::string& program) {
  // Die with the parent, whatever kills it; if it is already gone, stop.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  // A Ctrl-C in a terminal reaches the whole process group: the parent
  // decides what happens, the worker just stops.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGHUP, SIG_DFL);
  for (;;) {
    std::uint32_t index = kNoMoreJobs;
    if (!recv_all(fd, &index, sizeof index) || index == kNoMoreJobs || index >= jobs.size()) ::_exit(0);
    RunResult r;
    try {
      r = scenarios::run_scenario(*jobs[index].scenario, jobs[index].options);
    } catch (const std::exception& e) {
      r = worker_died(jobs[index], 0, program);
      r.findings.front() = scenarios::run_error(std::string("the run threw: ") + e.what());
    }
    // The worker leaves with _exit (no atexit handlers, no stdio flush):
    // whatever the run printed goes out now.
    std::fflush(nullptr);
    scenarios::Report one;
    one.runs.push_back(std::move(r));
    const nlohmann::json msg{{"wall_seconds", one.runs[0].wall_seconds}, {"report", reports::to_json(one)}};
    const std::string text = msg.dump();
    const std::uint64_t size = text.size();
    if (!send_all(fd, &size, sizeof size) || !send_all(fd, text.data(), text.size())) ::_exit(1);
  }
}

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  std::optional<std::size_t> job;  // the run it is on
  std::string in;                  // bytes of the answer read so far
};

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : std::string());
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended (wait status " + std::to_string(status) + ")";
}

}  // namespace

RunResult worker_died(const PoolJob& job, int wait_status, const std::string& program) {
  const auto& s = *job.scenario;
  RunResult r;
  r.scenario = s.name;
  r.file = s.file;
  r.description = s.description;
  r.transport = job.options.transport;
  r.seed = job.options.seed;
  r.variant = job.options.variant;
  r.server_kind = s.server.kind;
  r.scenario_seconds = std::chrono::duration<double>(s.duration + s.quiesce).count();
  r.passed = false;
  r.status = "fail";
  r.findings.push_back(scenarios::run_error(
      "the worker process running this run " + describe_wait_status(wait_status) +
      "; run it alone to see why: " + program + " run " + (s.file.empty() ? s.name : s.file) + " --transport " +
      scenarios::to_string(job.options.transport) + " --seed " + std::to_string(job.options.seed) +
      (job.options.variant.empty() ? "" : " --variant " + job.options.variant)));
  return r;
}

void run_in_workers(const std::vector<PoolJob>& jobs, unsigned workers,
                    const std::function<void(std::size_t, RunResult)>& done, const std::string& program) {
  if (jobs.empty()) return;
  if (workers == 0) workers = 1;
  if (workers > jobs.size()) workers = static_cast<unsigned>(jobs.size());
  const pid_t parent = ::getpid();
  std::size_t next = 0;        // the next job to hand out
  std::size_t finished = 0;
  std::vector<Worker> pool;

  auto spawn = [&]() -> bool {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return false;
    // A child must not print what this process has buffered a second time.
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(sv[0]);
      ::close(sv[1]);
      return false;
    }
    if (pid == 0) {
      ::close(sv[0]);
      for (const auto& w : pool) ::close(w.fd);
      worker_main(sv[1], parent, jobs, program);
    }
    ::close(sv[1]);
    Worker w;
    w.pid = pid;
    w.fd = sv[0];
    pool.push_back(std::move(w));
    return true;
  };
  auto hand_out = [&](Worker& w) {
    if (next >= jobs.size()) return;
    const auto index = static_cast<std::uint32_t>(next);
    if (!send_all(w.fd, &index, sizeof index)) return;  // its end is seen as EOF below
    w.job = next++;
  };
  auto reap = [&](Worker& w) -> int {
    int status = 0;
    while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(w.fd);
    w.fd = -1;
    return status;
  };

  for (unsigned i = 0; i < workers; ++i)
    if (!spawn()) break;
  if (pool.empty()) {
    // No process could be made (fork or socketpair failed): run here.
    for (std::size_t i = 0; i < jobs.size(); ++i) done(i, scenarios::run_scenario(*jobs[i].scenario, jobs[i].options));
    return;
  }
  for (auto& w : pool) hand_out(w);

  while (finished < jobs.size()) {
    std::vector<pollfd> fds;
    for (const auto& w : pool) fds.push_back({w.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      std::perror("poll");
      break;
    }
    for (std::size_t k = 0; k < pool.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Worker& w = pool[k];
      char buf[65536];
      const ssize_t n = ::recv(w.fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        w.in.append(buf, static_cast<std::size_t>(n));
        std::uint64_t size = 0;
        if (w.in.size() < sizeof size) continue;
        std::memcpy(&size, w.in.data(), sizeof size);
        if (w.in.size() < sizeof size + size) continue;
        const std::size_t index = *w.job;
        RunResult r;
        try {
          const auto msg = nlohmann::json::parse(w.in.begin() + sizeof size, w.in.begin() + sizeof size + size);
          auto rep = reports::report_from_json(msg.at("report"));
          r = std::move(rep.runs.at(0));
          r.wall_seconds = msg.at("wall_seconds").get<double>();
        } catch (const std::exception& e) {
          r = worker_died(jobs[index], 0, program);
          r.findings.front() = scenarios::run_error(std::string("the worker's result cannot be read: ") + e.what());
        }
        w.in.erase(0, sizeof size + size);
        w.job.reset();
        ++finished;
        done(index, std::move(r));
        hand_out(w);
        continue;
      }
      // End of stream: the worker is gone (it only leaves on its own when
      // told there is no more work, which is never sent before the end).
      const int status = reap(w);
      if (w.job) {
        ++finished;
        done(*w.job, worker_died(jobs[*w.job], status, program));
        w.job.reset();
      }
    }
    // Replace the workers that died while runs remain.
    pool.erase(std::remove_if(pool.begin(), pool.end(), [](const Worker& w) { return w.fd < 0; }), pool.end());
    while (next < jobs.size() && pool.size() < workers) {
      if (!spawn()) break;
      hand_out(pool.back());
    }
    if (pool.empty() && next < jobs.size()) {
      // Could not make a worker at all: run the rest here.
      for (; next < jobs.size(); ++next, ++finished) done(next, scenarios::run_scenario(*jobs[next].scenario, jobs[next].options));
    }
  }
  for (auto& w : pool) {
    const std::uint32_t stop = kNoMoreJobs;
    send_all(w.fd, &stop, sizeof stop);
    reap(w);
  }
}

}  // namespace connfail::cli
