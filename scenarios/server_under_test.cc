#include "connfail/scenarios/server_under_test.h"

// g++ 12 with -fsanitize and -O1 warns falsely inside <regex>
// (-Wmaybe-uninitialized in std::function's move constructor).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

namespace connfail::scenarios {

using namespace netcore;
namespace fs = std::filesystem;

namespace {

std::string with_port(std::string s, int port) {
  const std::string p = std::to_string(port);
  for (std::size_t at = s.find("{port}"); at != std::string::npos; at = s.find("{port}", at + p.size()))
    s.replace(at, 6, p);
  return s;
}

std::string text_of(Duration d) { return format_duration(d); }

}  // namespace

ServerUnderTest::~ServerUnderTest() { release(); }

void ServerUnderTest::start() {
  plan_ = make_server_plan(rc_.s.server, rc_.opts.variant);
  if (plan_.external) {
    start_process();
    rc_.env->server_started(address_);
    return;
  }
  auto scaled = [&rc = rc_](Duration d) { return rc.T(d); };
  if (plan_.backend) {
    ServerContext ctx{rc_.loop, rc_.env->backend_transport(), rc_.backend_ledger, scaled, {}, rc_.opts.seed, 0};
    backend_instance_ = plan_.backend->start(ctx);
    AcceptorOptions o;
    o.listen.address = rc_.env->backend_listen_address();
    const AcceptLoopFactory make = plan_.backend->accept_loop ? plan_.backend->accept_loop : default_accept_loop;
    backend_accept_ = make(rc_.env->backend_transport(), rc_.backend_ledger, backend_instance_.child, o);
    backend_address_ = rc_.env->backend_connect_address(backend_accept_->local_address());
  }
  listen_at_ = rc_.env->server_listen_address();
  start_instance();
  // A restart listens on the port the first start got.
  listen_at_.port = address_.port;
  rc_.env->server_started(address_);
}

void ServerUnderTest::start_instance() {
  auto scaled = [&rc = rc_](Duration d) { return rc.T(d); };
  ServerContext ctx{rc_.loop,      rc_.env->server_transport(), rc_.server_ledger, scaled, backend_address_,
                    rc_.opts.seed, generation_};
  instance_ = plan_.start(ctx);
  if (!instance_.child) throw std::logic_error("server kind '" + rc_.s.server.kind + "': the instance has no child pipeline");
  AcceptorOptions o;
  o.listen.address = listen_at_;
  o.listen.backlog = rc_.s.server.backlog;
  o.error_backoff = rc_.T(rc_.s.server.accept_error_backoff);
  o.faults = &rc_.injector;
  o.child.tcp = rc_.s.server.tcp;  // keepalive, user_timeout (Netty's childOption)
  const AcceptLoopFactory make = plan_.accept_loop ? plan_.accept_loop : default_accept_loop;
  accept_ = make(rc_.env->server_transport(), rc_.server_ledger, instance_.child, o);
  address_ = accept_->local_address();
  if (paused_) accept_->pause();
}

void ServerUnderTest::start_process() {
  const ExternalServer& x = *plan_.external;
  int port = x.port;
  if (port == 0 && x.port_pattern.empty()) {
    port = asio::free_tcp_port(x.host);
    if (port == 0) throw std::runtime_error("no free port on " + x.host + " for the server process");
  }
  // Its output: in the run's directory, or a temporary one removed after
  // the run (the findings quote its last lines).
  if (!rc_.opts.artifacts_dir.empty()) {
    process_dir_ = rc_.opts.artifacts_dir;
    std::error_code ec;
    fs::create_directories(process_dir_, ec);
    if (ec) throw std::runtime_error("cannot create " + process_dir_ + ": " + ec.message());
  } else {
    std::string tmpl = (fs::temp_directory_path() / "connfail-server-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("cannot create a temporary directory");
    process_dir_ = tmpl;
    process_dir_is_temp_ = true;
  }
  const std::string out = (fs::path(process_dir_) / "server.stdout").string();
  const std::string err = (fs::path(process_dir_) / "server.stderr").string();
  if (x.port != 0 && asio::port_accepts(x.host, x.port, std::chrono::milliseconds(200)))
    throw std::runtime_error("port " + std::to_string(x.port) + " on " + x.host +
                             " already accepts connections before the server started: something else listens there");
  asio::ProcessSpec spec;
  for (const auto& a : x.argv) spec.argv.push_back(port != 0 ? with_port(a, port) : a);
  for (const auto& [k, v] : x.env) spec.env[k] = port != 0 ? with_port(v, port) : v;
  spec.cwd = x.cwd;
  spec.stdout_path = out;
  spec.stderr_path = err;
  try {
    process_ = asio::ChildProcess::start(spec);
  } catch (const asio::ProcessError& e) {
    throw std::runtime_error(std::string("cannot start the server process: ") + e.what());
  }
  auto last_words = [&err] {
    const std::string t = asio::tail_lines(err, 10);
    return t.empty() ? std::string("; it wrote nothing on stderr") : "; the last lines of its stderr (" + err + "):\n" + t;
  };
  // Ready: the port (known, or read from its stdout) accepts a connection.
  const auto deadline = std::chrono::steady_clock::now() + x.ready_timeout;
  std::optional<std::regex> pattern;
  if (port == 0) pattern.emplace(x.port_pattern, std::regex::ECMAScript);
  bool someone_else = false;  // the port accepted, but the listener was not the server's
  for (;;) {
    if (auto st = process_->poll()) {
      const std::string why = asio::describe_wait_status(*st);
      process_.reset();
      throw std::runtime_error("the server process " + why + " before it accepted connections" + last_words());
    }
    if (port == 0) {
      std::ifstream in(out);
      std::string line;
      std::smatch m;
      while (port == 0 && std::getline(in, line))
        if (std::regex_search(line, m, *pattern)) {
          const long p = std::strtol(m.str(1).c_str(), nullptr, 10);
          if (p < 1 || p > 65535) {
            process_->stop(x.stop_signal, std::chrono::duration_cast<std::chrono::milliseconds>(x.stop_grace));
            process_.reset();
            throw std::runtime_error("the server printed '" + line + "': '" + m.str(1) +
                                     "' (port_pattern's first group) is not a port");
          }
          port = static_cast<int>(p);
        }
    }
    // Ready: the port accepts, and the listener is the server's own (not
    // another program's on the same port).
    if (port != 0 && asio::port_accepts(x.host, port, std::chrono::milliseconds(200))) {
      if (process_->listens_on(static_cast<std::uint16_t>(port))) break;
      someone_else = true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      process_->stop(x.stop_signal, std::chrono::duration_cast<std::chrono::milliseconds>(x.stop_grace));
      process_.reset();
      throw std::runtime_error(
          port == 0 ? "the server process printed no line matching port_pattern '" + x.port_pattern + "' within " +
                          text_of(x.ready_timeout) + last_words()
          : someone_else
              ? "something accepts connections on " + x.host + ":" + std::to_string(port) +
                    ", but no process of the server's holds a listening socket there (within " +
                    text_of(x.ready_timeout) + ")" + last_words()
              : "the server process did not accept connections on " + x.host + ":" + std::to_string(port) +
                    " within " + text_of(x.ready_timeout) + " (ready_timeout)" + last_words());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  address_ = {x.host, static_cast<std::uint16_t>(port)};
  // Scenario time 0 is when the server is ready, however long it took.
  rc_.env->restart_clock();
  process_fds_at_ready_ = static_cast<long long>(process_->fd_count());
  asio::ChildProcess* p = process_.get();
  rc_.env->watch_server_process([p] { return p->socket_inodes(); }, static_cast<std::uint16_t>(port));
  watch_process();
}

void ServerUnderTest::watch_process() {
  // A server that ends during the run is a finding, with how it ended.
  rc_.schedule(std::chrono::milliseconds(100), [this] {
    if (!process_ || stopped_) return;
    if (auto st = process_->poll()) {
      if (process_exit_reported_) return;
      process_exit_reported_ = true;
      Finding f;
      f.kind = "server-exited";
      f.evidence = "process";
      const std::string err = (fs::path(process_dir_) / "server.stderr").string();
      const std::string tail = asio::tail_lines(err, 10);
      f.message = "the server process " + asio::describe_wait_status(*st) + " at " +
                  std::to_string(static_cast<long long>(rc_.now_s())) + " s, during the run" +
                  (tail.empty() ? std::string() : "; the last lines of its stderr:\n" + tail);
      rc_.result.findings.push_back(std::move(f));
      return;
    }
    watch_process();
  });
}

std::optional<long long> ServerUnderTest::process_fd_delta() const {
  if (!process_ || process_->group_pids().empty()) return std::nullopt;
  return static_cast<long long>(process_->fd_count()) - process_fds_at_ready_;
}

void ServerUnderTest::pause_accepting() {
  paused_ = true;
  if (accept_) accept_->pause();
}

void ServerUnderTest::resume_accepting() {
  paused_ = false;
  if (accept_) accept_->resume();
}

void ServerUnderTest::restart(Duration down) {
  if (down_ || stopped_) return;
  down_ = true;
  // The process is gone: none of its code runs any more (no handler sees
  // the closes), and the kernel closes every socket it held.
  if (instance_.stop) instance_.stop();
  instance_ = {};
  accept_.reset();  // closes the listener (and whatever a broken loop kept)
  rc_.env->server_down(true);
  for (auto& ch : rc_.server_ledger.open_channels())
    // On the channel's own loop (a worker loop's, with `loops`).
    ch->loop().execute([ch] {
      ch->pipeline().remove_all();
      ch->close();
    });
  restart_timer_ = rc_.schedule(rc_.T(down), [this] {
    restart_timer_ = 0;
    down_ = false;
    ++generation_;
    try {
      start_instance();
      rc_.env->server_down(false);
    } catch (const std::exception& e) {
      rc_.result.findings.push_back(
          run_error(std::string("the server could not start again after its restart: ") + e.what()));
    }
  });
}

void ServerUnderTest::stop() {
  stopped_ = true;
  if (restart_timer_ != 0) rc_.loop.cancel(restart_timer_);
  restart_timer_ = 0;
  if (accept_) accept_->close();
  if (backend_accept_) backend_accept_->close();
  if (instance_.stop) instance_.stop();
  if (backend_instance_.stop) backend_instance_.stop();
  if (process_)
    process_->stop(plan_.external->stop_signal,
                   std::chrono::duration_cast<std::chrono::milliseconds>(plan_.external->stop_grace));
  instance_.stop = nullptr;
  backend_instance_.stop = nullptr;
}

void ServerUnderTest::release() {
  accept_.reset();
  backend_accept_.reset();
  process_.reset();  // stops it (SIGKILL to its group) if still running
  if (process_dir_is_temp_) {
    std::error_code ec;
    fs::remove_all(process_dir_, ec);
    process_dir_is_temp_ = false;
  }
}

}  // namespace connfail::scenarios
