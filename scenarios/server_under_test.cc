#include "connfail/scenarios/server_under_test.h"

namespace connfail::scenarios {

using namespace netcore;

ServerUnderTest::~ServerUnderTest() { release(); }

void ServerUnderTest::start() {
  plan_ = make_server_plan(rc_.s.server, rc_.opts.variant);
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
  const AcceptLoopFactory make = plan_.accept_loop ? plan_.accept_loop : default_accept_loop;
  accept_ = make(rc_.env->server_transport(), rc_.server_ledger, instance_.child, o);
  address_ = accept_->local_address();
  if (paused_) accept_->pause();
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
  for (auto& ch : rc_.server_ledger.open_channels()) {
    ch->pipeline().remove_all();
    ch->close();
  }
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
  instance_.stop = nullptr;
  backend_instance_.stop = nullptr;
}

void ServerUnderTest::release() {
  accept_.reset();
  backend_accept_.reset();
}

}  // namespace connfail::scenarios
