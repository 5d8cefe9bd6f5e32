#include "connfail/scenarios/yaml_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace connfail::scenarios {

namespace {

// ------------------------------------------------------------ from yaml-cpp

struct TooDeep {
  int line, column;
};
struct TooMany {};

int pos(int v) { return v < 0 ? 0 : v + 1; }

YamlNode convert(const YAML::Node& n, int depth, const YamlLimits& lim, std::size_t& count) {
  if (++count > lim.max_nodes) throw TooMany{};
  YamlNode out;
  const YAML::Mark m = n.Mark();
  out.line = m.is_null() ? 0 : pos(m.line);
  out.column = m.is_null() ? 0 : pos(m.column);
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      out.kind = YamlNode::Kind::Scalar;
      out.scalar = n.Scalar();
      break;
    case YAML::NodeType::Sequence:
      if (depth >= lim.max_depth) throw TooDeep{out.line, out.column};
      out.kind = YamlNode::Kind::Sequence;
      for (const auto& el : n) out.items.push_back(convert(el, depth + 1, lim, count));
      break;
    case YAML::NodeType::Map:
      if (depth >= lim.max_depth) throw TooDeep{out.line, out.column};
      out.kind = YamlNode::Kind::Map;
      for (const auto& kv : n)
        out.entries.emplace_back(convert(kv.first, depth + 1, lim, count), convert(kv.second, depth + 1, lim, count));
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out.kind = YamlNode::Kind::Null;
      break;
  }
  return out;
}

// -------------------------------------------------------------- the wire form

void put_u32(std::string& o, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) o.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& o, const std::string& s) {
  put_u32(o, static_cast<std::uint32_t>(s.size()));
  o += s;
}
void put_node(std::string& o, const YamlNode& n) {
  o.push_back(static_cast<char>(n.kind));
  put_u32(o, static_cast<std::uint32_t>(n.line));
  put_u32(o, static_cast<std::uint32_t>(n.column));
  switch (n.kind) {
    case YamlNode::Kind::Scalar: put_str(o, n.scalar); break;
    case YamlNode::Kind::Sequence:
      put_u32(o, static_cast<std::uint32_t>(n.items.size()));
      for (const auto& i : n.items) put_node(o, i);
      break;
    case YamlNode::Kind::Map:
      put_u32(o, static_cast<std::uint32_t>(n.entries.size()));
      for (const auto& [k, v] : n.entries) {
        put_node(o, k);
        put_node(o, v);
      }
      break;
    case YamlNode::Kind::Null: break;
  }
}

std::string serialize(const YamlLoad& r) {
  std::string o;
  if (r.error) {
    o.push_back(r.error->syntax ? 1 : 2);
    put_u32(o, static_cast<std::uint32_t>(r.error->line));
    put_u32(o, static_cast<std::uint32_t>(r.error->column));
    put_str(o, r.error->message);
    return o;
  }
  o.push_back(0);
  put_u32(o, static_cast<std::uint32_t>(r.documents.size()));
  for (const auto& d : r.documents) put_node(o, d);
  return o;
}

struct Reader {
  const std::string& s;
  std::size_t at = 0;
  std::uint32_t u32() {
    if (s.size() - at < 4) throw std::runtime_error("truncated");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    at += 4;
    return v;
  }
  std::string str() {
    const std::uint32_t n = u32();
    if (s.size() - at < n) throw std::runtime_error("truncated");
    std::string v = s.substr(at, n);
    at += n;
    return v;
  }
  std::uint8_t byte() {
    if (at >= s.size()) throw std::runtime_error("truncated");
    return static_cast<std::uint8_t>(s[at++]);
  }
  YamlNode node(int depth) {
    if (depth > 10000) throw std::runtime_error("too deep");
    YamlNode n;
    const std::uint8_t k = byte();
    if (k > 3) throw std::runtime_error("bad kind");
    n.kind = static_cast<YamlNode::Kind>(k);
    n.line = static_cast<int>(u32());
    n.column = static_cast<int>(u32());
    switch (n.kind) {
      case YamlNode::Kind::Scalar: n.scalar = str(); break;
      case YamlNode::Kind::Sequence: {
        const std::uint32_t c = u32();
        if (c > s.size() - at) throw std::runtime_error("bad count");  // every node takes at least a byte
        for (std::uint32_t i = 0; i < c; ++i) n.items.push_back(node(depth + 1));
        break;
      }
      case YamlNode::Kind::Map: {
        const std::uint32_t c = u32();
        if (c > s.size() - at) throw std::runtime_error("bad count");
        for (std::uint32_t i = 0; i < c; ++i) {
          YamlNode key = node(depth + 1);
          n.entries.emplace_back(std::move(key), node(depth + 1));
        }
        break;
      }
      case YamlNode::Kind::Null: break;
    }
    return n;
  }
};

YamlLoad deserialize(const std::string& data) {
  Reader r{data};
  YamlLoad out;
  const std::uint8_t status = r.byte();
  if (status != 0) {
    YamlLoad::Error e;
    e.syntax = status == 1;
    e.line = static_cast<int>(r.u32());
    e.column = static_cast<int>(r.u32());
    e.message = r.str();
    out.error = e;
    return out;
  }
  const std::uint32_t docs = r.u32();
  if (docs > data.size()) throw std::runtime_error("bad count");
  for (std::uint32_t i = 0; i < docs; ++i) out.documents.push_back(r.node(0));
  if (r.at != data.size()) throw std::runtime_error("trailing bytes");
  return out;
}

// ------------------------------------------------------------ the child

long resident_bytes(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(pid));
  std::ifstream in(path);
  long size = 0, resident = 0;
  if (!(in >> size >> resident)) return -1;
  return resident * sysconf(_SC_PAGESIZE);
}

// CPU time (user + system) the process has used, in milliseconds; -1 when
// it cannot be read (the process is gone).
long long cpu_milliseconds(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return -1;
  const auto paren = line.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return -1;
  std::istringstream fields(line.substr(paren + 1));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt
  long long utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) return -1;
  return (utime + stime) * 1000 / sysconf(_SC_CLK_TCK);
}

bool write_all(int fd, const std::string& data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

YamlLoad stopped(const std::string& why) {
  YamlLoad r;
  r.error = YamlLoad::Error{1, 1, why, false};
  return r;
}

}  // namespace

YamlLoad load_yaml_unguarded(const std::string& text, const YamlLimits& limits) {
  YamlLoad r;
  try {
    std::size_t count = 0;
    for (const auto& doc : YAML::LoadAll(text)) r.documents.push_back(convert(doc, 0, limits, count));
  } catch (const YAML::Exception& e) {
    r.documents.clear();
    r.error = YamlLoad::Error{e.mark.is_null() ? 0 : pos(e.mark.line), e.mark.is_null() ? 0 : pos(e.mark.column),
                              e.msg, true};
  } catch (const TooDeep& d) {
    r.documents.clear();
    r.error = YamlLoad::Error{d.line, d.column,
                              "nested deeper than " + std::to_string(limits.max_depth) +
                                  " levels of maps and lists (the limit for a scenario file)",
                              false};
  } catch (const TooMany&) {
    r.documents.clear();
    r.error = YamlLoad::Error{1, 1,
                              "more than " + std::to_string(limits.max_nodes) +
                                  " YAML nodes (the limit for a scenario file)",
                              false};
  }
  return r;
}

YamlLoad load_yaml(const std::string& text, const YamlLimits& limits) {
  int fds[2];
  // Close-on-exec: a program that forks and execs on another thread must
  // not keep the write end open (the reader waits for its end of file).
  if (::pipe2(fds, O_CLOEXEC) != 0) return stopped(std::string("cannot read the YAML: pipe failed: ") + std::strerror(errno));
  const pid_t baseline_pid = ::getpid();
  const long baseline = resident_bytes(baseline_pid);
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return stopped(std::string("cannot read the YAML: fork failed: ") + std::strerror(errno));
  }
  if (child == 0) {
    // The child: parse, send the tree, leave at once (no destructors, no
    // atexit handlers of the parent's program).
    ::close(fds[0]);
    std::string out;
    try {
      out = serialize(load_yaml_unguarded(text, limits));
    } catch (...) {
      ::_exit(3);
    }
    const bool sent = write_all(fds[1], out);
    // Close before exiting: the parent stops counting this process's CPU
    // time at end of file, and leaving it (tearing down an address space
    // forked from a large parent) costs CPU time that grows with the
    // parent's memory, not with the document.
    ::close(fds[1]);
    if (limits.child_before_exit != nullptr) limits.child_before_exit();
    ::_exit(sent ? 0 : 4);
  }
  ::close(fds[1]);
  std::string data;
  std::string why;
  // Time is bounded by the child's CPU time, which the machine's load does
  // not inflate (a busy CI runner must not turn a valid file into an
  // error), with a wall-clock backstop for a child that sleeps or is stopped.
  const auto wall_limit = limits.max_wall;
  const auto deadline = std::chrono::steady_clock::now() + wall_limit;
  char buf[65536];
  bool eof = false;
  while (!eof) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      why = "it did not finish within " + std::to_string(wall_limit.count()) + " ms of wall time";
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 5)));
    if (ready < 0 && errno != EINTR) {
      why = std::string("poll failed: ") + std::strerror(errno);
      break;
    }
    if (ready > 0) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n < 0 && errno != EINTR) {
        why = std::string("read failed: ") + std::strerror(errno);
        break;
      }
      if (n == 0) {
        eof = true;
        break;
      }
      if (n > 0) data.append(buf, static_cast<std::size_t>(n));
      if (data.size() > limits.max_output) {
        why = "its result was larger than " + std::to_string(limits.max_output >> 20) + " MiB";
        break;
      }
      // Read on until the pipe is empty or closed before looking at the
      // child's CPU time: once its answer is complete, what it does on its
      // way out is not the document's cost.
      continue;
    }
    const long long cpu = cpu_milliseconds(child);
    if (cpu > limits.max_time.count()) {
      why = "it used more than " + std::to_string(limits.max_time.count()) + " ms of CPU time";
      break;
    }
    const long rss = resident_bytes(child);
    if (rss > 0 && baseline > 0 && rss - baseline > static_cast<long>(limits.max_memory)) {
      why = "it used more than " + std::to_string(limits.max_memory >> 20) + " MiB of memory";
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  bool reaped = false;
  // The answer is complete and the child is on its way out: wait for it
  // within the same deadline. One that does not leave (stopped, or
  // blocked) is killed below, and its answer still stands.
  while (why.empty() && !reaped && std::chrono::steady_clock::now() < deadline) {
    const pid_t w = ::waitpid(child, &status, WNOHANG);
    if (w == child) reaped = true;
    if (w < 0 && errno != EINTR) {  // ECHILD: reaped by someone else (SIGCHLD ignored)
      status = 0;
      reaped = true;
    }
    if (!reaped) ::poll(nullptr, 0, 2);
  }
  if (!reaped) {
    ::kill(child, SIGKILL);
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (!why.empty()) return stopped("the YAML reader was stopped: " + why + " on this file (a malformed or too large document)");
  if (!reaped) status = 0;  // killed after a complete answer; deserialize() checks it whole
  if (WIFSIGNALED(status))
    return stopped("the YAML reader crashed on this file (signal " + std::to_string(WTERMSIG(status)) +
                   ": a malformed document, e.g. nested too deeply)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return stopped("the YAML reader failed on this file (exit " + std::to_string(WEXITSTATUS(status)) + ")");
  try {
    return deserialize(data);
  } catch (const std::exception& e) {
    return stopped(std::string("the YAML reader's answer was unreadable: ") + e.what());
  }
}

}  // namespace connfail::scenarios
