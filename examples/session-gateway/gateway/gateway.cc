#include "gateway/gateway.h"

#include <chrono>
#include <stdexcept>

#include "connfail/netcore/frame_codec.h"
#include "connfail/netcore/heartbeat.h"
#include "connfail/netcore/idle_state_handler.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/scenarios/registry.h"

namespace gateway {

using namespace std::chrono_literals;
using netcore::Bytes;
using netcore::Channel;
using netcore::Frame;
using netcore::FrameKind;

// [snippet:session-handler-read]
void SessionHandler::channel_read(netcore::Context& ctx, std::any msg) {
  const Frame* f = std::any_cast<Frame>(&msg);
  if (f == nullptr) {
    ctx.fire_channel_read(std::move(msg));
    return;
  }
  if (f->kind == FrameKind::Data) {
    const std::string text(f->payload.begin(), f->payload.end());
    if (text.rfind(kLogin, 0) == 0) {
      id_ = text.substr(kLogin.size());
      if (id_.empty()) throw std::invalid_argument("login without a session id");
      sessions_->login(id_, ctx.channel().shared_from_this());
      return;  // the login frame goes no further
    }
    if (id_.empty()) throw std::invalid_argument("data before login");
  }
  if (!id_.empty()) sessions_->touch(id_);
  ctx.fire_channel_read(std::move(msg));
}
// [end-snippet]

void LoginSender::channel_active(netcore::Context& ctx) {
  const std::string text = kLogin + id_;
  ctx.write_and_flush(Frame{FrameKind::Data, Bytes(text.begin(), text.end())});
  ctx.fire_channel_active();
}

namespace {

// [snippet:server-plan]
connfail::ServerPlan gateway_plan(const connfail::Options& o, bool relogin_bug) {
  const netcore::Duration timeout = o.duration("session_timeout");
  const netcore::Duration reap_every = o.duration("reap_every");
  if (reap_every > timeout) throw connfail::OptionError("reap_every", "must not be longer than session_timeout");
  connfail::ServerPlan plan;
  // A silent client's session is reaped at most one reaper round after it
  // timed out: that is the deadline connfail holds half-open peers to.
  plan.reader_idle = timeout + reap_every;
  plan.start = [timeout, reap_every, relogin_bug](connfail::ServerContext& ctx) {
    // One SessionManager per server process: a restart starts empty.
    auto sessions =
        std::make_shared<SessionManager>(ctx.loop, ctx.scaled(timeout), ctx.scaled(reap_every), relogin_bug);
    connfail::ServerInstance server;
    // [snippet:pipeline]
    server.child = [sessions](Channel& ch) {
      ch.pipeline()
          .add_last("frame-decoder", std::make_shared<netcore::FrameDecoder>())
          .add_last("frame-encoder", std::make_shared<netcore::FrameEncoder>())
          .add_last("sessions", std::make_shared<SessionHandler>(sessions))
          .add_last("heartbeat", std::make_shared<netcore::HeartbeatResponder>())
          .add_last("echo", std::make_shared<netcore::FrameEcho>());
    };
    // [end-snippet]
    server.stop = [sessions] { sessions->stop(); };
    return server;
  };
  return plan;
}
// [end-snippet]

}  // namespace

bool register_gateway() {
  bool ok = true;
  // [snippet:register-server]
  {
    connfail::ServerKindEntry e;
    e.name = "gateway";
    e.description = "session gateway: login frames, sessions keyed by id, heartbeats, an idle-session reaper";
    e.options = {connfail::opt::duration("session_timeout", 30s, "reap a session that sent no frame for this long")
                     .positive(),
                 connfail::opt::duration("reap_every", 1s, "how often the reaper looks for idle sessions").positive()};
    e.factory = [](const connfail::Options& o) { return gateway_plan(o, false); };
    ok = connfail::register_server(std::move(e)) && ok;
  }
  // [end-snippet]
  // [snippet:register-client]
  {
    connfail::ClientBehaviourEntry e;
    e.name = "gateway-client";
    e.description = "logs in with its own session id (the same on every reconnect), heartbeats, reconnects";
    e.options = {connfail::opt::duration("heartbeat_interval", 5s, "send a PING frame this often").positive(),
                 connfail::opt::duration("client_idle", 15s,
                                         "close the connection when the gateway sent nothing for this long (0: off)"),
                 connfail::opt::duration("request_every", 0s, "send a DATA frame this often, checking its echo (0: never)"),
                 connfail::opt::integer("request_size", 64, 1, 65536, "bytes per DATA frame"),
                 connfail::reconnect_options()};
    e.factory = [](const connfail::Options& o) {
      connfail::ClientPlan plan;
      plan.reconnect = connfail::reconnect_policy(o.group("reconnect"));
      const netcore::Duration hb = o.duration("heartbeat_interval");
      const netcore::Duration idle = o.duration("client_idle");
      connfail::RequestSpec req;
      req.every = o.duration("request_every");
      req.size = static_cast<std::uint32_t>(o.integer("request_size"));
      req.framed = true;
      plan.connect = [hb, idle, req](connfail::ClientContext& ctx) -> netcore::PipelineInit {
        // The session id stays the same across reconnects: the gateway
        // must hand the session over to the new connection.
        const std::string id = ctx.group + "-" + std::to_string(ctx.index);
        const netcore::PipelineInit base = netcore::heartbeat_client(ctx.scaled(hb), ctx.scaled(idle));
        auto requests = ctx.requests(req);
        return [base, id, requests](Channel& ch) {
          base(ch);  // idle check, frame codec, heartbeat sender
          ch.pipeline().add_last("login", std::make_shared<LoginSender>(id));
          ch.pipeline().add_last("requests", requests);
        };
      };
      return plan;
    };
    ok = connfail::register_client(std::move(e)) && ok;
  }
  // [end-snippet]
  // [snippet:register-variant]
  {
    connfail::VariantEntry v;
    v.name = "gateway-relogin-kills-new";
    v.description =
        "on re-login the gateway destroys the old session by closing the channel it holds, which is the client's "
        "new connection when the old one already went away";
    v.server_kinds = {"gateway"};
    v.server_plan = [](const connfail::Options& o, connfail::ServerPlan) { return gateway_plan(o, true); };
    ok = connfail::register_variant(std::move(v)) && ok;
  }
  // [end-snippet]
  {
    connfail::VariantEntry v;
    v.name = "gateway-sessions-after-ping";
    v.description =
        "the session handler placed after the PING responder, which consumes every PING: a client that only "
        "heartbeats never refreshes its session and is reaped while healthy";
    v.server_kinds = {"gateway"};
    v.server_plan = [](const connfail::Options&, connfail::ServerPlan plan) {
      auto start = plan.start;
      plan.start = [start](connfail::ServerContext& ctx) {
        connfail::ServerInstance server = start(ctx);
        auto child = server.child;
        server.child = [child](Channel& ch) {
          child(ch);
          // BUG: after the responder, the session handler never sees a PING.
          auto sessions = ch.pipeline().take("sessions");
          ch.pipeline().add_after("heartbeat", "sessions", sessions);
        };
        return server;
      };
      return plan;
    };
    ok = connfail::register_variant(std::move(v)) && ok;
  }
  return ok;
}

}  // namespace gateway
