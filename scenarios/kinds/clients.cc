// The built-in client behaviours: echo, heartbeat, silent and reconnecting.
#include <cmath>
#include <memory>

#include "connfail/netcore/reference_servers.h"
#include "connfail/scenarios/kinds/builtins.h"

namespace connfail::scenarios::kinds {

using namespace std::chrono_literals;
using netcore::Channel;
using netcore::PipelineInit;

namespace {

constexpr const char* kFile = "scenarios/kinds/clients.cc";
constexpr long long kMaxRequestSize = 16LL * 1024 * 1024;

std::vector<OptionSpec> request_options() {
  return {opt::integer("request_size", 64, 1, kMaxRequestSize, "bytes per request"),
          opt::duration("request_every", 0s, "send a request this often, checking the echo (0: never)")};
}

std::vector<OptionSpec> heartbeat_options() {
  std::vector<OptionSpec> v = {
      opt::duration("heartbeat_interval", 10s, "send a PING frame this often").positive(),
      opt::duration("client_idle", 0s,
                    "close the connection when nothing was read from the server for this long (0: off)")};
  for (auto& r : request_options()) v.push_back(r);
  return v;
}

RequestSpec requests_of(const Options& o, bool framed) {
  RequestSpec r;
  r.every = o.duration("request_every");
  r.size = static_cast<std::uint32_t>(o.integer("request_size"));
  r.framed = framed;
  return r;
}

ClientPlan heartbeat_plan(const Options& o) {
  ClientPlan plan;
  const Duration hb = o.duration("heartbeat_interval");
  const Duration idle = o.duration("client_idle");
  const RequestSpec req = requests_of(o, true);
  plan.connect = [hb, idle, req](ClientContext& ctx) -> PipelineInit {
    const PipelineInit base = netcore::heartbeat_client(ctx.scaled(hb), ctx.scaled(idle));
    auto requests = ctx.requests;
    return [base, requests, req](Channel& ch) {
      base(ch);
      ch.pipeline().add_last("requests", requests(req));
    };
  };
  return plan;
}

}  // namespace
}  // namespace connfail::scenarios::kinds

namespace connfail::scenarios {

using namespace std::chrono_literals;

OptionSpec reconnect_options() {
  return opt::group("reconnect",
                    {opt::duration("initial", 500ms, "the first wait before reconnecting").positive(),
                     opt::duration("max", 10s, "the longest wait").positive(),
                     opt::number("multiplier", 2.0, 1.0, 100.0, "each wait is the previous one times this"),
                     opt::number("jitter", 0.5, 0.0, 1.0,
                                 "each wait is scaled by a random factor in [1 - jitter, 1]"),
                     opt::integer("max_attempts", 0, 0, 1000000,
                                  "failed attempts in a row before giving up (0: never give up)")},
                    "exponential back-off with jitter between reconnects");
}

ReconnectPolicy reconnect_policy(const Options& g) {
  ReconnectPolicy p;
  p.initial = g.duration("initial");
  p.max = g.duration("max");
  if (p.max < p.initial) throw OptionError("reconnect.max", "must be at least reconnect.initial");
  p.multiplier = g.number("multiplier");
  p.jitter = g.number("jitter");
  p.max_attempts = static_cast<int>(g.integer("max_attempts"));
  return p;
}

}  // namespace connfail::scenarios

namespace connfail::scenarios::kinds {

void register_builtin_clients(Registry& r) {
  {
    ClientBehaviourEntry e;
    e.name = "echo";
    e.description = "raw bytes: a request every request_every, checks the echo byte for byte";
    e.options = request_options();
    e.factory = [](const Options& o) {
      ClientPlan plan;
      const RequestSpec req = requests_of(o, false);
      plan.connect = [req](ClientContext& ctx) -> PipelineInit {
        auto requests = ctx.requests;
        return [requests, req](Channel& ch) { ch.pipeline().add_last("requests", requests(req)); };
      };
      return plan;
    };
    r.add(std::move(e), kFile, __LINE__);
  }
  {
    ClientBehaviourEntry e;
    e.name = "heartbeat";
    e.description = "frame codec, PING every heartbeat_interval, optional DATA requests and client idle check";
    e.options = heartbeat_options();
    e.factory = heartbeat_plan;
    r.add(std::move(e), kFile, __LINE__);
  }
  {
    ClientBehaviourEntry e;
    e.name = "silent";
    e.description = "connects and never writes";
    e.factory = [](const Options&) {
      ClientPlan plan;
      plan.connect = [](ClientContext& ctx) -> PipelineInit {
        auto requests = ctx.requests;
        return [requests](Channel& ch) { ch.pipeline().add_last("requests", requests(RequestSpec{})); };
      };
      return plan;
    };
    r.add(std::move(e), kFile, __LINE__);
  }
  {
    ClientBehaviourEntry e;
    e.name = "reconnecting";
    e.description = "a heartbeat client that reconnects after an exponential back-off with jitter";
    e.options = heartbeat_options();
    e.options.push_back(reconnect_options());
    e.factory = [](const Options& o) {
      ClientPlan plan = heartbeat_plan(o);
      plan.reconnect = reconnect_policy(o.group("reconnect"));
      return plan;
    };
    r.add(std::move(e), kFile, __LINE__);
  }
}

}  // namespace connfail::scenarios::kinds
