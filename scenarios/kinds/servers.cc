// The built-in server kinds: echo, heartbeat and proxy, each assembled from
// netcore's handlers with the idle check first in the pipeline (the correct
// place: it must see every read before a decoder or a responder consumes it).
#include <memory>

#include "connfail/netcore/frame_codec.h"
#include "connfail/netcore/heartbeat.h"
#include "connfail/netcore/idle_state_handler.h"
#include "connfail/netcore/proxy.h"
#include "connfail/netcore/reference_servers.h"
#include "connfail/scenarios/bugs/buggy_servers.h"
#include "connfail/scenarios/kinds/builtins.h"

namespace connfail::scenarios::kinds {

using namespace std::chrono_literals;
using netcore::Channel;
using netcore::PipelineInit;

namespace {

constexpr const char* kFile = "scenarios/kinds/servers.cc";

OptionSpec idle_options() {
  return opt::group("idle",
                    {opt::duration("reader", 0s, "close a connection nothing was read from for this long (0: off)"),
                     opt::duration("writer", 0s, "writer idle time (0: off); the closer closes on it too"),
                     opt::duration("all", 0s, "read-or-write idle time (0: off)")},
                    "the server's IdleStateHandler and IdleCloser (reason idle)");
}

OptionSpec pipeline_option() {
  return opt::choice("pipeline", "idle-first", {"idle-first", "idle-last"},
                     "where the idle check sits: first sees every read; last (the known bug) sees none of the "
                     "reads a decoder or responder consumed");
}

/// The idle times, scenario time.
netcore::IdleConfig idle_of(const Options& o) {
  const Options& g = o.group("idle");
  netcore::IdleConfig c;
  c.reader = g.duration("reader");
  c.writer = g.duration("writer");
  c.all = g.duration("all");
  return c;
}

bool has_idle(const netcore::IdleConfig& c) {
  return c.reader > netcore::Duration::zero() || c.writer > netcore::Duration::zero() ||
         c.all > netcore::Duration::zero();
}

std::optional<Duration> reader_idle_of(const Options& o) {
  const Duration r = o.group("idle").duration("reader");
  if (r > Duration::zero()) return r;
  return std::nullopt;
}

/// `body` with the idle check (and its closer) first or last around it.
PipelineInit with_idle(netcore::IdleConfig scaled, bool idle_last, PipelineInit body) {
  return [scaled, idle_last, body](Channel& ch) {
    auto add_idle = [&] {
      if (!has_idle(scaled)) return;
      ch.pipeline().add_last("idle", std::make_shared<netcore::IdleStateHandler>(scaled));
      ch.pipeline().add_last("idle-closer", std::make_shared<netcore::IdleCloser>());
    };
    if (!idle_last) add_idle();
    body(ch);
    if (idle_last) add_idle();
  };
}

netcore::IdleConfig scaled_idle(const Options& o, const ServerContext& ctx) {
  netcore::IdleConfig c = idle_of(o);
  c.reader = ctx.scaled(c.reader);
  c.writer = ctx.scaled(c.writer);
  c.all = ctx.scaled(c.all);
  return c;
}

PipelineInit echo_body() {
  return [](Channel& ch) { ch.pipeline().add_last("echo", std::make_shared<netcore::EchoHandler>()); };
}

/// Frame codec, PING answered with PONG, DATA frames echoed.
PipelineInit heartbeat_body() {
  return [](Channel& ch) {
    ch.pipeline()
        .add_last("frame-decoder", std::make_shared<netcore::FrameDecoder>())
        .add_last("frame-encoder", std::make_shared<netcore::FrameEncoder>())
        .add_last("heartbeat", std::make_shared<netcore::HeartbeatResponder>())
        .add_last("echo", std::make_shared<netcore::FrameEcho>());
  };
}

ServerPlan pipeline_plan(const Options& o, PipelineInit body) {
  ServerPlan plan;
  plan.reader_idle = reader_idle_of(o);
  const bool idle_last = o.text("pipeline") == "idle-last";
  plan.start = [o, idle_last, body](ServerContext& ctx) {
    ServerInstance s;
    s.child = with_idle(scaled_idle(o, ctx), idle_last, body);
    return s;
  };
  return plan;
}

/// A backend with no idle check: the proxy's upstream.
std::shared_ptr<const ServerPlan> backend_plan(const std::string& kind) {
  auto plan = std::make_shared<ServerPlan>();
  const PipelineInit body = kind == "heartbeat" ? heartbeat_body() : echo_body();
  plan->start = [body](ServerContext&) {
    ServerInstance s;
    s.child = body;
    return s;
  };
  return plan;
}

}  // namespace

ServerPlan proxy_plan(const Options& o, bool leaky) {
  ServerPlan plan;
  plan.reader_idle = reader_idle_of(o);
  plan.backend = backend_plan(o.text("backend"));
  const bool idle_last = o.text("pipeline") == "idle-last";
  const Duration timeout = o.duration("backend_connect_timeout");
  plan.start = [o, idle_last, timeout, leaky](ServerContext& ctx) {
    PipelineInit proxy;
    if (leaky) {
      proxy = bugs::leaky_proxy_initializer(ctx.transport, ctx.ledger, ctx.backend, ctx.scaled(timeout));
    } else {
      netcore::ProxyOptions po;
      po.backend = ctx.backend;
      po.connect_timeout = ctx.scaled(timeout);
      proxy = netcore::proxy_server(ctx.transport, ctx.ledger, po, std::make_shared<netcore::ProxyStats>());
    }
    ServerInstance s;
    s.child = with_idle(scaled_idle(o, ctx), idle_last, proxy);
    return s;
  };
  return plan;
}

void register_builtin_servers(Registry& r) {
  {
    ServerKindEntry e;
    e.name = "echo";
    e.description = "writes back every byte it reads; an optional idle check first";
    e.options = {idle_options(), pipeline_option()};
    e.factory = [](const Options& o) { return pipeline_plan(o, echo_body()); };
    r.add(std::move(e), kFile, __LINE__);
  }
  {
    ServerKindEntry e;
    e.name = "heartbeat";
    e.description = "idle check, frame codec, PING answered with PONG, DATA frames echoed";
    e.options = {idle_options(), pipeline_option()};
    e.factory = [](const Options& o) { return pipeline_plan(o, heartbeat_body()); };
    r.add(std::move(e), kFile, __LINE__);
  }
  {
    ServerKindEntry e;
    e.name = "proxy";
    e.description = "a TCP proxy (Netty's HexDumpProxy, races fixed) in front of an echo or heartbeat backend";
    e.options = {idle_options(), pipeline_option(),
                 opt::choice("backend", "echo", {"echo", "heartbeat"},
                             "the backend behind the proxy: raw echo, or frame codec + PONG + DATA echo"),
                 opt::duration("backend_connect_timeout", 5s, "give up connecting to the backend after this")
                     .positive()};
    e.factory = [](const Options& o) { return proxy_plan(o, false); };
    r.add(std::move(e), kFile, __LINE__);
  }
}

}  // namespace connfail::scenarios::kinds
