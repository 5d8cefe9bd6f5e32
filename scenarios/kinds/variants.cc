// The known-bug variants: each reproduces a leak seen in real Netty-style
// servers (the broken code is in scenarios/bugs/), so that a scenario can
// prove its check FAILS on it and passes on the correct code.
#include <functional>
#include <memory>

#include "connfail/scenarios/bugs/buggy_servers.h"
#include "connfail/scenarios/kinds/builtins.h"

namespace connfail::scenarios::kinds {

namespace {

constexpr const char* kFile = "scenarios/kinds/variants.cc";

class SwallowingLoop final : public AcceptLoop {
 public:
  explicit SwallowingLoop(std::shared_ptr<bugs::SwallowingAcceptor> a) : a_(std::move(a)) {}
  ~SwallowingLoop() override { a_->close(); }
  netcore::Address local_address() const override { return a_->local_address(); }
  void pause() override { a_->listener().pause(); }
  void resume() override { a_->listener().resume(); }
  void close() override { a_->close(); }

 private:
  std::shared_ptr<bugs::SwallowingAcceptor> a_;
};

// The plan with `before` run on each server child ahead of its own set-up.
ServerPlan before_each_child(ServerPlan plan, std::function<void(netcore::Channel&)> before) {
  auto start = plan.start;
  plan.start = [start, before](ServerContext& ctx) {
    ServerInstance s = start(ctx);
    auto child = s.child;
    s.child = [child, before](netcore::Channel& ch) {
      before(ch);
      child(ch);
    };
    return s;
  };
  return plan;
}

}  // namespace

void register_builtin_variants(Registry& r) {
  {
    VariantEntry v;
    v.name = "accept-swallows-oom";
    v.description =
        "the Netty 3 accept loop: an allocation failure between accept() and registration is logged and "
        "swallowed; the socket is neither registered nor closed";
    v.server_kinds = {"*"};
    v.server_plan = [](const Options&, ServerPlan plan) {
      plan.accept_loop = [](netcore::Transport& t, netcore::ConnectionLedger& ledger, netcore::PipelineInit init,
                            const netcore::AcceptorOptions& o) -> std::unique_ptr<AcceptLoop> {
        return std::make_unique<SwallowingLoop>(
            bugs::SwallowingAcceptor::start(t, ledger, std::move(init), o.listen, o.faults));
      };
      return plan;
    };
    r.add(std::move(v), kFile, __LINE__);
  }
  {
    VariantEntry v;
    v.name = "proxy-no-close";
    v.description = "a proxy that, when one side ends, does not close the other side";
    v.server_kinds = {"proxy"};
    v.server_plan = [](const Options& o, ServerPlan) { return proxy_plan(o, true); };
    r.add(std::move(v), kFile, __LINE__);
  }
  {
    VariantEntry v;
    v.name = "idle-last";
    v.description =
        "the idle handler placed at the end of the server pipeline, after the decoder and the responder that "
        "consume every read";
    v.server_kinds = {"echo", "heartbeat", "proxy"};
    v.server_options = [](Options& o) { o.set_text("pipeline", "idle-last"); };
    v.inapplicable = [](const Scenario& s) -> std::string {
      const Options& idle = s.server.options.group("idle");
      if (idle.duration("reader") > Duration::zero() || idle.duration("writer") > Duration::zero() ||
          idle.duration("all") > Duration::zero())
        return "";
      return "the server has no idle check (options.idle) to misplace";
    };
    r.add(std::move(v), kFile, __LINE__);
  }
  {
    VariantEntry v;
    v.name = "slow-heartbeat";
    v.description = "clients heartbeat at the server's reader idle time instead of a third of it: late under jitter";
    v.client_behaviours = {"heartbeat", "reconnecting"};
    v.client_options = [](Options& o, const VariantContext& ctx) {
      if (ctx.server_reader_idle) o.set_duration("heartbeat_interval", *ctx.server_reader_idle);
    };
    v.inapplicable = [](const Scenario& s) -> std::string {
      if (!server_reader_idle(s.server)) return "the server states no reader idle time to heartbeat at";
      return "";
    };
    r.add(std::move(v), kFile, __LINE__);
  }
  {
    VariantEntry v;
    v.name = "reconnect-gives-up";
    v.description =
        "a reconnecting client that gives up after one failed attempt: a server restart leaves it disconnected";
    v.client_behaviours = {"reconnecting"};
    v.client_options = [](Options& o, const VariantContext&) { o.set_integer("reconnect.max_attempts", 1); };
    r.add(std::move(v), kFile, __LINE__);
  }
  {
    VariantEntry v;
    v.name = "keepalive-default-idle";
    v.description =
        "SO_KEEPALIVE set on the server's children without TCP_KEEPIDLE (Netty's childOption(SO_KEEPALIVE, "
        "true) alone): the first probe comes after Linux's default tcp_keepalive_time, 2 hours, so a vanished "
        "peer is never noticed";
    v.server_kinds = {"*"};
    v.server_plan = [](const Options&, ServerPlan plan) {
      return before_each_child(std::move(plan), [](netcore::Channel& ch) {
        netcore::TcpOptions o = ch.options().tcp;
        o.keep_idle.reset();
        o.keep_interval.reset();
        o.keep_count.reset();
        ch.set_tcp_options(o);
      });
    };
    v.inapplicable = [](const Scenario& s) -> std::string {
      if (!s.server.tcp.keepalive) return "the server sets no keepalive (server.keepalive)";
      if (s.tcp.sysctl.count("net.ipv4.tcp_keepalive_time"))
        return "the scenario sets net.ipv4.tcp_keepalive_time, so the default is not Linux's";
      return "";
    };
    r.add(std::move(v), kFile, __LINE__);
  }
  {
    VariantEntry v;
    v.name = "timer-leak";
    v.description = "a server handler schedules a timer on active and never cancels it";
    v.server_kinds = {"*"};
    v.server_plan = [](const Options&, ServerPlan plan) {
      return before_each_child(std::move(plan), [](netcore::Channel& ch) {
        ch.pipeline().add_last("timer-leak", std::make_shared<bugs::TimerLeakHandler>());
      });
    };
    r.add(std::move(v), kFile, __LINE__);
  }
}

}  // namespace connfail::scenarios::kinds
